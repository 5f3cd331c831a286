"""The async engine, its sessions and transactions, and the few places where SQL dialects differ.

SQLite (default) runs in WAL mode with a busy timeout, and write transactions start with
`BEGIN IMMEDIATE` so two writers queue instead of failing on a lock upgrade. PostgreSQL goes
through asyncpg. Reads are single statements and run without a transaction on both engines (on
PostgreSQL a read in a transaction would cost a BEGIN and a ROLLBACK round trip around it).

Two ways to write, for two kinds of work: `write()` is an ORM session (units of work that add
and load model instances), `transaction()` a bare driver connection from the same pool (on
SQLite the write turn's, which stays checked out between transactions), for
Core statements compiled once (`driver_statement`) - the onboarding, the rate limiter, the
ledger, the purges. A `Transaction` sends BEGIN, its statements and COMMIT/ROLLBACK straight on
the driver: no ORM session, no SQLAlchemy `Connection`, no per-statement SQLAlchemy work, and
the pool is not asked to roll back a connection that was already committed. `joined()` runs the
same statements inside an ORM session's transaction (seeding, API-key creation).

Round trips. On PostgreSQL a round trip is one message exchange with the server: each statement,
BEGIN and COMMIT. On SQLite the database is in-process: a round trip is one visit, a run of
statements back to back on `sqlite3` with nothing else in between (`_sqlite_run`). A
`Transaction` on SQLite sends, in one visit, the BEGIN IMMEDIATE with its first statements, and
the statements queued with `later()` with the next visit or with the COMMIT; `batch()` sends
several statements in one visit, and its `then` may finish the transaction in that same visit
(statements made from the batch's rows, then the COMMIT). Both are counted:
`Database.round_trips` (visits / server round trips) and `Database.statements` (every statement,
BEGIN, COMMIT and ROLLBACK included). On PostgreSQL the two are equal. `on_statement` (the
`/metrics` counter, wired in by `api` so that `models` never imports it) hears how many
statements each round trip carried.

The write turn on the loop. The write turn's transactions (`transaction()` and `autocommit()`:
the onboarding's) run their statements on the event loop's own thread; the ORM's sessions and
every read go through aiosqlite's thread. A hop to that thread costs more than the statements: a
queue put, a thread wake-up, the GIL handed over and back for every step, and a loop wake-up; on
the live worker, going without it raised legacy onboardings by ~27 % and GraphQL's by 7-22 %
(bench/README.md, seventh pass). What the thread was there for: SQLite's busy handler sleeps
while another process (a second worker, a CLI) holds the write lock, which on the loop would
stop it for up to `_SQLITE_BUSY_SECONDS`. So the turn's connection has no busy handler
(`busy_timeout=0`), and a visit refused as busy before it changed anything (its BEGIN IMMEDIATE,
or a lone autocommitted statement) is tried again after an `asyncio.sleep`, with backoff, as
long as the handler would have waited: the loop goes on meanwhile. This process's own writers
never meet that lock: they queue on `_write_turn` first. What still runs on the loop is the
statements' own work (~0.1 ms for an onboarding: no sync, `synchronous=NORMAL`) and, only if the
WAL passes `WAL_CAP_PAGES` because the checkpoints below are not keeping up, the COMMIT that
then checkpoints and syncs.

Checkpoints. SQLite's default has the COMMIT that takes the WAL past 1000 pages copy it into
the database file and sync both, 8-20 ms inside that request, under the write turn (every ~50
onboardings: the p99). The pool's connections checkpoint only past `WAL_CAP_PAGES` (a bound on
the WAL's growth should nothing else checkpoint); `checkpoint()`, which `serve` runs every
`CHECKPOINT_INTERVAL_SECONDS` on a thread and connection of its own, copies the WAL without
waiting for or blocking anyone (PASSIVE), so writers keep appending while it syncs; then it
copies what they appended meanwhile with this process's writers held at their turn, so that
the WAL is all in the file and the next writer starts it over. (A writer starts the WAL over
only when every frame in it is in the file; under steady writes, a checkpoint that lets them
go on never ends at such a moment.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_, greenlet_spawn
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from . import (
    migrations,
    tables,  # noqa: F401 - registers the tables on SQLModel.metadata
)
from .errors import AppError, ErrorCode

_log = logging.getLogger("onboarding.db")
_IMMEDIATE = "onboarding_begin_immediate"
CHECKPOINT_INTERVAL_SECONDS = 0.2
"""How often `serve` checkpoints a SQLite database: a few thousand WAL pages at full load."""
WAL_CAP_PAGES = 20_000
"""The WAL (~80 MB of 4 KB pages) past which a COMMIT checkpoints itself, as SQLite's default
does at 1000: reached only when `checkpoint()` does not run or cannot keep up."""
_MIGRATION_LOCK = 0x6F6E626F61726431  # any fixed 64-bit key; "onboard1"


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
        on_statement: Callable[[int], object] | None = None,
        statement_timeout: float = 15.0,
    ) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        # No pre-ping: it is a round trip on every checkout (a tenth of an onboarding's time on
        # PostgreSQL, four thread hops on SQLite). A connection the server closed while it sat in
        # the pool (a restart, `pg_terminate_backend`) is seen closed at checkout instead, without
        # a round trip, and replaced (`_refuse_closed`); one lost while in use fails its statement
        # (SERVICE_UNAVAILABLE) and SQLAlchemy then replaces the whole pool.
        # hide_parameters: a failing statement's error (and so its log line) names the SQL but
        # never its values, which include sealed secrets and token hashes.
        options: dict[str, Any] = {"pool_recycle": 1800, "hide_parameters": True}
        # At most `pool_size` connections, each kept once opened; a burst above it waits (up to
        # `connect_timeout`) for one to be free. A pool that opens more for a burst closes them
        # again on their return (SQLAlchemy's overflow): at 16 concurrent onboardings that was a
        # new PostgreSQL backend every ~15 requests (a fork, and the server's and the driver's
        # caches and prepared statements built again) and ~40 % of the throughput. On SQLite too
        # (a file's pool; an in-memory database has one connection), where each is a thread.
        sized = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": connect_timeout}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                options.update(sized)
            options["connect_args"] = {"timeout": connect_timeout}
        else:
            options.update(sized)
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
        # SQLite connections already run in the driver's autocommit mode (see _sqlite_connect):
        # asking SQLAlchemy for AUTOCOMMIT there would cost a thread hop per checkout.
        self._autocommitter = (
            self.engine
            if self.dialect == "sqlite"
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # SQLite has one writer at a time. Waiting in SQLite's busy handler means sleeping in
        # 1-100 ms steps; queueing this process's writers here costs nothing and keeps p99 low.
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None
        self._turn_connection: Any = None
        """SQLite: the pooled connection the write turn keeps checked out (see `_turn`)."""
        self._prepared: dict[str, Any] = {}
        self.statements = 0
        self.round_trips = 0
        self._on_statement = on_statement
        sync_engine = self.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", self._count)
        event.listen(sync_engine, "commit", self._count_end)
        event.listen(sync_engine, "rollback", self._count_end)
        self._checkpointer: Any = None  # SQLite: checkpoint()'s own connection
        self._checkpointing = threading.Lock()
        if self.dialect == "sqlite":
            event.listen(sync_engine, "connect", _sqlite_connect)
            event.listen(sync_engine, "begin", self._sqlite_begin)
        else:
            event.listen(sync_engine, "checkout", _refuse_closed)

    def _count(self, *_: object) -> None:
        """One statement in its own round trip (everything SQLAlchemy sends)."""
        self.counted(1, 1)

    def counted(self, statements: int, round_trips: int) -> None:
        self.statements += statements
        self.round_trips += round_trips
        if self._on_statement is not None:
            self._on_statement(statements)  # once per round trip: a metric's inc is not free

    def _sqlite_begin(self, connection: Any) -> None:
        """Writers take the write lock up front (BEGIN IMMEDIATE), straight on the driver: one
        thread hop instead of SQLAlchemy's cursor, execute and close (three). Readers run each
        SELECT on its own (autocommit)."""
        if connection.get_execution_options().get(_IMMEDIATE, False):
            driver = connection.connection.driver_connection
            await_(driver.execute_fetchall("BEGIN IMMEDIATE"))
            self._count()

    def _count_end(self, connection: Any) -> None:
        """A COMMIT or ROLLBACK that reaches the database (SQLAlchemy also ends transactions that
        never began there, e.g. a read's): on PostgreSQL with the BEGIN that opened it, which
        asyncpg sends on the first statement and no cursor sees; SQLite's BEGIN IMMEDIATE is a
        statement and already counted."""
        pooled = connection._dbapi_connection  # not `.connection`: that raises once invalidated
        if pooled is None or not pooled.is_valid:
            return  # the connection is gone: nothing reaches the server
        driver = pooled.dbapi_connection
        if self.dialect == "sqlite":
            trips = 1 if driver._connection.in_transaction else 0
        else:
            trips = 2 if getattr(driver, "_transaction", None) is not None else 0
        for _ in range(trips):
            self._count()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads, each statement on its own: nothing it does is committed."""
        async with AsyncSession(self._autocommitter, expire_on_commit=False) as session:
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

    def prepared(self, name: str, build: Callable[[], Any]) -> Any:
        """The statement `build` makes, built once per database: hot paths pass only parameters,
        so SQLAlchemy neither rebuilds the statement nor recomputes its cache key per call."""
        statement = self._prepared.get(name)
        if statement is None:
            statement = self._prepared[name] = build()
        return statement

    def driver_statement(self, name: str, build: Callable[[], Any]) -> DriverStatement:
        """The statement `build` makes, compiled once to this engine's SQL for `Transaction`."""
        statement: DriverStatement = self.prepared(
            f"driver:{name}", lambda: DriverStatement.compile(self, build())
        )
        return statement

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction on a bare driver connection: committed when the block ends, rolled
        back if it raises. SQLite: BEGIN IMMEDIATE, after this process's earlier writers."""
        async with self._turn(atomic=True) as transaction:
            yield transaction

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Transaction]:
        """A bare connection whose statements each commit on their own: no BEGIN/COMMIT round
        trips. For single-statement writes (the rate limiter's UPSERT)."""
        async with self._turn(atomic=False) as transaction:
            yield transaction

    @asynccontextmanager
    async def _turn(self, *, atomic: bool) -> AsyncIterator[Transaction]:
        """A bare write. On SQLite the write turn (one writer at a time in this process) keeps
        its connection checked out between turns: a checkout and a check-in each cost a
        greenlet with a stack of its own, ~20 us, for a connection only the turn ever uses."""
        if self._write_turn is None:
            async with self._bare(atomic=atomic) as transaction:
                yield transaction
            return
        async with self._write_turn:
            if self._turn_connection is None or not self._turn_connection.is_valid:
                self._turn_connection = await self.engine.raw_connection()
                # Used on the loop: SQLite's busy handler would sleep with the loop stopped.
                self._turn_connection.driver_connection._conn.execute("PRAGMA busy_timeout=0")
            async with self._bare(atomic=atomic, pooled=self._turn_connection) as transaction:
                yield transaction

    @asynccontextmanager
    async def _bare(self, *, atomic: bool, pooled: Any = None) -> AsyncIterator[Transaction]:
        """A transaction on `pooled` (kept when given, else checked out for it and returned)."""
        kept = pooled is not None
        pooled = pooled if kept else await self.engine.raw_connection()
        transaction = Transaction(self, pooled, atomic=atomic, owned=True, kept=kept)
        try:
            yield transaction
            await transaction.end("COMMIT")
        except BaseException:
            # The block's own error is the one to report; a connection whose rollback failed
            # has been taken out of the pool.
            with contextlib.suppress(Exception):
                await transaction.end("ROLLBACK")
            raise
        finally:
            await transaction.release()

    async def read_tuples(
        self, statement: DriverStatement, parameters: dict[str, Any]
    ) -> list[Any]:
        """One read on a bare connection, on its own (no transaction, no write turn): the rows
        as the driver decoded them, values in `statement.columns` order (no dict per row, for
        reads of many rows)."""
        async with self._bare(atomic=False) as transaction:
            return await transaction.tuples(statement, parameters)

    async def joined(self, connection: AsyncConnection) -> Transaction:
        """`Transaction`'s statements inside the transaction SQLAlchemy's `connection` (an ORM
        session's) already has: SQLAlchemy commits or rolls it back."""
        return Transaction(self, await connection.get_raw_connection(), atomic=True, owned=False)

    async def _driver_failure(
        self, transaction: Transaction, sql: str, error: Exception
    ) -> Exception:
        """The driver's error as SQLAlchemy's (DBAPIError), replacing the pool when the
        connection is lost, as SQLAlchemy does for its own statements."""
        adapter = transaction.adapter
        try:
            adapter._handle_exception(error)  # the driver's error as the dialect's DBAPI error
        except Exception as adapted:
            translated = adapted
        else:  # pragma: no cover - _handle_exception always raises
            translated = error
        dialect = self.engine.dialect
        lost = isinstance(translated, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
            translated, adapter, None
        )
        if lost:
            await transaction.invalidate()
            await self.engine.dispose(close=False)
        if not isinstance(translated, dialect.loaded_dbapi.Error):
            return translated
        return DBAPIError.instance(
            sql,
            None,
            translated,
            dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=dialect,
        )

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

    async def checkpoint(self) -> tuple[int, int] | None:
        """SQLite: copy what the WAL holds into the database file, on a thread, from a connection
        of its own (module docstring, "Checkpoints"): PASSIVE, it neither waits for nor blocks
        readers, nor writers but for the last few frames', and the next writer then starts the
        WAL over. The WAL's pages and how many of them are now in the file ((-1, -1) while
        another process checkpoints); None on other engines and in-memory databases."""
        database = self.engine.url.database
        turn = self._write_turn  # SQLite's only
        if turn is None or database in (None, "", ":memory:"):
            return None
        await asyncio.to_thread(self._checkpoint, database)  # the bulk, writers going on
        # The rest, with this process's writers waiting their turn (a millisecond or two):
        # then the whole WAL is in the file and the next writer starts it over. Without this
        # pause, under steady writes the WAL never got the chance: it grew to WAL_CAP_PAGES,
        # and the COMMIT that passed it checkpointed on the loop (up to 57 ms, every ~1500
        # onboardings: half of all the COMMITs' time).
        async with turn:
            return await asyncio.to_thread(self._checkpoint, database)

    def _checkpoint(self, database: str) -> tuple[int, int]:
        with self._checkpointing:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    database, isolation_level=None, check_same_thread=False
                )
                self._checkpointer.execute("PRAGMA synchronous=NORMAL")  # syncs as the pool's
            row = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return row[1], row[2]  # (busy, pages in the WAL, pages copied)

    async def dispose(self) -> None:
        with self._checkpointing:  # a checkpoint still running on its thread finishes first
            checkpointer, self._checkpointer = self._checkpointer, None
            if checkpointer is not None:
                checkpointer.close()
        async with self._write_turn or contextlib.nullcontext():
            held, self._turn_connection = self._turn_connection, None
            if held is not None and held.is_valid:
                await greenlet_spawn(held.close)
        await self.engine.dispose()


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A Core statement compiled to one engine's SQL, with what executing it needs: parameter
    names in the driver's positional order, SQLAlchemy's own bind processors (JSON, decimals),
    the Python-side column defaults of an INSERT, and the names of the columns it returns."""

    sql: str
    order: tuple[str, ...]
    processors: dict[str, Callable[[Any], Any]]
    defaults: dict[str, Any]
    columns: tuple[str, ...]
    plan: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]
    """Per positional parameter: its name, its processor, and its default already processed
    (`_REQUIRED` when it has none): defaults are constants, so they are processed once."""

    @classmethod
    def compile(cls, db: Database, statement: Any) -> DriverStatement:
        compiled = statement.compile(dialect=db.engine.dialect)
        defaults = {
            column.key: column.default.arg
            for column in getattr(compiled, "insert_prefetch", ())
            if column.default is not None and column.default.is_scalar
        }
        order = tuple(compiled.positiontup or ())
        processors = {
            name: processor
            for name, processor in compiled._bind_processors.items()
            if name in order and processor is not None
        }
        plan = tuple(
            (
                name,
                processors.get(name),
                _process(processors.get(name), defaults[name]) if name in defaults else _REQUIRED,
            )
            for name in order
        )
        return cls(
            sql=compiled.string,
            order=order,
            processors=processors,
            defaults=defaults,
            columns=tuple(statement.exported_columns.keys()),
            plan=plan,
        )

    def arguments(self, parameters: dict[str, Any]) -> list[Any]:
        """The driver's positional arguments: each parameter processed, or its default."""
        return [
            default
            if default is not _REQUIRED and name not in parameters
            else (parameters[name] if processor is None else processor(parameters[name]))
            for name, processor, default in self.plan
        ]


