"""The `onboard` mutation end to end over HTTP, on every engine."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import jwt as pyjwt
import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select
from starlette.testclient import TestClient

from api.services import Services
from models.config import (
    BFX_SIGN_IN_TEXT,
    CURRENT_SIGN_IN_TEXT,
    DEFAULT_MARKETS,
    LEGACY_SIGN_IN_TEXT,
)
from models.tables import ApiKey, AuthSession, Profile, UsedSignature
from models.wallet import SECP256K1_N
from tests.conftest import graphql
from tests.pages import nodes
from tests.signing import Signer, fresh_timestamp

ONBOARD = """
mutation Onboard($input: OnboardInput!) {
  onboard(input: $input) {
    jwt refreshToken randomSecret
    apiSecret { key secret expiration status tag profileId }
    profile {
      id wallet exchangeId profileType status lastUpdate lastLiqCheck
      balance accountEquity totalPositionMargin totalOrderMargin totalNotional accountMargin
      withdrawableBalance cumUnrealizedPnl health accountLeverage cumTradingVolume
      leverage { marketId leverage }
      orders { id } positions { id } notifications { edges { node { id } } }
    }
  }
}
"""
STORED = (Profile, AuthSession, ApiKey, UsedSignature)


def onboard(client: TestClient, **fields: Any) -> dict[str, Any]:
    return graphql(client, ONBOARD, {"input": fields})


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["onboard"]
    return payload


def error_code(body: dict[str, Any]) -> str:
    assert body.get("data") is None, body  # request errors (bad variables) have no data entry
    (error,) = body["errors"]
    code: str = error["extensions"]["code"]
    return code


def signed(
    signer: Signer, *, is_client: bool, ts: int | None = None, **extra: Any
) -> dict[str, Any]:
    ts = ts or fresh_timestamp()
    return {
        "wallet": signer.address,
        "signature": signer.eip191(ts),
        "timestamp": ts,
        "isClient": is_client,
        **extra,
    }


def row_counts(client: TestClient, services: Services) -> dict[str, int]:
    async def count() -> dict[str, int]:
        async with services.db.read() as session:
            return {
                model.__tablename__: (
                    await session.exec(select(func.count()).select_from(model))
                ).one()  # type: ignore[attr-defined]
                for model in STORED
            }

    return client.portal.call(count)


def claims(token: str, services: Services) -> dict[str, Any]:
    secret = services.settings.jwt_secret.get_secret_value()
    decoded: dict[str, Any] = pyjwt.decode(token, secret, algorithms=["HS256"])
    return decoded


def test_client_onboarding_returns_a_session_and_a_fresh_profile(
    client: TestClient, services: Services
) -> None:
    signer = Signer()
    before = int(time.time())
    result = ok(onboard(client, **signed(signer, is_client=True)))

    profile = result["profile"]
    assert profile["wallet"] == signer.address.lower()
    assert profile["exchangeId"] == "rbx"
    assert profile["profileType"] == "TRADER"
    assert profile["status"] == "ACTIVE"
    for zero in (
        "balance",
        "accountEquity",
        "totalPositionMargin",
        "totalOrderMargin",
        "totalNotional",
        "withdrawableBalance",
        "cumUnrealizedPnl",
        "cumTradingVolume",
    ):
        assert profile[zero] == "0", zero
    for one in ("accountMargin", "accountLeverage", "health"):
        assert profile[one] == "1", one
    assert profile["lastLiqCheck"] == 0
    assert abs(profile["lastUpdate"] - before * 1_000_000) < 60_000_000  # microseconds, 64-bit
    assert profile["leverage"] == [
        {"marketId": m, "leverage": "1"} for m in sorted(DEFAULT_MARKETS)
    ]
    assert profile["orders"] == profile["positions"] == nodes(profile["notifications"]) == []

    access = claims(result["jwt"], services)
    assert access["sub"] == profile["id"]
    assert access["typ"] == "access"
    assert access["exp"] - access["iat"] == 48 * 3600
    assert re.fullmatch(r"[0-9a-f]{32}", access["jti"])
    assert pyjwt.get_unverified_header(result["jwt"])["alg"] == "HS256"
    refresh = claims(result["refreshToken"], services)
    assert refresh["typ"] == "refresh"
    assert refresh["exp"] - refresh["iat"] == 14 * 24 * 3600
    assert re.fullmatch(r"0x[0-9a-f]{64}", result["randomSecret"])
    assert result["apiSecret"] is None


def test_market_maker_onboarding_returns_an_api_key(client: TestClient, services: Services) -> None:
    result = ok(onboard(client, **signed(Signer(), is_client=False)))
    api = result["apiSecret"]
    assert len(api["key"]) == 44
    assert len(base64.b64decode(api["key"], validate=True)) == 32
    assert re.fullmatch(r"0x[0-9a-f]{64}", api["secret"])
    assert abs(api["expiration"] - (int(time.time()) + 180 * 24 * 3600)) <= 5
    assert (api["status"], api["tag"], api["profileId"]) == ("API_GEN", "", result["profile"]["id"])
    assert result["refreshToken"] is None
    assert result["randomSecret"] is None
    assert claims(result["jwt"], services)["sub"] == result["profile"]["id"]


def test_re_onboarding_keeps_the_profile_renews_client_sessions_and_keeps_the_api_key(
    client: TestClient,
) -> None:
    signer = Signer()
    first_client = ok(onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(100))))
    second_client = ok(onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(101))))
    first_mm = ok(onboard(client, **signed(signer, is_client=False, ts=fresh_timestamp(102))))
    second_mm = ok(onboard(client, **signed(signer, is_client=False, ts=fresh_timestamp(103))))

    ids = {r["profile"]["id"] for r in (first_client, second_client, first_mm, second_mm)}
    assert len(ids) == 1
    assert first_client["jwt"] != second_client["jwt"]
    assert first_client["refreshToken"] != second_client["refreshToken"]
    assert first_client["randomSecret"] != second_client["randomSecret"]
    assert first_mm["apiSecret"] == second_mm["apiSecret"]
    assert first_mm["jwt"] != second_mm["jwt"]


def test_wallet_case_does_not_matter(client: TestClient) -> None:
    signer = Signer()
    lower = ok(onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(100))))
    upper_input = signed(signer, is_client=True, ts=fresh_timestamp(101))
    upper_input["wallet"] = "0x" + signer.address[2:].upper()
    upper = ok(onboard(client, **upper_input))
    assert lower["profile"]["id"] == upper["profile"]["id"]


@pytest.mark.parametrize(
    "text", [CURRENT_SIGN_IN_TEXT, LEGACY_SIGN_IN_TEXT], ids=["current", "legacy"]
)
@pytest.mark.parametrize("scheme", ["eip191", "eip712"])
def test_both_schemes_and_every_configured_text_are_accepted(
    client: TestClient, scheme: str, text: str
) -> None:
    signer, ts = Signer(), fresh_timestamp()
    signature = getattr(signer, scheme)(ts, text)
    result = ok(
        onboard(client, wallet=signer.address, signature=signature, timestamp=ts, isClient=True)
    )
    assert result["profile"]["wallet"] == signer.address.lower()


def signature_with_v(signer: Signer, v: int) -> tuple[str, int]:
    """A fresh EIP-191 signature whose recovery id matches `v`, written with that exact v byte."""
    for ahead in range(100, 300):
        ts = fresh_timestamp(ahead)
        signature = signer.eip191(ts)
        if int(signature[-2:], 16) - 27 == v % 27:
            return signature[:-2] + f"{v:02x}", ts
    raise AssertionError("no signature with that parity in 200 tries")


@pytest.mark.parametrize("v", [0, 1, 27, 28])
def test_every_v_convention_is_accepted(client: TestClient, v: int) -> None:
    signer = Signer()
    signature, ts = signature_with_v(signer, v)
    assert int(signature[-2:], 16) == v
    ok(onboard(client, wallet=signer.address, signature=signature, timestamp=ts, isClient=False))


def test_bfx_uses_its_own_text_and_domain_and_exchange_ids_ignore_case(client: TestClient) -> None:
    signer, ts = Signer(), fresh_timestamp()
    bfx = ok(
        onboard(
            client,
            wallet=signer.address,
            signature=signer.eip712(ts, BFX_SIGN_IN_TEXT, "bfx"),
            timestamp=ts,
            isClient=True,
            exchangeId="BFX",
        )
    )
    assert bfx["profile"]["exchangeId"] == "bfx"
    rbx = ok(onboard(client, **signed(signer, is_client=True)))
    assert rbx["profile"]["id"] != bfx["profile"]["id"]  # profiles are keyed by (wallet, exchange)
    ts = fresh_timestamp(200)
    wrong_domain = onboard(
        client,
        wallet=signer.address,
        signature=signer.eip712(ts, BFX_SIGN_IN_TEXT, "rbx"),
        timestamp=ts,
        isClient=True,
        exchangeId="bfx",
    )
    assert error_code(wrong_domain) == "SIGNATURE_MISMATCH"


def test_vault_may_self_onboard(client: TestClient) -> None:
    result = ok(onboard(client, **signed(Signer(), is_client=True, profileType="VAULT")))
    assert result["profile"]["profileType"] == "VAULT"


def _high_s(signature: str) -> str:
    """The malleated twin of a signature: s → n - s, parity flipped; same signer and digest."""
    raw = bytes.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    flipped = (v - 27) ^ 1 if v >= 27 else v ^ 1
    return "0x" + (raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([flipped])).hex()


def _refusals() -> dict[str, tuple[dict[str, Any], str, str]]:
    """Built when the test runs, never at collection: the suite takes longer than a signature
    lives, and a case signed minutes earlier fails on its expiry instead of its own rule."""
    now = int(time.time())
    signer, other = Signer(), Signer()
    ts = fresh_timestamp()
    good = signed(signer, is_client=True, ts=ts)
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (
            "wallet-short",
            {**good, "wallet": signer.address[:-2]},
            "BAD_USER_INPUT",
            "wallet must be 0x",
        ),
        (
            "wallet-no-0x",
            {**good, "wallet": signer.address[2:] + "00"},
            "BAD_USER_INPUT",
            "wallet must be 0x",
        ),
        (
            "wallet-not-hex",
            {**good, "wallet": "0x" + "g" * 40},
            "BAD_USER_INPUT",
            "wallet must be 0x",
        ),
        (
            "signature-short",
            {**good, "signature": good["signature"][:-2]},
            "BAD_USER_INPUT",
            "130 hex",
        ),
        ("signature-not-hex", {**good, "signature": "0x" + "z" * 130}, "BAD_USER_INPUT", "130 hex"),
        (
            "signature-bad-v",
            {**good, "signature": good["signature"][:-2] + "05"},
            "BAD_USER_INPUT",
            "v byte",
        ),
        (
            "signature-zero-r",
            {**good, "signature": "0x" + "00" * 32 + good["signature"][66:]},
            "BAD_USER_INPUT",
            "r and s",
        ),
        (
            "signature-high-s",
            {**good, "signature": _high_s(good["signature"])},
            "BAD_USER_INPUT",
            "low-s",
        ),
        ("timestamp-not-a-number", {**good, "timestamp": "soon"}, "BAD_USER_INPUT", "Int64"),
        ("timestamp-float", {**good, "timestamp": 1.5}, "BAD_USER_INPUT", "Int64"),
        ("timestamp-now", {**good, "timestamp": now - 1}, "SIGNATURE_EXPIRED", "server time"),
        (
            "timestamp-past",
            {**signed(signer, is_client=True, ts=now - 60)},
            "SIGNATURE_EXPIRED",
            "server time",
        ),
        (
            "timestamp-too-far",
            {**signed(signer, is_client=True, ts=now + 3600)},
            "TIMESTAMP_TOO_FAR",
            "server time",
        ),
        (
            "other-signer",
            {**good, "signature": other.eip191(ts)},
            "SIGNATURE_MISMATCH",
            other.address,
        ),
        ("other-timestamp", {**good, "timestamp": ts + 1}, "SIGNATURE_MISMATCH", "not by wallet"),
        ("unknown-exchange", {**good, "exchangeId": "nope"}, "UNSUPPORTED_EXCHANGE", "bfx, rbx"),
        (
            "insurance",
            {**good, "profileType": "INSURANCE"},
            "UNSUPPORTED_PROFILE_TYPE",
            "trader or vault",
        ),
    ]
    return {name: (fields, code, hint) for name, fields, code, hint in cases}


@pytest.mark.parametrize("case", list(_refusals()))
def test_each_refusal_has_its_code_says_what_to_fix_and_writes_nothing(
    client: TestClient, services: Services, case: str
) -> None:
    fields, code, hint = _refusals()[case]  # signed now: collection was minutes ago
    body = onboard(client, **fields)
    assert error_code(body) == code
    assert hint in body["errors"][0]["message"]
    assert set(row_counts(client, services).values()) == {0}


def test_a_signature_onboards_once(client: TestClient, services: Services) -> None:
    signer = Signer()
    fields = signed(signer, is_client=True)
    ok(onboard(client, **fields))
    counts = row_counts(client, services)
    replay = onboard(client, **fields)
    assert error_code(replay) == "SIGNATURE_REPLAYED"
    # The ledger keys on (signer, digest): rewriting v to 0/1 is the same proof, still refused.
    rewritten = {
        **fields,
        "signature": fields["signature"][:-2] + f"{int(fields['signature'][-2:], 16) - 27:02x}",
    }
    assert error_code(onboard(client, **rewritten)) == "SIGNATURE_REPLAYED"
    assert error_code(onboard(client, **{**fields, "isClient": False})) == "SIGNATURE_REPLAYED"
    assert row_counts(client, services) == counts  # a refused replay writes nothing


def test_replays_are_allowed_when_single_use_is_switched_off(settings: Any) -> None:
    from api.app import create_app

    settings.single_use_signatures = False
    app = create_app(settings)
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        fields = signed(Signer(), is_client=True)
        first = ok(onboard(test_client, **fields))
        second = ok(onboard(test_client, **fields))
    assert first["profile"]["id"] == second["profile"]["id"]
    assert first["jwt"] != second["jwt"]


def test_secrets_are_not_stored_in_clear(client: TestClient, services: Services) -> None:
    client_session = ok(onboard(client, **signed(Signer(), is_client=True)))
    market_maker = ok(onboard(client, **signed(Signer(), is_client=False)))

    async def dump() -> str:
        async with services.db.read() as session:
            rows: list[SQLModel] = [
                *(await session.exec(select(AuthSession))).all(),
                *(await session.exec(select(ApiKey))).all(),
            ]
        return " ".join(str(row.model_dump()) for row in rows)

    stored = client.portal.call(dump)
    for secret in (
        client_session["refreshToken"],
        client_session["randomSecret"],
        client_session["randomSecret"][2:],
        market_maker["apiSecret"]["secret"],
        market_maker["apiSecret"]["secret"][2:],
    ):
        assert secret not in stored


def test_spent_signatures_are_purged_once_their_timestamp_passes(
    client: TestClient, services: Services
) -> None:
    from models.onboarding import purge_spent_signatures

    fields = signed(Signer(), is_client=True)
    ok(onboard(client, **fields))
    assert client.portal.call(purge_spent_signatures, services.db, fields["timestamp"] - 1) == 0
    assert row_counts(client, services)["used_signatures"] == 1
    assert client.portal.call(purge_spent_signatures, services.db, fields["timestamp"]) == 1
    assert row_counts(client, services)["used_signatures"] == 0
