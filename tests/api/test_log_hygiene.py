"""Logs are structured JSON and never carry a credential, even at DEBUG from every library."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import app_from_environment
from api.observability import JsonFormatter
from tests.api.test_api_keys import ME_KEYS, REVOKE, bearer, create, data
from tests.api.test_onboard import ok, onboard, signed
from tests.api.test_sessions import call, code, me, refresh, signed_out
from tests.signing import Signer, fresh_timestamp


class Capture(logging.Handler):
    """Keeps each record both as the JSON line production writes and as its raw attributes
    (message, args, extras), so a secret cannot hide in a field the formatter drops."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.raw = io.StringIO()
        self.formatter_ = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.formatter_.format(record))
        self.raw.write(repr(vars(record)) + "\n")


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Every logger at DEBUG, including those libraries quiet on import (SQLAlchemy sets its own
    to WARN), so SQL statements and their parameters are in what is searched."""
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in list(root.manager.loggerDict))]
    levels = [logger.level for logger in loggers]
    handler = Capture()
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def with_and_without_0x(values: list[str]) -> list[str]:
    return [*values, *(v.removeprefix("0x") for v in values)]


def fragments(secret: str, width: int = 16, stride: int = 8) -> list[str]:
    """Overlapping windows: any leaked stretch of `width + stride` characters contains one."""
    last = max(len(secret) - width, 0)
    return [secret[i : i + width] for i in range(0, last + 1, stride)] + [secret[-width:]]


def secret_part(credential: str) -> str:
    """What must never leak even in part: a JWT's signature, a hex secret's digits."""
    return credential.rsplit(".", 1)[1] if credential.count(".") == 2 else credential[2:]


def test_no_credential_reaches_the_logs(client: TestClient, captured: Capture) -> None:
    seen: list[str] = []

    # A browser onboards, refreshes, and a stolen refresh token is replayed.
    signer = Signer()
    proof = signed(signer, is_client=True, ts=fresh_timestamp(100))
    browser = ok(onboard(client, **proof))
    renewed = refresh(client, browser["refreshToken"])["data"]["refreshSession"]
    assert code(refresh(client, browser["refreshToken"])) == "REFRESH_TOKEN_REUSED"
    assert signed_out(me(client, renewed["jwt"]))
    seen += [proof["signature"], browser["jwt"], browser["refreshToken"], browser["randomSecret"]]
    seen += [renewed["jwt"], renewed["refreshToken"], renewed["randomSecret"]]

    # A market maker onboards and manages keys.
    mm_proof = signed(signer, is_client=False, ts=fresh_timestamp(101))
    mm = ok(onboard(client, **mm_proof))
    created = data(create(client, mm["jwt"], tag="logged?"), "createApiKey")
    data(call(client, ME_KEYS, **bearer(mm["jwt"])), "me")
    data(
        call(client, REVOKE, {"key": created["apiKey"]["key"]}, **bearer(mm["jwt"])), "revokeApiKey"
    )
    seen += [mm_proof["signature"], mm["jwt"], mm["apiSecret"]["secret"], created["secret"]]

    # Refusals that carry a credential in the request: replayed proof, bad tokens everywhere.
    assert "errors" in onboard(client, **proof)
    assert signed_out(me(client, browser["jwt"] + "x"))
    assert code(refresh(client, mm["jwt"])) == "REFRESH_TOKEN_NOT_FOUND"
    client.get("/graphql", params={"query": "{ me { id } }"}, headers=bearer(mm["jwt"]))

    whole = with_and_without_0x(seen)
    pieces = [piece for credential in seen for piece in fragments(secret_part(credential))]
    lines = "\n".join(captured.lines)
    raw = captured.raw.getvalue()

    loggers = {json.loads(line)["logger"] for line in captured.lines}
    assert "onboarding.access" in loggers
    assert any(name.startswith("sqlalchemy.engine") for name in loggers)  # DEBUG really is on
    for text in (*whole, *pieces):
        assert text not in lines, f"a credential reached the logs: …{text[:6]}…"
        assert text not in raw, f"a credential reached a log record: …{text[:6]}…"


def test_log_lines_are_json_and_request_scoped(client: TestClient, captured: Capture) -> None:
    me(client, "not-a-token")
    access: list[dict[str, Any]] = [
        entry for entry in map(json.loads, captured.lines) if entry["logger"] == "onboarding.access"
    ]
    (entry,) = access
    assert entry["path"] == "/graphql"
    assert entry["status"] == 200
    assert len(entry["request_id"]) == 32
    assert set(entry) >= {"ts", "level", "msg", "method", "ms"}


def test_start_up_warnings_are_json_lines_too(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    for name in ("ONBOARDING_ENV", "ONBOARDING_JWT_SECRET", "ONBOARDING_SECRETS_KEY"):
        monkeypatch.delenv(name, raising=False)
    app_from_environment()
    entries = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    warned = {entry["msg"] for entry in entries if entry["logger"] == "onboarding.settings"}
    assert "ONBOARDING_SECRETS_KEY is the development default; never use it in production" in warned
