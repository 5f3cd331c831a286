"""`onboarding-api migrate` and `serve`'s schema check, run as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from models import migrations
from models.db import Database
from tests.cluster import CONSOLE_SCRIPT, Instance
from tests.conftest import throwaway_postgres_database

pytestmark = pytest.mark.slow


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("ONBOARDING_")
    }
    environment["ONBOARDING_DATABASE_URL"] = database_url
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
