"""Benchmark (c): profiles with 400 resting orders, 40 open positions and 15 notifications."""

from __future__ import annotations

import secrets
import time
from decimal import Decimal

from coincurve import PrivateKey
from eth_hash.auto import keccak

from models.config import DEFAULT_MARKETS
from models.db import Database
from models.enums import OrderStatus, PositionStatus, Side
from models.tables import Notification, Order, Position, Profile

ORDERS, POSITIONS, NOTIFICATIONS = 400, 40, 15


async def seed_heavy_profiles(url: str, *, profiles: int) -> list[PrivateKey]:
    """Create `profiles` heavy profiles on exchange rbx; return their wallets' keys."""
    markets = sorted(DEFAULT_MARKETS)
    now_us = int(time.time() * 1_000_000)
    keys = [PrivateKey(secrets.token_bytes(32)) for _ in range(profiles)]
    db = Database(url)
    try:
        await db.create_schema()
        async with db.write() as session:
            for key in keys:
                wallet = "0x" + keccak(key.public_key.format(compressed=False)[1:])[-20:].hex()
                profile = Profile(
                    wallet=wallet,
                    exchange_id="rbx",
                    profile_type="trader",
                    balance=Decimal("250000"),
                    leverage=dict.fromkeys(markets, "10"),
                    last_update=now_us,
                    created_at=now_us,
                )
                session.add(profile)
                await session.flush()
                assert profile.id is not None
                session.add_all(
                    Order(
                        id=f"{profile.id}-o{n}",
                        profile_id=profile.id,
                        market_id=markets[n % len(markets)],
                        side=(Side.LONG if n % 2 else Side.SHORT).value,
                        status=(OrderStatus.OPEN if n % 3 else OrderStatus.PLACED).value,
                        price=Decimal("100.5") + n,
                        size=Decimal("0.25"),
                        initial_size=Decimal("0.5"),
                        total_filled_size=Decimal("0.25"),
                        created_at=now_us - n,
                        updated_at=now_us - n,
                        timestamp=now_us - n,
                    )
                    for n in range(ORDERS)
                )
                session.add_all(
                    Position(
                        id=f"{profile.id}-p{n}",
                        profile_id=profile.id,
                        market_id=markets[n % len(markets)],
                        side=(Side.LONG if n % 2 else Side.SHORT).value,
                        status=PositionStatus.OPEN.value,
                        size=Decimal("1.5"),
                        entry_price=Decimal("100") + n,
                        fair_price=Decimal("101") + n,
                        updated_at=now_us,
                    )
                    for n in range(POSITIONS)
                )
                session.add_all(
                    Notification(
                        profile_id=profile.id,
                        type="fill",
                        title=f"Order {n} filled",
                        description="0.25 filled at 100.5",
                        created_at=now_us - n,
                    )
                    for n in range(NOTIFICATIONS)
                )
    finally:
        await db.dispose()
    return keys
