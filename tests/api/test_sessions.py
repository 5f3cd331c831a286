"""Authenticated GraphQL: `me`, refresh rotation with reuse detection, logout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.services import Services
from models.errors import AppError, ErrorCode
from models.sessions import refresh_client_session
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


def test_me_refuses_missing_tampered_and_refresh_tokens(client: TestClient) -> None:
    session = client_session(client)
    assert code(call(client, ME)) == "UNAUTHENTICATED"
    head, payload, signature = session["jwt"].split(".")
    assert code(me(client, f"{head}.{payload}.{signature[::-1]}")) == "UNAUTHENTICATED"
    assert code(me(client, session["refreshToken"])) == "UNAUTHENTICATED"
    assert code(me(client, "garbage")) == "UNAUTHENTICATED"


def test_refresh_rotates_and_the_old_session_ends(client: TestClient) -> None:
    first = client_session(client)
    second = refresh(client, first["refreshToken"])["data"]["refreshSession"]
    assert second["jwt"] != first["jwt"]
    assert second["randomSecret"] != first["randomSecret"]
    assert me(client, second["jwt"])["data"]["me"]["id"] == first["profile"]["id"]
    assert code(me(client, first["jwt"])) == "UNAUTHENTICATED"


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
    assert "errors" not in me(client, third["jwt"])

    assert code(refresh(client, first["refreshToken"])) == "REFRESH_TOKEN_REUSED"

    for token in (first["jwt"], second["jwt"], third["jwt"]):
        assert code(me(client, token)) == "UNAUTHENTICATED"
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
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, AppError)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert losers[0].code in (ErrorCode.REFRESH_TOKEN_REUSED, ErrorCode.REFRESH_TOKEN_NOT_FOUND)


def test_logout_ends_one_session_and_logout_everywhere_ends_all(client: TestClient) -> None:
    signer = Signer()
    a, b, c = (client_session(client, signer, ahead=100 + i) for i in range(3))
    assert call(client, "mutation { logout }", Authorization=f"Bearer {a['jwt']}")["data"] == {
        "logout": True
    }
    assert code(me(client, a["jwt"])) == "UNAUTHENTICATED"
    assert code(refresh(client, a["refreshToken"])) == "REFRESH_TOKEN_NOT_FOUND"
    assert "errors" not in me(client, b["jwt"])

    ended = call(client, "mutation { logoutEverywhere }", Authorization=f"Bearer {b['jwt']}")
    assert ended["data"] == {"logoutEverywhere": 2}
    for session in (b, c):
        assert code(me(client, session["jwt"])) == "UNAUTHENTICATED"


@pytest.mark.parametrize("mutation", ["mutation { logout }", "mutation { logoutEverywhere }"])
def test_logout_needs_a_session(client: TestClient, mutation: str) -> None:
    assert code(call(client, mutation)) == "UNAUTHENTICATED"
