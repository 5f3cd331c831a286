"""Token buckets in the database: exact arithmetic, atomic under concurrency, shared by workers."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import Rate
from models.db import Database
from models.errors import ErrorCode
from models.ratelimit import (
    RateLimited,
    admit_client,
    client_key,
    purge_full_buckets,
    take_token,
)

T0 = 1_000_000.0


def on(database_url: str, scenario: Callable[[Database], Awaitable[None]]) -> None:
    """Run a scenario in one event loop (asyncpg connections belong to the loop that made them)."""

    async def run() -> None:
        db = Database(database_url)
        try:
            await db.create_schema()
            await scenario(db)
        finally:
            await db.dispose()

    asyncio.run(run())


async def take(db: Database, rate: Rate, now: float, key: str = "k") -> float | None:
    async with db.autocommit() as transaction:
        return await take_token(db, transaction, key, rate, now)


async def takes(db: Database, rate: Rate, *moments: float, key: str = "k") -> list[float | None]:
    return [await take(db, rate, now, key) for now in moments]


def test_a_bucket_admits_its_burst_then_refills_one_token_per_interval(database_url: str) -> None:
    rate = Rate(burst=3, per_minute=30)  # a token every 2 s

    async def scenario(db: Database) -> None:
        assert await takes(db, rate, T0, T0, T0) == [None, None, None]
        assert await takes(db, rate, T0, T0 + 1) == [2.0, 1.0]  # refused: seconds to the next
        assert await takes(db, rate, T0 + 2, T0 + 2) == [None, 2.0]
        assert await takes(db, rate, *[T0 + 100] * 4) == [None, None, None, 2.0]

    on(database_url, scenario)


def test_buckets_are_per_key(database_url: str) -> None:
    rate = Rate(burst=1, per_minute=1)

    async def scenario(db: Database) -> None:
        assert await takes(db, rate, T0, key="a") == [None]
        assert await takes(db, rate, T0, key="b") == [None]
        assert await takes(db, rate, T0, key="a") == [60.0]

    on(database_url, scenario)


def test_concurrent_takes_admit_exactly_the_burst(database_url: str) -> None:
    """Twenty requests at once (twenty connections on PostgreSQL): the UPSERT is atomic."""
    rate = Rate(burst=7, per_minute=1)

    async def scenario(db: Database) -> None:
        outcomes = await asyncio.gather(*(take(db, rate, T0) for _ in range(20)))
        assert outcomes.count(None) == 7

    on(database_url, scenario)


def test_workers_share_buckets_through_the_database(database_url: str) -> None:
    """A second engine on the same database (another worker process) sees the same bucket."""
    rate = Rate(burst=2, per_minute=1)

    async def scenario(db: Database) -> None:
        other_worker = Database(database_url)
        try:
            assert await takes(db, rate, T0) == [None]
            assert await takes(other_worker, rate, T0) == [None]
            assert await takes(db, rate, T0) == [60.0]
            assert await takes(other_worker, rate, T0) == [60.0]
        finally:
            await other_worker.dispose()

    on(database_url, scenario)


def test_refusals_say_how_long_to_wait(database_url: str) -> None:
    rate = Rate(burst=1, per_minute=0.5)

    async def scenario(db: Database) -> None:
        await admit_client(db, rate, "192.0.2.1", T0)
        with pytest.raises(RateLimited) as refused:
            await admit_client(db, rate, "192.0.2.1", T0 + 10.5)
        refusal = refused.value
        assert refusal.code is ErrorCode.RATE_LIMITED
        assert refusal.retry_after == 110  # 120 s a token, 10.5 s already passed, rounded up
        assert refusal.extensions == {"code": "RATE_LIMITED", "retryAfter": 110}
        assert "retry in 110 s" in refusal.message

    on(database_url, scenario)


def test_full_buckets_are_purged(database_url: str) -> None:
    rate = Rate(burst=5, per_minute=60)

    async def scenario(db: Database) -> None:
        await takes(db, rate, T0, key="a")
        await takes(db, rate, T0, T0, key="b")
        assert await purge_full_buckets(db, T0 + 1.5) == 1  # "a" was full again at T0 + 1
        assert await purge_full_buckets(db, T0 + 2) == 1
        assert await takes(db, rate, T0 + 2, key="b") == [None]

    on(database_url, scenario)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "ip:192.0.2.7"),
        ("::ffff:192.0.2.7", "ip:192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "ip:2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "ip:2001:db8:1:2::/64"),
        ("testclient", "ip:testclient"),
    ],
)
def test_client_keys(address: str, key: str) -> None:
    assert client_key(address) == key


@given(st.text(max_size=200))
def test_any_address_text_gives_a_bounded_key(address: str) -> None:
    assert len(client_key(address)) <= 96


@settings(max_examples=40, deadline=None)
@given(
    burst=st.integers(1, 50),
    per_minute=st.floats(0.1, 6000),
    gaps=st.lists(st.floats(0, 30), min_size=1, max_size=30),
)
def test_never_more_than_the_burst_plus_what_refilled(
    burst: int, per_minute: float, gaps: list[float]
) -> None:
    """The bucket property, checked against a plain in-memory token count (a fresh SQLite file:
    the schema comes from the migrations, which an in-memory database would not keep)."""
    rate = Rate(burst=burst, per_minute=per_minute)

    async def scenario(db: Database) -> None:
        now, tokens, last = T0, float(burst), T0
        for gap in gaps:
            now += gap
            tokens = min(burst, tokens + (now - last) / rate.seconds_per_token)
            last = now
            admitted = await take(db, rate, now) is None
            if tokens >= 1 + 1e-6:
                assert admitted
                tokens -= 1
            elif tokens < 1 - 1e-6:
                assert not admitted
            elif admitted:  # on the boundary float rounding may go either way
                tokens -= 1

    with tempfile.TemporaryDirectory() as directory:
        on(f"sqlite+aiosqlite:///{directory}/buckets.db", scenario)
