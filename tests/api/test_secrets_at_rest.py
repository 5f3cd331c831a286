"""Secrets at rest: a copy of the database yields no credential; the at-rest key rotates; prod
refuses to run without real keys."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url
from sqlmodel import select
from starlette.testclient import TestClient

from api.app import app_from_environment, create_app
from api.cli import main
from api.settings import Settings
from models.api_keys import api_key_secret
from models.db import Database
from models.sessions import Credentials, session_secret
from models.tables import ApiKey, AuthSession
from tests.api.test_api_keys import bearer, create, data, market_maker
from tests.api.test_onboard import ok, onboard, signed
from tests.api.test_sessions import refresh
from tests.signing import Signer

OLD_KEY = "old-at-rest-key-" + "o" * 32
NEW_KEY = "new-at-rest-key-" + "n" * 32
STRONG_JWT = "j" * 40


def raw_database(url: str) -> tuple[str, bytes]:
    """Every row of every table as text, read around the application (and, for SQLite, the
    bytes of the database file and its write-ahead log)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        with contextlib.closing(sqlite3.connect(path)) as connection:
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
            ]
            rows = [
                repr(row)
                for table in tables
                for row in connection.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            ]
        files = [path, path.with_name(path.name + "-wal")]
        return "\n".join(rows), b"".join(f.read_bytes() for f in files if f.exists())
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return asyncio.run(_postgres_rows(dsn)), b""


async def _postgres_rows(dsn: str) -> str:
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        rows = []
        for table in tables:
            for row in await connection.fetch(f'SELECT * FROM "{table["tablename"]}"'):  # noqa: S608
                rows.append(repr(tuple(row.values())))
        return "\n".join(rows)
    finally:
        await connection.close()


def credentials_handed_out(client: TestClient) -> tuple[list[str], list[str]]:
    """Onboard a client and a market maker, refresh, create a key: (every credential handed out,
    public identifiers that must be in the database)."""
    browser = ok(onboard(client, **signed(Signer(), is_client=True)))
    refreshed = refresh(client, browser["refreshToken"])["data"]["refreshSession"]
    mm = market_maker(client)
    created = data(create(client, mm["jwt"], tag="at-rest"), "createApiKey")
    tokens = [browser["jwt"], browser["refreshToken"], refreshed["jwt"], refreshed["refreshToken"]]
    tokens += [mm["jwt"]]
    hex_secrets = [
        browser["randomSecret"],
        refreshed["randomSecret"],
        mm["apiSecret"]["secret"],
        created["secret"],
    ]
    secrets = [*tokens, *(t.rsplit(".", 1)[1] for t in tokens)]  # whole JWTs and signatures
    secrets += [*hex_secrets, *(s.removeprefix("0x") for s in hex_secrets)]
    public = [browser["profile"]["wallet"], mm["apiSecret"]["key"], created["apiKey"]["key"]]
    return secrets, public


def test_a_raw_copy_of_the_database_holds_no_secret_or_token(
    client: TestClient, database_url: str
) -> None:
    secrets, public = credentials_handed_out(client)
    rows, file_bytes = raw_database(database_url)
    for identifier in public:
        assert identifier in rows  # we are reading the right database
    for secret in secrets:
        assert secret not in rows
        assert secret.encode() not in file_bytes
    for hex_secret in (s for s in secrets if len(s) == 64):
        assert bytes.fromhex(hex_secret) not in file_bytes


def rotated(settings: Settings, current: str, *previous: str) -> Settings:
    return settings.model_copy(
        update={
            "secrets_key": SecretStr(current),
            "previous_secrets_keys": tuple(SecretStr(key) for key in previous),
        }
    )


