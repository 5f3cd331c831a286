"""`POST /onboarding` in the seed's envelope: contract, input rules, errors, cookies."""

from __future__ import annotations

import hashlib
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.legacy import error_response
from api.services import Services
from api.settings import LegacyDecimals, Settings
from models.config import BFX_SIGN_IN_TEXT
from models.errors import AppError, ErrorCode
from tests.api.legacy import (
    ENVELOPE_KEYS,
    SEED,
    SEED_SHA256,
    add_trading_rows,
    ok_item,
    onboard_rest,
    refusal,
    seed,
)
from tests.api.test_onboard import ok, onboard, row_counts, signed
from tests.api.test_sessions import me
from tests.signing import Signer, fresh_timestamp

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
AMOUNT_KEYS = {
    "profile": {
        "account_equity",
        "account_leverage",
        "account_margin",
        "balance",
        "cum_trading_volume",
        "cum_unrealized_pnl",
        "health",
        "total_notional",
        "total_order_margin",
        "total_position_margin",
        "withdrawable_balance",
    },
    "orders": {
        "initial_size",
        "price",
        "size",
        "size_percent",
        "total_filled_size",
        "trigger_price",
    },
    "positions": {
        "entry_price",
        "fair_price",
        "liquidation_price",
        "margin",
        "notional",
        "size",
        "unrealized_pnl",
    },
}


def json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return type(value).__name__


def assert_same_shape(real: Any, example: Any, where: str = "$") -> None:
    """Same keys and JSON types as the seed, recursively; every list item against the seed's."""
    if isinstance(example, dict):
        assert isinstance(real, dict), f"{where} is {json_type(real)}, the seed has an object"
        if not example:  # `leverage: {}`: a map from market id to an amount
            assert all(json_type(v) == "number" for v in real.values()), where
            return
        assert set(real) == set(example), f"{where}: keys differ by {set(real) ^ set(example)}"
        for key, value in example.items():
            assert_same_shape(real[key], value, f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(real, list), f"{where} is {json_type(real)}, the seed has an array"
        for index, item in enumerate(real):
            assert_same_shape(item, example[0], f"{where}[{index}]")
    else:
        assert json_type(real) == json_type(example), (
            f"{where} is {json_type(real)}, the seed has {json_type(example)}"
        )


def test_the_seed_fixture_is_the_original_byte_for_byte() -> None:
    """Every shape test compares with it; an edit to the copy would move the goalposts."""
    assert hashlib.sha256(SEED.read_bytes()).hexdigest() == SEED_SHA256


def test_client_response_matches_the_seed_exactly(client: TestClient, services: Services) -> None:
    signer = Signer()
    first = ok_item(onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(100)))
    add_trading_rows(client, services, first["profile"]["id"])
    response = onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(101))
    ok_item(response)
    body = response.json()
    profile = body["result"][0]["profile"]
    assert len(profile["orders"]) == 2
    assert len(profile["positions"]) == len(profile["profile_notifications"]) == 1
    assert_same_shape(body, seed())


def test_market_maker_response_has_the_seed_profile_and_an_api_secret(
    client: TestClient, services: Services
) -> None:
    signer = Signer()
    first = ok_item(onboard_rest(client, signer, is_client=False, ts=fresh_timestamp(100)))
    add_trading_rows(client, services, first["profile"]["id"])
    response = onboard_rest(client, signer, is_client=False, ts=fresh_timestamp(101))
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    (item,) = body["result"]
    assert set(item) == {"apiSecret", "jwt", "profile"}
    assert_same_shape(item["profile"], seed()["result"][0]["profile"], "$.profile")
    assert_same_shape(
        item["apiSecret"],
        {
            "Expiration": 1,
            "Key": "",
            "ProfileID": 1,
            "Secret": "",
            "Status": "",
            "Tag": "",
        },
        "$.apiSecret",
    )
    assert item["apiSecret"]["ProfileID"] == item["profile"]["id"]
    assert item["apiSecret"]["Status"] == "API_GEN"


