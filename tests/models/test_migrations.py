"""The migrations are the schema: on an empty database of each engine they build exactly what
`models.tables` declares, they run safely from many instances at once, and they refuse databases
they do not understand."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from models import migrations
from models.db import Database
from models.migrations import SchemaError, SchemaState


def on(url: str, work: Callable[[Database], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


async def drift(db: Database) -> list[Any]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(migrations.drift)


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))


async def execute(db: Database, *statements: str) -> None:
    async with db.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


def test_migrations_build_exactly_the_tables_the_models_declare(empty_database_url: str) -> None:
    async def check(db: Database) -> None:
        assert await db.schema_state() == (None, SchemaState.BEHIND)
        assert await db.migrate() == (None, migrations.head())
        assert await db.schema_state() == (migrations.head(), SchemaState.CURRENT)
        assert await drift(db) == [], (
            "models/tables.py and the migrations disagree: "
            'run `make migration m="what changed"` and review the new revision'
        )
        assert await tables(db) == set(SQLModel.metadata.tables) | {"alembic_version"}

    on(empty_database_url, check)


def test_drift_between_models_and_database_is_detected(empty_database_url: str) -> None:
    """The check above has teeth: a missing index and a stray column both show up."""

    async def check(db: Database) -> list[Any]:
        await db.migrate()
        await execute(
            db,
            "DROP INDEX ix_auth_sessions_family_id",
            "ALTER TABLE profiles ADD COLUMN stray INTEGER",
        )
        return await drift(db)

    found = {
        (change[0], getattr(change[-1], "name", None)) for change in on(empty_database_url, check)
    }
    assert found == {("add_index", "ix_auth_sessions_family_id"), ("remove_column", "stray")}


def test_migrate_is_idempotent_and_safe_from_many_instances_at_once(
    empty_database_url: str,
) -> None:
    async def race() -> list[tuple[str | None, str | None]]:
        instances = [Database(empty_database_url) for _ in range(3)]
        try:
            return list(await asyncio.gather(*(db.migrate() for db in instances)))
        finally:
            for db in instances:
                await db.dispose()

    head = migrations.head()
    results = asyncio.run(race())
    assert sorted(results, key=str) == sorted([(None, head), (head, head), (head, head)], key=str)
    assert on(empty_database_url, drift) == []


def test_a_new_sqlite_file_that_another_process_writes_still_opens_in_wal(tmp_path: Path) -> None:
    """The WAL switch needs the file to itself, and SQLite runs no busy handler for it while
    another connection holds the write lock: a new database opened while another process writes
    it (several workers migrating at start-up) failed at once with "database is locked". The
    opening now waits for the writer and switches."""
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock until it ends

    async def journal_mode(db: Database) -> Any:
        asyncio.get_running_loop().call_later(0.3, writer.execute, "COMMIT")
        async with db.engine.connect() as connection:
            return (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()

    try:
        assert on(f"sqlite+aiosqlite:///{path}", journal_mode) == "wal"
    finally:
        writer.close()


def test_every_revision_downgrades_to_an_empty_database(empty_database_url: str) -> None:
    async def down_and_up(db: Database) -> tuple[set[str], list[Any]]:
        await db.migrate()
        async with db.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.downgrade(migrations.alembic_config(sync), "base")
            )
        emptied = await tables(db)
        await db.migrate()
        return emptied, await drift(db)

    emptied, drift_after = on(empty_database_url, down_and_up)
    assert emptied <= {"alembic_version"}
    assert drift_after == []


def test_a_database_built_before_migrations_is_refused_with_advice(
    empty_database_url: str,
) -> None:
    async def attempt(db: Database) -> None:
        async with db.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        await db.migrate()

    with pytest.raises(SchemaError, match="no migration history") as refused:
        on(empty_database_url, attempt)
    assert "empty database" in str(refused.value)


def test_a_database_migrated_by_a_later_release_is_recognised(empty_database_url: str) -> None:
    async def stamp_future(db: Database) -> tuple[str | None, SchemaState]:
        await db.migrate()
        await execute(db, "UPDATE alembic_version SET version_num = '9999'")
        return await db.schema_state()

    assert on(empty_database_url, stamp_future) == ("9999", SchemaState.NEWER)
    with pytest.raises(SchemaError, match="newer than this release"):
        on(empty_database_url, lambda db: db.migrate())


def test_revision_ids_are_a_sequence() -> None:
    head = migrations.head()
    assert head is not None
    assert head.isdigit()
    assert migrations.next_revision_id() == f"{int(head) + 1:04d}"


def test_new_revision_writes_nothing_when_models_and_migrations_agree(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async def generate(db: Database) -> Any:
        await db.migrate()
        async with db.engine.begin() as connection:
            return await connection.run_sync(migrations.new_revision, "nothing")

    assert on(f"sqlite+aiosqlite:///{tmp_path}/scratch.db", generate) is None
    assert "no changes" in capsys.readouterr().out


REBUILD_PROFILES = """
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(16), type_=sa.String(20))
    {extra}