_REQUIRED: Any = object()
"""A parameter with no default (a `DriverStatement.plan` entry's marker)."""


def _process(processor: Callable[[Any], Any] | None, value: Any) -> Any:
    return value if processor is None else processor(value)


Step = tuple[DriverStatement, dict[str, Any]]
"""A statement and its parameters."""
Rows = list[dict[str, Any]]


class Transaction:
    """Statements on a bare driver connection, in one transaction (or each on its own, from
    `Database.autocommit`). Rows come back as the driver decoded them (no SQLAlchemy result
    types); driver errors are raised as SQLAlchemy's (DBAPIError)."""

    def __init__(
        self, db: Database, pooled: Any, *, atomic: bool, owned: bool, kept: bool = False
    ) -> None:
        self._db = db
        self._pooled = pooled
        self._kept = kept
        """The connection stays checked out after this transaction (the SQLite write turn's)."""
        self.adapter: Any = pooled.dbapi_connection
        self._driver: Any = pooled.driver_connection
        self._sqlite = db.dialect == "sqlite"
        self._owned = owned
        # An owned transaction begins with its first statement; a joined one has begun.
        self._begin = atomic and owned
        self._open = not owned
        self._later: list[Step] = []
        self._clean = True  # no transaction of ours is left open on the connection

    @property
    def committed(self) -> bool:
        """Everything sent so far is committed (a failure from here on undoes none of it)."""
        return self._owned and not (self._open or self._begin)

    async def rows(self, statement: DriverStatement, parameters: dict[str, Any]) -> Rows:
        """Run one statement: its rows."""
        return (await self.batch((statement, parameters)))[0]

    async def tuples(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[Any]:
        """Run one statement: its rows as the driver decoded them (sequences in
        `statement.columns` order)."""
        pending, self._later = self._later, []
        return (await self._send([*pending, (statement, parameters)], None))[-1]

    async def finish(self, statement: DriverStatement, parameters: dict[str, Any]) -> Rows:
        """Run the transaction's last statement and commit it: its rows. On PostgreSQL, when
        nothing was sent yet, the statement goes alone, and being one statement it is a
        transaction of its own: no BEGIN and COMMIT round trips. On SQLite it goes with the
        BEGIN IMMEDIATE and the COMMIT in one visit. Joined to an ORM session's transaction it
        is one more statement: the session commits."""
        steps, self._later = [*self._later, (statement, parameters)], []
        end = "COMMIT" if self._owned and (self._begin or self._open) else None
        if end is not None and self._begin and len(steps) == 1 and not self._sqlite:
            self._begin, end = False, None
        rows = (await self._send(steps, end))[-1]
        return [dict(zip(statement.columns, row, strict=True)) for row in rows]

    def later(self, statement: DriverStatement, parameters: dict[str, Any]) -> None:
        """Run `statement`, whose rows nobody reads, with the next round trip (at the latest
        the COMMIT's); its failure fails the transaction there."""
        self._later.append((statement, parameters))

    async def batch(self, *steps: Step, then: Then | None = None) -> list[Rows]:
        """Run the statements in order, each one's rows; on SQLite in one round trip.

        `then` sees those rows and returns the statements that finish the transaction, or
        none: on SQLite (an owned transaction) it runs inside the round trip, and its
        statements and the COMMIT go in that same round trip; elsewhere it runs here and its
        statements are sent as `later()` ones. (So it must not touch the event loop.)"""
        pending, self._later = self._later, []
        skip = len(pending)

        def as_rows(results: list[list[Any]]) -> list[Rows]:
            return [
                [dict(zip(statement.columns, row, strict=True)) for row in rows]
                for (statement, _), rows in zip(steps, results[skip:], strict=True)
            ]

        if then is not None and self._sqlite and self._owned:
            seen: list[list[Rows]] = []

            def finish(raw: list[list[Any]]) -> list[Step]:
                seen.append(as_rows(raw))  # made once, inside the round trip
                return then(seen[0])

            results = await self._send([*pending, *steps], None, finish)
            return seen[0] if seen else as_rows(results)
        rows = as_rows(await self._send([*pending, *steps], None))
        if then is not None:
            self._later.extend(then(rows))
        return rows

    async def end(self, verb: str) -> None:
        """COMMIT (with the statements still queued) or ROLLBACK an owned transaction."""
        pending, self._later = self._later, []
        if not self._owned:
            if pending:
                await self._send(pending, None)
            return
        if verb == "ROLLBACK":
            pending = []
            if not self._open:
                return
        if not self._open and not pending:
            return
        try:
            await self._send(pending, verb if self._open or self._begin else None)
        except BaseException:
            if verb == "COMMIT":
                raise  # the caller rolls back
            await self.invalidate()  # a rollback that failed: the connection's state is unknown
            raise

    async def _send(
        self,
        steps: list[Step],
        end: str | None,
        then: Callable[[list[list[Any]]], list[Step]] | None = None,
    ) -> list[list[Any]]:
        begin = self._begin and bool(steps)
        results: list[list[Any]]
        sql = [statement.sql for statement, _ in steps]
        arguments = [statement.arguments(parameters) for statement, parameters in steps]
        count = len(steps) + begin + (end is not None)
        if begin:
            self._begin, self._open, self._clean = False, True, False
        try:
            if self._sqlite:
                finished = 0
                try:
                    run = functools.partial(
                        _sqlite_run, self._driver._conn, sql, arguments, begin, end, then
                    )
                    # Nothing done if it fails at once: the transaction it was to begin, or one
                    # autocommitted statement.
                    alone = begin or (not self._open and len(sql) == 1)
                    results, finished = await self._sqlite_visit(run, alone=alone)
                finally:
                    self._db.counted(count + finished, 1)  # one visit, however far it got
                if finished:
                    end = "COMMIT"
            else:
                results = await self._postgresql(sql, arguments, begin, end)
        except Exception as error:
            shown = "; ".join(sql) or (end or "")
            raise await self._db._driver_failure(self, shown, error) from error
        if end is not None:
            self._open, self._clean = False, True
        return results

    async def _sqlite_visit(
        self, run: Callable[[], tuple[list[list[Any]], int]], *, alone: bool
    ) -> tuple[list[list[Any]], int]:
        """`run` (a `_sqlite_run`) on aiosqlite's thread, or for the write turn's connection on
        this one (module docstring, "The write turn on the loop"): there, when it is `alone`
        and refused because another process holds the write lock, it changed nothing, and is
        tried again after a sleep that lets the loop go on, with backoff, for as long as
        SQLite's busy handler would wait."""
        if not self._kept:
            visited: tuple[list[list[Any]], int] = await self._driver._execute(run)
            return visited
        deadline, delay = None, 0.001
        while True:
            try:
                return run()
            except sqlite3.OperationalError as error:
                busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not (busy and alone and not self._driver._conn.in_transaction):
                    raise
                deadline = deadline or time.monotonic() + _SQLITE_BUSY_SECONDS
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.025)

    async def _postgresql(
        self, sql: list[str], arguments: list[list[Any]], begin: bool, end: str | None
    ) -> list[list[Any]]:
        driver, sent = self._driver, 0
        if not self._owned and self.adapter._transaction is None:
            await self.adapter._start_transaction()  # BEGIN, as SQLAlchemy's next statement would
        results = []
        try:
            if begin:
                sent += 1
                await driver.execute("BEGIN")
            for text_, args in zip(sql, arguments, strict=True):
                sent += 1
                results.append(await driver.fetch(text_, *args))
            if end is not None:
                sent += 1
                await driver.execute(end)
        finally:
            self._db.counted(sent, sent)  # each its own round trip
        return results

    async def invalidate(self) -> None:
        """Take the connection out of the pool for good (closed, not reused)."""
        if self._pooled.is_valid:
            await greenlet_spawn(self._pooled.invalidate)

    async def release(self) -> None:
        """Give the connection back; the pool skips its rollback when ours ended cleanly. (In
        SQLAlchemy's greenlet: a pool that is full closes the connection, which is IO.)"""
        if not (self._owned and self._pooled.is_valid):
            return
        if self._kept:
            if not self._clean:  # left in a transaction it could not end: never reused
                await self.invalidate()
            return
        await greenlet_spawn(self._pooled._close_special, transaction_reset=self._clean)


