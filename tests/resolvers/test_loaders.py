"""Nested lists load through per-request DataLoaders: one SELECT per list, however many profiles."""

from __future__ import annotations

import asyncio
import gc
import weakref
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from sqlmodel import col, select
from strawberry.dataloader import DataLoader
from strawberry.schema.config import StrawberryConfig

from models.config import DomainConfig
from models.db import Database
from models.pagination import EMBEDDED_ORDERS
from models.sessions import Credentials
from models.tables import Notification, Order, Position, Profile
from resolvers.context import Context
from resolvers.loaders import ORDERS, POSITIONS, Loaders, Page, PositionRow, RestingOrders
from resolvers.scalars import SCALAR_MAP
from resolvers.types import Info, ProfileNode
from tests.pages import nodes


@strawberry.type
class ProbeQuery:
    """A test-only root: the production schema has no "many profiles" query yet."""

    @strawberry.field
    async def profiles(self, info: Info, ids: list[int]) -> list[ProfileNode]:
        async with info.context.db.read() as session:
            rows = (await session.exec(select(Profile).where(col(Profile.id).in_(ids)))).all()
        return [ProfileNode(row=row) for row in rows]


PROBE = strawberry.Schema(query=ProbeQuery, config=StrawberryConfig(scalar_map=SCALAR_MAP))
NESTED = """
query ($ids: [Int!]!) {
  profiles(ids: $ids) {
    id status accountEquity totalOrderMargin health
    orders { id price } positions { id notional liquidationPrice }
    notifications { edges { node { title } } }
  }
}
"""


async def _fill(db: Database, profiles: int) -> list[int]:
    async with db.write() as session:
        rows = [
            Profile(
                wallet=f"0x{i:040x}",
                exchange_id="rbx",
                profile_type="trader",
                balance=Decimal(1000),
            )
            for i in range(profiles)
        ]
        session.add_all(rows)
        await session.flush()
        for profile in rows:
            assert profile.id is not None
            for n in range(3):
                session.add(
                    Order(
                        id=f"o{profile.id}-{n}",
                        profile_id=profile.id,
                        market_id="BTC-USD",
                        side="long",
                        status="open",
                        price=Decimal(100),
                        size=Decimal(1),
                    )
                )
            session.add(
                Position(
                    id=f"p{profile.id}",
                    profile_id=profile.id,
                    market_id="ETH-USD",
                    side="short",
                    size=Decimal(2),
                    entry_price=Decimal(10),
                    fair_price=Decimal(9),
                )
            )
            session.add(
                Notification(profile_id=profile.id, type="info", title=f"hello {profile.id}")
            )
        return [row.id for row in rows if row.id is not None]


