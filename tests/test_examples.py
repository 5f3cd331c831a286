"""The examples in examples/ run against a live server, as examples/README.md runs them.

- examples/market_maker.py: the official client's REST flow in plain httpx.
- examples/frontend/: TypeScript; its types are generated from schema.graphql, it is type-checked
  (`tsc --noEmit`) and then run with node (tsx). A schema change that breaks it fails here.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api.admin_helpers import UPSERT_ORDERS, order
from tests.api.test_onboard import ONBOARD, signed
from tests.live_server import live_server
from tests.signing import Signer, fresh_timestamp

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FRONTEND = EXAMPLES / "frontend"
ADMIN_TOKEN = "a" * 40


def _rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Read the database the live server wrote, whichever engine it is."""

    async def read() -> list[tuple[Any, ...]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(text(sql), params)]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _lines(output: str) -> dict[str, str]:
    """The examples print one `name: value` line per step."""
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    run = subprocess.run(  # noqa: S603 - our own examples
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert run.returncode == 0, f"{command}:\n{run.stdout}\n{run.stderr}"
    return run.stdout


def test_market_maker_example(database_url: str) -> None:
    signer = Signer()
    with live_server({"ONBOARDING_DATABASE_URL": database_url}) as base:
        key = "0x" + signer.account.key.hex().removeprefix("0x")
        printed = _run(
            [sys.executable, str(EXAMPLES / "market_maker.py"), "--url", base],
            cwd=EXAMPLES,
            env={"MM_PRIVATE_KEY": key},
        )

    output = _lines(printed)
    wallet = signer.address.lower()
    assert output["wallet"] == wallet
    profile_id = int(output["profile"])
    assert output["jwt renewed"] == "True"
    assert output["account"] == f"profile {profile_id}, balance 0"
    api_key = output["api key"].split(" (expires ")[0]
    assert _rows(database_url, "SELECT id, wallet FROM profiles") == [(profile_id, wallet)]
    assert _rows(database_url, "SELECT key, profile_id FROM api_keys") == [(api_key, profile_id)]
    assert not re.search(r"0x[0-9a-f]{64}", printed)  # the API secret is never printed


def _npm_bin(name: str) -> str:
    tool = FRONTEND / "node_modules" / ".bin" / name
    if shutil.which("node") and tool.is_file():
        return str(tool)
    reason = "run `make install-test` (npm ci --prefix examples/frontend)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the TypeScript example, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def typed_frontend() -> str:
    """Generate the example's types from schema.graphql and type-check it; its runner (tsx)."""
    _run([_npm_bin("graphql-codegen"), "--config", "codegen.ts"], cwd=FRONTEND)
    _run([_npm_bin("tsc"), "--noEmit"], cwd=FRONTEND)
    return _npm_bin("tsx")


@pytest.mark.parametrize("scheme", ["eip191", "eip712"])
def test_typescript_frontend_example(typed_frontend: str, database_url: str, scheme: str) -> None:
    signer = Signer()
    env = {"ONBOARDING_DATABASE_URL": database_url, "ONBOARDING_ADMIN_TOKEN": ADMIN_TOKEN}
    with live_server(env) as base, httpx.Client(base_url=base, timeout=10) as http:
        # The wallet traded before: onboard it once and let the engine report two orders. Its
        # expiry is not the example's (the server's clock + 300 s): signatures are deterministic,
        # so within the same second both would be one signature, refused the second time.
        earlier = signed(signer, is_client=True, ts=fresh_timestamp(200))
        first = http.post(
            "/graphql", json={"query": ONBOARD, "variables": {"input": earlier}}
        ).json()
        profile_id = first["data"]["onboard"]["profile"]["id"]
        orders = http.post(
            "/graphql",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={
                "query": UPSERT_ORDERS,
                "variables": {"id": profile_id, "orders": [order("o-1"), order("o-2")]},
            },
        ).json()
        assert "errors" not in orders, orders
        output = _lines(
            _run(
                [typed_frontend, "src/main.ts"],
                cwd=FRONTEND,
                env={
                    "ONBOARDING_URL": f"{base}/graphql",
                    "PRIVATE_KEY": "0x" + signer.account.key.hex().removeprefix("0x"),
                    "SCHEME": scheme,
                },
            )
        )

    wallet = signer.address.lower()
    assert output["wallet"] == wallet
    assert output["profile"] == profile_id
    assert output["me"] == f"{profile_id} {wallet}"
    assert sorted(output["orders"].split(",")) == ["o-1:BTC-USD:OPEN", "o-2:BTC-USD:OPEN"]
    assert output["more orders"] == "false"
    assert output["refreshed"] == "true"
    assert output["logged out"] == "true"
    assert output["after logout"] == "signed out"
    # The example's session was refreshed once (spent, replaced) and its successor logged out.
    sessions = _rows(
        database_url,
        "SELECT id, replaced_by, revoked_at FROM auth_sessions WHERE profile_id = :id",
        id=int(profile_id),
    )
    assert len(sessions) == 3  # the test's onboarding, the example's, and its refreshed one
    replaced = [row for row in sessions if row[1] is not None]
    assert len(replaced) == 1
    successor = next(row for row in sessions if row[0] == replaced[0][1])
    assert successor[2] is not None  # logged out