Then = Callable[[list[Rows]], list[Step]]
"""What finishes a transaction, from a batch's rows (`Transaction.batch`)."""


def _sqlite_run(
    connection: Any,
    sql: list[str],
    arguments: list[list[Any]],
    begin: bool,
    end: str | None,
    then: Callable[[list[list[Any]]], list[Step]] | None,
) -> tuple[list[list[Any]], int]:
    """One round trip's work, on `sqlite3` directly (`Transaction._sqlite_visit` says on which
    thread): the rows, and how many statements `then` added (its own and the COMMIT; 0 when it
    added none)."""
    if begin:
        connection.execute("BEGIN IMMEDIATE")
    results = [
        connection.execute(text_, args).fetchall()
        for text_, args in zip(sql, arguments, strict=True)
    ]
    finishing = then(results) if then is not None else []
    if finishing:
        for statement, parameters in finishing:
            connection.execute(statement.sql, statement.arguments(parameters))
        connection.execute("COMMIT")
        return results, len(finishing) + 1
    if end is not None and (end == "COMMIT" or connection.in_transaction):
        connection.execute(end)
    return results, 0


_SQLITE_BUSY_SECONDS = 10.0
"""How long a connection waits for another's lock (busy_timeout), and for a first WAL switch."""


def _refuse_closed(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """A pooled asyncpg connection whose server has closed it (the server's goodbye was read
    while it sat idle) is not handed out: the pool, seeing DisconnectionError, replaces it with
    a new one, so a database restart fails no request that starts after it."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("closed by the server while idle in the pool")


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy's "begin" event decide how transactions start (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_SECONDS * 1000)}")
    _sqlite_wal(cursor)
    # Checkpoints are left to `Database.checkpoint` (module docstring, "Checkpoints").
    for pragma in ("synchronous=NORMAL", "foreign_keys=ON", f"wal_autocheckpoint={WAL_CAP_PAGES}"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_wal(cursor: Any) -> None:
    """Put the file in WAL mode, which is a property of the file: only its first opening switches.

    The switch needs the file to itself, and SQLite does not run the busy handler for it: when
    several processes (workers, a CLI) open a new database at once, all but one would fail with
    "database is locked". So the mode is read first (which waits for locks like any read), and
    a switch that lost that race is retried, with backoff, until another opener has switched it
    or the busy timeout has passed."""
    deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
    delay = 0.005
    while True:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")  # an in-memory database stays "memory"
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        await_(asyncio.sleep(delay))  # in SQLAlchemy's greenlet: the loop goes on meanwhile
        delay = min(delay * 2, 0.1)


def _sqlite_foreign_keys_off(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _sqlite_begin(connection: Any) -> None:
    """Migrations take the write lock up front."""
    if connection.get_execution_options().get(_IMMEDIATE, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def database_failure(error: BaseException) -> str | None:
    """One line saying why the database could not be used, or None if `error` is not about the
    database (then it is a bug)."""
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
