"""Statement budgets, read from the `/metrics` counter: nested loading stays flat as data grows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from models.tables import Notification, Order, Position, Profile
from tests.api.admin_helpers import (
    admin_ok,
    notification,
    order,
    position,
    push,
    trader,
    upsert_orders,
    upsert_positions,
)
from tests.api.metrics_helpers import parse, value
from tests.api.test_onboard import ONBOARD, ok, onboard, signed
from tests.conftest import as_admin
from tests.pages import nodes
from tests.signing import Signer, fresh_timestamp

MARKETS = ["BTC-USD", "ETH-USD", "SOL-USD", "ARB-USD", "DOGE-USD"]


def statements(client: TestClient) -> float:
    return value(parse(client.get("/metrics").text), "onboarding_db_statements_total")


def give(client: TestClient, profile_id: str, orders: int, positions: int, notes: int) -> None:
    """Resting orders (all embedded in the profile), open positions and notifications."""
    rows = [
        order(
            f"{profile_id}-o{n}",
            status="OPEN" if n % 2 else "PLACED",
            marketId=MARKETS[n % len(MARKETS)],
            side="LONG" if n % 3 else "SHORT",
        )
        for n in range(orders)
    ]
    for start in range(0, orders, 100):  # requests stay under the body limit
        admin_ok(upsert_orders(client, profile_id, *rows[start : start + 100]), "upsertOrders")
    admin_ok(
        upsert_positions(
            client,
            profile_id,
            *[
                position(f"{profile_id}-p{n}", marketId=MARKETS[n % len(MARKETS)])
                for n in range(positions)
            ],
        ),
        "upsertPositions",
    )
    for n in range(notes):
        admin_ok(push(client, profile_id, notification(f"{profile_id}-n{n}")), "pushNotification")


@pytest.mark.parametrize("is_client", [True, False], ids=["client", "market-maker"])
def test_onboarding_costs_the_same_whatever_the_profile_holds(
    admin_client: TestClient, is_client: bool
) -> None:
    rich_signer, small_signer = Signer(), Signer()
    rich = trader(admin_client, rich_signer, ahead=100)["profile"]["id"]
    small = trader(admin_client, small_signer, ahead=101)["profile"]["id"]
    give(admin_client, rich, orders=400, positions=40, notes=15)
    give(admin_client, small, orders=2, positions=1, notes=1)

    def cost(signer: Signer, ahead: int) -> tuple[int, dict[str, Any]]:
        before = statements(admin_client)
        result = ok(
            onboard(admin_client, **signed(signer, is_client=is_client, ts=fresh_timestamp(ahead)))
        )
        return int(statements(admin_client) - before), result["profile"]

    rich_cost, rich_profile = cost(rich_signer, 200)
    small_cost, small_profile = cost(small_signer, 201)
    # 400 resting orders: the newest 100 are embedded (docs/limits.md); the figures count all.
    assert (len(rich_profile["orders"]), len(rich_profile["positions"])) == (100, 40)
    assert len(nodes(rich_profile["notifications"])) == 15
    assert (len(small_profile["orders"]), len(small_profile["positions"])) == (2, 1)
    # The 300 orders not shown cost one SELECT more (only the columns the figures read).
    assert rich_cost == small_cost + 1 <= 15
    assert "orders { id } positions { id } notifications { edges { node { id } } }" in ONBOARD


LISTING = """
{
  profiles(first: 5) {
    edges { cursor node {
      id wallet status balance accountEquity totalOrderMargin totalPositionMargin health
      withdrawableBalance accountLeverage leverage { marketId leverage }
      orders { id price } positions { id notional liquidationPrice }
      notifications { edges { node { id title read } } }
      unread: notifications(unreadOnly: true) { edges { node { id } } }
      orderHistory(first: 5) { edges { cursor node { id status } } pageInfo { hasNextPage } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def add_profiles(client: TestClient, count: int, rows_each: int, *, first_wallet: int) -> None:
    """Many profiles with rows, written directly: the budget is about reading them."""
    db = client.app.state.services.db  # type: ignore[attr-defined]

    async def write() -> None:
        async with db.write() as session:
            profiles = [
                Profile(
                    wallet=f"0x{first_wallet + n:040x}",
                    exchange_id="rbx",
                    profile_type="trader",
                    balance=Decimal(10_000),
                )
                for n in range(count)
            ]
            session.add_all(profiles)
            await session.flush()
            for profile in profiles:
                assert profile.id is not None
                for n in range(rows_each):
                    market = MARKETS[n % len(MARKETS)]
                    session.add(
                        Order(
                            id=f"{profile.id}-{n}",
                            profile_id=profile.id,
                            market_id=market,
                            side="long",
                            status="open" if n % 2 else "closed",
                            price=Decimal(100),
                            size=Decimal(1),
                            created_at=n,
                        )
                    )
                    session.add(
                        Position(
                            id=f"{profile.id}-{n}",
                            profile_id=profile.id,
                            market_id=market,
                            side="short",
                            size=Decimal(2),
                            entry_price=Decimal(10),
                            fair_price=Decimal(9),
                        )
                    )
                    session.add(Notification(profile_id=profile.id, type="info", title=f"n{n}"))

    client.portal.call(write)


def listing_cost(client: TestClient) -> tuple[int, dict[str, Any]]:
    before = statements(client)
    body = as_admin(client, LISTING)
    assert "errors" not in body, body
    return int(statements(client) - before), body["data"]["profiles"]


def test_the_admin_listing_costs_at_most_six_statements_whatever_the_data(
    admin_client: TestClient,
) -> None:
    empty_cost, empty = listing_cost(admin_client)
    assert empty["edges"] == []

    add_profiles(admin_client, count=3, rows_each=1, first_wallet=1)
    few_cost, few = listing_cost(admin_client)
    assert len(few["edges"]) == 3

    add_profiles(admin_client, count=150, rows_each=8, first_wallet=1000)
    many_cost, many = listing_cost(admin_client)
    assert len(many["edges"]) == 5  # the page a list of 5 x 246 entries fits (list cost)
    assert many["pageInfo"]["hasNextPage"] is True
    node = many["edges"][0]["node"]
    assert (len(node["orders"]), len(node["positions"]), len(nodes(node["notifications"]))) == (
        4,
        8,
        8,
    )
    assert len(node["orderHistory"]["edges"]) == 5

    assert 1 <= empty_cost <= few_cost == many_cost <= 6
