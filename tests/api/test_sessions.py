"""Authenticated GraphQL: `me`, refresh rotation with reuse detection, logout."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import jwt as pyjwt
import pytest
from pydantic import SecretStr
from sqlmodel import col, select, update
from starlette.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings
from models.errors import AppError, ErrorCode
from models.sessions import refresh_client_session
from models.tables import ApiKey, AuthSession
from models.tokens import key_id
from tests.api.test_onboard import ok, onboard, signed
from tests.signing import Signer, fresh_timestamp

ME = "{ me { id wallet } }"
REFRESH = """
mutation ($token: String!) {
  refreshSession(refreshToken: $token) { jwt refreshToken randomSecret }
}
"""


def call(
    client: TestClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> dict[str, Any]:
    response = client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def me(client: TestClient, jwt: str) -> dict[str, Any]:
    return call(client, ME, Authorization=f"Bearer {jwt}")


def code(body: dict[str, Any]) -> str:
    (error,) = body["errors"]
    result: str = error["extensions"]["code"]
    return result


def signed_out(body: dict[str, Any]) -> bool:
    """Without a live session `me` is null, and that is an answer, not an error."""
    return body == {"data": {"me": None}}


def signed_in(body: dict[str, Any]) -> bool:
    """`me` answered a profile: the token names a live session."""
    return "errors" not in body and body["data"]["me"] is not None


def refresh(client: TestClient, token: str) -> dict[str, Any]:
    return call(client, REFRESH, {"token": token})


def client_session(
    client: TestClient, signer: Signer | None = None, ahead: int = 300
) -> dict[str, Any]:
    return ok(
        onboard(client, **signed(signer or Signer(), is_client=True, ts=fresh_timestamp(ahead)))
    )


def test_me_accepts_bearer_cookie_and_rbt_jwt(client: TestClient) -> None:
    session = client_session(client)
    expected = {"id": session["profile"]["id"], "wallet": session["profile"]["wallet"]}
    assert me(client, session["jwt"])["data"]["me"] == expected
    assert call(client, ME, **{"RBT-JWT": session["jwt"]})["data"]["me"] == expected
    client.cookies.set("jwt", session["jwt"])
    try:
        assert call(client, ME)["data"]["me"] == expected
    finally:
        client.cookies.clear()


def test_market_maker_jwts_authenticate_too(client: TestClient) -> None:
    mm = ok(onboard(client, **signed(Signer(), is_client=False)))
    assert me(client, mm["jwt"])["data"]["me"]["id"] == mm["profile"]["id"]


def test_a_signed_out_page_query_gets_everything_but_me(client: TestClient) -> None:
    body = call(client, "{ me { id } exchanges { id } serverTime }")
    assert "errors" not in body
    assert body["data"]["me"] is None
    assert [exchange["id"] for exchange in body["data"]["exchanges"]] == ["bfx", "rbx"]
    assert isinstance(body["data"]["serverTime"], int)


def test_me_is_null_for_missing_tampered_and_refresh_tokens(client: TestClient) -> None:
    session = client_session(client)
    assert signed_out(call(client, ME))
    head, payload, signature = session["jwt"].split(".")
    assert signed_out(me(client, f"{head}.{payload}.{signature[::-1]}"))
    assert signed_out(me(client, session["refreshToken"]))
    assert signed_out(me(client, "garbage"))


def test_refresh_rotates_and_the_old_session_ends(client: TestClient) -> None:
    first = client_session(client)
    second = refresh(client, first["refreshToken"])["data"]["refreshSession"]
    assert second["jwt"] != first["jwt"]
    assert second["randomSecret"] != first["randomSecret"]
    assert me(client, second["jwt"])["data"]["me"]["id"] == first["profile"]["id"]
    assert signed_out(me(client, first["jwt"]))


def _stored_refresh_hash(
    services: Services, session_id: str, replaced: str | None = None
) -> Callable[[], Awaitable[str | None]]:
    """What reads the session row's `refresh_hash`; with `replaced`, overwritten first."""

    async def read() -> str | None:
        async with services.db.write() as db_session:
            if replaced is not None:
                await db_session.exec(
                    update(AuthSession)
                    .where(col(AuthSession.id) == session_id)
                    .values(refresh_hash=replaced)
                )
            row = await db_session.get(AuthSession, session_id)
            return None if row is None else row.refresh_hash

    return read


