"""`onboarding-api migrate` and `serve`'s schema check, run as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from models import migrations
from models.db import Database
from tests.cluster import CONSOLE_SCRIPT, Instance
from tests.conftest import throwaway_postgres_database
from tests.live_server import free_port, wait_until_ready

pytestmark = pytest.mark.slow


def cli(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("ONBOARDING_")
    }
    environment["ONBOARDING_DATABASE_URL"] = database_url
    environment.update({f"ONBOARDING_{key.upper()}": value for key, value in env.items()})
    return subprocess.run(  # noqa: S603 - our own console script
        [CONSOLE_SCRIPT, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_an_unmigrated_database_until_migrate_runs(
    empty_database_url: str, tmp_path: Path
) -> None:
    head = migrations.head()
    if empty_database_url.startswith("sqlite"):  # an existing file: only a new one is created
        Path(make_url(empty_database_url).database or "").touch()
    refused = cli("serve", "--port", "1", database_url=empty_database_url)
    assert refused.returncode != 0
    assert (
        f"the database schema is at revision (empty) but this release needs {head}: "
        "run `onboarding-api migrate`"
    ) in refused.stderr

    first = cli("migrate", database_url=empty_database_url)
    assert first.returncode == 0, first.stderr
    assert f"migrated from revision (empty) to {head}" in first.stdout
    again = cli("migrate", database_url=empty_database_url)
    assert again.returncode == 0, again.stderr
    assert f"already at revision {head}" in again.stdout

    Instance(empty_database_url, tmp_path).stop()


def test_a_schema_migrated_by_a_later_release_is_served_not_downgraded(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Rolling deploys: old instances keep (re)starting after the new release's expand step."""

    async def migrate_then_stamp_future() -> None:
        db = Database(empty_database_url)
        try:
            await db.migrate()
            async with db.engine.begin() as connection:
                await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        finally:
            await db.dispose()

    asyncio.run(migrate_then_stamp_future())
    instance = Instance(empty_database_url, tmp_path)
    instance.stop()
    assert "revision 9999 is newer than this release" in instance.log()
    refused = cli("migrate", database_url=empty_database_url)
    assert refused.returncode != 0
    assert "newer than this release knows" in refused.stderr


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_an_unreachable_database_is_named_without_its_password(command: str) -> None:
    result = cli(command, database_url="postgresql+asyncpg://ops:hunter2@127.0.0.1:1/onboarding")
    assert result.returncode != 0
    assert "cannot use the database at postgresql+asyncpg://ops:***@127.0.0.1:1/onboarding" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_database_that_does_not_exist_is_one_line_not_a_traceback() -> None:
    with throwaway_postgres_database() as url:
        missing = url.rsplit("/", 1)[0] + "/no_such_database_here"
    result = cli("migrate", database_url=missing)
    assert result.returncode != 0
    assert 'database "no_such_database_here" does not exist' in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_output_is_json_lines_apart_from_its_verdict(empty_database_url: str) -> None:
    result = cli("migrate", database_url=empty_database_url)
    for line in result.stderr.splitlines():
        assert json.loads(line)["level"] in {"info", "warning"}, line


def test_serve_creates_and_migrates_a_sqlite_file_that_does_not_exist(tmp_path: Path) -> None:
    """The embedded default just works; one line says so, one line says what starts."""
    database = tmp_path / "new" / "onboarding.db"
    url = f"sqlite+aiosqlite:///{database}"
    instance = Instance(url, tmp_path, log_level="INFO")
    assert instance.stop() == 0  # SIGTERM after a clean drain, one worker
    lines = [json.loads(line) for line in instance.log().splitlines() if line.startswith("{")]
    created = [line for line in lines if "created the SQLite database" in line["msg"]]
    assert [line["msg"] for line in created] == [
        f"created the SQLite database {database} at schema revision {migrations.head()}"
    ]
    assert not [line for line in lines if line["logger"].startswith("alembic")]
    (starting,) = [line for line in lines if line["msg"] == "starting"]
    assert (starting["env"], starting["database"], starting["workers"]) == ("dev", url, 1)
    assert starting["version"] == "0.1.0"
    again = Instance(url, tmp_path, log_level="INFO")  # existing and current: just served
    again.stop()
    assert "created the SQLite database" not in again.log()


def test_the_startup_line_hides_the_database_password() -> None:
    result = cli("serve", database_url="postgresql+asyncpg://ops:hunter2@127.0.0.1:1/onboarding")
    assert "hunter2" not in result.stderr


def test_seed_refuses_a_prod_database_unless_forced(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/prod.db"
    prod = {"env": "prod", "jwt_secret": "j" * 40, "secrets_key": "k" * 40}
    wallet = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    refused = cli("seed", "--wallet", wallet, database_url=url, **prod)
    assert refused.returncode != 0
    assert "refusing to write demo data" in refused.stderr
    assert "--force" in refused.stderr
    assert not (tmp_path / "prod.db").exists()
    forced = cli("seed", "--wallet", wallet, "--orders", "3", "--force", database_url=url, **prod)
    assert forced.returncode == 0, forced.stderr
    assert "3 orders" in forced.stdout
    assert "alembic" not in forced.stderr  # the migration it runs first stays quiet


def test_seed_help_shows_its_defaults() -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [CONSOLE_SCRIPT, "seed", "--help"], capture_output=True, text=True, check=True
    )
    for default in ("exchange id (default: rbx)", "(default: 50)", "(default: 4)", "(default: 8)"):
        assert default in " ".join(result.stdout.split())


def test_an_installed_package_serves_without_the_source_tree(tmp_path: Path) -> None:
    """`pip install .` then `serve`: migrations ship with the package, a new SQLite file is
    created, and the explorer, whose npm assets are not part of the package, says how to get
    them instead of failing."""
    root = Path(__file__).resolve().parents[2]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(  # noqa: S603 - pip on this checkout
        [*pip, "wheel", "--no-deps", str(root), "-w", str(tmp_path / "wheel")],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    site = tmp_path / "site"
    subprocess.run(  # noqa: S603 - pip, installing the wheel just built
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300
    )
    port = free_port()
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARDING_")}
    serve = (
        "import api, sys; print(api.__file__, file=sys.stderr, flush=True); "
        f"from api.cli import main; main(['serve', '--port', '{port}'])"
    )
    process = subprocess.Popen(  # noqa: S603 - the installed package's CLI
        [sys.executable, "-c", serve],
        cwd=workdir,
        env={**environment, "PYTHONPATH": str(site)},  # the installed copy, not this checkout
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
        answer = httpx.post(f"{base}/graphql", json={"query": "{ serverTime }"})
        assert isinstance(answer.json()["data"]["serverTime"], int)
        page = httpx.get(f"{base}/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        asset = httpx.get(f"{base}/graphql/explorer/graphiql.min.js")
        assert asset.status_code == 503
        assert "npm ci --prefix api/explorer" in asset.text
        assert (workdir / "var" / "onboarding.db").is_file()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert output.startswith(str(site / "api" / "__init__.py"))  # not this checkout's copy
    assert "created the SQLite database var/onboarding.db" in output
