"""The trading engine's write path: a profile's orders, positions, balance and notifications.

Each call is one transaction. It first updates the profile row (bumping `last_update`; on
PostgreSQL this also locks the row, so writes to one profile queue up), then upserts by id.
Derived figures are never stored: reads compute them from these rows, so they follow at once.
Writes that move the account margin (positions, balance) also run the liquidation check: the
stored `status` and `last_liq_check` record its outcome, which is what the admin listing filters
on. Reads still apply the margin rule themselves (see `ProfileMath.status`).

Every input is validated before the transaction starts, so a refusal writes nothing. Ids are
global: an id that already belongs to another profile is a CONFLICT and rolls the call back.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from sqlmodel import SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from .config import DomainConfig
from .db import Database
from .enums import OrderStatus, OrderType, PositionStatus, ProfileStatus, Side, TimeInForce
from .errors import AppError, ErrorCode, bad_input
from .profiles import ProfileMath
from .tables import Notification, Order, Position, Profile

MAX_BATCH = 1000
"""Most rows one call may carry; the engine splits larger updates."""
MAX_AMOUNT = Decimal("1e15")
AMOUNT_PLACES = 18
_CHUNK = 500  # rows per INSERT: well under both engines' bind-parameter limits
_EXACT = Context(prec=100)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order as the engine reports it. `size` is the order's current size."""

    id: str
    market_id: str
    order_type: OrderType
    side: Side
    status: OrderStatus
    size: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    initial_size: Decimal | None = None
    """Defaults to `size`."""
    total_filled_size: Decimal = Decimal(0)
    size_percent: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCEL
    reason: str = ""
    client_order_id: str = ""
    created_at: int | None = None
    """Microseconds, defaults to now. Kept from the first write: history pages sort by it."""
    timestamp: int | None = None
    """Microseconds of the engine's event, defaults to now."""


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position as the engine reports it; a closed position may have size 0."""

    id: str
    market_id: str
    side: Side
    size: Decimal
    entry_price: Decimal
    fair_price: Decimal
    status: PositionStatus = PositionStatus.OPEN


@dataclass(frozen=True, slots=True)
class NotificationPush:
    key: str
    """The sender's id: pushing the same key again returns the stored notification."""
    type: str
    title: str
    description: str = ""
    created_at: int | None = None
    """Microseconds, defaults to now."""


def now_micros() -> int:
    return int(time.time() * 1_000_000)


# --------------------------------------------------------------------------- validation


def check_amount(
    value: Decimal, field: str, *, zero: bool = False, negative: bool = False
) -> Decimal:
    """Finite, |value| ≤ 1e15, at most 18 decimal places, and positive unless allowed."""
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise bad_input(f"{field} must be a finite amount of at most {MAX_AMOUNT:f}")
    exponent = value.normalize(_EXACT).as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent < -AMOUNT_PLACES:
        raise bad_input(f"{field} has more than {AMOUNT_PLACES} decimal places")
    if (value < 0 and not negative) or (value == 0 and not zero):
        rule = "not be negative" if zero else "be positive"
        raise bad_input(f"{field} must {rule}, got {value}")
    return value


def _optional_amount(value: Decimal | None, field: str) -> Decimal | None:
    return None if value is None else check_amount(value, field)


def check_text(value: str, field: str, max_length: int, *, required: bool = True) -> str:
    """Bounded text. NUL and lone surrogates never get this far: `models.text` refuses them
    where text enters (GraphQL, legacy bodies)."""
    if required and not value.strip():
        raise bad_input(f"{field} must not be empty")
    if len(value) > max_length:
        raise bad_input(f"{field} is longer than {max_length} characters")
    return value


def _micros(value: int | None, field: str, now_us: int) -> int:
    if value is None:
        return now_us
    if value < 0:
        raise bad_input(f"{field} must be microseconds since the epoch, got {value}")
    return value


