"""ONBOARDING_CORS_ORIGINS: none by default (same-origin only), else Starlette's CORS middleware.

The browser half runs a page on another origin in a real chromium (tests/browser/cors.mjs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.middleware.cors import CORSMiddleware

from api.app import cors_middleware, create_app
from api.settings import Settings
from tests.browser_run import run_browser
from tests.conftest import TestClient
from tests.live_server import free_port, live_server


def _browser_fetch(page_port: int, api: str) -> dict[str, Any]:
    return run_browser("cors.mjs", str(page_port), api)


@pytest.mark.slow
def test_a_page_on_a_listed_origin_may_call_the_api_and_others_may_not(tmp_path: Path) -> None:
    allowed = free_port()
    refused = next(port for port in iter(free_port, None) if port != allowed)
    database = {"ONBOARDING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cors.db"}
    listed = {**database, "ONBOARDING_CORS_ORIGINS": f'["http://127.0.0.1:{allowed}"]'}
    with live_server(listed) as api:
        ok = _browser_fetch(allowed, api)
        other = _browser_fetch(refused, api)
    with live_server(database) as api:
        default = _browser_fetch(allowed, api)

    assert ok["ok"], ok
    assert ok["status"] == 200
    assert isinstance(ok["body"]["data"]["serverTime"], int)
    # An exposed response header: the service's own id (a page is no trusted proxy).
    assert ok["requestId"]
    assert ok["requestId"] != "cors-test-1"
    for refusal in (other, default):
        assert refusal == {"ok": False, "error": "TypeError: Failed to fetch"}


def _preflight(client: Any, origin: str) -> Any:
    return client.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )


def test_without_the_setting_there_is_no_cors_middleware(settings: Settings) -> None:
    assert settings.cors_origins == ()
    assert cors_middleware(settings) == []
    app = create_app(settings)
    assert all(middleware.cls is not CORSMiddleware for middleware in app.user_middleware)


def test_a_listed_origin_gets_its_preflight_answered(settings: Settings) -> None:
    settings.cors_origins = ("http://localhost:5173",)
    with TestClient(create_app(settings)) as cors_client:
        answer = _preflight(cors_client, "http://localhost:5173")
        unlisted = _preflight(cors_client, "http://evil.example")

    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in answer.headers
    assert unlisted.status_code == 400
    assert "access-control-allow-origin" not in unlisted.headers


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173/", "localhost:5173", "http://a.example/app", "ftp://a.example"],
)
def test_an_entry_that_is_not_an_origin_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins=(origin,))


def test_origins_come_from_the_environment_as_a_json_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "ONBOARDING_CORS_ORIGINS", '["http://localhost:5173", "https://app.example"]'
    )

    assert Settings().cors_origins == ("http://localhost:5173", "https://app.example")