def downgrade() -> None:
    pass
"""


def with_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """This code's migrations plus one more revision, as the next release would ship them."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    revision, down = migrations.next_revision_id(), migrations.head()
    assert down is not None
    filled = source.replace("{revision}", revision).replace("{down}", down)
    (scripts / "versions" / f"{revision}_next.py").write_text(filled)
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)


async def at_first_revision_with_rows(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(
            lambda sync: command.upgrade(migrations.alembic_config(sync), "0001")
        )
    await execute(
        db,
        "INSERT INTO profiles (id, wallet, exchange_id, profile_type, status, balance, "
        "cum_trading_volume, leverage, last_update, last_liq_check, created_at) "
        "VALUES (1, '0xa', 'rbx', 'trader', 'active', '0', '0', '{}', 0, 0, 0)",
        "INSERT INTO notifications (profile_id, type, title, description, created_at) "
        "VALUES (1, 'welcome', 'Welcome', '', 0)",
    )


async def revision_and_notifications(db: Database) -> tuple[str | None, int]:
    async with db.engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM notifications"))).scalar()
    return (await db.schema_state())[0], int(count or 0)


def test_a_later_revision_can_rebuild_a_referenced_table_holding_data(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite alters a table by copying it; with foreign keys enforced, dropping the referenced
    original would fail (or empty its children)."""
    with_revision(tmp_path, monkeypatch, REBUILD_PROFILES.replace("{extra}", ""))
    head = migrations.head()

    async def upgrade(db: Database) -> tuple[tuple[str | None, str | None], Any]:
        await at_first_revision_with_rows(db)
        return await db.migrate(), await revision_and_notifications(db)

    assert on(empty_database_url, upgrade) == (("0001", head), (head, 1))


def test_a_revision_that_breaks_foreign_keys_changes_nothing(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaking = REBUILD_PROFILES.replace("{extra}", 'op.execute("DELETE FROM profiles")')
    with_revision(tmp_path, monkeypatch, breaking)

    async def upgrade(db: Database) -> Any:
        await at_first_revision_with_rows(db)
        with pytest.raises((SchemaError, IntegrityError), match="foreign key"):
            await db.migrate()
        return await revision_and_notifications(db)

    assert on(empty_database_url, upgrade) == ("0001", 1)


WIDE = 2**40
AT_0001 = (
    "INSERT INTO profiles (id, wallet, exchange_id, profile_type, status, balance, "
    "cum_trading_volume, leverage, last_update, last_liq_check, created_at) "
    "VALUES (7, '0xb', 'rbx', 'trader', 'active', '12.5', '0', '{}', 1, 2, 3)",
    "INSERT INTO api_keys (key, profile_id, secret_sealed, tag, status, expiration, allowed_ips, "
    "created_at) VALUES ('k', 7, 'sealed', '', 'API_GEN', 4000000000, '[]', 0)",
    # A browser family (onboarded at 100, refreshed at 200) and a market maker's session.
    "INSERT INTO auth_sessions (id, profile_id, family_id, kind, refresh_hash, created_at, "
    "expires_at, revoked_at, replaced_by) VALUES ('root', 7, 'root', 'client', 'h1', 100, "
    "4000000000, 200, 'next')",
    "INSERT INTO auth_sessions (id, profile_id, family_id, kind, refresh_hash, created_at, "
    "expires_at) VALUES ('next', 7, 'root', 'client', 'h2', 200, 4000000000)",
    "INSERT INTO auth_sessions (id, profile_id, family_id, kind, created_at, expires_at) "
    "VALUES ('bot', 7, 'bot', 'market_maker', 300, 4000000000)",
    "INSERT INTO notifications (id, profile_id, type, title, description, created_at) "
    "VALUES (9, 7, 'welcome', 'Welcome', '', 5)",
    "INSERT INTO used_signatures (address, digest, expires_at) VALUES ('0xb', 'd1', 4000000000)",
    "INSERT INTO rate_limit_buckets (key, full_at) VALUES ('ip:1', 1.5)",
)
ID_COLUMNS = {
    "profiles": ["id"],
    "notifications": ["id", "profile_id"],
    "orders": ["profile_id"],
    "positions": ["profile_id"],
    "api_keys": ["profile_id"],
    "auth_sessions": ["profile_id"],
}


async def id_column_types(db: Database) -> dict[str, str]:
    def read(sync: Any) -> dict[str, str]:
        inspector = inspect(sync)
        found = {}
        for table, names in ID_COLUMNS.items():
            for column in inspector.get_columns(table):
                if column["name"] in names:
                    found[f"{table}.{column['name']}"] = str(column["type"])
        return found

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


async def select_all(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(text(sql))).all()]


def test_a_database_one_revision_behind_upgrades_with_its_data(empty_database_url: str) -> None:
    """0001 → head: rows survive, ids become 64-bit, sessions get their origin, and SQLite's
    text-keyed tables lose their rowids."""

    async def upgrade(db: Database) -> dict[str, Any]:
        async with db.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.upgrade(migrations.alembic_config(sync), "0001")
            )
        await execute(db, *AT_0001)
        before = await id_column_types(db)
        migrated = await db.migrate()
        # 64-bit ids: an explicit one, then the next generated one after it.
        if db.dialect == "postgresql":
            await execute(db, f"SELECT setval(pg_get_serial_sequence('profiles', 'id'), {WIDE})")
        else:
            await execute(db, AT_0001[0].replace("(7, '0xb'", f"({WIDE}, '0xw'"))
        await execute(
            db,
            "INSERT INTO profiles (wallet, exchange_id, profile_type, status, balance, "
            "cum_trading_volume, leverage, last_update, last_liq_check, created_at) "
            "VALUES ('0xc', 'rbx', 'trader', 'active', '0', '0', '{}', 0, 0, 0)",
            "INSERT INTO notifications (profile_id, type, title, description, created_at) "  # noqa: S608
            f"VALUES ({WIDE + 1}, 'info', 'Wide', '', 6)",
            # The previous release, still serving during a rolling deploy, writes sessions
            # without the new columns (expand step): that keeps working.
            AT_0001[4].replace("'bot', 7, 'bot'", "'old', 7, 'old'"),
        )
        return {
            "before": before,
            "migrated": migrated,
            "drift": await drift(db),
            "after": await id_column_types(db),
            "profiles": await select_all(
                db, "SELECT id, wallet, balance FROM profiles ORDER BY id"
            ),
            "notifications": await select_all(
                db, "SELECT profile_id, title FROM notifications ORDER BY profile_id"
            ),
            "keys": await select_all(db, "SELECT key, profile_id, expiration FROM api_keys"),
            "sessions": await select_all(
                db,
                "SELECT id, profile_id, family_id, minted_from, api_key, family_started_at, "
                "refresh_hash, revoked_at, replaced_by FROM auth_sessions ORDER BY id",
            ),
            "ledger": await select_all(
                db, "SELECT address, digest, expires_at FROM used_signatures"
            ),
            "buckets": await select_all(db, "SELECT key, full_at FROM rate_limit_buckets"),
            "sqlite_schema": await select_all(db, "SELECT name, sql FROM sqlite_schema")
            if db.dialect == "sqlite"
            else [],
            "key_lookup": await select_all(
                db, "EXPLAIN QUERY PLAN SELECT id FROM auth_sessions WHERE api_key = 'k'"
            )
            if db.dialect == "sqlite"
            else [],
        }

    state = on(empty_database_url, upgrade)
    assert state["migrated"] == ("0001", migrations.head())
    assert state["drift"] == []
    postgres = "asyncpg" in empty_database_url
    if postgres:
        assert set(state["before"].values()) == {"INTEGER"}
        assert set(state["after"].values()) == {"BIGINT"}
    else:  # SQLite's INTEGER is 64-bit already (and INTEGER PRIMARY KEY is the rowid)
        assert set(state["after"].values()) <= {"INTEGER", "BIGINT"}
    first_id, wallet, balance = state["profiles"][0]
    assert (first_id, wallet, str(balance)) == (7, "0xb", "12.5")
    assert state["profiles"][-1][0] == WIDE + 1
    assert state["notifications"] == [(7, "Welcome"), (WIDE + 1, "Wide")]
    assert state["keys"] == [("k", 7, 4000000000)]
    assert state["sessions"] == [
        # Market-maker sessions from before: their key is not recorded, so they cannot manage
        # keys; the browser family starts when its first session was made.
        ("bot", 7, "bot", "api_key", None, 300, None, None, None),
        ("next", 7, "root", "refresh", None, 100, "h2", None, None),
        ("old", 7, "old", None, None, None, None, None, None),
        ("root", 7, "root", "wallet_proof", None, 100, "h1", 200, "next"),
    ]
    assert state["ledger"] == [("0xb", "d1", 4000000000)]
    assert state["buckets"] == [("ip:1", 1.5)]
    if not postgres:  # 0003: fewer pages per SQLite commit
        schema = dict(state["sqlite_schema"])
        for table in ("auth_sessions", "used_signatures", "rate_limit_buckets"):
            assert schema[table].rstrip().endswith("WITHOUT ROWID"), schema[table]
        assert schema["ix_auth_sessions_api_key"].endswith("WHERE api_key IS NOT NULL")
        assert "ix_auth_sessions_api_key" in str(state["key_lookup"])  # still used by key
