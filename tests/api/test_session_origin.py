"""What a session was minted from decides what it may do (docs/sessions-and-keys.md): a session
minted from an API key dies with the key, is held to the key's IP allow-list and cannot manage
keys; a refresh family has an absolute lifetime; `logoutEverywhere` can revoke the keys too."""

from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt
import pytest
from sqlmodel import col, select, update
from starlette.testclient import TestClient

from api.services import Services
from api.settings import Settings
from models.api_keys import sweep_api_keys
from models.enums import ApiKeyStatus, SessionOrigin
from models.tables import ApiKey, AuthSession
from tests.api.legacy import update_api_key
from tests.api.test_api_keys import CREATE, RENEW, REVOKE, bearer, create, data, my_keys
from tests.api.test_legacy_signed import app_at, client_refresh
from tests.api.test_sessions import call, client_session, code, me, refresh, signed_out
from tests.legacy_client import OfficialClient

LOGOUT_ALL = "mutation ($keys: Boolean!) { logoutEverywhere(revokeApiKeys: $keys) }"


@pytest.fixture
def bot(client: TestClient) -> OfficialClient:
    """A market maker that onboarded (wallet proof) and then signed `POST /jwt` with its key."""
    official = OfficialClient(client)
    official.onboarding()
    official.jwt_update()
    return official


def key_jwt(bot: OfficialClient) -> str:
    assert bot.private_jwt
    return bot.private_jwt


def wallet_jwt(bot: OfficialClient) -> str:
    assert bot.public_jwt
    return bot.public_jwt


def stored_session(client: TestClient, services: Services, jwt: str) -> AuthSession:
    sid = pyjwt.decode(jwt, options={"verify_signature": False})["sid"]

    async def read() -> AuthSession:
        async with services.db.read() as session:
            return (await session.exec(select(AuthSession).where(AuthSession.id == sid))).one()

    return client.portal.call(read)


NEEDS_SESSION = "mutation { markNotificationsRead(ids: []) { id } }"
"""An operation that needs a live session (`me` answers null without one)."""


def refused_everywhere(client: TestClient, jwt: str, expected: str, status: int) -> str:
    """GraphQL and `GET /account/validate` both refuse `jwt`; returns the GraphQL message."""
    body = call(client, NEEDS_SESSION, Authorization=f"Bearer {jwt}")
    assert code(body) == expected
    if expected == "UNAUTHENTICATED":
        assert signed_out(me(client, jwt))
    assert client.get("/account/validate", params={"jwt": jwt}).status_code == status
    message: str = body["errors"][0]["message"]
    return message


def test_every_session_records_what_it_was_minted_from(
    client: TestClient, services: Services, bot: OfficialClient
) -> None:
    by_key = stored_session(client, services, key_jwt(bot))
    assert (by_key.minted_from, by_key.api_key) == (SessionOrigin.API_KEY.value, bot.api_key)
    by_proof = stored_session(client, services, wallet_jwt(bot))
    assert (by_proof.minted_from, by_proof.api_key) == (SessionOrigin.WALLET_PROOF.value, None)
    browser = client_session(client)
    first = stored_session(client, services, browser["jwt"])
    assert first.minted_from == SessionOrigin.WALLET_PROOF.value
    renewed = refresh(client, browser["refreshToken"])["data"]["refreshSession"]
    second = stored_session(client, services, renewed["jwt"])
    assert (second.minted_from, second.family_id) == (SessionOrigin.REFRESH.value, first.id)
    assert second.family_started_at == first.family_started_at


def test_a_session_minted_from_a_key_dies_when_the_key_is_revoked(
    client: TestClient, bot: OfficialClient
) -> None:
    assert "errors" not in me(client, key_jwt(bot))
    revoked = call(client, REVOKE, {"key": bot.api_key}, **bearer(wallet_jwt(bot)))
    assert data(revoked, "revokeApiKey")["status"] == "REVOKED"
    assert "API key" in refused_everywhere(client, key_jwt(bot), "UNAUTHENTICATED", 401)
    # The wallet-proof session of the same profile is not minted from the key: it lives on.
    assert "errors" not in me(client, wallet_jwt(bot))