def _market(market_id: str, config: DomainConfig) -> str:
    if market_id not in config.markets:
        known = ", ".join(sorted(config.markets))
        raise bad_input(f"unknown market {market_id!r}; known markets: {known}")
    return market_id


def _batch(ids: Sequence[str], what: str) -> None:
    if len(ids) > MAX_BATCH:
        raise bad_input(f"at most {MAX_BATCH} {what}s per call, got {len(ids)}")
    seen: set[str] = set()
    for item_id in ids:
        check_text(item_id, f"{what} id", 64)
        if item_id in seen:
            raise bad_input(f"{what} id {item_id!r} appears twice; send each {what} once")
        seen.add(item_id)


def _order_row(
    order: OrderUpdate, profile_id: int, config: DomainConfig, now_us: int
) -> dict[str, Any]:
    initial_size = order.size if order.initial_size is None else order.initial_size
    return {
        "id": order.id,
        "profile_id": profile_id,
        "market_id": _market(order.market_id, config),
        "order_type": OrderType(order.order_type).value,
        "side": Side(order.side).value,
        "status": OrderStatus(order.status).value,
        "price": _optional_amount(order.price, "price"),
        "trigger_price": _optional_amount(order.trigger_price, "triggerPrice"),
        "size": check_amount(order.size, "size"),
        "initial_size": check_amount(initial_size, "initialSize"),
        "total_filled_size": check_amount(order.total_filled_size, "totalFilledSize", zero=True),
        "size_percent": _optional_amount(order.size_percent, "sizePercent"),
        "time_in_force": TimeInForce(order.time_in_force).value,
        "reason": check_text(order.reason, "reason", 256, required=False),
        "client_order_id": check_text(order.client_order_id, "clientOrderId", 64, required=False),
        "created_at": _micros(order.created_at, "createdAt", now_us),
        "updated_at": now_us,
        "timestamp": _micros(order.timestamp, "timestamp", now_us),
    }


def _position_row(
    position: PositionUpdate, profile_id: int, config: DomainConfig, now_us: int
) -> dict[str, Any]:
    status = PositionStatus(position.status)
    return {
        "id": position.id,
        "profile_id": profile_id,
        "market_id": _market(position.market_id, config),
        "side": Side(position.side).value,
        "status": status.value,
        "size": check_amount(position.size, "size", zero=status is PositionStatus.CLOSED),
        "entry_price": check_amount(position.entry_price, "entryPrice"),
        "fair_price": check_amount(position.fair_price, "fairPrice"),
        "updated_at": now_us,
    }


# --------------------------------------------------------------------------- use cases


async def upsert_orders(
    db: Database, config: DomainConfig, profile_id: int, orders: Sequence[OrderUpdate]
) -> Profile:
    """Insert or update orders by id. `created_at` never changes once stored."""
    _batch([order.id for order in orders], "order")
    now_us = now_micros()
    rows = [_order_row(order, profile_id, config, now_us) for order in orders]
    async with db.write() as session:
        profile = await _touch(session, profile_id, now_us)
        await _upsert(db, session, Order, rows, immutable={"created_at"}, what="order")
    return profile


async def upsert_positions(
    db: Database, config: DomainConfig, profile_id: int, positions: Sequence[PositionUpdate]
) -> Profile:
    """Insert or update positions by id, then run the liquidation check."""
    _batch([position.id for position in positions], "position")
    now_us = now_micros()
    rows = [_position_row(position, profile_id, config, now_us) for position in positions]
    async with db.write() as session:
        profile = await _touch(session, profile_id, now_us)
        await _upsert(db, session, Position, rows, immutable=(), what="position")
        return await _check_liquidation(session, profile, config, now_us)


