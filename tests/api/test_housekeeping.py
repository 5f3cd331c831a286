"""Bounded growth (docs/sessions-and-keys.md): key creation is rate-limited per profile, and the
housekeeping loop deletes old notifications, dead keys past their retention and expired
sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select, update
from starlette.testclient import TestClient

from api import app as app_module
from api.app import create_app, purge_expired
from api.services import Services
from api.settings import Settings
from models.api_keys import DAY, sweep_api_keys
from models.config import Rate
from models.tables import ApiKey, AuthSession, Notification
from tests.api.test_api_keys import REVOKE, bearer, create, data, market_maker
from tests.api.test_sessions import call, client_session, code, me, signed_out
from tests.waiting import eventually


def rows(client: TestClient, model: type[Any], *where: Any) -> int:
    db = client.app.state.services.db  # type: ignore[attr-defined]

    async def count() -> int:
        async with db.read() as session:
            statement = select(func.count()).select_from(model).where(*where)
            return int((await session.exec(statement)).one())

    return client.portal.call(count)


def test_key_creation_is_rate_limited_per_profile(client: TestClient, settings: Settings) -> None:
    assert settings.rate_limit_key_creation == Rate(burst=10, per_minute=0.2)
    settings.rate_limit_key_creation = Rate(burst=2, per_minute=1)
    mm, other = market_maker(client), market_maker(client)
    made = [data(create(client, mm["jwt"], tag=f"k{i}"), "createApiKey") for i in range(2)]
    keys, notes = rows(client, ApiKey), rows(client, Notification)

    response = client.post(
        "/graphql",
        json={
            "query": 'mutation { createApiKey(input: {tag: "k3", expiresInDays: 1}) { secret } }'
        },
        headers=bearer(mm["jwt"]),
    )
    assert response.status_code == 429
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "API keys" in error["message"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    assert (rows(client, ApiKey), rows(client, Notification)) == (keys, notes)
    # Revoking is never limited (it adds nothing), and other profiles have their own bucket.
    revoked = call(client, REVOKE, {"key": made[0]["apiKey"]["key"]}, **bearer(mm["jwt"]))
    assert data(revoked, "revokeApiKey")["status"] == "REVOKED"
    assert data(create(client, other["jwt"]), "createApiKey")["secret"]


def test_a_refused_creation_takes_no_token(client: TestClient, settings: Settings) -> None:
    settings.rate_limit_key_creation = Rate(burst=1, per_minute=1)
    mm = market_maker(client)
    assert code(create(client, mm["jwt"], tag="")) == "BAD_USER_INPUT"
    assert data(create(client, mm["jwt"]), "createApiKey")["secret"]


def backdate_notifications(client: TestClient, profile_id: str, by: float) -> None:
    db = client.app.state.services.db  # type: ignore[attr-defined]

    async def run() -> None:
        async with db.write() as session:
            await session.exec(
                update(Notification)
                .where(col(Notification.profile_id) == int(profile_id))
                .values(created_at=col(Notification.created_at) - int(by * 1_000_000))
            )

    client.portal.call(run)


def test_notifications_are_deleted_after_their_retention(
    client: TestClient, services: Services, settings: Settings
) -> None:
    assert settings.notification_retention == 30 * DAY
    mm = market_maker(client)
    data(create(client, mm["jwt"], tag="old"), "createApiKey")
    backdate_notifications(client, mm["profile"]["id"], settings.notification_retention + 60)
    data(create(client, mm["jwt"], tag="new"), "createApiKey")
    assert rows(client, Notification) == 2

    client.portal.call(purge_expired, services)
    (kept,) = client.portal.call(_descriptions, services)
    assert "'new'" in kept
    settings.notification_retention = 60
    backdate_notifications(client, mm["profile"]["id"], 61)
    client.portal.call(purge_expired, services)
    assert rows(client, Notification) == 0


async def _descriptions(services: Services) -> list[str]:
    async with services.db.read() as session:
        return list((await session.exec(select(Notification.description))).all())


def test_dead_keys_are_deleted_after_the_configured_retention(
    client: TestClient, services: Services, settings: Settings
) -> None:
    assert settings.dead_key_retention == 30 * DAY
    settings.dead_key_retention = 3600
    mm = market_maker(client)
    key = data(create(client, mm["jwt"]), "createApiKey")["apiKey"]["key"]
    data(call(client, REVOKE, {"key": key}, **bearer(mm["jwt"])), "revokeApiKey")
    client.portal.call(sweep_api_keys, services.db, settings)
    assert rows(client, ApiKey, col(ApiKey.key) == key) == 1
    client.portal.call(sweep_api_keys, services.db, settings, time.time() + 3601)
    assert rows(client, ApiKey, col(ApiKey.key) == key) == 0
    assert rows(client, ApiKey) == 1  # the live onboarding key stays


def test_expired_sessions_are_purged_and_live_ones_kept(
    client: TestClient, services: Services
) -> None:
    ended, live = client_session(client), client_session(client)
    call(client, "mutation { logout }", **bearer(ended["jwt"]))
    sessions = rows(client, AuthSession)
    client.portal.call(purge_expired, services)
    assert rows(client, AuthSession) == sessions  # revoked but unexpired rows still detect reuse
    later = time.time() + 15 * DAY  # past the refresh tokens' 14 days
    client.portal.call(purge_expired, services, later)
    assert rows(client, AuthSession) == 0
    assert signed_out(me(client, live["jwt"]))


@pytest.fixture
def fast_housekeeping(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(app_module, "PURGE_INTERVAL_SECONDS", 0.05)
    monkeypatch.setattr(app_module, "KEY_SWEEP_INTERVAL_SECONDS", 0.05)
    settings.notification_retention = 60
    app = create_app(settings)
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        yield test_client


def test_the_housekeeping_loop_runs_the_purges(fast_housekeeping: TestClient) -> None:
    client = fast_housekeeping
    mm = market_maker(client)
    data(create(client, mm["jwt"]), "createApiKey")
    backdate_notifications(client, mm["profile"]["id"], 61)
    db = client.app.state.services.db  # type: ignore[attr-defined]

    async def expire_sessions() -> None:
        async with db.write() as session:
            await session.exec(update(AuthSession).values(expires_at=1))

    client.portal.call(expire_sessions)

    def rows_now() -> tuple[int, int]:
        return (rows(client, Notification), rows(client, AuthSession))

    eventually(lambda: rows_now() == (0, 0), within=10, what="expired rows deleted")