def test_a_session_stores_the_hash_of_its_refresh_tokens_jti(
    client: TestClient, services: Services
) -> None:
    """Not of the token, which names the profile: so the row can be written by the statement
    that creates the profile. The token's signature still has to verify first."""
    session = client_session(client)
    claims = pyjwt.decode(session["refreshToken"], options={"verify_signature": False})
    stored = client.portal.call(_stored_refresh_hash(services, claims["sid"]))
    assert stored == hashlib.sha256(claims["jti"].encode()).hexdigest()
    assert stored != hashlib.sha256(session["refreshToken"].encode()).hexdigest()
    forged = _forge(session["refreshToken"], exp=claims["exp"] + 1)  # same jti, bad signature
    assert code(refresh(client, forged)) == "REFRESH_TOKEN_NOT_FOUND"
    assert "errors" not in refresh(client, session["refreshToken"])


def test_a_row_holding_the_whole_tokens_hash_still_refreshes_once(
    client: TestClient, services: Services
) -> None:
    """Rows written before sessions were made ahead of their profile hold the hash of the
    whole refresh token: such a token still refreshes, once, and its reuse is still caught."""
    session = client_session(client)
    token = session["refreshToken"]
    sid = pyjwt.decode(token, options={"verify_signature": False})["sid"]
    whole = hashlib.sha256(token.encode()).hexdigest()
    assert client.portal.call(_stored_refresh_hash(services, sid, replaced=whole)) == whole
    renewed = refresh(client, token)["data"]["refreshSession"]
    assert signed_in(me(client, renewed["jwt"]))
    assert code(refresh(client, token)) == "REFRESH_TOKEN_REUSED"
    assert signed_out(me(client, renewed["jwt"]))


def test_an_access_token_is_not_a_refresh_token(client: TestClient) -> None:
    session = client_session(client)
    assert code(refresh(client, session["jwt"])) == "REFRESH_TOKEN_NOT_FOUND"
    assert code(refresh(client, "nonsense")) == "REFRESH_TOKEN_NOT_FOUND"


def test_reuse_revokes_the_whole_family_and_only_it(client: TestClient) -> None:
    signer = Signer()
    first = client_session(client, signer, ahead=100)
    other_family = client_session(client, signer, ahead=101)
    second = refresh(client, first["refreshToken"])["data"]["refreshSession"]
    third = refresh(client, second["refreshToken"])["data"]["refreshSession"]
    assert signed_in(me(client, third["jwt"]))

    assert code(refresh(client, first["refreshToken"])) == "REFRESH_TOKEN_REUSED"

    for token in (first["jwt"], second["jwt"], third["jwt"]):
        assert signed_out(me(client, token))
    assert code(refresh(client, third["refreshToken"])) == "REFRESH_TOKEN_NOT_FOUND"
    assert me(client, other_family["jwt"])["data"]["me"]["id"] == first["profile"]["id"]


def test_concurrent_refreshes_of_one_token_have_one_winner(
    client: TestClient, services: Services
) -> None:
    session = client_session(client)

    async def race() -> list[object]:
        attempts = [
            refresh_client_session(services.db, services.credentials, session["refreshToken"])
            for _ in range(2)
        ]
        return await asyncio.gather(*attempts, return_exceptions=True)

    outcomes = client.portal.call(race)
    winners = [o for o in outcomes if isinstance(o, tuple)]
    losers = [o for o in outcomes if isinstance(o, AppError)]
    assert len(winners) == 1
    assert len(losers) == 1
    # The loser presented a token that is spent by the time its swap runs: that is reuse, and
    # reuse cannot be told apart from theft, so the family (the winner's session too) ends.
    assert losers[0].code is ErrorCode.REFRESH_TOKEN_REUSED
    (_, winner_tokens) = winners[0]
    assert signed_out(me(client, winner_tokens.jwt))


def test_logout_ends_one_session_and_logout_everywhere_ends_all(client: TestClient) -> None:
    signer = Signer()
    a, b, c = (client_session(client, signer, ahead=100 + i) for i in range(3))
    assert call(client, "mutation { logout }", Authorization=f"Bearer {a['jwt']}")["data"] == {
        "logout": True
    }
    assert signed_out(me(client, a["jwt"]))
    assert code(refresh(client, a["refreshToken"])) == "REFRESH_TOKEN_NOT_FOUND"
    assert signed_in(me(client, b["jwt"]))

    ended = call(client, "mutation { logoutEverywhere }", Authorization=f"Bearer {b['jwt']}")
    assert ended["data"] == {"logoutEverywhere": 2}
    for session in (b, c):
        assert signed_out(me(client, session["jwt"]))


@pytest.mark.parametrize("mutation", ["mutation { logout }", "mutation { logoutEverywhere }"])
def test_logout_needs_a_session(client: TestClient, mutation: str) -> None:
    assert code(call(client, mutation)) == "UNAUTHENTICATED"


