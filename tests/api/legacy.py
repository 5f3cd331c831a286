"""Helpers for the legacy REST tests: onboarding over REST, envelope checks, seeded rows."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select, update
from starlette.testclient import TestClient

from api.services import Services
from models.tables import ApiKey, Notification, Order, Position
from tests.signing import Signer, fresh_timestamp

ENVELOPE_KEYS = {"error", "pagination", "result", "success"}
SEED = Path(__file__).parent.parent / "fixtures" / "onboarding-response.example.json"
SEED_SHA256 = "164c3ceabae86e29ce84ad888d0d7420f857cf3338882ca59eb2b23392309777"
"""The project's seed (the original exchange's documented response), copied byte for byte."""


def seed() -> dict[str, Any]:
    """The seed's response example, as the repository holds it (tests/fixtures)."""
    data: dict[str, Any] = json.loads(SEED.read_text())
    return data


def onboard_rest(
    client: TestClient,
    signer: Signer | None = None,
    *,
    is_client: bool,
    ts: int | None = None,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    signer = signer or Signer()
    ts = ts or fresh_timestamp()
    body = {"wallet": signer.address, "signature": signer.eip191(ts), "is_client": is_client}
    return client.post(
        "/onboarding", json={**body, **fields}, headers={"RBT-TS": str(ts), **(headers or {})}
    )


def ok_item(response: httpx.Response) -> dict[str, Any]:
    """The one result item of a successful envelope."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["success"] is True
    assert body["error"] == ""
    assert body["pagination"] == {"limit": 1, "order": "ASC", "page": 0, "total": 1}
    (item,) = body["result"]
    return item  # type: ignore[no-any-return]


def refusal(response: httpx.Response, status: int, code: str) -> str:
    """Assert a refusal envelope with this status and code; return its error text."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["success"] is False
    assert body["result"] == []
    assert body["pagination"] == {"limit": 0, "order": "ASC", "page": 0, "total": 0}
    error: str = body["error"]
    assert error.startswith(f"{code}: "), error
    return error


def add_trading_rows(client: TestClient, services: Services, profile_id: int) -> None:
    """An open order, a placed market order (no price), a position and a notification."""

    async def insert() -> None:
        async with services.db.write() as session:
            session.add_all(
                [
                    Order(
                        id=f"o-{profile_id}-1",
                        profile_id=profile_id,
                        market_id="BTC-USD",
                        side="long",
                        status="open",
                        price=Decimal("25000.5"),
                        size=Decimal("0.2"),
                        initial_size=Decimal("0.2"),
                        client_order_id="mine-1",
                        created_at=1_700_000_000_000_001,
                    ),
                    Order(
                        id=f"o-{profile_id}-2",
                        profile_id=profile_id,
                        market_id="ETH-USD",
                        order_type="market",
                        side="short",
                        status="placed",
                        size=Decimal(1),
                        initial_size=Decimal(1),
                    ),
                    Position(
                        id=f"p-{profile_id}",
                        profile_id=profile_id,
                        market_id="ETH-USD",
                        side="short",
                        size=Decimal(2),
                        entry_price=Decimal(2000),
                        fair_price=Decimal(1900),
                    ),
                    Notification(
                        profile_id=profile_id, type="info", title="Hello", description="Welcome"
                    ),
                ]
            )

    client.portal.call(insert)


def update_api_key(client: TestClient, services: Services, key: str, **values: Any) -> None:
    async def run() -> None:
        async with services.db.write() as session:
            await session.exec(update(ApiKey).where(col(ApiKey.key) == key).values(**values))

    client.portal.call(run)


def api_key_row(client: TestClient, services: Services, key: str) -> ApiKey:
    async def run() -> ApiKey:
        async with services.db.read() as session:
            return (await session.exec(select(ApiKey).where(col(ApiKey.key) == key))).one()

    return client.portal.call(run)