def test_a_session_minted_from_a_key_dies_when_the_key_expires(
    client: TestClient, services: Services, bot: OfficialClient
) -> None:
    assert bot.api_key
    update_api_key(client, services, bot.api_key, expiration=int(time.time()) - 1)
    assert signed_out(me(client, key_jwt(bot)))
    # A key that is renewed stays the same key: its sessions live as long as it does.
    update_api_key(client, services, bot.api_key, expiration=int(time.time()) + 3600)
    assert "errors" not in me(client, key_jwt(bot))


def test_a_session_minted_from_a_key_dies_when_the_key_is_purged(
    client: TestClient, services: Services, bot: OfficialClient
) -> None:
    async def purge() -> None:
        async with services.db.write() as session:
            await session.exec(
                update(ApiKey)
                .where(col(ApiKey.key) == bot.api_key)
                .values(status=ApiKeyStatus.REVOKED.value, revoked_at=1)
            )
        await sweep_api_keys(services.db, services.credentials.config)

    client.portal.call(purge)
    assert signed_out(me(client, key_jwt(bot)))


@pytest.mark.parametrize(
    ("mutation", "variables"),
    [
        (CREATE, {"input": {"tag": "escape", "expiresInDays": 365}}),
        (RENEW, {"days": 365}),
        (REVOKE, {}),
    ],
    ids=["create", "renew", "revoke"],
)
def test_a_session_minted_from_a_key_cannot_manage_keys(
    client: TestClient,
    services: Services,
    bot: OfficialClient,
    mutation: str,
    variables: dict[str, Any],
) -> None:
    before = my_keys(client, wallet_jwt(bot))
    refused = call(client, mutation, {"key": bot.api_key, **variables}, **bearer(key_jwt(bot)))
    assert code(refused) == "WALLET_PROOF_REQUIRED"
    assert "wallet" in refused["errors"][0]["message"]
    assert my_keys(client, wallet_jwt(bot)) == before
    # …and cannot revoke them through logoutEverywhere either.
    assert code(call(client, LOGOUT_ALL, {"keys": True}, **bearer(key_jwt(bot)))) == (
        "WALLET_PROOF_REQUIRED"
    )
    assert my_keys(client, wallet_jwt(bot)) == before


def test_wallet_proof_sessions_and_their_refresh_family_manage_keys(client: TestClient) -> None:
    browser = client_session(client)
    renewed = refresh(client, browser["refreshToken"])["data"]["refreshSession"]
    made = data(create(client, renewed["jwt"], tag="from-refresh"), "createApiKey")
    assert made["apiKey"]["tag"] == "from-refresh"


def test_a_session_minted_from_a_key_is_held_to_the_keys_allow_list(settings: Settings) -> None:
    with app_at(settings, "198.51.100.7") as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        bot = OfficialClient(client)
        bot.onboarding()
        assert bot.api_key
        update_api_key(client, services, bot.api_key, allowed_ips=["198.51.100.0/24"])
        bot.jwt_update()
        assert "errors" not in me(client, key_jwt(bot))

        update_api_key(client, services, bot.api_key, allowed_ips=["203.0.113.0/24"])
        refused = refused_everywhere(client, key_jwt(bot), "NOT_ALLOWED_FOR_IP", 403)
        assert "198.51.100.7" in refused
        # The allow-list is the key's: a session proven by the wallet is not held to it.
        assert "errors" not in me(client, wallet_jwt(bot))


def test_logout_everywhere_leaves_keys_unless_asked_to_revoke_them(
    client: TestClient, bot: OfficialClient
) -> None:
    browser = client_session(client)
    kept = call(client, "mutation { logoutEverywhere }", **bearer(browser["jwt"]))
    assert kept["data"] == {"logoutEverywhere": 1}
    assert signed_out(me(client, browser["jwt"]))

    sessions = call(client, LOGOUT_ALL, {"keys": False}, **bearer(wallet_jwt(bot)))
    assert sessions["data"] == {"logoutEverywhere": 2}  # the wallet's and the key's session
    assert signed_out(me(client, key_jwt(bot)))
    # The key survives a plain logoutEverywhere: the bot signs a new session with it.
    bot.jwt_update()
    assert "errors" not in me(client, key_jwt(bot))


