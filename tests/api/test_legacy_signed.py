"""The calls clients make after onboarding: signed `/jwt` and `/account`, `/account/validate`,
API-key checks, the IP allow-list, and what never reaches the logs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_network
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings
from models.enums import ApiKeyStatus
from models.tables import AuthSession
from tests.api.legacy import (
    add_trading_rows,
    api_key_row,
    ok_item,
    onboard_rest,
    refusal,
    update_api_key,
)
from tests.api.test_sessions import me
from tests.legacy_client import LegacyError, OfficialClient, official_signature, signed_headers
from tests.signing import Signer

JWT_MM = {"refresh_token": "", "is_client": False, "method": "POST", "path": "/jwt"}
ACCOUNT = {"method": "GET", "path": "/account"}


def test_the_official_python_clients_market_maker_flow_succeeds(
    client: TestClient, services: Services
) -> None:
    official = OfficialClient(client)
    item = official.onboarding()
    assert official.api_key
    assert official.public_jwt
    assert api_key_row(client, services, official.api_key).last_used_at is None

    before_us = int(time.time() * 1_000_000)
    private_jwt = official.jwt_update(official.public_jwt)
    assert private_jwt != official.public_jwt
    assert me(client, private_jwt)["data"]["me"]["id"] == str(official.profile_id)
    last_used = api_key_row(client, services, official.api_key).last_used_at
    assert last_used is not None
    assert last_used >= before_us

    account = official.account_get()
    assert account["id"] == official.profile_id == item["profile"]["id"]
    assert account["wallet"] == official.signer.address.lower()
    assert official.account_validate(private_jwt) is True
    assert official.account_validate(official.public_jwt) is True


def test_the_official_client_on_another_exchange(client: TestClient) -> None:
    official = OfficialClient(client, exchange="rbx")
    official.onboarding()
    with pytest.raises(LegacyError, match=r"^UNSUPPORTED_EXCHANGE: "):
        OfficialClient(client, exchange="nope").onboarding()


def client_onboarding(client: TestClient, signer: Signer | None = None) -> dict[str, Any]:
    return ok_item(onboard_rest(client, signer, is_client=True))


def client_refresh(
    client: TestClient,
    refresh_token: str,
    secret: str,
    *,
    timestamp: int | None = None,
    **extra_headers: str,
) -> Any:
    """A signed client `/jwt`; pass another `timestamp` to sign the same body anew (a request
    signed identically twice is a replay)."""
    body = {"is_client": True, "refresh_token": refresh_token}
    signed = {**body, "method": "POST", "path": "/jwt"}
    headers = signed_headers(signed, secret, timestamp=timestamp, **extra_headers)
    return client.post("/jwt", json=body, headers=headers)


def test_the_client_flow_signs_with_random_secret_and_rotates_on_jwt(client: TestClient) -> None:
    session = client_onboarding(client)
    # The `jwt` cookie carries the JWT (sent by hand: it is Secure, and the test server is http);
    # the request is signed with randomSecret.
    cookie = {"Cookie": f"jwt={session['jwt']}"}
    account = client.get(
        "/account", headers=signed_headers(ACCOUNT, session["randomSecret"], **cookie)
    )
    assert ok_item(account)["id"] == session["profile"]["id"]

    response = client_refresh(client, session["refreshToken"], session["randomSecret"])
    renewed = ok_item(response)
    assert set(renewed) == {"jwt", "random_secret", "refresh_token"}
    assert renewed["random_secret"] != session["randomSecret"]
    assert response.headers["set-cookie"].startswith(f"jwt={renewed['jwt']};")
    client.cookies.clear()

    new_account = client.get(
        "/account",
        headers=signed_headers(ACCOUNT, renewed["random_secret"], **{"RBT-JWT": renewed["jwt"]}),
    )
    assert ok_item(new_account)["id"] == session["profile"]["id"]
    old = client.get("/account/validate", params={"jwt": session["jwt"]})
    assert "ended" in refusal(old, 401, "NOT_AUTHENTICATED")

    # The old refresh token works once: presenting it again revokes the whole family.
    reused = client_refresh(
        client, session["refreshToken"], session["randomSecret"], timestamp=int(time.time()) + 200
    )
    assert "already used" in refusal(reused, 401, "REFRESH_TOKEN_REUSED")
    gone = client.get("/account/validate", headers={"RBT-JWT": renewed["jwt"]})
    refusal(gone, 401, "NOT_AUTHENTICATED")


def test_a_client_refresh_must_be_signed_with_that_sessions_secret(client: TestClient) -> None:
    session = client_onboarding(client)
    other = client_onboarding(client)
    wrong = client_refresh(client, session["refreshToken"], other["randomSecret"])
    assert "does not match" in refusal(wrong, 401, "INVALID_PAYLOAD_SIGNATURE")
    # A refused attempt spends nothing: the right signature still works.
    ok_item(client_refresh(client, session["refreshToken"], session["randomSecret"]))


@pytest.mark.parametrize(
    ("body", "status", "code", "hint"),
    [
        ({"is_client": True}, 400, "BAD_USER_INPUT", "`refresh_token` is required"),
        ({"is_client": True, "refresh_token": 7}, 400, "BAD_USER_INPUT", "must be a string"),
        ({"is_client": True, "refresh_token": "x.y.z"}, 401, "REFRESH_TOKEN_NOT_FOUND", "onboard"),
        ({"is_client": "yes", "refresh_token": "x"}, 400, "BAD_USER_INPUT", "JSON boolean"),
        ({"refresh_token": "x"}, 401, "NOT_AUTHENTICATED", "RBT-API-KEY"),
    ],
    ids=["missing-token", "token-number", "token-garbage", "is-client-string", "mm-without-key"],
)
def test_jwt_refusals(
    client: TestClient, body: dict[str, Any], status: int, code: str, hint: str
) -> None:
    secret = "0x" + "22" * 32
    signed = {**body, "method": "POST", "path": "/jwt"}
    response = client.post("/jwt", json=body, headers=signed_headers(signed, secret))
    assert hint in refusal(response, status, code)


def test_an_access_token_is_not_a_refresh_token(client: TestClient) -> None:
    session = client_onboarding(client)
    response = client_refresh(client, session["jwt"], session["randomSecret"])
    refusal(response, 401, "REFRESH_TOKEN_NOT_FOUND")


@pytest.fixture
def market_maker(client: TestClient) -> OfficialClient:
    official = OfficialClient(client)
    official.onboarding()
    return official


def mm_headers(official: OfficialClient, data: dict[str, Any], **overrides: Any) -> dict[str, str]:
    assert official.api_key
    assert official.api_secret
    timestamp = overrides.pop("timestamp", int(time.time()) + 300)
    secret = overrides.pop("secret", official.api_secret)
    headers = {
        "RBT-TS": str(timestamp),
        "RBT-API-KEY": official.api_key,
        "RBT-SIGNATURE": official_signature(data, timestamp, secret),
    }
    headers.update(overrides)
    return {key: value for key, value in headers.items() if value is not None}


def _signed_refusals() -> dict[str, tuple[dict[str, Any], int, str, str]]:
    """Built when the test runs (see `tests.api.test_onboard._refusals`)."""
    now = int(time.time())
    cases: list[tuple[str, dict[str, Any], int, str, str]] = [
        ("no-signature", {"RBT-SIGNATURE": None}, 401, "INVALID_PAYLOAD_SIGNATURE", "missing"),
        ("signature-not-hex", {"RBT-SIGNATURE": "0xnothex"}, 401, "INVALID_PAYLOAD_SIGNATURE",
         "0x followed by 64 hex"),
        ("other-secret", {"secret": "0x" + "33" * 32}, 401, "INVALID_PAYLOAD_SIGNATURE",
         "sorted key=value pairs of (method, path)"),
        ("signed-for-other-ts", {"RBT-TS": str(now + 200)}, 401, "INVALID_PAYLOAD_SIGNATURE",
         "does not match"),
        ("no-ts", {"RBT-TS": None}, 400, "BAD_USER_INPUT", "RBT-TS header is required"),
        ("ts-word", {"RBT-TS": "later"}, 400, "BAD_USER_INPUT", "integer unix seconds"),
        ("expired", {"timestamp": now - 1}, 400, "SIGNATURE_EXPIRED", "server time"),
        ("too-far", {"timestamp": now + 3600}, 400, "TIMESTAMP_TOO_FAR", "server time"),
        ("unknown-key", {"RBT-API-KEY": "bm9wZQ=="}, 401, "NO_SUCH_KEY", "onboard again"),
        ("no-credentials", {"RBT-API-KEY": None}, 401, "NOT_AUTHENTICATED", "RBT-API-KEY"),
    ]  # fmt: skip
    return {name: (o, s, c, h) for name, o, s, c, h in cases}


@pytest.mark.parametrize("case", list(_signed_refusals()))
def test_signed_account_refusals(
    client: TestClient, services: Services, market_maker: OfficialClient, case: str
) -> None:
    overrides, status, code, hint = _signed_refusals()[case]  # timed now, not at collection
    response = client.get("/account", headers=mm_headers(market_maker, ACCOUNT, **overrides))
    assert hint in refusal(response, status, code)
    assert market_maker.api_key
    assert api_key_row(client, services, market_maker.api_key).last_used_at is None


def test_a_signature_binds_the_route_and_the_body(
    client: TestClient, market_maker: OfficialClient
) -> None:
    # Signed for /account, sent to /jwt: refused, as is a body changed after signing.
    moved = client.post("/jwt", json=JWT_MM, headers=mm_headers(market_maker, ACCOUNT))
    refusal(moved, 401, "INVALID_PAYLOAD_SIGNATURE")
    changed = client.post(
        "/jwt", json={**JWT_MM, "refresh_token": "other"}, headers=mm_headers(market_maker, JWT_MM)
    )
    refusal(changed, 401, "INVALID_PAYLOAD_SIGNATURE")
    # The server signs its own method and path, whatever the body claims.
    lying = {**JWT_MM, "path": "/account"}
    assert ok_item(
        client.post("/jwt", json=lying, headers=mm_headers(market_maker, JWT_MM))
    ).keys() == {"jwt"}


def test_revoked_and_expired_keys_are_refused(
    client: TestClient, services: Services, market_maker: OfficialClient
) -> None:
    assert market_maker.api_key
    update_api_key(client, services, market_maker.api_key, expiration=int(time.time()) - 1)
    expired = client.get("/account", headers=mm_headers(market_maker, ACCOUNT))
    assert "onboard again for a new key" in refusal(expired, 401, "KEY_EXPIRED")
    update_api_key(
        client,
        services,
        market_maker.api_key,
        expiration=int(time.time()) + 3600,
        status=ApiKeyStatus.REVOKED.value,
    )
    revoked = client.get("/account", headers=mm_headers(market_maker, ACCOUNT))
    refusal(revoked, 401, "NO_SUCH_KEY")


def test_a_market_maker_jwt_cannot_sign_as_a_client(
    client: TestClient, market_maker: OfficialClient
) -> None:
    assert market_maker.public_jwt
    assert market_maker.api_secret
    headers = signed_headers(
        ACCOUNT, market_maker.api_secret, **{"RBT-JWT": market_maker.public_jwt}
    )
    refused = client.get("/account", headers=headers)
    assert "RBT-API-KEY" in refusal(refused, 401, "NOT_AUTHENTICATED")


def test_account_validate_checks_live_access_tokens(client: TestClient) -> None:
    session = client_onboarding(client)
    client.cookies.clear()
    by_query = ok_item(client.get("/account/validate", params={"jwt": session["jwt"]}))
    assert by_query["profile_id"] == session["profile"]["id"]
    assert by_query["expires_at"] > time.time() + 47 * 3600
    assert ok_item(client.get("/account/validate", headers={"RBT-JWT": session["jwt"]}))
    for token in ("", "garbage", session["refreshToken"]):
        refused = client.get("/account/validate", params={"jwt": token})
        refusal(refused, 401, "NOT_AUTHENTICATED")
    refusal(client.get("/account/validate"), 401, "NOT_AUTHENTICATED")


@contextmanager
def app_at(settings: Settings, peer: str) -> Iterator[TestClient]:
    """The app as seen from `peer` (the TCP client address)."""
    app = create_app(settings)
    with TestClient(app, client=(peer, 40000)) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        yield test_client


def test_the_ip_allow_list_is_enforced_on_signed_calls(settings: Settings) -> None:
    with app_at(settings, "198.51.100.7") as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        official = OfficialClient(client)
        official.onboarding()
        assert official.api_key
        update_api_key(client, services, official.api_key, allowed_ips=["198.51.100.0/24"])
        assert official.account_get()["id"] == official.profile_id

        update_api_key(client, services, official.api_key, allowed_ips=["203.0.113.0/24"])
        refused = client.get("/account", headers=mm_headers(official, ACCOUNT))
        assert "came from 198.51.100.7" in refusal(refused, 403, "NOT_ALLOWED_FOR_IP")
        used = api_key_row(client, services, official.api_key).last_used_at
        # A forwarded address from an untrusted peer is ignored: no way around the list.
        spoofed = client.get(
            "/account",
            headers=mm_headers(official, ACCOUNT, **{"X-Forwarded-For": "203.0.113.9"}),
        )
        refusal(spoofed, 403, "NOT_ALLOWED_FOR_IP")
        with pytest.raises(LegacyError, match=r"^NOT_ALLOWED_FOR_IP: "):
            official.jwt_update(official.public_jwt or "")
        assert api_key_row(client, services, official.api_key).last_used_at == used


def test_forwarded_addresses_count_behind_trusted_proxies(settings: Settings) -> None:
    settings.trusted_proxies = (ip_network("10.0.0.0/8"),)
    with app_at(settings, "10.1.2.3") as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        official = OfficialClient(client)
        official.onboarding()
        assert official.api_key
        update_api_key(client, services, official.api_key, allowed_ips=["203.0.113.0/24"])
        # client, then an untrusted hop the client wrote itself, then our proxy's view
        forwarded = "198.51.100.1, 203.0.113.9, 10.9.9.9"
        allowed = client.get(
            "/account", headers=mm_headers(official, ACCOUNT, **{"X-Forwarded-For": forwarded})
        )
        assert ok_item(allowed)["id"] == official.profile_id
        refused = client.get(
            "/account",
            headers=mm_headers(official, ACCOUNT, **{"X-Forwarded-For": "198.51.100.1"}),
        )
        assert "198.51.100.1" in refusal(refused, 403, "NOT_ALLOWED_FOR_IP")
        unknown = client.get("/account", headers=mm_headers(official, ACCOUNT))
        assert "10.1.2.3" in refusal(unknown, 403, "NOT_ALLOWED_FOR_IP")


def test_no_token_secret_or_signature_reaches_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []

    official = OfficialClient(client)
    item = official.onboarding()
    secrets += [item["jwt"], item["apiSecret"]["Secret"], item["apiSecret"]["Secret"][2:]]
    private_jwt = official.jwt_update(item["jwt"])
    account_headers = mm_headers(official, ACCOUNT)
    assert ok_item(client.get("/account", headers=account_headers))
    official.account_validate(private_jwt)
    secrets += [private_jwt, account_headers["RBT-SIGNATURE"]]

    session = client_onboarding(client)
    client.cookies.clear()
    secrets += [session["jwt"], session["refreshToken"], session["randomSecret"]]
    refresh_body = {"is_client": True, "refresh_token": session["refreshToken"]}
    refresh_headers = signed_headers(
        {**refresh_body, "method": "POST", "path": "/jwt"}, session["randomSecret"]
    )
    renewed = ok_item(
        client.post(
            "/jwt",
            json=refresh_body,
            headers=refresh_headers,
        )
    )
    secrets += [renewed["jwt"], renewed["refresh_token"], renewed["random_secret"]]
    secrets.append(refresh_headers["RBT-SIGNATURE"])
    # Refusals log too: a bad signature, a reused refresh token.
    refusal(
        client.get("/account", headers=mm_headers(official, ACCOUNT, secret="0x" + "44" * 32)),
        401,
        "INVALID_PAYLOAD_SIGNATURE",
    )
    reuse_headers = signed_headers(
        {**refresh_body, "method": "POST", "path": "/jwt"},
        session["randomSecret"],
        timestamp=int(time.time()) + 200,
    )
    secrets.append(reuse_headers["RBT-SIGNATURE"])
    refusal(
        client.post("/jwt", json=refresh_body, headers=reuse_headers), 401, "REFRESH_TOKEN_REUSED"
    )

    # The test's own HTTP client (httpx) logs the URLs it requests; that is not the service.
    records = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert any(r.name == "onboarding.access" for r in records)
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {getattr(r, 'fields', '')} {r.exc_text or ''}" for r in records
    )
    for secret in secrets:  # (the API key itself is an identifier, stored in clear)
        assert secret not in logged


def test_account_costs_a_fixed_number_of_statements(
    client: TestClient, services: Services, market_maker: OfficialClient
) -> None:
    """Key lookup, last-used stamp, the profile, then one SELECT per list however long."""

    def statements_for_account() -> int:
        before = services.db.statements
        market_maker.account_get()
        return services.db.statements - before

    empty = statements_for_account()
    assert empty <= 8  # round trips: the stamp is a transaction (BEGIN, UPDATE, COMMIT)
    assert market_maker.profile_id is not None
    add_trading_rows(client, services, market_maker.profile_id)
    assert statements_for_account() == empty


def session_rows(client: TestClient, services: Services) -> int:
    async def count() -> int:
        async with services.db.read() as session:
            return len((await session.exec(select(AuthSession.id))).all())

    return client.portal.call(count)


def test_a_signed_market_maker_jwt_request_works_once(
    client: TestClient, services: Services, market_maker: OfficialClient
) -> None:
    headers = mm_headers(market_maker, JWT_MM)
    assert ok_item(client.post("/jwt", json=JWT_MM, headers=headers)).keys() == {"jwt"}
    assert market_maker.api_key
    used = api_key_row(client, services, market_maker.api_key).last_used_at
    sessions = session_rows(client, services)
    for _ in range(3):
        replayed = client.post("/jwt", json=JWT_MM, headers=headers)
        assert "already used" in refusal(replayed, 400, "SIGNATURE_REPLAYED")
    assert session_rows(client, services) == sessions
    assert api_key_row(client, services, market_maker.api_key).last_used_at == used
    # A freshly signed request (another RBT-TS) is a new one.
    again = mm_headers(market_maker, JWT_MM, timestamp=int(time.time()) + 200)
    assert ok_item(client.post("/jwt", json=JWT_MM, headers=again)).keys() == {"jwt"}


def test_a_signed_client_refresh_request_works_once_and_a_replay_ends_nothing(
    client: TestClient, services: Services
) -> None:
    session = client_onboarding(client)
    body = {"is_client": True, "refresh_token": session["refreshToken"]}
    headers = signed_headers({**body, "method": "POST", "path": "/jwt"}, session["randomSecret"])
    renewed = ok_item(client.post("/jwt", json=body, headers=headers))
    client.cookies.clear()
    sessions = session_rows(client, services)
    replayed = client.post("/jwt", json=body, headers=headers)
    refusal(replayed, 400, "SIGNATURE_REPLAYED")
    assert session_rows(client, services) == sessions
    # A replayed request is not a reused token: the family the replay would have ended lives.
    assert ok_item(client.get("/account/validate", headers={"RBT-JWT": renewed["jwt"]}))
