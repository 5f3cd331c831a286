"""Real deployments in miniature: `onboarding-api serve` processes on free ports, a TCP proxy
that can take "the database" away, and SQL helpers to hold locks and check invariants.

Instances are started exactly as an operator starts them (the console script, settings from the
environment), so what these tests exercise is the deployed path, not an in-process shortcut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from models.config import DEFAULT_MARKETS
from tests.live_server import CLI, free_port
from tests.waiting import NotYet, eventually, eventually_async

CONSOLE_SCRIPT = str(CLI)
SERVICE_CONNECTIONS = "onboarding-api:%"
"""`application_name` of the service's connections (`onboarding-api:<worker pid>`)."""


def dsn(url: str) -> str:
    """asyncpg's spelling of a SQLAlchemy asyncpg URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Instance:
    """One `onboarding-api serve` process: a stateless instance on its own port."""

    def __init__(self, database_url: str, log_dir: Path, *, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"instance-{self.port}.log"
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("ONBOARDING_")
        }
        environment.update(
            ONBOARDING_DATABASE_URL=database_url,
            ONBOARDING_LOG_LEVEL="WARNING",
            # These tests hammer one wallet from one address on purpose; rate limits have their
            # own tests (tests/api/test_rate_limits.py) and would only hide what is tested here.
            ONBOARDING_RATE_LIMIT_PER_IP="null",
            ONBOARDING_RATE_LIMIT_PER_WALLET="null",
        )
        environment.update({f"ONBOARDING_{key.upper()}": value for key, value in env.items()})
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own console script
                [CONSOLE_SCRIPT, "serve", "--port", str(self.port), "--workers", str(workers)],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_serving(workers)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_until_serving(self, workers: int, within: float = 30.0) -> None:
        def serving() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"instance exited ({self.process.returncode}):\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200 and (
                    workers == 1 or len(self.worker_pids()) == workers
                )
            return False

        try:
            eventually(serving, within=within, what="the instance serving", every=0.1)
        except NotYet as late:
            self.stop()
            raise RuntimeError(f"{late}\n{self.log()}") from None

    def worker_pids(self) -> set[int]:
        """The processes that serve requests: uvicorn's workers, or the process itself."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.pid and fields[0] != "Z":
                    children.add(int(stat.parent.name))
        # uvicorn's supervisor also starts multiprocessing's resource tracker: not a worker.
        workers = {pid for pid in children if "spawn_main" in _cmdline(pid)}
        return workers or {self.pid}

    def signal(self, number: signal.Signals) -> None:
        self.process.send_signal(number)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@contextlib.contextmanager
def instances(
    database_url: str, log_dir: Path, count: int, **options: Any
) -> Iterator[list[Instance]]:
    started: list[Instance] = []
    try:
        for _ in range(count):
            started.append(Instance(database_url, log_dir, **options))
        yield started
    finally:
        for instance in started:
            instance.stop()


# --- HTTP ---------------------------------------------------------------------------------------


async def graphql(
    client: httpx.AsyncClient, instance: Instance, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        f"{instance.url}/graphql", json={"query": query, "variables": variables}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_client() -> httpx.AsyncClient:
    """Each concurrent request on its own connection (a pool large enough for the test)."""
    return httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=200, max_keepalive_connections=0)
    )


def error_code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


# --- SQL ----------------------------------------------------------------------------------------


async def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn(url), timeout=5)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
        return rows
    finally:
        await connection.close()


async def scalar(url: str, query: str, *args: Any) -> Any:
    (row,) = await sql(url, query, *args)
    return row[0]


