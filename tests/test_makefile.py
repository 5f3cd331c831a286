"""`make run` installs what serving needs and nothing else; `make test` installs the test tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVED = ["api/explorer"]
TEST_ONLY = ["tests/http_audit", "tests/browser", "examples/frontend"]


def _planned(target: str) -> str:
    """What `make <target>` would run from scratch (-n: print only, -B: as if nothing was built)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.run(  # noqa: S603 - our own Makefile, printing only
        [make, "-n", "-B", "-C", str(ROOT), target],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_make_run_installs_only_the_served_npm_packages() -> None:
    plan = _planned("run")

    for directory in SERVED:
        assert f"npm ci --prefix {directory} " in plan
    for directory in TEST_ONLY:
        assert directory not in plan
    assert "chromium" not in plan


def test_make_test_installs_every_npm_package_and_the_browser() -> None:
    plan = _planned("test")

    for directory in SERVED + TEST_ONLY:
        assert f"npm ci --prefix {directory} " in plan
    assert "apt-get install -y -qq chromium" in plan
    assert "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1" in plan