async def _statements_for(db: Database, ids: list[int]) -> tuple[int, dict[str, Any]]:
    context = Context(db=db, credentials=Credentials.from_config(DomainConfig()), request_id="t")
    before = db.statements
    result = await PROBE.execute(NESTED, variable_values={"ids": ids}, context_value=context)
    assert result.errors is None, result.errors
    assert result.data is not None
    return db.statements - before, result.data


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_statements_do_not_grow_with_profiles(database_url: str) -> None:
    async def scenario() -> tuple[int, int, dict[str, Any]]:
        db = Database(database_url)
        try:
            await db.create_schema()
            ids = await _fill(db, 20)
            one, _ = await _statements_for(db, ids[:1])
            twenty, data = await _statements_for(db, ids)
            return one, twenty, data
        finally:
            await db.dispose()

    one, twenty, data = asyncio.run(scenario())
    assert one == twenty == 4  # profiles, orders, positions, notifications
    assert len(data["profiles"]) == 20
    first = data["profiles"][0]
    assert len(first["orders"]) == 3
    assert first["positions"] == [
        {
            "id": first["positions"][0]["id"],
            "notional": "18",
            "liquidationPrice": "19.417475728155339806",
        }
    ]
    assert nodes(first["notifications"]) == [{"title": f"hello {first['id']}"}]
    # equity 1000 + (9-10)*2*(-1) = 1002; order margin = 1 (IM at leverage 1) * 3 * 100 = 300
    assert (first["accountEquity"], first["totalOrderMargin"]) == ("1002", "300")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_resting_orders_are_newest_first_then_by_id(database_url: str) -> None:
    """Ties on `created_at` come by id ascending, for one profile and for many at once; closed
    orders are left out."""
    times = {"b": 5, "a": 5, "d": 9, "c": 5, "e": 1, "f": 9, "closed": 5}

    async def scenario() -> tuple[list[str], list[list[str]]]:
        db = Database(database_url)
        try:
            await db.create_schema()
            ids = await _fill(db, 2)
            async with db.write() as session:
                for profile_id in ids:
                    for name, created_at in times.items():
                        session.add(
                            Order(
                                id=f"{profile_id}{name}",
                                profile_id=profile_id,
                                market_id="BTC-USD",
                                side="long",
                                status="closed" if name == "closed" else "placed",
                                price=Decimal(100),
                                size=Decimal(1),
                                created_at=created_at,
                            )
                        )
            one = await Loaders(db).open_orders.load(ids[0])
            many = await Loaders(db).open_orders.load_many(ids)
            return [order.id for order in one], [[order.id for order in o] for o in many]
        finally:
            await db.dispose()

    one, many = asyncio.run(scenario())
    # _fill's three orders were created at 0: the oldest, tied too.
    newest_first = ["d", "f", "a", "b", "c", "e", "o{}-0", "o{}-1", "o{}-2"]
    assert one == [f"1{name}" if "{" not in name else name.format(1) for name in newest_first]
    assert many == [
        [f"{i}{name}" if "{" not in name else name.format(i) for name in newest_first]
        for i in (1, 2)
    ]


def test_records_decode_decimals_as_the_column_type_would() -> None:
    """Text (SQLite) becomes a Decimal, a Decimal (PostgreSQL) and a null stay as they are."""
    row = ("p", 7, "BTC-USD", "long", "open", "1.50", Decimal("100"), "2", 3)
    assert (
        POSITIONS.all([row, row])
        == [
            PositionRow(
                "p", 7, "BTC-USD", "long", "open", Decimal("1.50"), Decimal(100), Decimal(2), 3
            )
        ]
        * 2
    )
    assert type(POSITIONS.all([row])[0].size) is Decimal
    order = ORDERS.all(
        [
            (
                "o",
                1,
                "BTC-USD",
                "limit",
                "long",
                "open",
                None,
                "1",
                "1",
                "0",
                None,
                "2.5",
                "good_till_cancel",
                "",
                "",
                1,
                2,
                3,
            )
        ]
    )[0]
    assert (order.price, order.trigger_price, order.size_percent) == (None, Decimal("2.5"), None)
    assert (order.created_at, order.timestamp) == (1, 3)


def test_a_requests_loaders_are_built_when_first_used_and_then_kept() -> None:
    """A request reads one or two lists: building all five loaders for each was wasted work."""
    names = ("open_orders", "open_positions", "order_history", "notifications", "api_keys")

    async def scenario() -> None:
        loaders = Loaders(Database("sqlite+aiosqlite:///:memory:"))
        assert not any(name in vars(loaders) for name in names)
        first = loaders.notifications
        assert loaders.notifications is first
        assert [name for name in names if name in vars(loaders)] == ["notifications"]
        # A profile this request created: known empty without building a loader, and then
        # answered without a query (this database has no tables: a query would fail).
        fresh = Loaders(Database("sqlite+aiosqlite:///:memory:"))
        fresh.know_empty(7)
        assert not any(name in vars(fresh) for name in names)
        assert await fresh.open_orders.load(7) == []
        assert await fresh.open_positions.load(7) == []
        assert await fresh.notifications.page(Page(profile_id=7, limit=5)) == []
        assert await fresh.order_history.page(Page(profile_id=7, limit=5)) == []

    asyncio.run(scenario())