def stored_secrets(settings: Settings) -> tuple[list[AuthSession], list[ApiKey]]:
    async def read() -> tuple[list[AuthSession], list[ApiKey]]:
        db = Database(settings.database_url)
        try:
            async with db.read() as session:
                sessions = (
                    await session.exec(
                        select(AuthSession).where(AuthSession.secret_sealed != None)  # noqa: E711
                    )
                ).all()
                keys = (await session.exec(select(ApiKey))).all()
            return list(sessions), list(keys)
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_the_at_rest_key_rotates_without_losing_a_secret(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    signer = Signer()
    before = rotated(settings, OLD_KEY)
    app = create_app(before)
    with TestClient(app) as client:
        client.portal.call(app.state.services.db.create_schema)
        first = market_maker(client, signer, ahead=100)
        browser = ok(onboard(client, **signed(Signer(), is_client=True)))

    # Step 1: new key current, old one previous. Old values open; new ones use the new key.
    during = rotated(settings, NEW_KEY, OLD_KEY)
    with TestClient(create_app(during)) as client:
        again = market_maker(client, signer, ahead=101)
        assert again["apiSecret"] == first["apiSecret"]
        created = data(create(client, again["jwt"], tag="after rotation"), "createApiKey")
    sessions, keys = stored_secrets(settings)
    new_only = Credentials.from_config(rotated(settings, NEW_KEY))
    by_key = {key.key: key for key in keys}
    assert api_key_secret(new_only, by_key[created["apiKey"]["key"]]) == created["secret"]
    with pytest.raises(ValueError, match="does not open"):
        api_key_secret(new_only, by_key[first["apiSecret"]["key"]])  # old key still needed

    # Without the previous key the re-seal refuses, and says which setting is missing.
    for name, value in (
        ("ONBOARDING_DATABASE_URL", settings.database_url),
        ("ONBOARDING_SECRETS_KEY", NEW_KEY),
        ("ONBOARDING_JWT_SECRET", STRONG_JWT),
    ):
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match="ONBOARDING_PREVIOUS_SECRETS_KEYS"):
        main(["reseal-secrets"])

    # Step 2: re-seal everything under the new key (twice: the second run has nothing to do).
    monkeypatch.setenv("ONBOARDING_PREVIOUS_SECRETS_KEYS", f'["{OLD_KEY}"]')
    main(["reseal-secrets"])
    main(["reseal-secrets"])
    assert capsys.readouterr().out.splitlines() == [
        "re-sealed 2 secret(s) under the current ONBOARDING_SECRETS_KEY",  # MM key + session
        "re-sealed 0 secret(s) under the current ONBOARDING_SECRETS_KEY",
    ]

    # Step 3: drop the old key. Everything still opens; the handed-back secret is unchanged.
    sessions, keys = stored_secrets(settings)
    assert {session_secret(new_only, s) for s in sessions} == {browser["randomSecret"]}
    assert {api_key_secret(new_only, k) for k in keys} == {
        first["apiSecret"]["secret"],
        created["secret"],
    }
    with TestClient(create_app(rotated(settings, NEW_KEY))) as client:
        last = market_maker(client, signer, ahead=102)
        assert last["apiSecret"] == first["apiSecret"]
        answer = client.post(
            "/graphql", json={"query": "{ me { id } }"}, headers=bearer(last["jwt"])
        )
        assert answer.json() == {"data": {"me": {"id": last["profile"]["id"]}}}


def prod_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name in (
        "ONBOARDING_JWT_SECRET",
        "ONBOARDING_SECRETS_KEY",
        "ONBOARDING_PREVIOUS_JWT_SECRETS",
        "ONBOARDING_PREVIOUS_SECRETS_KEYS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONBOARDING_ENV", "prod")
    for name, value in values.items():
        monkeypatch.setenv(f"ONBOARDING_{name}", value)


def test_prod_refuses_to_start_without_the_at_rest_key(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    prod_env(monkeypatch, JWT_SECRET=STRONG_JWT)
    with pytest.raises(ValueError, match="set ONBOARDING_SECRETS_KEY"):
        Settings()
    with pytest.raises(ValidationError, match="ONBOARDING_SECRETS_KEY"):
        app_from_environment()  # what each uvicorn worker runs
    with pytest.raises(SystemExit, match="set ONBOARDING_SECRETS_KEY"):
        main(["serve", "--port", "1"])  # refuses before binding anything


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        ({"SECRETS_KEY": "short"}, "ONBOARDING_SECRETS_KEY must be at least 32"),
        (
            {
                "SECRETS_KEY": "k" * 40,
                "PREVIOUS_JWT_SECRETS": '["dev-only-jwt-secret-never-use-in-production"]',
            },
            "ONBOARDING_PREVIOUS_JWT_SECRETS must not list",
        ),
        (
            {
                "SECRETS_KEY": "k" * 40,
                "PREVIOUS_SECRETS_KEYS": '["dev-only-secrets-key-never-use-in-production"]',
            },
            "ONBOARDING_PREVIOUS_SECRETS_KEYS must not list",
        ),
        ({"SECRETS_KEY": "k" * 40, "PREVIOUS_JWT_SECRETS": '[""]'}, "must not list an empty key"),
    ],
)
def test_prod_refuses_short_or_published_keys(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], hint: str
) -> None:
    prod_env(monkeypatch, JWT_SECRET=STRONG_JWT, **values)
    with pytest.raises(ValueError, match=hint):
        Settings()


def test_prod_starts_with_real_keys_and_their_retired_predecessors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prod_env(
        monkeypatch,
        JWT_SECRET=STRONG_JWT,
        SECRETS_KEY=NEW_KEY,
        PREVIOUS_JWT_SECRETS='["an-older-jwt-secret-of-enough-length"]',
        PREVIOUS_SECRETS_KEYS=f'["{OLD_KEY}"]',
    )
    settings = Settings()
    assert settings.previous_secrets_key_values == (OLD_KEY,)
    assert settings.previous_jwt_secret_values == ("an-older-jwt-secret-of-enough-length",)
