"""Shared steps of the admin-API tests: a trader to write to, and the engine's mutations."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.test_onboard import ok, onboard, signed
from tests.conftest import as_admin
from tests.signing import Signer, fresh_timestamp

FIGURES = """
id lastUpdate lastLiqCheck status balance cumTradingVolume accountEquity cumUnrealizedPnl
totalNotional totalPositionMargin totalOrderMargin accountMargin accountLeverage health
withdrawableBalance
"""
UPSERT_ORDERS = f"""
mutation ($id: ID!, $orders: [OrderInput!]!) {{
  upsertOrders(profileId: $id, orders: $orders) {{ {FIGURES} orders {{ id status }} }}
}}
"""
UPSERT_POSITIONS = f"""
mutation ($id: ID!, $positions: [PositionInput!]!) {{
  upsertPositions(profileId: $id, positions: $positions) {{ {FIGURES} positions {{ id }} }}
}}
"""
SET_BALANCE = f"""
mutation ($id: ID!, $balance: Decimal!, $volume: Decimal) {{
  setBalance(profileId: $id, balance: $balance, cumTradingVolume: $volume) {{ {FIGURES} }}
}}
"""
PUSH = """
mutation ($id: ID!, $n: NotificationInput!) {
  pushNotification(profileId: $id, notification: $n) { id type title description createdAt read }
}
"""


def trader(client: TestClient, signer: Signer | None = None, ahead: int = 300) -> dict[str, Any]:
    """A freshly onboarded client session: `jwt` and `profile`."""
    return ok(
        onboard(client, **signed(signer or Signer(), is_client=True, ts=fresh_timestamp(ahead)))
    )


def order(order_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "marketId": "BTC-USD",
        "orderType": "LIMIT",
        "side": "LONG",
        "status": "OPEN",
        "size": "0.5",
        "price": "60000",
        **fields,
    }


def position(position_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": position_id,
        "marketId": "BTC-USD",
        "side": "LONG",
        "size": "1",
        "entryPrice": "50000",
        "fairPrice": "50000",
        **fields,
    }


def notification(key: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "type": "info", "title": f"hello {key}", **fields}


def admin_ok(body: dict[str, Any], field: str) -> Any:
    assert "errors" not in body, body
    return body["data"][field]


def upsert_orders(client: TestClient, profile_id: str, *orders: dict[str, Any]) -> dict[str, Any]:
    return as_admin(client, UPSERT_ORDERS, {"id": profile_id, "orders": list(orders)})


def upsert_positions(
    client: TestClient, profile_id: str, *positions: dict[str, Any]
) -> dict[str, Any]:
    return as_admin(client, UPSERT_POSITIONS, {"id": profile_id, "positions": list(positions)})


def set_balance(
    client: TestClient, profile_id: str, balance: str, volume: str | None = None
) -> dict[str, Any]:
    return as_admin(client, SET_BALANCE, {"id": profile_id, "balance": balance, "volume": volume})


def push(client: TestClient, profile_id: str, item: dict[str, Any]) -> dict[str, Any]:
    return as_admin(client, PUSH, {"id": profile_id, "n": item})


def code(body: dict[str, Any]) -> str:
    (error,) = body["errors"]
    result: str = error["extensions"]["code"]
    return result
