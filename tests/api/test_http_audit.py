"""The official GraphQL-over-HTTP audit (npm `graphql-http`, `auditServer`) against a live server.

Every MUST and SHOULD the audit checks passes; any audit that does not is printed with its reason.
The audit's Node package is installed by `make install` (`npm ci --prefix tests/http_audit`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import live_server

AUDIT = Path(__file__).resolve().parents[1] / "http_audit"
PROD_SECRETS = {"ONBOARDING_JWT_SECRET": "j" * 40, "ONBOARDING_SECRETS_KEY": "k" * 40}
# Four audits probe variables through `__type(name: $name)`, i.e. introspection, which prod turns
# off by default; the prod run keeps everything else prod (no GraphiQL, no suggestions) and turns
# introspection on for them. Introspection off is covered by tests/api/test_graphql_http.py.
PROD = {**PROD_SECRETS, "ONBOARDING_GRAPHQL_INTROSPECTION": "true"}


def _node() -> str:
    node = shutil.which("node")
    installed = (AUDIT / "node_modules" / "graphql-http").is_dir()
    if node and installed:
        return node
    reason = "node is not installed" if not node else "run `npm ci --prefix tests/http_audit`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the GraphQL-over-HTTP audit, but {reason}")
    pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_graphql_over_http_audit_has_no_errors(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = _node()
    settings = {
        "ONBOARDING_ENV": env,
        "ONBOARDING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/audit.db",
        **(PROD if env == "prod" else {}),
    }
    with live_server(settings) as base:
        run = subprocess.run(  # noqa: S603 - our own script, our own server
            [node, str(AUDIT / "audit.mjs"), f"{base}/graphql"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 0, run.stderr
    results: list[dict[str, Any]] = json.loads(run.stdout)
    failed = [r for r in results if r["status"] != "ok"]
    with capsys.disabled():
        print(f"\ngraphql-http audit ({env}): {len(results) - len(failed)}/{len(results)} ok")
        for result in failed:
            print(f"  {result['status']}: {result['id']} {result['name']}: {result['reason']}")
    assert len(results) > 50
    assert [r for r in failed if r["status"] == "error"] == []