@pytest.mark.parametrize("count", [0, 96, 97, 98, 250])
def test_resting_orders_as_shown_agree_with_every_row_whole(database_url: str, count: int) -> None:
    """`resting` reads the newest whole and the older as 5 columns, split by `created_at`:
    the same orders in the same order as `load`, whatever straddles the split (a run of ties
    across the 100th, closed orders in between). With `_fill`'s three, 97 make 100."""

    async def scenario() -> tuple[list[Any], RestingOrders, int]:
        db = Database(database_url)
        try:
            await db.create_schema()
            (profile_id,) = await _fill(db, 1)  # three orders created at 0
            async with db.write() as session:
                for n in range(count):
                    session.add(
                        Order(
                            id=f"r{n:03}",
                            profile_id=profile_id,
                            market_id="ETH-USD" if n % 2 else "BTC-USD",
                            side="long",
                            status="closed" if n % 7 == 3 and n > 110 else "placed",
                            price=None if n % 5 == 0 else Decimal(n) + Decimal("0.5"),
                            trigger_price=Decimal(n) if n % 10 == 0 else None,
                            size=Decimal("0.25"),
                            created_at=1900 if 96 <= n <= 104 else 2000 - n,
                        )
                    )
            whole = await Loaders(db).open_orders.load(profile_id)
            loaders = Loaders(db)
            resting = await loaders.open_orders.resting(profile_id)
            return whole, resting, len(await loaders.open_orders.load_many([profile_id]))
        finally:
            await db.dispose()

    whole, resting, _ = asyncio.run(scenario())
    assert len(whole) == 3 + count - len([n for n in range(count) if n % 7 == 3 and n > 110])
    assert [o.id for o in resting.newest[:EMBEDDED_ORDERS]] == [
        o.id for o in whole[:EMBEDDED_ORDERS]
    ]
    assert resting.newest == whole[: len(resting.newest)]
    assert len(resting.all) == len(whole)
    figures = ("market_id", "price", "size", "trigger_price", "created_at")
    assert [[getattr(o, name) for name in figures] for o in resting.all] == [
        [getattr(o, name) for name in figures] for o in whole
    ]


def test_a_requests_loaders_and_rows_go_with_it_without_the_cyclic_collector(
    database_url: str,
) -> None:
    """No loader is in a reference cycle, so a request's rows are freed when it ends. (One was:
    at 16 connections, heavy profiles' orders waiting for the cyclic collector raised the
    worker's peak RSS by ~25 MB.)"""

    async def scenario() -> tuple[list[str], list[str]]:
        db = Database(database_url)
        try:
            await db.create_schema()
            first, second = await _fill(db, 2)
            gc.collect()
            gc.disable()
            try:
                loaders = Loaders(db)
                shown = await loaders.open_orders.resting(first)
                await asyncio.gather(  # a listing: both in one batch
                    *(Loaders(db).open_orders.resting(i) for i in (first, second))
                )
                await loaders.open_orders.load(first)
                await loaders.open_positions.load(first)
                await loaders.notifications.page(Page(profile_id=first, limit=5))
                await loaders.order_history.page(Page(profile_id=first, limit=5))
                assert shown.all  # held by the loader's cache, and freed with it
                built = {
                    name: weakref.ref(loader)
                    for name, loader in vars(loaders).items()
                    if isinstance(loader, DataLoader)
                }
                del loaders, shown
                return list(built), [name for name, ref in built.items() if ref() is not None]
            finally:
                gc.enable()
        finally:
            await db.dispose()

    built, alive = asyncio.run(scenario())
    assert set(built) >= {"open_orders", "open_positions", "notifications", "order_history"}
    assert alive == []
