"""Fixtures: a real database (a SQLite file, and a throwaway PostgreSQL database where a server
is reachable), the app with its lifespan running, and GraphQL helpers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import hypothesis
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings
from models.db import Database

# No property has a deadline: hypothesis's default (200 ms per example) is a timing assertion,
# and on a loaded machine it fails a correct test. CI also runs every property with a seed
# derived from the test itself, so a run's verdict does not depend on luck: a fresh clone
# passes or fails the same way every time. Local runs keep exploring new examples (and
# hypothesis's example database replays any failure they find).
hypothesis.settings.register_profile("local", deadline=None)
hypothesis.settings.register_profile(
    "ci", parent=hypothesis.settings.get_profile("local"), derandomize=True, database=None
)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") == "true" else "local")

POSTGRES_ADMIN_DSN = os.environ.get(
    "ONBOARDING_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TABLES = (
    "used_signatures",
    "api_keys",
    "auth_sessions",
    "notifications",
    "positions",
    "orders",
    "profiles",
    "rate_limit_buckets",
)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the local PostgreSQL server, created for this run and dropped."""
    with throwaway_postgres_database() as url:
        migrate_database(url)
        yield url


async def _truncate(url: str) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Each test that touches the database runs once per engine, on an empty schema."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/onboarding.db"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, env="dev")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        yield test_client


@pytest.fixture
def services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def graphql(
    client: TestClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For tests that run code configuring process-wide logging (the CLI, worker start-up)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


ADMIN_TOKEN = "test-admin-token-0123456789abcdef-0123456789"


@pytest.fixture
def admin_client(settings: Settings) -> Iterator[TestClient]:
    """The app with the admin API enabled (`ONBOARDING_ADMIN_TOKEN` = `ADMIN_TOKEN`)."""
    settings.admin_token = SecretStr(ADMIN_TOKEN)
    app = create_app(settings)
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        yield test_client


def as_admin(
    client: TestClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@contextlib.contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    """A new, empty database on the local server (asyncpg URL), dropped afterwards; skips (or,
    under CI=true, fails) where no server is reachable."""
    name = f"onboarding_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        reason = f"no PostgreSQL server reachable at {POSTGRES_ADMIN_DSN}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests, but {reason}")
        pytest.skip(reason)
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database of each engine with nothing in it: no tables, no migration history."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/empty.db"
        return
    with throwaway_postgres_database() as url:
        yield url


@pytest.fixture
def migrated_postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database of this test's own, migrated to head (for tests that
    start real server processes on it, or cut its connections)."""
    with throwaway_postgres_database() as url:
        migrate_database(url)
        yield url


def migrate_database(url: str) -> None:
    async def migrate() -> None:
        db = Database(url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(migrate())


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real server on SQLite for the schemathesis suites (GraphQL and legacy REST), its base
    URL. The rate limiter is off: it refuses the 31st onboarding attempt from 127.0.0.1 before
    any input is read, so with it on most cases would stop at a 429 instead of reaching the
    parsers and use cases under test; the limiter has its own tests (test_rate_limits.py)."""
    from tests.live_server import live_server  # it imports this module

    database = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    env = {
        "ONBOARDING_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "ONBOARDING_RATE_LIMIT_PER_IP": "null",
        "ONBOARDING_RATE_LIMIT_PER_WALLET": "null",
    }
    with live_server(env) as base:
        yield base
