"""Run a script of tests/browser (Playwright driving Debian's chromium) and read its JSON answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

BROWSER = Path(__file__).resolve().parent / "browser"
ROOT = BROWSER.parents[1]
SCREENSHOTS = ROOT / "var" / "screenshots"
"""Where browser tests leave their screenshots (var/ is not committed)."""
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def node_or_skip() -> str:
    """node, with tests/browser installed and chromium present; else skip (fail under CI=true)."""
    node = shutil.which("node")
    if not node:
        reason = "node is not installed"
    elif not (BROWSER / "node_modules" / "playwright-core").is_dir():
        reason = "run `make install-test` (npm ci --prefix tests/browser)"
    elif not Path(CHROMIUM).is_file():
        reason = "chromium is not installed (`make install-test` installs it as root)"
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests, but {reason}")
    pytest.skip(reason)


def run_browser(script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`node tests/browser/<script> <args>`; its last stdout line is a JSON object."""
    node = node_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(  # noqa: S603 - our own script
        [node, str(BROWSER / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "CHROMIUM": CHROMIUM, **(env or {})},
    )
    assert run.returncode == 0, run.stderr[-4000:]
    answer: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return answer