def test_logout_everywhere_can_revoke_every_key_of_the_profile(
    client: TestClient, services: Services, bot: OfficialClient
) -> None:
    extra = data(create(client, wallet_jwt(bot), tag="second"), "createApiKey")["apiKey"]["key"]
    assert data(
        call(client, LOGOUT_ALL, {"keys": True}, **bearer(wallet_jwt(bot))), "logoutEverywhere"
    )
    statuses = {}
    for key in (bot.api_key, extra):
        assert key

        async def status(key: str = key) -> str:
            async with services.db.read() as session:
                return (await session.get(ApiKey, key)).status  # type: ignore[union-attr]

        statuses[key] = client.portal.call(status)
    assert set(statuses.values()) == {ApiKeyStatus.REVOKED.value}
    refused = client.get("/account", headers=bot.headers(int(time.time()) + 300))
    assert refused.status_code == 401


def age_family(client: TestClient, services: Services, jwt: str, seconds: int) -> None:
    """Move the family of `jwt`'s session `seconds` into the past."""
    family = stored_session(client, services, jwt).family_id

    async def run() -> None:
        async with services.db.write() as session:
            await session.exec(
                update(AuthSession)
                .where(col(AuthSession.family_id) == family)
                .values(family_started_at=col(AuthSession.family_started_at) - seconds)
            )

    client.portal.call(run)


def test_a_refresh_family_has_an_absolute_lifetime(
    client: TestClient, services: Services, settings: Settings
) -> None:
    assert settings.refresh_family_ttl == 30 * 24 * 3600
    browser = client_session(client)
    renewed = refresh(client, browser["refreshToken"])["data"]["refreshSession"]
    age_family(client, services, renewed["jwt"], settings.refresh_family_ttl - 60)
    still = refresh(client, renewed["refreshToken"])["data"]["refreshSession"]
    age_family(client, services, still["jwt"], 61)
    expired = refresh(client, still["refreshToken"])
    assert code(expired) == "REFRESH_FAMILY_EXPIRED"
    assert "onboard again" in expired["errors"][0]["message"]
    # Its access token ends with the family, and the refusal spent nothing.
    assert signed_out(me(client, still["jwt"]))
    legacy = client_refresh(client, still["refreshToken"], still["randomSecret"])
    assert legacy.status_code == 401
    assert legacy.json()["error"].startswith("REFRESH_FAMILY_EXPIRED: ")


def test_no_session_of_a_family_outlives_it(client: TestClient, settings: Settings) -> None:
    settings.refresh_family_ttl = 3600
    browser = client_session(client)
    renewed = refresh(client, browser["refreshToken"])["data"]["refreshSession"]
    claims = pyjwt.decode(renewed["refreshToken"], options={"verify_signature": False})
    assert claims["exp"] <= int(time.time()) + 3600


def test_a_session_minted_by_the_previous_release_is_not_trusted_with_keys(
    client: TestClient, services: Services
) -> None:
    """During a rolling deploy the release before 0002 writes sessions without an origin: they
    authenticate (their family counts from their creation) but may not manage keys."""
    browser = client_session(client)
    sid = stored_session(client, services, browser["jwt"]).id

    async def as_previous_release() -> None:
        async with services.db.write() as session:
            await session.exec(
                update(AuthSession)
                .where(col(AuthSession.id) == sid)
                .values(minted_from=None, family_started_at=None)
            )

    client.portal.call(as_previous_release)
    assert "errors" not in me(client, browser["jwt"])
    assert code(create(client, browser["jwt"])) == "WALLET_PROOF_REQUIRED"
    renewed = refresh(client, browser["refreshToken"])["data"]["refreshSession"]
    assert stored_session(client, services, renewed["jwt"]).family_started_at is not None
    assert data(create(client, renewed["jwt"]), "createApiKey")["secret"]
