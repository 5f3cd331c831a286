"""Operator-facing safety rules (docs/limits.md): SQL parameters never reach logs, prod keys are
checked, the published dev keys never serve beyond this machine, and a client's X-Request-ID is
believed only from a trusted proxy."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import is_loopback, main
from api.settings import Settings
from models.db import Database
from tests.api.test_log_hygiene import Capture, captured  # noqa: F401 - a fixture

DRIVER_LOGGERS = ("aiosqlite", "asyncpg")
SECRET = "sealed-secret-parameter-0123456789"
STRONG = "k" * 40


async def _fail_with_a_parameter(url: str) -> str:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            await connection.execute(
                text("SELECT * FROM no_such_table WHERE secret = :secret"), {"secret": SECRET}
            )
    except Exception as error:
        logging.getLogger("onboarding.test").error("statement failed", exc_info=error)
        return str(error)
    finally:
        await db.dispose()
    raise AssertionError("the statement should have failed")


def test_a_failing_statement_logs_no_parameters(
    database_url: str,
    captured: Capture,  # noqa: F811
) -> None:
    import asyncio

    message = asyncio.run(_fail_with_a_parameter(database_url))
    assert "no_such_table" in message
    assert SECRET not in message
    assert "hidden" in message  # SQLAlchemy says the parameters were left out
    # Every logger at DEBUG, SQLAlchemy's statement echo included; the drivers' own DEBUG lines
    # are kept at INFO by `configure_logging` (test_service.py) and left out here.
    logged = [json.loads(line) for line in captured.lines]
    assert any(entry["msg"] == "statement failed" and "exc" in entry for entry in logged)
    leaks = [e for e in logged if SECRET in json.dumps(e) and e["logger"] not in DRIVER_LOGGERS]
    assert not leaks


def test_prod_refuses_one_key_for_both_jobs() -> None:
    with pytest.raises(ValueError, match="must differ"):
        Settings(env="prod", jwt_secret=STRONG, secrets_key=STRONG)
    assert Settings(env="prod", jwt_secret=STRONG, secrets_key="s" * 40).env == "prod"


@pytest.mark.parametrize(
    "setting", ["previous_jwt_secrets", "previous_secrets_keys"], ids=lambda name: name
)
def test_prod_refuses_short_retired_keys(setting: str) -> None:
    keys = {"env": "prod", "jwt_secret": "j" * 40, "secrets_key": "s" * 40}
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(**keys, **{setting: ["r" * 40, "short-retired-key"]})
    assert Settings(**keys, **{setting: ["r" * 40]}).env == "prod"
    # Dev keeps accepting anything: it never holds real data.
    assert Settings(env="dev", **{setting: ["short"]}).env == "dev"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104 - the address under test
        ("::", False),
        ("10.1.2.3", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.usefixtures("restore_logging")
def test_dev_keys_never_serve_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before anything else happens (no database is even opened)."""
    for name in ("ONBOARDING_ENV", "ONBOARDING_JWT_SECRET", "ONBOARDING_SECRETS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONBOARDING_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/x")
    with pytest.raises(SystemExit) as refused:
        main(["serve", "--host", "0.0.0.0", "--port", "1"])  # noqa: S104
    message = str(refused.value.code)
    assert "refusing to serve on 0.0.0.0" in message
    assert "ONBOARDING_JWT_SECRET and ONBOARDING_SECRETS_KEY" in message
    monkeypatch.setenv("ONBOARDING_JWT_SECRET", STRONG)
    with pytest.raises(SystemExit) as refused:
        main(["serve", "--host", "10.0.0.5", "--port", "1"])
    assert "ONBOARDING_SECRETS_KEY is the published development default" in str(refused.value.code)
    monkeypatch.setenv("ONBOARDING_SECRETS_KEY", "s" * 40)
    with pytest.raises(SystemExit) as unreachable:
        main(["serve", "--host", "0.0.0.0", "--port", "1"])  # noqa: S104
    assert "cannot use the database" in str(unreachable.value.code)  # past the key check


def _access_line(capture: Capture) -> dict[str, object]:
    entries = [json.loads(line) for line in capture.lines]
    (access,) = [entry for entry in entries if entry["logger"] == "onboarding.access"]
    return access


def test_a_clients_request_id_is_logged_beside_a_minted_one(
    captured: Capture,  # noqa: F811
) -> None:
    with TestClient(create_app(Settings())) as client:
        response = client.get("/healthz", headers={"X-Request-ID": "forged-id"})
    minted = response.headers["X-Request-ID"]
    assert minted != "forged-id"
    assert len(minted) == 32
    access = _access_line(captured)
    assert access["request_id"] == minted
    assert access["client_request_id"] == "forged-id"


def test_a_trusted_proxys_request_id_is_the_request_id(
    captured: Capture,  # noqa: F811
) -> None:
    settings = Settings(trusted_proxies=["10.0.0.0/8"])
    with TestClient(create_app(settings), client=("10.1.2.3", 4000)) as proxy:
        response = proxy.get("/healthz", headers={"X-Request-ID": "proxy-id-1"})
        ungiven = proxy.get("/healthz", headers={"X-Request-ID": "bad id\nnewline"})
    assert response.headers["X-Request-ID"] == "proxy-id-1"
    assert len(ungiven.headers["X-Request-ID"]) == 32
    with TestClient(create_app(settings), client=("192.0.2.7", 4000)) as outsider:
        assert (
            outsider.get("/healthz", headers={"X-Request-ID": "x-1"}).headers["X-Request-ID"]
            != "x-1"
        )
