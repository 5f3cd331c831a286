"""`onboarding-api seed`: a rich, plausible profile for a wallet, found again by onboarding."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from api.cli import main
from models.db import Database
from models.enums import RESTING_ORDER_STATUSES
from models.seed import REFERENCE_PRICES
from models.tables import Notification, Order, Position, Profile
from tests.api.test_onboard import ok, onboard, signed
from tests.pages import nodes
from tests.signing import Signer


def stored(database_url: str) -> dict[str, list[dict[str, Any]]]:
    async def read() -> dict[str, list[dict[str, Any]]]:
        db = Database(database_url)
        try:
            async with db.read() as session:
                return {
                    model.__tablename__: [  # type: ignore[attr-defined]
                        row.model_dump() for row in (await session.exec(select(model))).all()
                    ]
                    for model in (Profile, Order, Position, Notification)
                }
        finally:
            await db.dispose()

    return asyncio.run(read())


def seed(monkeypatch: pytest.MonkeyPatch, database_url: str, *args: str) -> None:
    monkeypatch.setenv("ONBOARDING_DATABASE_URL", database_url)
    main(["seed", *args])


def test_seed_fills_a_plausible_profile_that_onboarding_then_finds(
    client: TestClient,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer = Signer()
    args = ["--wallet", signer.address.upper().replace("0X", "0x"), "--orders", "120"]
    seed(monkeypatch, database_url, *args, "--positions", "12", "--notifications", "9")
    printed = capsys.readouterr().out
    assert f"({signer.address.lower()} on rbx): 120 orders" in printed

    rows = stored(database_url)
    (profile,) = rows["profiles"]
    assert profile["wallet"] == signer.address.lower()
    orders = rows["orders"]
    assert len(orders) == 120
    assert len({o["market_id"] for o in orders}) >= 5
    assert {o["side"] for o in orders} == {"long", "short"}
    statuses = {o["status"] for o in orders}
    assert {"open", "closed", "canceled"} <= statuses
    assert len({o["order_type"] for o in orders}) >= 4
    for o in orders:
        reference = REFERENCE_PRICES[o["market_id"]]
        for price in (o["price"], o["trigger_price"]):
            assert price is None or abs(price / reference - 1) <= Decimal("0.1"), o
        assert o["size"] > 0
        assert 0 <= o["total_filled_size"] <= o["size"]
    positions = rows["positions"]
    assert len(positions) == 12
    open_markets = [p["market_id"] for p in positions if p["status"] == "open"]
    assert len(open_markets) == len(set(open_markets)) == 10  # one open position per market
    notes = rows["notifications"]
    assert len(notes) == 9
    assert sum(n["read_at"] is None for n in notes) == 3
    assert profile["balance"] > 0
    assert profile["status"] == "active"

    # onboarding the seeded wallet finds the same profile, with its resting orders and positions
    result = ok(onboard(client, **signed(signer, is_client=True)))["profile"]
    assert result["id"] == str(profile["id"])
    resting = {o["id"] for o in orders if o["status"] in RESTING_ORDER_STATUSES}
    assert {o["id"] for o in result["orders"]} == resting
    assert len(result["positions"]) == 10
    assert len(nodes(result["notifications"])) == 9
    assert result["status"] == "ACTIVE"
    assert Decimal(result["withdrawableBalance"]) > 0

    # running it again rewrites the same rows; a larger count only adds
    seed(monkeypatch, database_url, *args, "--positions", "12", "--notifications", "9")
    again = stored(database_url)
    for table in ("profiles", "orders", "positions", "notifications"):
        assert comparable(again[table]) == comparable(rows[table]), table
    seed(monkeypatch, database_url, *args[:2], "--orders", "150", "--positions", "12")
    grown = {o["id"]: o for o in stored(database_url)["orders"]}
    assert len(grown) == 150
    assert comparable([grown[o["id"]] for o in orders]) == comparable(orders)


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the times a rewrite moves, in a stable order."""
    volatile = {"updated_at", "timestamp", "last_update", "last_liq_check", "read_at"}
    kept = [{k: v for k, v in row.items() if k not in volatile} for row in rows]
    return sorted(kept, key=lambda row: str(row["id"]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wallet", "0x123"], "BAD_USER_INPUT: wallet must be 0x"),
        (["--wallet", "0x" + "ab" * 20, "--exchange", "nope"], "UNSUPPORTED_EXCHANGE"),
        (["--wallet", "0x" + "ab" * 20, "--orders", "-1"], "orders must be between 0 and"),
    ],
)
def test_seed_refuses_bad_arguments_and_writes_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        seed(monkeypatch, database_url, *args)
    assert message in str(exit_.value)
    assert all(rows == [] for rows in stored(database_url).values())
