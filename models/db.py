"""The async engine, its sessions, and the few places where SQL dialects differ.

SQLite (default) runs in WAL mode with a busy timeout, and write transactions start with
`BEGIN IMMEDIATE` so two writers queue instead of failing on a lock upgrade; reads are single
statements and run without a transaction. PostgreSQL goes
through asyncpg. Every executed statement is counted (`Database.statements`), which tests use to
hold query budgets, and reported to `on_statement` (the `/metrics` counter, wired in by `api`
so that `models` never imports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from . import (
    migrations,
    tables,  # noqa: F401 - registers the tables on SQLModel.metadata
)
from .errors import AppError, ErrorCode

_log = logging.getLogger("onboarding.db")
_IMMEDIATE = "onboarding_begin_immediate"
_MIGRATION_LOCK = 0x6F6E626F61726431  # any fixed 64-bit key; "onboard1"


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
        on_statement: Callable[[], object] | None = None,
        statement_timeout: float = 15.0,
    ) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        # No pre-ping: it is a round trip on every checkout (a tenth of an onboarding's time on
        # PostgreSQL, four thread hops on SQLite). A connection whose server went away fails one
        # statement instead (SERVICE_UNAVAILABLE) and SQLAlchemy then replaces the whole pool.
        # hide_parameters: a failing statement's error (and so its log line) names the SQL but
        # never its values, which include sealed secrets and token hashes.
        options: dict[str, Any] = {"pool_recycle": 1800, "hide_parameters": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": connect_timeout}
        else:
            options.update(
                pool_size=pool_size, max_overflow=pool_size, pool_timeout=connect_timeout
            )
            options["connect_args"] = {
                "timeout": connect_timeout,
                # Bounds every statement: a database that
                # stops answering (network partition) fails requests instead of hanging them.
                "command_timeout": statement_timeout,
                # Which worker holds which connection, in pg_stat_activity.
                "server_settings": {"application_name": f"onboarding-api:{os.getpid()}"},
            }
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self._autocommitter = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite has one writer at a time. Waiting in SQLite's busy handler means sleeping in
        # 1-100 ms steps; queueing this process's writers here costs nothing and keeps p99 low.
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None
        self._prepared: dict[str, Any] = {}
        self.statements = 0
        self._on_statement = on_statement
        sync_engine = self.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", self._count)
        if self.dialect == "sqlite":
            event.listen(sync_engine, "connect", _sqlite_connect)
            event.listen(sync_engine, "begin", _sqlite_begin)

    def _count(self, *_: object) -> None:
        self.statements += 1
        if self._on_statement is not None:
            self._on_statement()

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

    async def migrate(self) -> tuple[str | None, str | None]:
        """Apply the migrations up to head: (revision before, revision after).

        One transaction (both engines have transactional DDL), serialised between instances
        (an advisory lock on PostgreSQL, the write lock on SQLite), so every instance of a
        deployment may run it at start-up and exactly one does the work.
        """
        async with self._migration_transaction() as connection:
            return await connection.run_sync(migrations.upgrade)

    @asynccontextmanager
    async def _migration_transaction(self) -> AsyncIterator[AsyncConnection]:
        if self.dialect != "sqlite":
            async with self.engine.begin() as connection:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
                yield connection
            return
        # SQLite alters a table by rebuilding it (batch mode), and dropping a table that others
        # reference fails while foreign keys are enforced; enforcement can only be switched off
        # outside a transaction, hence a connection of its own. The keys are checked at the end.
        engine = create_async_engine(
            self.engine.url,
            poolclass=NullPool,
            hide_parameters=True,
            execution_options={_IMMEDIATE: True},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "connect", _sqlite_foreign_keys_off)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        try:
            async with engine.begin() as connection:
                yield connection
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise migrations.SchemaError(
                        f"the migration left {len(broken)} rows with dangling foreign keys "
                        f"(first: {tuple(broken[0])}); nothing was changed"
                    )
        finally:
            await engine.dispose()

    async def create_schema(self) -> None:
        """The schema, built by the migrations: what is tested is what is deployed."""
        await self.migrate()

    async def schema_state(self) -> tuple[str | None, migrations.SchemaState]:
        """The database's revision, and how it relates to this code's newest one."""
        async with self.engine.connect() as connection:
            revision = await connection.run_sync(migrations.current)
        return revision, migrations.state(revision)

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


def _sqlite_foreign_keys_off(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _sqlite_begin(connection: Any) -> None:
    """Writers take the write lock up front; readers run each SELECT on its own (autocommit)."""
    if connection.get_execution_options().get(_IMMEDIATE, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def database_failure(error: BaseException) -> str | None:
    """One line saying why the database could not be used, or None if `error` is not about the
    database (then it is a bug)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        return str(error.orig).splitlines()[0] if error.orig is not None else type(error).__name__
    if is_unavailable(error):
        return f"{type(error).__name__}: {error}".rstrip(": ")
    return None


DATABASE_UNAVAILABLE = "the database is unavailable; retry shortly"


def unavailable_refusal(error: BaseException) -> AppError | None:
    """SERVICE_UNAVAILABLE (logged with the driver's reason, never values) when `error` means the
    database cannot be reached; None when it is something else (a bug). Every route uses this."""
    if not is_unavailable(error):
        return None
    _log.warning("database unavailable: %s", database_failure(error))
    return AppError(ErrorCode.SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE)


def is_unavailable(error: BaseException) -> bool:
    """True when the error means "cannot reach the database (now)", not "the query is wrong".

    Covers: no connection (refused, timed out, closed under us), a connection the driver
    invalidated (e.g. `pg_terminate_backend`), PostgreSQL refusing work for operational reasons
    (SQLSTATE classes 08 connection, 53 resources, 57 operator intervention), and SQLite's busy
    or locked file (contention, also transient).
    """
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or _sqlstate(error.orig)[:2] in _TRANSIENT_SQLSTATES
    return isinstance(error, ConnectionError | TimeoutError | OSError)


_TRANSIENT_SQLSTATES = ("08", "53", "57")


def _sqlstate(error: BaseException | None) -> str:
    while error is not None:
        if isinstance(code := getattr(error, "sqlstate", None), str):
            return code
        error = error.__cause__
    return ""