async def set_balance(
    db: Database,
    config: DomainConfig,
    profile_id: int,
    balance: Decimal,
    cum_trading_volume: Decimal | None = None,
) -> Profile:
    """Set the balance (may be negative after losses) and optionally the traded volume."""
    values = {"balance": check_amount(balance, "balance", zero=True, negative=True)}
    if cum_trading_volume is not None:
        values["cum_trading_volume"] = check_amount(
            cum_trading_volume, "cumTradingVolume", zero=True
        )
    now_us = now_micros()
    async with db.write() as session:
        profile = await _touch(session, profile_id, now_us, **values)
        return await _check_liquidation(session, profile, config, now_us)


async def push_notification(db: Database, profile_id: int, push: NotificationPush) -> Notification:
    """Store a notification once per key; a repeated push returns the stored one, unchanged."""
    row = {
        "profile_id": profile_id,
        "key": check_text(push.key, "key", 64),
        "type": check_text(push.type, "type", 32),
        "title": check_text(push.title, "title", 256),
        "description": check_text(push.description, "description", 4096, required=False),
        "created_at": _micros(push.created_at, "createdAt", now_micros()),
    }
    async with db.write() as session:
        await _touch(session, profile_id, now_micros())
        insert = db.insert(Notification).values(row)
        statement = insert.on_conflict_do_update(
            index_elements=["key"],
            set_={"key": insert.excluded.key},  # a no-op that lets RETURNING see the stored row
            where=col(Notification.profile_id) == insert.excluded.profile_id,
        ).returning(Notification)
        stored: Notification | None = (await session.exec(statement)).scalars().first()
        if stored is None:
            raise AppError(
                ErrorCode.CONFLICT, f"notification key {push.key!r} belongs to another profile"
            )
        return stored


async def _touch(session: AsyncSession, profile_id: int, now_us: int, **values: object) -> Profile:
    """Bump `last_update` (plus `values`) first: the profile must exist, and its row is locked."""
    statement = (
        update(Profile)
        .where(col(Profile.id) == profile_id)
        .values(last_update=now_us, **values)
        .returning(Profile)
    )
    profile: Profile | None = (await session.exec(statement)).scalars().first()
    if profile is None:
        raise AppError(ErrorCode.PROFILE_NOT_FOUND, f"there is no profile with id {profile_id}")
    return profile


async def _upsert(
    db: Database,
    session: AsyncSession,
    model: type[SQLModel],
    rows: list[dict[str, Any]],
    *,
    immutable: Collection[str],
    what: str,
) -> None:
    """INSERT … ON CONFLICT (id) DO UPDATE, only where the stored row is this profile's."""
    for chunk in _chunks(rows):
        insert = db.insert(model).values(chunk)
        table = model.__table__  # type: ignore[attr-defined]
        changed = {
            name: insert.excluded[name]
            for name in chunk[0]
            if name not in {"id", "profile_id", *immutable}
        }
        statement = insert.on_conflict_do_update(
            index_elements=["id"],
            set_=changed,
            where=table.c.profile_id == insert.excluded.profile_id,
        ).returning(table.c.id)
        written = set((await session.exec(statement)).scalars().all())
        foreign = [row["id"] for row in chunk if row["id"] not in written]
        if foreign:
            raise AppError(
                ErrorCode.CONFLICT,
                f"{what} ids already belong to another profile: {', '.join(foreign[:5])}",
            )


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


async def _check_liquidation(
    session: AsyncSession, profile: Profile, config: DomainConfig, now_us: int
) -> Profile:
    """Record whether the account margin is below forced margin (orders do not move it)."""
    positions = (
        await session.exec(
            select(Position).where(
                col(Position.profile_id) == profile.id,
                col(Position.status) == PositionStatus.OPEN.value,
            )
        )
    ).all()
    figures = ProfileMath(profile, config).account(positions, [])
    status = ProfileStatus.LIQUIDATING if figures.liquidating else ProfileStatus.ACTIVE
    statement = (
        update(Profile)
        .where(col(Profile.id) == profile.id)
        .values(status=status.value, last_liq_check=now_us)
        .returning(Profile)
    )
    checked: Profile = (await session.exec(statement)).scalars().one()
    return checked
