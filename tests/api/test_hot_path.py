"""What the benchmarks' fixes promise (bench/README.md): fewer statements, work done once, writers
queued, pools that recover without pre-ping, rate-limit state kept out of the write-ahead log."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from starlette.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings
from models import db as db_module
from models.db import Database, Transaction, is_unavailable
from models.profiles import ProfileMath
from tests.api.test_onboard import ONBOARD, ok, onboard, signed
from tests.cluster import terminate_service_connections
from tests.signing import Signer, fresh_timestamp

LISTS = ("FROM orders", "FROM positions", "FROM notifications")


@pytest.fixture
def statements(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement: SQLAlchemy's, and those run on the bare driver."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    db = services.db
    send = Transaction._send

    async def recorded(self: Transaction, steps: Any, end: Any, then: Any = None) -> Any:
        seen.extend(statement.sql for statement, _ in steps)

        def finishing(rows: Any) -> Any:
            finished = then(rows)
            seen.extend(statement.sql for statement, _ in finished)
            return finished

        return await send(self, steps, end, finishing if then is not None else None)

    monkeypatch.setattr(Transaction, "_send", recorded)
    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_new_profile_answers_its_lists_without_queries(
    client: TestClient, statements: list[str]
) -> None:
    signer = Signer()
    ok(onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(100))))
    assert [s for s in statements if any(table in s for table in LISTS)] == []
    statements.clear()
    ok(onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(101))))
    for table in LISTS:  # an existing profile's lists are read, once each
        assert len([s for s in statements if table in s]) == 1, table


def test_account_figures_are_computed_once_per_request(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    account = ProfileMath.account

    def counted(self: ProfileMath, *args: Any) -> Any:
        calls.append(self)
        return account(self, *args)

    monkeypatch.setattr(ProfileMath, "account", counted)
    ok(onboard(client, **signed(Signer(), is_client=True)))  # ONBOARD asks for all ten figures
    assert "accountEquity" in ONBOARD
    assert len(calls) == 1


def test_sqlite_writers_take_turns_within_a_process(tmp_path: Any) -> None:
    """Queued here, a writer never sleeps in SQLite's busy handler (1-100 ms steps)."""

    async def scenario() -> list[tuple[str, int]]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/turns.db")
        events: list[tuple[str, int]] = []

        async def writer(name: int) -> None:
            async with db.write():
                events.append(("in", name))
                await asyncio.sleep(0.01)
                events.append(("out", name))

        try:
            await asyncio.gather(writer(1), writer(2), writer(3))
        finally:
            await db.dispose()
        return events

    events = asyncio.run(scenario())
    assert [kind for kind, _ in events] == ["in", "out"] * 3
    assert [events[i][1] == events[i + 1][1] for i in range(0, 6, 2)] == [True] * 3


def test_the_pool_holds_at_most_its_size_and_keeps_every_connection_it_opens(
    database_url: str,
) -> None:
    """`ONBOARDING_DB_POOL_SIZE` is the most a worker holds, and a connection, once opened, is
    kept: a burst above it waits for a free one. A pool that opened more for a burst and closed
    them after it (SQLAlchemy's overflow) cost PostgreSQL a new backend, and SQLite a new thread,
    every few requests at 16 concurrent onboardings."""

    async def scenario() -> tuple[list[int], int]:
        db = Database(database_url, pool_size=4)
        opened: list[int] = []
        event.listen(db.engine.sync_engine, "connect", lambda *_: opened.append(1))
        held = most = 0
        try:
            await db.create_schema()

            async def read() -> None:
                nonlocal held, most
                async with db.read() as session:
                    await session.exec(text("SELECT 1"))
                    held += 1
                    most = max(most, held)
                    await asyncio.sleep(0.01)  # all eight at once, but for the pool
                    held -= 1

            counts = []
            for _ in range(3):
                await asyncio.gather(*(read() for _ in range(8)))
                counts.append(len(opened))
            return counts, most
        finally:
            await db.dispose()

    counts, most = asyncio.run(scenario())
    assert most == 4
    assert counts == [counts[0]] * 3  # none opened after the first burst
    assert counts[0] <= 4 + 1  # (create_schema's own, on SQLite)