def test_amounts_are_exact_json_numbers_and_agree_with_graphql(
    client: TestClient, services: Services
) -> None:
    signer = Signer()
    first = ok_item(onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(100)))
    add_trading_rows(client, services, first["profile"]["id"])
    response = onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(101))
    text = response.text
    # Written as the plain decimal digits, never through a float.
    for fragment in (
        '"total_order_margin":5000.1',
        '"withdrawable_balance":-8800.1',
        '"cum_unrealized_pnl":200',
        '"liquidation_price":3883.495145631067961165',
        '"account_margin":0.052631578947368421',
        '"price":25000.5',
        '"price":0',  # the market order has no price
    ):
        assert fragment in text, fragment
    item = json.loads(text, parse_float=Decimal)["result"][0]
    via_graphql = me_figures(client, item["jwt"])
    rest = item["profile"]
    for graphql_name, rest_name in (
        ("accountEquity", "account_equity"),
        ("accountMargin", "account_margin"),
        ("accountLeverage", "account_leverage"),
        ("health", "health"),
        ("totalNotional", "total_notional"),
        ("totalPositionMargin", "total_position_margin"),
        ("totalOrderMargin", "total_order_margin"),
        ("withdrawableBalance", "withdrawable_balance"),
        ("cumUnrealizedPnl", "cum_unrealized_pnl"),
    ):
        assert Decimal(via_graphql[graphql_name]) == Decimal(rest[rest_name]), rest_name
    assert rest["status"] == via_graphql["status"].lower()


def me_figures(client: TestClient, jwt: str) -> dict[str, Any]:
    query = (
        "{ me { status accountEquity accountMargin accountLeverage health totalNotional "
        "totalPositionMargin totalOrderMargin withdrawableBalance cumUnrealizedPnl } }"
    )
    response = client.post("/graphql", json={"query": query}, headers={"RBT-JWT": jwt})
    figures: dict[str, Any] = response.json()["data"]["me"]
    return figures


def test_a_fresh_profile_has_the_documented_defaults(client: TestClient) -> None:
    before = int(time.time() * 1_000_000)
    profile = ok_item(onboard_rest(client, is_client=True))["profile"]
    assert profile["orders"] == profile["positions"] == profile["profile_notifications"] == []
    assert profile["status"] == "active"
    assert profile["profile_type"] == "trader"
    assert profile["last_liq_check"] == 0
    assert abs(profile["last_update"] - before) < 60_000_000
    assert set(profile["leverage"].values()) == {1}
    for one in ("account_margin", "account_leverage", "health"):
        assert profile[one] == 1
    assert profile["balance"] == profile["withdrawable_balance"] == 0


def test_the_string_decimals_setting_sends_amounts_as_strings(settings: Settings) -> None:
    settings.legacy_decimals = LegacyDecimals.STRING
    app = create_app(settings)
    with TestClient(app) as client:
        client.portal.call(app.state.services.db.create_schema)
        services: Services = app.state.services
        signer = Signer()
        first = ok_item(onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(100)))
        add_trading_rows(client, services, int(first["profile"]["id"]))
        profile = ok_item(onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(101)))[
            "profile"
        ]
    for key in AMOUNT_KEYS["profile"]:
        assert isinstance(profile[key], str), key
    assert profile["total_order_margin"] == "5000.1"
    assert set(profile["leverage"].values()) == {"1"}
    for name in ("orders", "positions"):
        for row in profile[name]:
            for key in AMOUNT_KEYS[name]:
                assert isinstance(row[key], str), (name, key)
            assert isinstance(row["profile_id"], int)
    assert isinstance(profile["id"], int)
    assert isinstance(profile["last_update"], int)


