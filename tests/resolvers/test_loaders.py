"""Nested lists load through per-request DataLoaders: one SELECT per list, however many profiles."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from sqlmodel import col, select
from strawberry.schema.config import StrawberryConfig

from models.config import DomainConfig
from models.db import Database
from models.sessions import Credentials
from models.tables import Notification, Order, Position, Profile
from resolvers.context import Context
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