@contextlib.asynccontextmanager
async def table_locked(url: str, table: str) -> AsyncIterator[None]:
    """Hold an EXCLUSIVE lock: reads go on, every write to `table` queues behind it.

    Tests use it to line concurrent requests up at the same statement (a race made certain,
    not hoped for) or to keep a transaction in flight while something happens to its worker.
    """
    connection = await asyncpg.connect(dsn(url), timeout=5)
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def blocked_backends(
    url: str, at_least: int, *, from_each: Iterable[int] = (), within: float = 15.0
) -> list[int]:
    """Wait until `at_least` of the service's connections, including one from each worker pid
    in `from_each`, wait on a lock; the worker pids of all that wait."""
    wanted = set(from_each)
    seen: list[int] = []

    async def waiting() -> list[int]:
        rows = await sql(
            url,
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND application_name LIKE $1",
            SERVICE_CONNECTIONS,
        )
        seen[:] = [int(row[0].split(":", 1)[1]) for row in rows]
        return seen if len(seen) >= at_least and wanted <= set(seen) else []

    try:
        return await eventually_async(waiting, within=within, what="requests waiting on a lock")
    except NotYet:
        raise AssertionError(
            f"{len(seen)} requests from workers {sorted(set(seen))} reached the database; "
            f"wanted {at_least} including workers {sorted(wanted)}"
        ) from None


async def terminate_service_connections(url: str) -> int:
    """`pg_terminate_backend` every connection the service holds to this (throwaway) database,
    returning once their backends have exited (so each has said goodbye to its worker)."""
    rows = await sql(
        url,
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name LIKE $1",
        SERVICE_CONNECTIONS,
    )
    terminated = [row[0] for row in rows if row[1]]

    async def exited() -> bool:
        alive = "SELECT pid FROM pg_stat_activity WHERE pid = ANY($1)"
        return not await sql(url, alive, terminated)

    await eventually_async(exited, within=10, what=f"backends {terminated} exited", every=0.01)
    return len(terminated)


async def broken_invariants(url: str) -> dict[str, int]:
    """Counts of rows that should not exist, by broken rule: `{}` when the database is
    consistent."""
    markets = sorted(DEFAULT_MARKETS)
    checks = {
        "profiles missing a market's default leverage": (
            "SELECT count(*) FROM profiles WHERE NOT (leverage::jsonb ?& $1::text[])",
            markets,
        ),
        "duplicate profiles for one (wallet, exchange)": (
            "SELECT count(*) FROM (SELECT 1 FROM profiles GROUP BY wallet, exchange_id "
            "HAVING count(*) > 1) AS duplicates",
        ),
        "sessions without a profile": (
            "SELECT count(*) FROM auth_sessions s LEFT JOIN profiles p ON p.id = s.profile_id "
            "WHERE p.id IS NULL",
        ),
        "profiles without the session that created them": (
            "SELECT count(*) FROM profiles p WHERE NOT EXISTS "
            "(SELECT 1 FROM auth_sessions s WHERE s.profile_id = p.id)",
        ),
        "spent signatures without a profile": (
            "SELECT count(*) FROM used_signatures u WHERE NOT EXISTS "
            "(SELECT 1 FROM profiles p WHERE p.wallet = u.address)",
        ),
        # Every onboarding spends one proof and opens one session that starts a family, in one
        # transaction (a refresh opens a session in an existing family and spends no proof).
        "spent signatures minus onboarding sessions": (
            "SELECT abs((SELECT count(*) FROM used_signatures) - "
            "(SELECT count(*) FROM auth_sessions WHERE family_id = id))",
        ),
    }
    counts = {name: int(await scalar(url, *query)) for name, query in checks.items()}
    return {name: count for name, count in counts.items() if count}


# --- the database, taken away and given back ----------------------------------------------------


class TcpProxy:
    """`127.0.0.1:<port>` → PostgreSQL, run on its own thread, that a test can break.

    - `cut()`: close the listener and reset every open connection (the server is gone: new
      connections are refused at once, in-flight queries fail);
    - `freeze()`: keep connections open but forward nothing (a network partition: packets
      vanish, only timeouts notice);
    - `restore()`: serve again on the same port.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._call(self._listen())

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._flowing.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._open.discard(writer)
            writer.transport.abort()
            return
        self._open.add(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._open.discard(writer)
            writer.transport.abort()

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        self._flowing.set()

    async def _freeze(self) -> None:
        self._flowing.clear()

    def cut(self) -> None:
        self._call(self._cut())

    def freeze(self) -> None:
        self._call(self._freeze())

    def restore(self) -> None:
        """Back to normal; after a freeze the stalled connections are reset, as a real
        partition's would be by the time it heals."""
        self._call(self._cut())
        self._call(self._listen())

    def close(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
