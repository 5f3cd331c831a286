"""Property tests of the profile figures end to end: rows written through the admin API, figures
read back through GraphQL, compared with sums computed here from the generated rows.

`tests/models/test_margin.py` holds the formulas' own properties over plain values; these add
what only the whole path can get wrong: which rows count (open positions, resting orders only),
each market's leverage and forced margin from settings, and the stored status the liquidation
check leaves behind for the admin listing's filter.
"""

from __future__ import annotations

import itertools
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from api.settings import Settings
from models.config import Market
from tests.api.admin_helpers import (
    FIGURES,
    admin_ok,
    set_balance,
    upsert_orders,
    upsert_positions,
)
from tests.conftest import as_admin

D = Decimal
MARKETS = {
    "BTC-USD": Market(default_leverage=D(10), forced_margin=D("0.04")),
    "ETH-USD": Market(default_leverage=D(5), forced_margin=D("0.05")),
    "SOL-USD": Market(default_leverage=D(2), forced_margin=D("0.1")),
}
ORDER_STATUSES = [
    "PROCESSING",
    "OPEN",
    "PLACED",
    "CLOSED",
    "REJECTED",
    "CANCELED",
    "CANCELING",
    "AMENDING",
    "CANCELINGALL",
]
RESTING = {"OPEN", "PLACED"}
LISTING = f"""
query ($wallet: String!, $status: ProfileStatus) {{
  profiles(wallet: $wallet, status: $status) {{ edges {{ node {{ {FIGURES} }} }} }}
}}
"""
wallets = itertools.count(0x1000)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Overrides conftest's: three markets with different leverage and forced margin."""
    return Settings(database_url=database_url, env="dev", markets=MARKETS)


sizes = st.decimals(min_value=D("0.0001"), max_value=D(1000), places=4)
prices = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)
markets = st.sampled_from(sorted(MARKETS))
sides = st.sampled_from(["LONG", "SHORT"])
positions_st = st.lists(
    st.fixed_dictionaries(
        {
            "marketId": markets,
            "side": sides,
            "size": sizes,
            "entryPrice": prices,
            "fairPrice": prices,
            "status": st.sampled_from(["OPEN", "OPEN", "CLOSED"]),
        }
    ),
    max_size=5,
)
orders_st = st.lists(
    st.fixed_dictionaries(
        {
            "marketId": markets,
            "side": sides,
            "orderType": st.sampled_from(["LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET"]),
            "status": st.sampled_from(ORDER_STATUSES),
            "size": sizes,
            "price": st.none() | prices,
            "triggerPrice": st.none() | prices,
        }
    ),
    max_size=6,
)
balances = st.decimals(min_value=D(-100_000), max_value=D(10_000_000), places=2)


def create_profile(client: TestClient) -> tuple[str, str]:
    """A new profile per example, through the onboarding get-or-create rule."""
    from models.onboarding import get_or_create_profile

    services = client.app.state.services  # type: ignore[attr-defined]
    wallet = f"0x{next(wallets):040x}"

    async def create() -> int:
        async with services.db.write() as session:
            profile, _ = await get_or_create_profile(
                services.db, session, services.settings, wallet, "rbx", "trader", 1
            )
        assert profile.id is not None
        return profile.id

    return str(client.portal.call(create)), wallet


def as_json(rows: list[dict[str, Any]], wallet: str, kind: str) -> list[dict[str, Any]]:
    """GraphQL variables: decimals as strings, and ids no other example uses."""
    return [
        {
            "id": f"{wallet}-{kind}{n}",
            **{k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()},
        }
        for n, row in enumerate(rows)
    ]


def write(
    client: TestClient,
    balance: Decimal,
    positions: list[dict[str, Any]],
    orders: list[dict[str, Any]],
) -> tuple[str, str]:
    profile_id, wallet = create_profile(client)
    admin_ok(
        upsert_positions(client, profile_id, *as_json(positions, wallet, "p")), "upsertPositions"
    )
    admin_ok(upsert_orders(client, profile_id, *as_json(orders, wallet, "o")), "upsertOrders")
    admin_ok(set_balance(client, profile_id, str(balance)), "setBalance")
    return profile_id, wallet


