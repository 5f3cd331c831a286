"""The admin API: who may use it, what it accepts, and that profiles follow its writes at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import select
from starlette.testclient import TestClient

from api.settings import Settings
from models.enums import OrderStatus, OrderType, Side
from models.errors import AppError, ErrorCode
from models.tables import Notification, Order, Position, Profile
from tests.api.admin_helpers import (
    FIGURES,
    admin_ok,
    code,
    notification,
    order,
    position,
    push,
    set_balance,
    trader,
    upsert_orders,
    upsert_positions,
)
from tests.conftest import ADMIN_TOKEN, as_admin
from tests.pages import nodes

PROFILES = f"""
query ($first: Int! = 20, $after: String, $wallet: String, $status: ProfileStatus) {{
  profiles(first: $first, after: $after, wallet: $wallet, status: $status) {{
    edges {{ cursor node {{ {FIGURES} wallet exchangeId }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}
"""
ME = f"""{{ me {{
  {FIGURES} orders {{ id }} positions {{ id }} notifications {{ edges {{ node {{ id title }} }} }}
}} }}"""


def snapshot(client: TestClient) -> dict[str, Any]:
    """Everything an admin write could change."""
    db = client.app.state.services.db  # type: ignore[attr-defined]

    async def read() -> dict[str, Any]:
        async with db.read() as session:
            counts = {
                model.__tablename__: (  # type: ignore[attr-defined]
                    await session.exec(select(func.count()).select_from(model))
                ).one()
                for model in (Order, Position, Notification)
            }
            profiles = [
                (p.id, p.balance, p.cum_trading_volume, p.status, p.last_update, p.last_liq_check)
                for p in (await session.exec(select(Profile).order_by(Profile.id))).all()
            ]
            rows = [
                row.model_dump()
                for model in (Order, Position, Notification)
                for row in (await session.exec(select(model))).all()
            ]
        return {"counts": counts, "profiles": profiles, "rows": rows}

    return client.portal.call(read)


def profiles_page(client: TestClient, **variables: Any) -> dict[str, Any]:
    connection: dict[str, Any] = admin_ok(as_admin(client, PROFILES, variables), "profiles")
    return connection


# --------------------------------------------------------------------------- who may use it

ADMIN_CALLS = [
    pytest.param(PROFILES, {}, id="profiles"),
    pytest.param(
        "mutation { upsertOrders(profileId: 1, orders: []) { id } }", {}, id="upsertOrders"
    ),
    pytest.param(
        "mutation { upsertPositions(profileId: 1, positions: []) { id } }", {}, id="upsertPositions"
    ),
    pytest.param('mutation { setBalance(profileId: 1, balance: "5") { id } }', {}, id="setBalance"),
    pytest.param(
        'mutation { pushNotification(profileId: 1, notification: {key: "k", type: "t", '
        'title: "x"}) { id } }',
        {},
        id="pushNotification",
    ),
]


def post(client: TestClient, query: str, variables: dict[str, Any], **headers: str) -> Any:
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("query", "variables"), ADMIN_CALLS)
def test_the_admin_api_is_off_without_a_configured_token(
    client: TestClient, query: str, variables: dict[str, Any]
) -> None:
    user = trader(client)
    before = snapshot(client)
    for headers in ({}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}):
        body = post(client, query, variables, **headers)
        assert code(body) == "FORBIDDEN"
        assert "disabled" in body["errors"][0]["message"]
    assert code(post(client, query, variables, Authorization=f"Bearer {user['jwt']}")) == (
        "FORBIDDEN"
    )
    assert snapshot(client) == before


@pytest.mark.parametrize(("query", "variables"), ADMIN_CALLS)
def test_only_the_exact_token_in_the_authorization_header_is_admin(
    admin_client: TestClient, query: str, variables: dict[str, Any]
) -> None:
    user = trader(admin_client)
    before = snapshot(admin_client)
    same_length_wrong = ADMIN_TOKEN[:-1] + ("x" if ADMIN_TOKEN[-1] != "x" else "y")
    refused = [
        {},
        {"Authorization": f"Bearer {same_length_wrong}"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}extra"},
        {"Authorization": f"Bearer {user['jwt']}"},
        {"Authorization": ADMIN_TOKEN},  # no scheme
        {"RBT-JWT": ADMIN_TOKEN},  # only the Authorization header carries the admin token
    ]
    for headers in refused:
        body = post(admin_client, query, variables, **headers)
        assert code(body) == "FORBIDDEN", headers
        assert ADMIN_TOKEN not in str(body)
    assert snapshot(admin_client) == before
    body = post(admin_client, query, variables, Authorization=f"Bearer {ADMIN_TOKEN}")
    assert "errors" not in body, body


def test_the_admin_token_is_not_a_user_session(admin_client: TestClient) -> None:
    assert as_admin(admin_client, "{ me { id } }") == {"data": {"me": None}}
    assert code(as_admin(admin_client, "mutation { logout }")) == "UNAUTHENTICATED"


def test_the_admin_listing_does_not_show_api_keys(admin_client: TestClient) -> None:
    """Profile.apiKeys is the owner's alone: the admin token gets FORBIDDEN, the rest stays."""
    user = trader(admin_client)
    body = as_admin(
        admin_client,
        "{ profiles(first: 5) { edges { node { id apiKeys { edges { node { key } } } } } } }",
    )
    assert body["data"]["profiles"]["edges"] == [
        {"node": {"id": user["profile"]["id"], "apiKeys": None}}
    ]
    assert code(body) == "FORBIDDEN"


def test_a_short_admin_token_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="ONBOARDING_ADMIN_TOKEN must be at least 32"):
        Settings(admin_token=SecretStr("short"))
    assert Settings(admin_token=SecretStr("")).admin_token_value is None


# --------------------------------------------------------------------------- writes


def test_orders_upsert_by_id_and_the_profile_follows_at_once(admin_client: TestClient) -> None:
    user = trader(admin_client)
    profile_id = user["profile"]["id"]
    before = user["profile"]["lastUpdate"]

    first = admin_ok(
        upsert_orders(
            admin_client,
            profile_id,
            order("o-1", createdAt=1_000_000),
            order("o-2", status="CLOSED", createdAt=2_000_000),
        ),
        "upsertOrders",
    )
    # leverage 1: IM 1; only the resting order reserves margin: 1 * 0.5 * 60000
    assert first["totalOrderMargin"] == "30000"
    assert first["withdrawableBalance"] == "-30000"
    assert first["orders"] == [{"id": "o-1", "status": "OPEN"}]
    assert first["lastUpdate"] > before

    again = admin_ok(
        upsert_orders(
            admin_client,
            profile_id,
            order("o-1", createdAt=1_000_000),
            order("o-2", status="CLOSED", createdAt=2_000_000),
        ),
        "upsertOrders",
    )
    assert {k: v for k, v in again.items() if k != "lastUpdate"} == {
        k: v for k, v in first.items() if k != "lastUpdate"
    }
    assert snapshot(admin_client)["counts"]["orders"] == 2

    # a later report moves the order; createdAt is kept from the first write
    moved = admin_ok(
        upsert_orders(admin_client, profile_id, order("o-1", status="CANCELED", createdAt=9)),
        "upsertOrders",
    )
    assert moved["totalOrderMargin"] == "0"
    assert moved["orders"] == []
    stored = {row["id"]: row for row in snapshot(admin_client)["rows"] if "order_type" in row}
    assert stored["o-1"]["created_at"] == 1_000_000
    assert stored["o-1"]["status"] == "canceled"

    me = post(admin_client, ME, {}, Authorization=f"Bearer {user['jwt']}")["data"]["me"]
    assert me["totalOrderMargin"] == "0"
    assert me["lastUpdate"] == moved["lastUpdate"]


def test_positions_and_balance_move_the_figures_and_the_liquidation_check(
    admin_client: TestClient,
) -> None:
    user = trader(admin_client)
    profile_id = user["profile"]["id"]
    funded = admin_ok(set_balance(admin_client, profile_id, "1000", "250.5"), "setBalance")
    assert (funded["balance"], funded["cumTradingVolume"]) == ("1000", "250.5")
    assert funded["status"] == "ACTIVE"
    assert funded["lastLiqCheck"] > 0

    # long 1 BTC @ 50000, fair 50000: margin 1000 / 50000 = 0.02 < 0.03 → liquidating
    risky = admin_ok(upsert_positions(admin_client, profile_id, position("p-1")), "upsertPositions")
    assert risky["totalNotional"] == "50000"
    assert risky["accountMargin"] == "0.02"
    assert risky["status"] == "LIQUIDATING"
    assert risky["lastLiqCheck"] >= funded["lastLiqCheck"]
    listed = profiles_page(admin_client, status="LIQUIDATING")
    assert [edge["node"]["id"] for edge in listed["edges"]] == [profile_id]

    # fair price up to 51000: pnl 1000, equity 2000, margin 2000 / 51000 ≈ 0.039 → active
    safe = admin_ok(
        upsert_positions(admin_client, profile_id, position("p-1", fairPrice="51000")),
        "upsertPositions",
    )
    assert (safe["cumUnrealizedPnl"], safe["accountEquity"]) == ("1000", "2000")
    assert safe["status"] == "ACTIVE"
    assert profiles_page(admin_client, status="LIQUIDATING")["edges"] == []

    # a balance that may be negative after losses: margin (-2000 + 1000) / 51000 < 0
    broke = admin_ok(set_balance(admin_client, profile_id, "-2000"), "setBalance")
    assert broke["health"] == "0"
    assert broke["status"] == "LIQUIDATING"
    assert broke["cumTradingVolume"] == "250.5"  # untouched when not sent

    # closing the position (size 0 is fine for a closed one) leaves nothing at risk
    closed = admin_ok(
        upsert_positions(admin_client, profile_id, position("p-1", status="CLOSED", size="0")),
        "upsertPositions",
    )
    assert (closed["totalNotional"], closed["accountMargin"], closed["status"]) == (
        "0",
        "1",
        "ACTIVE",
    )
    assert closed["positions"] == []
    assert snapshot(admin_client)["counts"]["positions"] == 1
    assert admin_ok(set_balance(admin_client, profile_id, "0"), "setBalance")["balance"] == "0"


def test_one_request_sees_its_own_earlier_writes(admin_client: TestClient) -> None:
    profile_id = trader(admin_client)["profile"]["id"]
    body = as_admin(
        admin_client,
        """
        mutation ($id: ID!, $a: [PositionInput!]!, $b: [PositionInput!]!) {
          a: upsertPositions(profileId: $id, positions: $a) { totalNotional positions { id } }
          b: upsertPositions(profileId: $id, positions: $b) { totalNotional positions { id } }
        }
        """,
        {
            "id": profile_id,
            "a": [position("p-a")],
            "b": [position("p-b", marketId="ETH-USD", fairPrice="3000", entryPrice="3000")],
        },
    )
    assert "errors" not in body, body
    assert body["data"]["a"]["totalNotional"] == "50000"
    assert body["data"]["b"]["totalNotional"] == "53000"
    assert [p["id"] for p in body["data"]["b"]["positions"]] == ["p-a", "p-b"]


def test_a_notification_is_stored_once_per_key(admin_client: TestClient) -> None:
    user = trader(admin_client)
    profile_id = user["profile"]["id"]
    stored = admin_ok(
        push(admin_client, profile_id, notification("n-1", createdAt=1_700_000_000_000_000)),
        "pushNotification",
    )
    assert (stored["title"], stored["createdAt"], stored["read"]) == (
        "hello n-1",
        1_700_000_000_000_000,
        False,
    )
    replay = admin_ok(
        push(admin_client, profile_id, notification("n-1", title="changed")), "pushNotification"
    )
    assert replay == stored
    me = post(admin_client, ME, {}, Authorization=f"Bearer {user['jwt']}")["data"]["me"]
    assert nodes(me["notifications"]) == [{"id": stored["id"], "title": "hello n-1"}]
    assert me["lastUpdate"] > user["profile"]["lastUpdate"]


def test_ids_of_another_profile_are_a_conflict_and_roll_the_call_back(
    admin_client: TestClient,
) -> None:
    owner = trader(admin_client, ahead=100)["profile"]["id"]
    other = trader(admin_client, ahead=101)["profile"]["id"]
    admin_ok(upsert_orders(admin_client, owner, order("taken")), "upsertOrders")
    admin_ok(upsert_positions(admin_client, owner, position("taken")), "upsertPositions")
    admin_ok(push(admin_client, owner, notification("taken")), "pushNotification")
    before = snapshot(admin_client)

    for body in (
        upsert_orders(admin_client, other, order("fresh"), order("taken", size="9")),
        upsert_positions(admin_client, other, position("fresh"), position("taken", size="9")),
        push(admin_client, other, notification("taken")),
    ):
        assert code(body) == "CONFLICT"
        assert "another profile" in body["errors"][0]["message"]
    assert snapshot(admin_client) == before  # not even `fresh`, nor the other's lastUpdate


def test_unknown_and_malformed_profile_ids(admin_client: TestClient) -> None:
    before = snapshot(admin_client)
    assert code(upsert_orders(admin_client, "4242", order("o"))) == "PROFILE_NOT_FOUND"
    assert code(set_balance(admin_client, "4242", "1")) == "PROFILE_NOT_FOUND"
    assert code(push(admin_client, "4242", notification("k"))) == "PROFILE_NOT_FOUND"
    assert code(upsert_positions(admin_client, "4242", position("p"))) == "PROFILE_NOT_FOUND"
    for malformed in ("abc", "-1", "1.5", "9" * 30):
        assert code(upsert_orders(admin_client, malformed, order("o"))) == "BAD_USER_INPUT"
    assert snapshot(admin_client) == before


def _refusals() -> list[Any]:
    cases: list[tuple[str, str, list[dict[str, Any]] | str | dict[str, Any], str]] = [
        ("orders", "unknown-market", [order("o", marketId="FOO-USD")], "unknown market"),
        ("orders", "zero-size", [order("o", size="0")], "size must be positive"),
        ("orders", "negative-price", [order("o", price="-1")], "price must be positive"),
        ("orders", "zero-trigger", [order("o", triggerPrice="0")], "triggerPrice must be"),
        ("orders", "too-precise", [order("o", size="0." + "0" * 18 + "1")], "decimal places"),
        ("orders", "too-large", [order("o", price="1e16")], "at most"),
        ("orders", "negative-filled", [order("o", totalFilledSize="-1")], "not be negative"),
        ("orders", "not-a-number", [order("o", size="lots")], "Decimal"),
        ("orders", "bad-enum", [order("o", side="BUY")], "Side"),
        ("orders", "duplicate-id", [order("o"), order("o")], "appears twice"),
        ("orders", "empty-id", [order(" ")], "must not be empty"),
        ("orders", "long-id", [order("x" * 65)], "longer than 64"),
        ("orders", "long-reason", [order("o", reason="r" * 257)], "longer than 256"),
        ("orders", "nul-id", [order("o\x00")], "NUL"),
        ("orders", "nul-reason", [order("o", reason="\x00")], "NUL"),
        ("orders", "negative-time", [order("o", createdAt=-1)], "microseconds"),
        ("positions", "open-zero-size", [position("p", size="0")], "size must be positive"),
        ("positions", "zero-entry", [position("p", entryPrice="0")], "entryPrice must be"),
        ("positions", "unknown-market", [position("p", marketId="nope")], "unknown market"),
        ("balance", "too-large", "-1e16", "at most"),
        ("balance", "too-precise", "1." + "0" * 18 + "1", "decimal places"),
        ("volume", "negative", "-1", "not be negative"),
        ("notification", "empty-title", notification("k", title=""), "title must not be empty"),
        ("notification", "long-key", notification("k" * 65), "key is longer"),
        ("notification", "nul-title", notification("k", title="a\x00"), "NUL"),
    ]
    return [pytest.param(kind, value, hint, id=f"{kind}-{n}") for kind, n, value, hint in cases]


@pytest.mark.parametrize(("kind", "value", "hint"), _refusals())
def test_invalid_writes_are_refused_with_a_reason_and_write_nothing(
    admin_client: TestClient, kind: str, value: Any, hint: str
) -> None:
    profile_id = trader(admin_client)["profile"]["id"]
    admin_ok(upsert_orders(admin_client, profile_id, order("kept")), "upsertOrders")
    before = snapshot(admin_client)
    body = {
        "orders": lambda: upsert_orders(admin_client, profile_id, *value),
        "positions": lambda: upsert_positions(admin_client, profile_id, *value),
        "balance": lambda: set_balance(admin_client, profile_id, value),
        "volume": lambda: set_balance(admin_client, profile_id, "1", value),
        "notification": lambda: push(admin_client, profile_id, value),
    }[kind]()
    assert code(body) == "BAD_USER_INPUT"
    assert hint in body["errors"][0]["message"]
    assert snapshot(admin_client) == before


def test_a_call_carries_at_most_1000_rows(admin_client: TestClient) -> None:
    """Over HTTP the body limit (ONBOARDING_MAX_BODY_BYTES) usually bites first; the use case
    holds its own bound for every other caller (seed, future transports)."""
    from models.trading import OrderUpdate
    from models.trading import upsert_orders as write_orders

    services = admin_client.app.state.services  # type: ignore[attr-defined]
    profile_id = int(trader(admin_client)["profile"]["id"])
    rows = [
        OrderUpdate(
            id=f"o-{n}",
            market_id="BTC-USD",
            order_type=OrderType.LIMIT,
            side=Side.LONG,
            status=OrderStatus.OPEN,
            size=Decimal(1),
            price=Decimal(1),
        )
        for n in range(1001)
    ]
    before = snapshot(admin_client)
    with pytest.raises(AppError, match="at most 1000 orders") as refused:
        admin_client.portal.call(write_orders, services.db, services.settings, profile_id, rows)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    assert snapshot(admin_client) == before
    # 1000 go through, in one transaction of several INSERT statements
    admin_client.portal.call(write_orders, services.db, services.settings, profile_id, rows[:1000])
    assert snapshot(admin_client)["counts"]["orders"] == 1000


# --------------------------------------------------------------------------- the listing


def test_profiles_page_newest_first_and_stay_stable_under_inserts(
    admin_client: TestClient,
) -> None:
    ids = [trader(admin_client, ahead=100 + n)["profile"]["id"] for n in range(5)]
    newest_first = sorted(ids, key=int, reverse=True)

    first = profiles_page(admin_client, first=2)
    assert [e["node"]["id"] for e in first["edges"]] == newest_first[:2]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]

    trader(admin_client, ahead=200)  # a new profile between pages must not shift them
    seen = [e["node"]["id"] for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while True:
        page = profiles_page(admin_client, first=2, after=after)
        assert page["pageInfo"]["hasPreviousPage"] is True
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == newest_first

    empty = profiles_page(admin_client, first=0)
    assert empty["edges"] == []
    assert empty["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


def test_profiles_by_wallet_in_any_case(admin_client: TestClient) -> None:
    user = trader(admin_client)
    trader(admin_client)
    wallet = user["profile"]["wallet"]
    found = profiles_page(admin_client, wallet=wallet.upper().replace("0X", "0x"))
    assert [e["node"]["id"] for e in found["edges"]] == [user["profile"]["id"]]
    assert found["edges"][0]["node"]["wallet"] == wallet
    assert code(as_admin(admin_client, PROFILES, {"wallet": "0x123"})) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("variables", "hint"),
    [
        ({"first": 101}, "between 0 and 100"),
        ({"first": -1}, "between 0 and 100"),
        ({"after": "not a cursor"}, "not a cursor"),
        ({"after": "W10"}, "not a cursor"),  # base64 of [] (no kind)
        ({"after": "x" * 600}, "not a cursor"),
        ({"first": 2**40}, "Int"),
    ],
)
def test_bad_paging_arguments_are_refused(
    admin_client: TestClient, variables: dict[str, Any], hint: str
) -> None:
    body = as_admin(admin_client, PROFILES, variables)
    assert code(body) == "BAD_USER_INPUT"
    assert hint in body["errors"][0]["message"]