def _forge(token: str, **changes: Any) -> str:
    """The token with its payload edited and its original signature kept."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    edited = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).rstrip(b"=")
    return f"{head}.{edited.decode()}.{signature}"


def test_edited_claims_unsigned_and_foreign_tokens_are_refused(
    client: TestClient, services: Services
) -> None:
    victim, attacker = client_session(client), client_session(client)
    victim_claims = pyjwt.decode(victim["jwt"], options={"verify_signature": False})
    # The attacker's token, re-pointed at the victim's profile and session: signature breaks.
    hijack = _forge(attacker["jwt"], sub=victim_claims["sub"], sid=victim_claims["sid"])
    assert signed_out(me(client, hijack))
    assert signed_out(me(client, _forge(victim["jwt"], exp=2**40)))
    unsigned = pyjwt.encode(victim_claims, None, algorithm="none")
    assert signed_out(me(client, unsigned))
    kid = pyjwt.get_unverified_header(victim["jwt"])["kid"]
    foreign = pyjwt.encode(victim_claims, "x" * 40, algorithm="HS256", headers={"kid": kid})
    assert signed_out(me(client, foreign))
    # A refresh token whose type claim is edited to "access" is not an access token either.
    assert signed_out(me(client, _forge(victim["refreshToken"], typ="access")))
    assert signed_in(me(client, victim["jwt"]))


def test_a_session_past_its_stored_expiry_is_refused(
    client: TestClient, services: Services
) -> None:
    session = client_session(client)
    sid = pyjwt.decode(session["jwt"], options={"verify_signature": False})["sid"]

    async def expire() -> None:
        async with services.db.write() as db_session:
            await db_session.exec(
                update(AuthSession).where(col(AuthSession.id) == sid).values(expires_at=1)
            )

    client.portal.call(expire)
    assert signed_out(me(client, session["jwt"]))


def test_jwt_signing_key_rotation_keeps_sessions_alive(settings: Settings) -> None:
    old_secret, new_secret = "old-jwt-secret-" + "o" * 32, "new-jwt-secret-" + "n" * 32
    before = settings.model_copy(update={"jwt_secret": SecretStr(old_secret)})
    app = create_app(before)
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        session = client_session(test_client)
    during = settings.model_copy(
        update={
            "jwt_secret": SecretStr(new_secret),
            "previous_jwt_secrets": (SecretStr(old_secret),),
        }
    )
    with TestClient(create_app(during)) as test_client:
        assert signed_in(me(test_client, session["jwt"]))
        renewed = refresh(test_client, session["refreshToken"])["data"]["refreshSession"]
        assert pyjwt.get_unverified_header(renewed["jwt"])["kid"] == key_id(new_secret)
    after = settings.model_copy(update={"jwt_secret": SecretStr(new_secret)})
    with TestClient(create_app(after)) as test_client:
        assert signed_in(me(test_client, renewed["jwt"]))
        assert signed_out(me(test_client, session["jwt"]))  # old key retired


def test_a_cross_site_form_cannot_ride_the_jwt_cookie(client: TestClient) -> None:
    """Browsers send cookies with cross-site form posts; such posts cannot be JSON, and /graphql
    accepts mutations only as JSON (415 otherwise), so the cookie never authorises a forged
    mutation."""
    session = client_session(client)
    client.cookies.set("jwt", session["jwt"])
    try:
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            forged = client.post(
                "/graphql",
                content=b'{"query": "mutation { logoutEverywhere }"}',
                headers={"content-type": content_type},
            )
            assert forged.status_code == 415
        assert client.get("/graphql", params={"query": "mutation { logout }"}).status_code >= 400
    finally:
        client.cookies.clear()
    assert signed_in(me(client, session["jwt"]))


@pytest.mark.parametrize(
    ("ender", "later"),
    [
        ("logoutEverywhere", 'createApiKey(input: {tag: "x", expiresInDays: 365}) { secret }'),
        ("logout", 'createApiKey(input: {tag: "x", expiresInDays: 365}) { secret }'),
        ("logout", "markNotificationsRead(ids: []) { id }"),
        ("logoutEverywhere", "logout"),
    ],
)
def test_a_mutation_that_ends_sessions_ends_them_for_the_rest_of_the_document(
    client: TestClient, services: Services, ender: str, later: str
) -> None:
    """Mutations run in order; each authenticates again after one that ended sessions."""
    session = client_session(client)
    body = call(
        client, f"mutation {{ a: {ender} b: {later} }}", Authorization=f"Bearer {session['jwt']}"
    )
    assert body["data"] is None or body["data"]["a"] in (True, 1)
    (error,) = body["errors"]
    assert error["path"] == ["b"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

    async def keys() -> int:
        async with services.db.read() as db:
            return len((await db.exec(select(ApiKey))).all())

    assert client.portal.call(keys) == 0