def test_clients_get_the_jwt_cookie_and_market_makers_do_not(client: TestClient) -> None:
    response = onboard_rest(client, is_client=True)
    jwt = ok_item(response)["jwt"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"jwt={jwt};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "max-age=172800", "path=/"} <= attributes
    assert "set-cookie" not in onboard_rest(client, is_client=False).headers


@pytest.mark.parametrize("samesite", ["Strict", "none"])
def test_the_cookies_samesite_is_a_setting(settings: Settings, samesite: str) -> None:
    """Default Lax (above); `None` keeps `Secure`, without which browsers drop the cookie."""
    settings.cookie_samesite = Settings(cookie_samesite=samesite).cookie_samesite
    with TestClient(create_app(settings)) as client:
        client.portal.call(client.app.state.services.db.create_schema)  # type: ignore[attr-defined]
        cookie = onboard_rest(client, is_client=True).headers["set-cookie"]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {f"samesite={samesite.lower()}", "secure", "httponly"} <= attributes


@pytest.mark.parametrize(
    ("flags", "client_session"),
    [
        ({}, False),
        ({"isClient": True}, True),
        ({"isClient": False}, False),
        ({"is_client": True}, True),
        ({"IS_CLIENT": True}, True),
        ({"is_client": True, "isClient": True}, True),
    ],
    ids=["absent", "isClient", "isClient-false", "is_client", "upper", "both-agree"],
)
def test_both_spellings_of_is_client_are_honoured(
    client: TestClient, flags: dict[str, bool], client_session: bool
) -> None:
    signer, ts = Signer(), fresh_timestamp()
    body = {"wallet": signer.address, "signature": signer.eip191(ts), **flags}
    item = ok_item(client.post("/onboarding", json=body, headers={"RBT-TS": str(ts)}))
    assert ("refreshToken" in item) is client_session
    assert ("apiSecret" in item) is not client_session


def test_vault_profiles_meta_and_unknown_fields_are_accepted(client: TestClient) -> None:
    item = ok_item(
        onboard_rest(
            client,
            is_client=True,
            profile_type="vault",
            meta={"referrer_short_code": "abc", "campaign": ["x"], "unknown": 1},
            something_else="ignored",
        )
    )
    assert item["profile"]["profile_type"] == "vault"


def test_eid_selects_the_exchange_in_any_case(client: TestClient) -> None:
    signer, ts = Signer(), fresh_timestamp()
    body = {"wallet": signer.address, "signature": signer.eip712(ts, BFX_SIGN_IN_TEXT, "bfx")}
    bfx = ok_item(client.post("/onboarding", json=body, headers={"RBT-TS": str(ts), "EID": "BFX"}))
    rbx = ok_item(onboard_rest(client, signer, is_client=False))
    assert bfx["profile"]["id"] != rbx["profile"]["id"]


def test_the_same_wallet_gets_the_same_profile_through_graphql_and_rest(
    client: TestClient,
) -> None:
    signer = Signer()
    via_graphql = ok(onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(100))))
    via_rest = ok_item(onboard_rest(client, signer, is_client=False, ts=fresh_timestamp(101)))
    assert via_rest["profile"]["id"] == int(via_graphql["profile"]["id"])
    again = ok(onboard(client, **signed(signer, is_client=False, ts=fresh_timestamp(102))))
    assert again["apiSecret"]["key"] == via_rest["apiSecret"]["Key"]
    # A REST-issued JWT authenticates GraphQL, and names the same profile.
    assert me(client, via_rest["jwt"])["data"]["me"]["id"] == via_graphql["profile"]["id"]

    other = Signer()
    rest_first = ok_item(onboard_rest(client, other, is_client=True, ts=fresh_timestamp(103)))
    graphql_next = ok(onboard(client, **signed(other, is_client=True, ts=fresh_timestamp(104))))
    assert int(graphql_next["profile"]["id"]) == rest_first["profile"]["id"]