def read(client: TestClient, wallet: str, status: str | None = None) -> list[dict[str, Any]]:
    body = as_admin(client, LISTING, {"wallet": wallet, "status": status})
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["profiles"]["edges"]]


def pnl(positions: list[dict[str, Any]]) -> Decimal:
    sign = {"LONG": 1, "SHORT": -1}
    return sum(
        (p["size"] * (p["fairPrice"] - p["entryPrice"]) * sign[p["side"]] for p in positions), D(0)
    )


def im(market_id: str) -> Decimal:
    return 1 / MARKETS[market_id].default_leverage  # exact: leverage 10, 5, 2


def close_to(shown: str, exact: Decimal) -> bool:
    """Shown figures are exact decimals, rounded at 18 places only when they are quotients."""
    return abs(D(shown) - exact) <= D("1e-18")


PROPERTY = hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example: a new profile
)


@PROPERTY
@given(balance=balances, positions=positions_st, orders=orders_st)
def test_aggregates_are_sums_over_open_positions_and_resting_orders(
    admin_client: TestClient,
    balance: Decimal,
    positions: list[dict[str, Any]],
    orders: list[dict[str, Any]],
) -> None:
    _, wallet = write(admin_client, balance, positions, orders)
    (shown,) = read(admin_client, wallet)

    with localcontext(prec=100):
        open_positions = [p for p in positions if p["status"] == "OPEN"]
        unrealized = pnl(open_positions)
        notional = sum((p["size"] * p["fairPrice"] for p in open_positions), D(0))
        position_margin = sum(
            (im(p["marketId"]) * p["size"] * p["fairPrice"] for p in open_positions), D(0)
        )
        order_margin = sum(
            (
                im(o["marketId"]) * o["size"] * (o["price"] or o["triggerPrice"] or D(0))
                for o in orders
                if o["status"] in RESTING
            ),
            D(0),
        )
        equity = balance + unrealized
        margin = D(1) if notional == 0 else equity / notional

    assert D(shown["balance"]) == balance
    assert D(shown["cumUnrealizedPnl"]) == unrealized
    assert D(shown["totalNotional"]) == notional
    assert D(shown["totalPositionMargin"]) == position_margin
    assert D(shown["totalOrderMargin"]) == order_margin
    assert D(shown["accountEquity"]) == equity
    assert D(shown["withdrawableBalance"]) == min(equity, balance) - position_margin - order_margin
    assert close_to(shown["accountMargin"], margin)
    assert close_to(shown["health"], min(D(1), margin) if margin > 0 else D(0))


@PROPERTY
@given(balance=balances, positions=positions_st)
def test_liquidating_exactly_when_the_margin_is_below_forced_margin(
    admin_client: TestClient, balance: Decimal, positions: list[dict[str, Any]]
) -> None:
    profile_id, wallet = write(admin_client, balance, positions, [])
    (shown,) = read(admin_client, wallet)

    open_positions = [p for p in positions if p["status"] == "OPEN"]
    with localcontext(prec=100):
        notional = sum((p["size"] * p["fairPrice"] for p in open_positions), D(0))
        equity = balance + pnl(open_positions)
        forced = max((MARKETS[p["marketId"]].forced_margin for p in open_positions), default=None)
        liquidating = forced is not None and notional > 0 and equity / notional < forced

    assert shown["status"] == ("LIQUIDATING" if liquidating else "ACTIVE")
    # the liquidation check stored the same verdict, which the admin listing filters on
    assert [p["id"] for p in read(admin_client, wallet, "LIQUIDATING")] == (
        [profile_id] if liquidating else []
    )
    assert [p["id"] for p in read(admin_client, wallet, "ACTIVE")] == (
        [] if liquidating else [profile_id]
    )