def test_the_sqlite_write_turn_waits_for_another_process_lock_with_the_loop_running(
    tmp_path: Any,
) -> None:
    """The write turn's statements run on the loop thread: a write lock held elsewhere (another
    worker, a CLI) is waited for in `asyncio.sleep`s, never in SQLite's busy handler, so the
    loop keeps serving; the transaction goes through once the lock is released."""
    path = tmp_path / "held.db"
    ticks: list[float] = []

    async def scenario() -> list[str]:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await db.create_schema()
            add, read = _ledger_statements(db, returning=False)
            other = _holding_the_write_lock(path)
            threading.Timer(0.5, other.execute, ["COMMIT"]).start()

            async def write() -> None:
                async with db.transaction() as transaction:
                    transaction.later(add, {"a": "0x1", "d": "held", "e": 1})

            writing = asyncio.ensure_future(write())
            while not writing.done():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)
            await writing
            async with db.transaction() as transaction:
                digests = [row["digest"] for row in await transaction.rows(read, {})]
            other.close()
            return digests
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == ["held"]
    assert ticks[-1] - ticks[0] >= 0.45  # it waited for the lock...
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.2  # ...with the loop running


def test_a_write_lock_held_past_the_busy_timeout_fails_the_write_turn_as_unavailable(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged by running on the loop: SERVICE_UNAVAILABLE's cause, and nothing written."""
    monkeypatch.setattr(db_module, "_SQLITE_BUSY_SECONDS", 0.3)
    path = tmp_path / "held.db"

    async def scenario() -> tuple[BaseException | None, float, list[Any]]:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await db.create_schema()
            add, read = _ledger_statements(db, returning=False)
            other = _holding_the_write_lock(path)
            started, failure = time.monotonic(), None
            try:
                async with db.transaction() as transaction:
                    transaction.later(add, {"a": "0x1", "d": "late", "e": 1})
            except Exception as error:
                failure = error
            waited = time.monotonic() - started
            other.execute("COMMIT")
            other.close()
            async with db.transaction() as transaction:
                rows = await transaction.rows(read, {})
            return failure, waited, rows
        finally:
            await db.dispose()

    failure, waited, rows = asyncio.run(scenario())
    assert failure is not None
    assert is_unavailable(failure), failure
    assert "locked" in str(failure)
    assert 0.3 <= waited < 2
    assert rows == []


def _holding_the_write_lock(path: Any) -> sqlite3.Connection:
    """Another connection (as another process would) in a write transaction on `path`."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_prepared_statements_are_built_once() -> None:
    db = Database("sqlite+aiosqlite:///:memory:")
    built: list[int] = []
    first = db.prepared("x", lambda: built.append(1) or object())
    assert db.prepared("x", lambda: built.append(2) or object()) is first
    assert built == [1]


async def _admin_fetch(dsn: str, sql: str) -> list[Any]:
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()


def test_rate_limit_buckets_skip_the_write_ahead_log(postgres_url: str) -> None:
    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    sql = "SELECT relpersistence::text AS p FROM pg_class WHERE relname = 'rate_limit_buckets'"
    (row,) = asyncio.run(_admin_fetch(dsn, sql))
    assert row["p"] == "u"


def test_connections_the_database_closed_while_idle_fail_no_request(postgres_url: str) -> None:
    """A restart or `pg_terminate_backend` closes the pooled connections while they sit idle:
    the pool sees them closed at checkout (no pre-ping round trip) and connects anew, so the
    requests after it are all served."""
    app = create_app(Settings(database_url=postgres_url, rate_limit_per_ip=None))
    with TestClient(app) as client:
        for _ in range(3):
            ok(onboard(client, **signed(Signer(), is_client=True)))
        assert asyncio.run(terminate_service_connections(postgres_url)) > 0
        time.sleep(0.1)  # the worker's loop reads each server's goodbye
        outcomes = []
        for _ in range(3):
            body = onboard(client, **signed(Signer(), is_client=True))
            outcomes.append(body["errors"][0]["extensions"]["code"] if "errors" in body else "ok")
    assert outcomes == ["ok", "ok", "ok"]


def test_a_new_profile_costs_no_list_queries_on_the_legacy_route_either(
    client: TestClient, statements: list[str]
) -> None:
    signer = Signer()

    def legacy(ahead: int) -> None:
        ts = fresh_timestamp(ahead)
        body = {"wallet": signer.address, "signature": signer.eip191(ts), "is_client": True}
        assert client.post("/onboarding", json=body, headers={"RBT-TS": str(ts)}).status_code == 200

    legacy(100)
    assert [s for s in statements if any(table in s for table in LISTS)] == []
    statements.clear()
    legacy(101)
    for table in LISTS:  # an existing profile's lists are read, once each
        assert len([s for s in statements if table in s]) == 1, table


def test_the_counter_counts_round_trips_begin_and_commit_included(database_url: str) -> None:
    """What the budgets below stand on: a write transaction is its statements plus BEGIN and
    COMMIT (asyncpg's BEGIN and both engines' COMMIT pass no cursor), a read only its own."""

    async def scenario() -> tuple[int, int, int]:
        db = Database(database_url)
        try:
            await db.create_schema()
            before = db.statements
            async with db.write() as session:
                await (await session.connection()).execute(text("SELECT 1"))
            written = db.statements - before
            with contextlib.suppress(RuntimeError):
                async with db.write() as session:
                    await (await session.connection()).execute(text("SELECT 1"))
                    raise RuntimeError("roll back")
            rolled_back = db.statements - before - written
            async with db.read() as session:
                await (await session.connection()).execute(text("SELECT 1"))
            return written, rolled_back, db.statements - before - written - rolled_back
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == (3, 3, 1)


# Round trips (`Database.round_trips`): on PostgreSQL each statement, BEGIN and COMMIT; on SQLite
# each hop to aiosqlite's thread. Statements (`Database.statements`) count BEGIN and COMMIT too.
# PostgreSQL: one statement (both tokens, the ledger, the profile, the session), which is a
# transaction of its own: 1 and 1.
# SQLite (no data-modifying CTEs): BEGIN IMMEDIATE, both tokens, the ledger, the profile, then
# (made inside the round trip, `Transaction.batch`'s `then`) the session and the COMMIT, all in
# one visit: 1 round trip, 6 statements.
BUDGETS = {"postgresql": (1, 1), "sqlite": (1, 6)}
PEER = ("203.0.113.7", 50000)
"""A caller with an IP address: the per-address limit applies (a test client's does not)."""


def test_a_new_wallet_client_onboarding_costs_at_most_four_round_trips(settings: Settings) -> None:
    """Both rate limits counted and the single-use ledger on; the same use case behind both
    routes."""
    assert settings.rate_limit_per_ip
    assert settings.rate_limit_per_wallet
    assert settings.single_use_signatures
    app = create_app(settings)
    with TestClient(app, client=PEER) as client:
        db = app.state.services.db
        client.portal.call(db.create_schema)
        round_trips, statements = BUDGETS[db.dialect]
        assert round_trips <= 4

        def costs(send: Any) -> tuple[int, int]:
            before = db.round_trips, db.statements
            send()
            return db.round_trips - before[0], db.statements - before[1]

        def graphql() -> None:
            ok(onboard(client, **signed(Signer(), is_client=True, ts=fresh_timestamp(100))))

        def legacy() -> None:
            signer, ts = Signer(), fresh_timestamp(101)
            body = {"wallet": signer.address, "signature": signer.eip191(ts), "is_client": True}
            response = client.post("/onboarding", json=body, headers={"RBT-TS": str(ts)})
            assert response.status_code == 200

        buckets = client.portal.call(_bucket_keys, db)
        assert costs(graphql) == (round_trips, statements)
        assert costs(legacy) == (round_trips, statements)
        taken = set(client.portal.call(_bucket_keys, db)) - set(buckets)
        assert any(PEER[0] in key for key in taken)  # the address's token was taken and kept


async def _bucket_keys(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.exec(text("SELECT key FROM rate_limit_buckets"))).scalars())


def _ledger_statements(db: Database, *, returning: bool) -> tuple[Any, Any]:
    """An INSERT into the ledger table (RETURNING its digest, or not) and a read of every digest,
    for the bare transaction's own tests."""
    from sqlalchemy import bindparam, insert, select

    from models.tables import UsedSignature

    table = UsedSignature.__table__  # type: ignore[attr-defined]
    add = insert(table).values(
        address=bindparam("a"), digest=bindparam("d"), expires_at=bindparam("e")
    )
    name = "test.add_returning" if returning else "test.add"
    return (
        db.driver_statement(name, lambda: add.returning(table.c.digest) if returning else add),
        db.driver_statement("test.read", lambda: select(table.c.digest).order_by(table.c.digest)),
    )


def test_a_bare_transaction_commits_rolls_back_and_counts(database_url: str) -> None:
    """`Database.transaction`: statements queued with `later` are written with the COMMIT; a
    block that raises writes nothing; a driver error is SQLAlchemy's, and the connection is
    reusable afterwards."""
    from sqlalchemy.exc import IntegrityError

    async def scenario() -> tuple[list[str], tuple[int, int]]:
        db = Database(database_url)
        try:
            await db.create_schema()
            add, read = _ledger_statements(db, returning=False)
            before = db.round_trips, db.statements
            async with db.transaction() as transaction:
                transaction.later(add, {"a": "0x1", "d": "kept", "e": 1})
            costs = db.round_trips - before[0], db.statements - before[1]
            with contextlib.suppress(RuntimeError):
                async with db.transaction() as transaction:
                    await transaction.rows(add, {"a": "0x1", "d": "undone", "e": 1})
                    raise RuntimeError("roll back")
            with pytest.raises(IntegrityError):
                async with db.transaction() as transaction:
                    await transaction.rows(add, {"a": "0x1", "d": "kept", "e": 1})
            async with db.transaction() as transaction:
                rows = await transaction.rows(read, {})
            return [row["digest"] for row in rows], costs
        finally:
            await db.dispose()

    digests, (round_trips, statements) = asyncio.run(scenario())
    assert digests == ["kept"]
    assert statements == 3  # BEGIN, INSERT, COMMIT
    assert round_trips == (1 if database_url.startswith("sqlite") else 3)


def test_a_transactions_last_statement_commits_with_it(database_url: str) -> None:
    """`Transaction.finish`: the statement is committed with the transaction. Sent first, on
    PostgreSQL it goes alone (one statement is a transaction of its own: no BEGIN, no COMMIT),
    on SQLite with both in one visit; after another statement, BEGIN ... COMMIT as ever. A
    raise after it undoes nothing."""

    async def scenario() -> tuple[list[str], list[tuple[int, int]]]:
        db = Database(database_url)
        costs = []
        try:
            await db.create_schema()
            add, read = _ledger_statements(db, returning=True)
            for digests in (["alone"], ["before", "last"]):
                before = db.round_trips, db.statements
                with contextlib.suppress(RuntimeError):
                    async with db.transaction() as transaction:
                        *earlier, last = digests
                        for digest in earlier:
                            await transaction.rows(add, {"a": "0x1", "d": digest, "e": 1})
                        (row,) = await transaction.finish(add, {"a": "0x1", "d": last, "e": 1})
                        assert row["digest"] == last
                        assert transaction.committed
                        raise RuntimeError("after the commit")
                costs.append((db.round_trips - before[0], db.statements - before[1]))
            async with db.transaction() as transaction:
                rows = await transaction.rows(read, {})
            return [row["digest"] for row in rows], costs
        finally:
            await db.dispose()

    digests, costs = asyncio.run(scenario())
    assert digests == ["alone", "before", "last"]
    if database_url.startswith("sqlite"):
        assert costs == [(1, 3), (2, 4)]  # BEGIN IMMEDIATE, INSERT(s), COMMIT
    else:
        assert costs == [(1, 1), (4, 4)]


def test_a_batch_then_finishes_the_transaction(database_url: str) -> None:
    """`Transaction.batch(then=...)`: the statements `then` returns, from the batch's rows, are
    written with the COMMIT (on SQLite in the batch's own round trip); when one of them fails,
    the batch's statements are undone too; when it returns none, the transaction goes on."""
    from sqlalchemy.exc import IntegrityError

    async def scenario() -> tuple[list[str], tuple[int, int], list[list[str]]]:
        db = Database(database_url)
        try:
            await db.create_schema()
            add, read = _ledger_statements(db, returning=True)
            seen: list[list[str]] = []

            def then(results: Any) -> Any:
                seen.append([row["digest"] for row in results[0]])
                return [(add, {"a": "0x1", "d": results[0][0]["digest"] + "-then", "e": 1})]

            before = db.round_trips, db.statements
            async with db.transaction() as transaction:
                await transaction.batch((add, {"a": "0x1", "d": "a", "e": 1}), then=then)
            costs = db.round_trips - before[0], db.statements - before[1]
            with pytest.raises(IntegrityError):  # "a-then" exists: "b" is undone with it
                async with db.transaction() as transaction:
                    await transaction.batch(
                        (add, {"a": "0x1", "d": "b", "e": 1}),
                        then=lambda _: [(add, {"a": "0x1", "d": "a-then", "e": 1})],
                    )
            async with db.transaction() as transaction:
                await transaction.batch((add, {"a": "0x1", "d": "c", "e": 1}), then=lambda _: [])
                await transaction.rows(add, {"a": "0x1", "d": "d", "e": 1})
            async with db.transaction() as transaction:
                rows = await transaction.rows(read, {})
            return [row["digest"] for row in rows], costs, seen
        finally:
            await db.dispose()

    digests, (round_trips, statements), seen = asyncio.run(scenario())
    assert digests == ["a", "a-then", "c", "d"]
    assert seen == [["a"]]
    assert statements == 4  # BEGIN, INSERT, then's INSERT, COMMIT
    assert round_trips == (1 if database_url.startswith("sqlite") else 4)


def test_the_sqlite_write_turn_keeps_one_connection(tmp_path: Any) -> None:
    """SQLite's writers reuse the write turn's connection, which stays checked out between
    transactions (no checkout per write); one left invalid is replaced; `dispose` returns it."""

    async def scenario() -> tuple[list[Any], list[int]]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/turn.db")
        pool: Any = db.engine.pool
        drivers, checked_out = [], []
        try:
            await db.create_schema()
            add, _ = _ledger_statements(db, returning=False)
            for digest in ("a", "b"):
                async with db.transaction() as transaction:
                    drivers.append(transaction._driver)
                    transaction.later(add, {"a": "0x1", "d": digest, "e": 1})
                checked_out.append(pool.checkedout())
            async with db.autocommit() as transaction:
                drivers.append(transaction._driver)
                await transaction.invalidate()
            checked_out.append(pool.checkedout())
            async with db.transaction() as transaction:
                drivers.append(transaction._driver)
            checked_out.append(pool.checkedout())
        finally:
            await db.dispose()
        checked_out.append(pool.checkedout())
        return drivers, checked_out

    drivers, checked_out = asyncio.run(scenario())
    assert drivers[0] is drivers[1] is drivers[2]
    assert drivers[3] is not drivers[2]  # the invalidated one was replaced
    assert checked_out == [1, 1, 0, 1, 0]


def test_a_new_wallet_client_onboarding_writes_one_page_per_btree_it_must_touch(
    tmp_path: Any,
) -> None:
    """SQLite's share of an onboarding is mostly its write-ahead log: one frame per page
    changed. On a small database each table and index is one page, so the frames of one
    onboarding count the B-trees it writes (migration 0003): the two buckets' and their
    refill index, the ledger's and its expiry index, the profile's rowid table and its
    (wallet, exchange) key, the session's row (keyed by its id), its refresh-token key, its
    family, profile and expiry indexes; plus page 1, whose header holds the file's size.
    As rowid tables the text-keyed three cost one page more each, and an index of every
    session's API key one more."""
    import sqlite3

    database = tmp_path / "pages.db"
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{database}", env="dev"))

    def new_wallet() -> None:
        signer, ts = Signer(), fresh_timestamp(100)
        body = {"wallet": signer.address, "signature": signer.eip191(ts), "is_client": True}
        response = client.post("/onboarding", json=body, headers={"RBT-TS": str(ts)})
        assert response.status_code == 200

    with TestClient(app) as client:
        client.portal.call(app.state.services.db.create_schema)
        new_wallet()  # the client address's bucket exists from here on
        with contextlib.closing(sqlite3.connect(database)) as checkpointer:
            checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        new_wallet()
        wal = (tmp_path / "pages.db-wal").read_bytes()  # (the last connection to close removes it)
    frame = 24 + int.from_bytes(wal[8:12], "big")  # the WAL header gives the page size
    pages = [int.from_bytes(wal[at : at + 4], "big") for at in range(32, len(wal), frame)]
    assert len(pages) == len(set(pages)) <= 12, pages


def test_the_client_address_row_is_locked_for_one_statement_only(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every onboarding from one address updates that address's bucket row, and a row's lock is
    held to its transaction's end. On PostgreSQL the whole onboarding is one statement, sent
    outside any transaction (autocommitted): the lock lasts that statement, with no round trip or
    turn of the worker's loop inside it. SQLite has one writer at a time: there both tokens go
    first, in the onboarding's transaction."""
    sent: list[tuple[str, dict[str, Any], bool]] = []
    send = Transaction._send

    async def recorded(self: Transaction, steps: Any, end: Any, then: Any = None) -> Any:
        in_transaction = self._begin or self._open
        sent.extend((statement.sql, parameters, in_transaction) for statement, parameters in steps)
        return await send(self, steps, end, then)

    monkeypatch.setattr(Transaction, "_send", recorded)
    app = create_app(settings)
    with TestClient(app, client=("198.51.100.7", 4000)) as client:
        client.portal.call(app.state.services.db.create_schema)
        sent.clear()
        ok(onboard(client, **signed(Signer(), is_client=True)))

    def taking(prefix: str) -> list[int]:
        return [
            index
            for index, (_, parameters, _) in enumerate(sent)
            if any(str(value).startswith(prefix) for value in parameters.values())
        ]

    statements = [sql for sql, _, _ in sent]
    if settings.database_url.startswith("postgresql"):
        assert taking("ip:") == taking("wallet:") == [0], statements
        assert [in_transaction for _, _, in_transaction in sent] == [False], statements
        assert "INSERT INTO auth_sessions" in sent[0][0]
    else:
        assert taking("ip:") == taking("wallet:") == [0], statements