def _bad_requests() -> dict[str, tuple[dict[str, Any], str, str]]:
    """Built when the test runs (see `tests.api.test_onboard._refusals`)."""
    signer, ts = Signer(), fresh_timestamp()
    now = int(time.time())
    good = {"wallet": signer.address, "signature": signer.eip191(ts)}
    headers = {"RBT-TS": str(ts)}
    raw = {"content-type": "application/json"}
    deep = b'{"a":' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    nested_31: list[Any] = []
    for _ in range(30):
        nested_31 = [nested_31]
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("malformed-json", {"content": b'{"wallet": ', "headers": {**headers, **raw}},
         "BAD_USER_INPUT", "not valid JSON"),
        ("array-body", {"content": b"[]", "headers": {**headers, **raw}},
         "BAD_USER_INPUT", "must be a JSON object, not an array"),
        ("empty-body", {"content": b"", "headers": {**headers, **raw}},
         "BAD_USER_INPUT", "body is empty"),
        ("bad-utf8", {"content": b'{"wallet": "\xff"}', "headers": {**headers, **raw}},
         "BAD_USER_INPUT", "not valid JSON"),
        ("nested-too-deep", {"content": deep, "headers": {**headers, **raw}},
         "BAD_USER_INPUT", "nested more than 32 levels deep"),
        ("nested-33-levels",
         {"json": {**good, "meta": {"a": nested_31}}, "headers": headers},
         "BAD_USER_INPUT", "nested more than 32 levels deep"),
        ("wallet-missing", {"json": {"signature": good["signature"]}, "headers": headers},
         "BAD_USER_INPUT", "`wallet` is required"),
        ("wallet-number", {"json": {**good, "wallet": 5}, "headers": headers},
         "BAD_USER_INPUT", "`wallet` must be a string, not a number"),
        ("wallet-malformed", {"json": {**good, "wallet": "0x123"}, "headers": headers},
         "BAD_USER_INPUT", "wallet must be 0x followed by 40 hex digits"),
        ("signature-missing", {"json": {"wallet": signer.address}, "headers": headers},
         "BAD_USER_INPUT", "`signature` is required"),
        ("signature-list", {"json": {**good, "signature": ["0x"]}, "headers": headers},
         "BAD_USER_INPUT", "`signature` must be a string, not an array"),
        ("is-client-string", {"json": {**good, "isClient": "true"}, "headers": headers},
         "BAD_USER_INPUT", "must be one JSON boolean"),
        ("is-client-conflict",
         {"json": {**good, "isClient": True, "is_client": False}, "headers": headers},
         "BAD_USER_INPUT", "must be one JSON boolean"),
        ("profile-type-number", {"json": {**good, "profile_type": 1}, "headers": headers},
         "BAD_USER_INPUT", "`profile_type` must be a string"),
        ("profile-type-insurance",
         {"json": {**good, "profile_type": "insurance"}, "headers": headers},
         "UNSUPPORTED_PROFILE_TYPE", "trader or vault"),
        ("meta-string", {"json": {**good, "meta": "x"}, "headers": headers},
         "BAD_USER_INPUT", "`meta` must be an object"),
        ("rbt-ts-missing", {"json": good, "headers": {}},
         "BAD_USER_INPUT", "RBT-TS header is required"),
        ("rbt-ts-word", {"json": good, "headers": {"RBT-TS": "soon"}},
         "BAD_USER_INPUT", "RBT-TS header must be integer unix seconds, got 'soon'"),
        ("rbt-ts-float", {"json": good, "headers": {"RBT-TS": f"{ts}.5"}},
         "BAD_USER_INPUT", "must be integer unix seconds"),
        ("rbt-ts-negative", {"json": good, "headers": {"RBT-TS": "-5"}},
         "BAD_USER_INPUT", "must be integer unix seconds"),
        ("rbt-ts-superscript", {"json": good, "headers": {"RBT-TS": "\u00b2".encode("latin-1")}},
         "BAD_USER_INPUT", "must be integer unix seconds"),
        ("rbt-ts-past", {"json": good, "headers": {"RBT-TS": str(now - 60)}},
         "SIGNATURE_EXPIRED", "is not after server time"),
        ("rbt-ts-milliseconds", {"json": good, "headers": {"RBT-TS": str(ts * 1000)}},
         "TIMESTAMP_TOO_FAR", "server time"),
        ("rbt-ts-not-signed", {"json": good, "headers": {"RBT-TS": str(ts + 1)}},
         "SIGNATURE_MISMATCH", "not by wallet"),
        ("eid-unknown", {"json": good, "headers": {**headers, "EID": "nope"}},
         "UNSUPPORTED_EXCHANGE", "is not one of: bfx, rbx"),
        ("other-signer",
         {"json": {**good, "signature": Signer().eip191(ts)}, "headers": headers},
         "SIGNATURE_MISMATCH", "was made by"),
    ]  # fmt: skip
    return {name: (request, code, hint) for name, request, code, hint in cases}


