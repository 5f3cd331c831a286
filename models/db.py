"""The async engine, its sessions, and the few places where SQL dialects differ.

SQLite (default) runs in WAL mode with a busy timeout, and write transactions start with
`BEGIN IMMEDIATE` so two writers queue instead of failing on a lock upgrade; reads are single
statements and run without a transaction. PostgreSQL goes
through asyncpg. Every executed statement is counted (`Database.statements`), which tests use to
hold query budgets and `/metrics` exports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from . import tables  # noqa: F401 - registers the tables on SQLModel.metadata

_IMMEDIATE = "onboarding_begin_immediate"


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: float = 5.0) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        # No pre-ping: it is a round trip on every checkout (a tenth of an onboarding's time on
        # PostgreSQL, four thread hops on SQLite). A connection whose server went away fails one
        # statement instead (SERVICE_UNAVAILABLE) and SQLAlchemy then replaces the whole pool.
        options: dict[str, Any] = {"pool_recycle": 1800}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": connect_timeout}
        else:
            options.update(
                pool_size=pool_size, max_overflow=pool_size, pool_timeout=connect_timeout
            )
            options["connect_args"] = {"timeout": connect_timeout}
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self._autocommitter = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite has one writer at a time. Waiting in SQLite's busy handler means sleeping in
        # 1-100 ms steps; queueing this process's writers here costs nothing and keeps p99 low.
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None
        self._prepared: dict[str, Any] = {}
        self.statements = 0
        sync_engine = self.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", self._count)
        if self.dialect == "sqlite":
            event.listen(sync_engine, "connect", _sqlite_connect)
            event.listen(sync_engine, "begin", _sqlite_begin)

    def _count(self, *_: object) -> None:
        self.statements += 1

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; nothing it does is committed."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with (
            self._write_turn or contextlib.nullcontext(),
            AsyncSession(self._writer, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose statements each commit on their own: no BEGIN/COMMIT round trips.
        For single-statement writes (the rate limiter's UPSERT)."""
        async with (
            self._write_turn or contextlib.nullcontext(),
            self._autocommitter.connect() as connection,
        ):
            yield connection

    def prepared(self, name: str, build: Callable[[], Any]) -> Any:
        """The statement `build` makes, built once per database: hot paths pass only parameters,
        so SQLAlchemy neither rebuilds the statement nor recomputes its cache key per call."""
        statement = self._prepared.get(name)
        if statement is None:
            statement = self._prepared[name] = build()
        return statement

    def insert(self, model: type[SQLModel]) -> Any:
        """An INSERT that supports `on_conflict_do_nothing` on this engine's dialect."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(model)

    async def create_schema(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)

    async def ping(self, within_seconds: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(within_seconds), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy's "begin" event decide how transactions start (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "busy_timeout=10000",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Writers take the write lock up front; readers run each SELECT on its own (autocommit)."""
    if connection.get_execution_options().get(_IMMEDIATE, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_unavailable(error: BaseException) -> bool:
    """True when the error means "cannot reach the database", not "the query is wrong"."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(error, OperationalError):
        # SQLite reports a busy/locked file as OperationalError too: contention, still transient.
        return True
    return isinstance(error, InterfaceError | ConnectionError | TimeoutError | OSError)
