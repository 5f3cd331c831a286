"""The docs cannot drift: errors.md is the registry's, the settings table is the settings', and
no tracked file points outside the repository (a fresh clone has nothing beside it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.docs import ERRORS_MD, errors_markdown
from api.settings import Settings
from models.errors import REGISTRY, ErrorCode

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS_MD = ROOT / "docs" / "operations.md"


def test_every_code_is_in_the_registry() -> None:
    assert set(REGISTRY) == set(ErrorCode)


def test_errors_md_is_generated_from_the_registry() -> None:
    assert ERRORS_MD.read_text() == errors_markdown(), "run `make docs` and commit docs/errors.md"


def test_the_settings_table_lists_every_setting_once() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)` \|", OPERATIONS_MD.read_text(), re.MULTILINE)
    expected = {f"ONBOARDING_{name.upper()}" for name in Settings.model_fields}
    documented = [row for row in rows if row.startswith("ONBOARDING_")]
    assert sorted(documented) == sorted(set(documented)), "a setting is listed twice"
    assert set(documented) == expected, "docs/operations.md's settings table and api/settings.py"


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607 - git from PATH, as the developer runs it
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = []
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if path.suffix in {".png", ".ico", ".woff", ".woff2"} or not path.is_file():
            continue
        files.append(path)
    return files


# A relative path that climbs (`../x`), or an absolute one into this machine's workspace.
_CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+)[\w.-]+")
_WORKSPACE = re.compile(r"/work/(?:shared|main|h\d)")


def test_no_tracked_file_points_outside_the_repository() -> None:
    outside = []
    for path in _tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for match in _CLIMB.finditer(text):
            target = (path.parent / match.group(0)).resolve()
            if not target.is_relative_to(ROOT):
                outside.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        outside += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in _WORKSPACE.finditer(text)]
    assert outside == []


@pytest.mark.slow
def test_the_readme_example_runs_against_a_live_server(tmp_path: Path) -> None:
    """The front page's example is code, not prose: it onboards and reads `me`."""
    from tests.live_server import live_server

    (example,) = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    assert len(example.splitlines()) <= 25  # a front page, not a tutorial
    env = {"ONBOARDING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/readme.db"}
    with live_server(env) as base:
        script = tmp_path / "example.py"
        script.write_text(example.replace("http://127.0.0.1:8000", base))
        result = subprocess.run(  # noqa: S603 - the example, with this interpreter
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 0, result.stderr
    assert "'me': {'id': '1', 'wallet': '0x" in result.stdout