@pytest.mark.parametrize("case", list(_bad_requests()))
def test_each_bad_request_gets_a_400_envelope_that_says_what_to_fix_and_writes_nothing(
    client: TestClient, services: Services, case: str
) -> None:
    request_kwargs, code, hint = _bad_requests()[case]  # signed now, not at collection
    response = client.post("/onboarding", **request_kwargs)
    assert hint in refusal(response, 400, code)
    assert response.headers["SRV-TIMESTAMP"].isdigit()
    assert set(row_counts(client, services).values()) == {0}


def test_a_replayed_signature_is_refused(client: TestClient, services: Services) -> None:
    signer, ts = Signer(), fresh_timestamp()
    ok_item(onboard_rest(client, signer, is_client=True, ts=ts))
    counts = row_counts(client, services)
    replay = onboard_rest(client, signer, is_client=False, ts=ts)
    assert "already used" in refusal(replay, 400, "SIGNATURE_REPLAYED")
    assert row_counts(client, services) == counts


def test_oversized_bodies_get_the_apps_413(client: TestClient) -> None:
    response = client.post(
        "/onboarding",
        content=b" " * (70 * 1024),
        headers={"content-type": "application/json", "RBT-TS": "1"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_written_as_an_envelope_with_its_own_status(code: ErrorCode) -> None:
    """Codes added later (a rate limit's 429) are served by the same writer."""
    response = error_response(AppError(code, "what to fix"), LegacyDecimals.NUMBER)
    assert response.status_code == code.http_status
    assert json.loads(bytes(response.body)) == {
        "error": f"{code.value}: what to fix",
        "pagination": {"limit": 0, "order": "ASC", "page": 0, "total": 0},
        "result": [],
        "success": False,
    }


def test_a_database_that_is_down_gets_a_503_envelope() -> None:
    app = create_app(Settings(database_url=UNREACHABLE))
    with TestClient(app) as client:
        response = onboard_rest(client, is_client=True)
        assert "retry" in refusal(response, 503, "SERVICE_UNAVAILABLE")
        account = client.get(
            "/account",
            headers={"RBT-TS": str(fresh_timestamp()), "RBT-API-KEY": "k", "RBT-SIGNATURE": "0x"},
        )
        refusal(account, 503, "SERVICE_UNAVAILABLE")


def test_server_time_is_served_and_stamped(client: TestClient) -> None:
    before = int(time.time())
    response = client.get("/srvtimestamp")
    server_time = ok_item(response)
    assert before <= server_time <= int(time.time())
    assert abs(int(response.headers["SRV-TIMESTAMP"]) - server_time) <= 1


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", "/onboarding", "POST"), ("PUT", "/jwt", "POST"), ("DELETE", "/account", "GET, HEAD")],
)
def test_a_wrong_method_gets_a_405_envelope(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert f"use {allow.split(',')[0]} {path}" in refusal(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == allow
