"""Health, readiness, a database that is down, request ids, settings and the CLI."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import build_parser
from api.settings import Settings
from tests.api.test_onboard import ONBOARD, signed
from tests.signing import Signer

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok"}


def test_a_database_that_is_down_is_reported_not_crashed_on() -> None:
    app = create_app(Settings(database_url=UNREACHABLE))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "unreachable"
        response = client.post(
            "/graphql",
            json={"query": ONBOARD, "variables": {"input": signed(Signer(), is_client=True)}},
        )
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"


def test_request_ids_are_minted_and_server_time_is_stamped(client: TestClient) -> None:
    """A client's own id is not believed (see test_operator_safety.py for trusted proxies)."""
    minted = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert len(minted.headers["X-Request-ID"]) == 32
    assert minted.headers["SRV-TIMESTAMP"].isdigit()


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"query": 5}', b'{"query": "{ serverTime }", "variables": "x"}']
)
def test_garbage_requests_get_4xx_never_5xx(client: TestClient, body: bytes) -> None:
    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    response = client.post(
        "/graphql", content=b"x" * (70 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_graphiql_is_served_to_browsers(client: TestClient) -> None:
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert "https://" not in page.text


def test_queries_work_over_http(client: TestClient) -> None:
    body = client.post(
        "/graphql", json={"query": "{ serverTime exchanges { id eip712Domain { name chainId } } }"}
    ).json()
    assert body["data"]["exchanges"] == [
        {"id": "bfx", "eip712Domain": {"name": "BfxId", "chainId": 81457}},
        {"id": "rbx", "eip712Domain": {"name": "RabbitXId", "chainId": 1}},
    ]


def test_prod_refuses_default_or_missing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_ENV", "prod")
    monkeypatch.delenv("ONBOARDING_JWT_SECRET", raising=False)
    monkeypatch.delenv("ONBOARDING_SECRETS_KEY", raising=False)
    with pytest.raises(ValueError, match="ONBOARDING_JWT_SECRET"):
        Settings()
    monkeypatch.setenv("ONBOARDING_JWT_SECRET", "short")
    monkeypatch.setenv("ONBOARDING_SECRETS_KEY", "k" * 40)
    with pytest.raises(ValueError, match="at least 32"):
        Settings()
    monkeypatch.setenv("ONBOARDING_JWT_SECRET", "j" * 40)
    assert Settings().env == "prod"


def test_dev_defaults_warn(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONBOARDING_JWT_SECRET", raising=False)
    Settings(env="dev")
    assert "ONBOARDING_JWT_SECRET is the development default" in caplog.text


def test_cli_serve_options() -> None:
    args = build_parser().parse_args(["serve", "--host", "::1", "--port", "9000", "--workers", "3"])
    assert (args.host, args.port, args.workers) == ("::1", 9000, 3)


def test_debug_logging_keeps_driver_parameter_logs_off() -> None:
    import logging

    from api.observability import configure_logging

    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    try:
        configure_logging("DEBUG")
        assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("onboarding.app").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("aiosqlite").setLevel(logging.NOTSET)
