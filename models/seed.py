"""Plausible demo data for one profile (`onboarding-api seed`), written through the engine's path.

The profile is found or created by the onboarding rule (`get_or_create_profile`), and every row
goes through the same validated use cases the admin API uses, so demo data is never data the
service would refuse.

Deterministic: each row derives from (wallet, exchange, kind, index) alone and has a stable id, so
running the command again rewrites the same rows, and a larger count adds rows without changing
the existing ones. What the data looks like:

- orders, newest first over the past days: several markets, both sides, limit/market/stop/take-
  profit types; recent ones are often resting (open/placed), older ones mostly closed or
  canceled, a few rejected; prices near each market's reference price;
- positions: one open position per market (as many as asked, up to the number of markets);
  more than that are closed positions;
- notifications, newest first; all but the 3 newest are marked read;
- the balance is set so the account is healthy: 1.2 x (positions + resting orders notional) + 1000.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from .config import DomainConfig
from .db import Database
from .enums import (
    RESTING_ORDER_STATUSES,
    OrderStatus,
    OrderType,
    PositionStatus,
    ProfileType,
    Side,
    TimeInForce,
)
from .errors import bad_input
from .notifications import mark_read
from .onboarding import get_or_create_profile, known_exchange
from .tables import Profile
from .trading import (
    MAX_BATCH,
    NotificationPush,
    OrderUpdate,
    PositionUpdate,
    now_micros,
    push_notification,
    set_balance,
    upsert_orders,
    upsert_positions,
)
from .wallet import parse_wallet, wallet_text

MAX_ORDERS = 100_000
MAX_POSITIONS = 1_000
MAX_NOTIFICATIONS = 1_000
UNREAD_NOTIFICATIONS = 3

REFERENCE_PRICES: dict[str, Decimal] = {
    "BTC-USD": Decimal("65000"),
    "ETH-USD": Decimal("3400"),
    "SOL-USD": Decimal("150"),
    "ARB-USD": Decimal("0.9"),
    "DOGE-USD": Decimal("0.15"),
    "LDO-USD": Decimal("1.8"),
    "SUI-USD": Decimal("1.1"),
    "PEPE1000-USD": Decimal("0.011"),
    "XRP-USD": Decimal("0.55"),
    "TON-USD": Decimal("6.5"),
}
"""Rough prices; a market without one (configured later) trades around 10."""

_MINUTE_US = 60 * 1_000_000
_LIMIT_PRICED = {
    OrderType.LIMIT,
    OrderType.STOP_LIMIT,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT_LIMIT,
}
_TRIGGERED = {
    OrderType.STOP_LOSS,
    OrderType.TAKE_PROFIT,
    OrderType.STOP_MARKET,
    OrderType.STOP_LIMIT,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT_LIMIT,
}
_ORDER_TYPES = {
    OrderType.LIMIT: 55,
    OrderType.MARKET: 20,
    OrderType.STOP_LOSS: 7,
    OrderType.TAKE_PROFIT: 7,
    OrderType.STOP_LIMIT: 4,
    OrderType.STOP_MARKET: 3,
    OrderType.STOP_LOSS_LIMIT: 2,
    OrderType.TAKE_PROFIT_LIMIT: 2,
}
_RECENT_STATUSES = {
    OrderStatus.OPEN: 40,
    OrderStatus.PLACED: 10,
    OrderStatus.CLOSED: 25,
    OrderStatus.CANCELED: 15,
    OrderStatus.PROCESSING: 4,
    OrderStatus.CANCELING: 3,
    OrderStatus.AMENDING: 3,
}
_OLDER_STATUSES = {
    OrderStatus.CLOSED: 62,
    OrderStatus.CANCELED: 30,
    OrderStatus.REJECTED: 6,
    OrderStatus.OPEN: 2,
}
_RECENT = 20  # the newest orders, where resting and in-flight statuses are common
_REASONS = {
    OrderStatus.REJECTED: ("insufficient margin", "post-only would cross", "price out of band"),
    OrderStatus.CANCELED: ("canceled by user", "self-trade prevention", "expired"),
}
_NOTIFICATIONS = (
    ("order_filled", "Order filled", "Your {side} order on {market} was filled."),
    ("order_canceled", "Order canceled", "Your {side} order on {market} was canceled."),
    ("deposit", "Deposit confirmed", "Your deposit has been credited to your balance."),
    ("funding", "Funding paid", "Funding for your {market} position was settled."),
    ("margin_warning", "Margin running low", "Your {market} position is close to its limits."),
    ("system", "Scheduled maintenance", "Trading pauses for a few minutes on Sunday 02:00 UTC."),
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Seeded:
    profile: Profile
    orders: int
    resting_orders: int
    positions: int
    open_positions: int
    notifications: int
    unread_notifications: int


async def seed_profile(
    db: Database,
    config: DomainConfig,
    wallet: str,
    exchange_id: str = "rbx",
    *,
    orders: int,
    positions: int,
    notifications: int,
) -> Seeded:
    """Find or create the profile of (wallet, exchange) and fill it with plausible data."""
    address = wallet_text(parse_wallet(wallet))
    exchange_id = exchange_id.lower()
    known_exchange(config, exchange_id)
    for name, count, most in (
        ("orders", orders, MAX_ORDERS),
        ("positions", positions, MAX_POSITIONS),
        ("notifications", notifications, MAX_NOTIFICATIONS),
    ):
        if not 0 <= count <= most:
            raise bad_input(f"{name} must be between 0 and {most}, got {count}")
    now_us = now_micros()
    async with db.write() as session:
        found, _ = await get_or_create_profile(
            db, session, config, address, exchange_id, ProfileType.TRADER.value, now_us
        )
    profile_id = found.id
    seed = f"{address}:{exchange_id}"
    markets = sorted(config.markets)

    order_rows = [_order(seed, profile_id, n, markets, now_us) for n in range(orders)]
    for batch in _batches(order_rows):
        await upsert_orders(db, config, profile_id, batch)

    by_market = list(markets)
    random.Random(f"{seed}:markets").shuffle(by_market)  # noqa: S311 - demo data, not secrets
    position_rows = [_position(seed, profile_id, n, by_market) for n in range(positions)]
    for chunk in _batches(position_rows):
        await upsert_positions(db, config, profile_id, chunk)

    resting = [o for o in order_rows if o.status in RESTING_ORDER_STATUSES]
    open_positions = [p for p in position_rows if p.status is PositionStatus.OPEN]
    exposure = sum((p.size * p.fair_price for p in open_positions), Decimal(0)) + sum(
        (o.size * (o.price or o.trigger_price or Decimal(0)) for o in resting), Decimal(0)
    )
    volume = sum(
        (
            o.total_filled_size * (o.price or _reference(o.market_id))
            for o in order_rows
            if o.total_filled_size
        ),
        Decimal(0),
    )
    profile = await set_balance(
        db,
        config,
        profile_id,
        (exposure * Decimal("1.2") + 1000).quantize(Decimal("0.01")),
        volume.quantize(Decimal("0.01")),
    )

    stored = [
        await push_notification(db, profile_id, _notification(seed, profile_id, n, markets, now_us))
        for n in range(notifications)
    ]
    await mark_read(db, profile_id, [row.id for row in stored[UNREAD_NOTIFICATIONS:] if row.id])
    return Seeded(
        profile=profile,
        orders=orders,
        resting_orders=len(resting),
        positions=positions,
        open_positions=len(open_positions),
        notifications=notifications,
        unread_notifications=min(notifications, UNREAD_NOTIFICATIONS),
    )


def _batches(rows: Sequence[T]) -> list[Sequence[T]]:
    return [rows[start : start + MAX_BATCH] for start in range(0, len(rows), MAX_BATCH)]


def _reference(market_id: str) -> Decimal:
    return REFERENCE_PRICES.get(market_id, Decimal(10))


def _significant(value: Decimal, digits: int) -> Decimal:
    """Round to `digits` significant digits, never to a coarser step than 1."""
    step = min(0, value.adjusted() - digits + 1)
    return value.quantize(Decimal(1).scaleb(step))


def _pick(rng: random.Random, weights: dict[T, int]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _size_for(rng: random.Random, price: Decimal, low: int, high: int) -> Decimal:
    """A size worth between `low` and `high` dollars at `price`."""
    notional = Decimal(rng.randint(low, high))
    return _significant(notional / price, 3)


def _near(rng: random.Random, price: Decimal, below: float, above: float) -> Decimal:
    return _significant(price * Decimal(str(round(1 + rng.uniform(-below, above), 5))), 5)


def _order(seed: str, profile_id: int, n: int, markets: list[str], now_us: int) -> OrderUpdate:
    rng = random.Random(f"{seed}:order:{n}")  # noqa: S311 - demo data, not secrets
    market_id = rng.choice(markets)
    reference = _reference(market_id)
    side = rng.choice((Side.LONG, Side.SHORT))
    order_type = _pick(rng, _ORDER_TYPES)
    status = _pick(rng, _RECENT_STATUSES if n < _RECENT else _OLDER_STATUSES)
    if order_type is OrderType.MARKET and status in RESTING_ORDER_STATUSES:
        status = OrderStatus.CLOSED  # market orders never rest on the book
    long = side is Side.LONG
    # A resting buy waits below the market, a sell above. A sell's take-profit triggers above
    # the market and its stops below; a buy's the other way round.
    price = _near(rng, reference, 0.03, 0.0) if long else _near(rng, reference, 0.0, 0.03)
    take_profit = order_type in (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT)
    stop_below = long if take_profit else not long
    trigger = _near(rng, reference, 0.08, 0.0) if stop_below else _near(rng, reference, 0.0, 0.08)
    size = _size_for(rng, reference, 50, 5000)
    filled = Decimal(0)
    if status is OrderStatus.CLOSED:
        filled = size
    elif status is OrderStatus.CANCELED:
        filled = _significant(size * Decimal(rng.randint(0, 50)) / 100, 3)
    if order_type is OrderType.MARKET:
        time_in_force = rng.choice((TimeInForce.IMMEDIATE_OR_CANCEL, TimeInForce.FILL_OR_KILL))
    elif order_type is OrderType.LIMIT and rng.random() < 0.2:
        time_in_force = TimeInForce.POST_ONLY
    else:
        time_in_force = TimeInForce.GOOD_TILL_CANCEL
    created_at = now_us - n * 37 * _MINUTE_US - rng.randint(0, 30 * _MINUTE_US)
    return OrderUpdate(
        id=f"seed-{profile_id}-o{n:05d}",
        market_id=market_id,
        order_type=order_type,
        side=side,
        status=status,
        size=size,
        price=price if order_type in _LIMIT_PRICED else None,
        trigger_price=trigger if order_type in _TRIGGERED else None,
        total_filled_size=filled,
        time_in_force=time_in_force,
        reason=rng.choice(_REASONS[status]) if status in _REASONS else "",
        client_order_id=f"web-{n:05d}" if rng.random() < 0.3 else "",
        created_at=created_at,
        timestamp=created_at + rng.randint(1, 5 * _MINUTE_US),
    )


def _position(seed: str, profile_id: int, n: int, markets: list[str]) -> PositionUpdate:
    rng = random.Random(f"{seed}:position:{n}")  # noqa: S311 - demo data, not secrets
    market_id = markets[n % len(markets)]
    reference = _reference(market_id)
    return PositionUpdate(
        id=f"seed-{profile_id}-p{n:03d}",
        market_id=market_id,
        side=rng.choice((Side.LONG, Side.SHORT)),
        status=PositionStatus.OPEN if n < len(markets) else PositionStatus.CLOSED,
        size=_size_for(rng, reference, 500, 20000),
        entry_price=_near(rng, reference, 0.06, 0.06),
        fair_price=_near(rng, reference, 0.02, 0.02),
    )


def _notification(
    seed: str, profile_id: int, n: int, markets: list[str], now_us: int
) -> NotificationPush:
    rng = random.Random(f"{seed}:notification:{n}")  # noqa: S311 - demo data, not secrets
    kind, title, text = rng.choice(_NOTIFICATIONS)
    side = rng.choice(("long", "short"))
    return NotificationPush(
        key=f"seed-{profile_id}-n{n:04d}",
        type=kind,
        title=title,
        description=text.format(side=side, market=rng.choice(markets)),
        created_at=now_us - n * 180 * _MINUTE_US - rng.randint(0, 60 * _MINUTE_US),
    )
