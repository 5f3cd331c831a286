"""SQLite checkpoints happen off the COMMITs (models/db.py, "Checkpoints"): the pool's
connections leave the WAL to `Database.checkpoint`, which `serve` runs in its housekeeping."""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from api import app as app_module
from api.app import create_app
from api.settings import Settings
from models.db import Database
from tests.waiting import eventually

BLOB_PAGES = 16  # a 64 KB row: 16 overflow pages of 4 KB
COMMITS = 100  # 1600 pages in the WAL: past SQLite's own checkpoint at 1000


async def scratch_table(db: Database) -> None:
    """A table to fill, and everything so far in the file."""
    async with db.engine.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE scratch (payload BLOB)")
    await db.checkpoint()


async def fill_wal(db: Database) -> None:
    for _ in range(COMMITS):
        async with db.engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO scratch VALUES (:payload)"),
                {"payload": os.urandom(4096 * BLOB_PAGES)},
            )


def test_commits_leave_the_wal_to_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"

    db = Database(f"sqlite+aiosqlite:///{path}")

    async def run() -> None:
        try:
            await scratch_table(db)
            before = size()
            await fill_wal(db)
            assert size() == before  # no COMMIT copied the WAL into the file
            pages, copied = await db.checkpoint() or (0, 0)
            assert pages >= COMMITS * BLOB_PAGES
            assert copied == pages
            assert size() >= before + COMMITS * BLOB_PAGES * 4096
            assert await db.checkpoint() == (pages, pages)  # nothing new: nothing to do
        finally:
            await db.dispose()

    def size() -> int:
        return path.stat().st_size

    asyncio.run(run())


def test_checkpoint_is_nothing_on_other_databases(postgres_url: str) -> None:
    async def run() -> None:
        for url in (postgres_url, "sqlite+aiosqlite:///:memory:"):
            db = Database(url)
            try:
                assert await db.checkpoint() is None
            finally:
                await db.dispose()

    asyncio.run(run())


def test_serve_checkpoints_a_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "CHECKPOINT_INTERVAL_SECONDS", 0.01)
    path = tmp_path / "served.db"
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{path}", env="dev"))
    with TestClient(app) as client:
        db: Database = app.state.services.db
        client.portal.call(scratch_table, db)
        before = path.stat().st_size
        client.portal.call(fill_wal, db)
        eventually(
            lambda: path.stat().st_size >= before + COMMITS * BLOB_PAGES * 4096,
            within=10,
            what="the WAL checkpointed into the database",
            every=0.02,
        )


def test_steady_writes_still_let_the_checkpoint_start_the_wal_over(tmp_path: Path) -> None:
    """A writer starts the WAL over only when every frame in it is in the file. While writes
    never stop, a checkpoint that lets them go on always ends behind them; so `checkpoint`
    copies the last frames with this process's writers held at their turn, and the WAL's
    length (as each checkpoint reports it) falls back instead of growing to `WAL_CAP_PAGES`,
    which the COMMIT that passes it would checkpoint on the event loop."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'steady.db'}")

    async def run() -> list[int]:
        writing = True

        async def writer() -> None:
            while writing:
                async with db.write() as session:
                    insert = text("INSERT INTO scratch VALUES (:payload)")
                    await session.exec(insert, params={"payload": os.urandom(512)})

        try:
            await scratch_table(db)
            task = asyncio.create_task(writer())
            lengths = []
            for _ in range(8):
                await asyncio.sleep(0.05)
                pages, _copied = await db.checkpoint() or (0, 0)
                lengths.append(pages)
            writing = False
            await task
            return lengths
        finally:
            await db.dispose()

    lengths = asyncio.run(run())
    assert any(later < earlier for earlier, later in itertools.pairwise(lengths)), lengths
