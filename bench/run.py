"""`make bench`: the onboarding benchmarks of bench/README.md, and their ratios, in one run.

    python -m bench.run [--db sqlite|postgresql] [--seconds 15] [--connections 16] [--profile]

(a) the floor: one onboarding's raw primitives (coincurve recovery, one pyjwt HS256 token, one
committed single-row insert through sqlite3 or asyncpg); (b) new-wallet client onboarding over
HTTP, per target (`TARGETS`: the hand-written reference of bench/reference.py, GraphQL, legacy
REST), at 16 connections (wrk) and at one (`one_connection`); (c) re-onboarding profiles with
400 orders, 40 positions and 15 notifications; (d) each worker's peak RSS. Results go to
bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg
import jwt
from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from models.config import CURRENT_SIGN_IN_TEXT, DEFAULT_EXCHANGES
from models.wallet import eip191_digest, eip712_digest

from .seed import seed_heavy_profiles

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CLI = Path(sys.executable).with_name("onboarding-api")
PY_SPY = Path(sys.executable).with_name("py-spy")
POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
UNLIMITED = json.dumps({"burst": 1_000_000_000, "per_minute": 1_000_000_000})
THREADS = 2
REFERENCE_GUESS = 2500
"""Onboardings per second the reference is pre-signed for (it is measured first; the product's
targets are then pre-signed for twice the reference's measured rate)."""

ONBOARD = """mutation Onboard($input: OnboardInput!) {
  onboard(input: $input) {
    jwt refreshToken randomSecret
    apiSecret { key secret expiration status tag profileId }
    profile {
      id wallet exchangeId profileType status lastUpdate lastLiqCheck balance accountEquity
      totalPositionMargin totalOrderMargin totalNotional accountMargin withdrawableBalance
      cumUnrealizedPnl health accountLeverage cumTradingVolume
      leverage { marketId leverage }
      orders { id profileId clientOrderId marketId orderType side status timeInForce price
        triggerPrice size initialSize totalFilledSize sizePercent reason createdAt updatedAt
        timestamp }
      positions { id profileId marketId side size entryPrice fairPrice notional unrealizedPnl
        margin liquidationPrice }
      notifications { edges { node { id type title description createdAt } } }
    }
  }
}"""


@dataclass(frozen=True)
class Proof:
    wallet: str
    signature: str
    timestamp: int


@dataclass(frozen=True)
class Target:
    """One way to onboard over HTTP: how a proof becomes a request line for bench/requests.lua."""

    name: str
    path: str
    line: Callable[[Proof], str]

    def request(self, proof: Proof) -> tuple[list[tuple[str, str]], bytes]:
        """The headers (besides Host, Content-Type and Content-Length) and body that
        bench/requests.lua sends for `proof`: its line is "Name: value|Name: value<TAB>body"."""
        header_text, _, body = self.line(proof).partition("\t")
        pairs = [header.partition(": ") for header in header_text.split("|") if header]
        return [(name, value) for name, _, value in pairs], body.encode()


def graphql_line(proof: Proof) -> str:
    variables = {
        "input": {
            "wallet": proof.wallet,
            "signature": proof.signature,
            "timestamp": proof.timestamp,
            "isClient": True,
        }
    }
    return "\t" + json.dumps({"query": ONBOARD, "variables": variables}, separators=(",", ":"))


def legacy_line(proof: Proof) -> str:
    """`POST /onboarding` as a client sends it: the expiry in RBT-TS, `is_client: true`. The
    answer carries the whole profile, like the GraphQL query asking for every field."""
    body = {"wallet": proof.wallet, "signature": proof.signature, "is_client": True}
    return f"RBT-TS: {proof.timestamp}\t" + json.dumps(body, separators=(",", ":"))


def reference_line(proof: Proof) -> str:
    body = {"wallet": proof.wallet, "signature": proof.signature, "timestamp": proof.timestamp}
    return "\t" + json.dumps(body, separators=(",", ":"))


REFERENCE = Target("reference", "/onboarding", reference_line)
GRAPHQL = Target("graphql", "/graphql", graphql_line)
LEGACY = Target("legacy", "/onboarding", legacy_line)
TARGETS = [REFERENCE, GRAPHQL, LEGACY]


def address_of(key: PrivateKey) -> str:
    return "0x" + keccak(key.public_key.format(compressed=False)[1:])[-20:].hex()


def sign(key: PrivateKey, digest: bytes) -> str:
    """Recoverable secp256k1 (low-s, v 0/1), as official clients send it."""
    return "0x" + key.sign_recoverable(digest, hasher=None).hex()


def new_wallet_proofs(count: int, ahead: int = 590) -> list[Proof]:
    """`count` fresh wallets, each signing the current EIP-191 text once."""
    timestamp = int(time.time()) + ahead
    digest = eip191_digest(f"{CURRENT_SIGN_IN_TEXT}\n{timestamp}")
    keys = (PrivateKey(secrets.token_bytes(32)) for _ in range(count))
    return [Proof(address_of(key), sign(key, digest), timestamp) for key in keys]


def repeat_proofs(keys: list[PrivateKey]) -> Callable[[int], list[Proof]]:
    """Distinct proofs by the same wallets (new timestamps, both schemes), never the same twice."""

    def stream() -> Iterator[Proof]:
        now, rbx = int(time.time()), DEFAULT_EXCHANGES["rbx"]
        for ahead in range(590, 30, -1):
            timestamp = now + ahead
            for digest in (
                eip191_digest(f"{CURRENT_SIGN_IN_TEXT}\n{timestamp}"),
                eip712_digest(rbx, CURRENT_SIGN_IN_TEXT, timestamp),
            ):
                for key in keys:
                    yield Proof(address_of(key), sign(key, digest), timestamp)

    proofs = stream()
    return lambda count: list(itertools.islice(proofs, count))


# (a) ---------------------------------------------------------------------------------------


def floor(kind: str, dsn: str, iterations: int) -> dict[str, float]:
    """One onboarding's raw primitives, sequentially, in-process, none through our own layers:
    a coincurve recovery (and the keccak of the key), one pyjwt HS256 encode, one committed
    single-row insert through the plain driver (sqlite3 in WAL with synchronous=NORMAL, or
    asyncpg autocommitting). The floor is the inverse of their mean sum."""
    proofs = new_wallet_proofs(iterations)
    digest = eip191_digest(f"{CURRENT_SIGN_IN_TEXT}\n{proofs[0].timestamp}")
    signatures = [bytes.fromhex(proof.signature[2:]) for proof in proofs]
    secret = secrets.token_urlsafe(48)
    started = time.perf_counter()
    for signature in signatures:
        public = PublicKey.from_signature_and_message(signature, digest, hasher=None)
        keccak(public.format(compressed=False)[1:])
    recovery = time.perf_counter() - started
    started = time.perf_counter()
    for index in range(iterations):
        claims = {"sub": str(index), "sid": secrets.token_hex(16), "iat": 0, "exp": 172800}
        jwt.encode(claims, secret, algorithm="HS256")
    token = time.perf_counter() - started
    insert = (sqlite_inserts if kind == "sqlite" else postgres_inserts)(dsn, proofs)
    return {
        "per_second": iterations / (recovery + token + insert),
        "recovery_us": recovery / iterations * 1e6,
        "jwt_us": token / iterations * 1e6,
        "insert_us": insert / iterations * 1e6,
    }


FLOOR_TABLE = "CREATE TABLE floor (wallet TEXT PRIMARY KEY, signature TEXT NOT NULL)"


def sqlite_inserts(path: str, proofs: list[Proof]) -> float:
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(FLOOR_TABLE)
        started = time.perf_counter()
        for proof in proofs:
            connection.execute("INSERT INTO floor VALUES (?, ?)", (proof.wallet, proof.signature))
        return time.perf_counter() - started
    finally:
        connection.close()


def postgres_inserts(dsn: str, proofs: list[Proof]) -> float:
    async def run() -> float:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(FLOOR_TABLE)
            started = time.perf_counter()
            for proof in proofs:
                await connection.execute(
                    "INSERT INTO floor VALUES ($1, $2)", proof.wallet, proof.signature
                )
            return time.perf_counter() - started
        finally:
            await connection.close()

    return asyncio.run(run())


# Servers and databases ------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, work: Path, name: str) -> Iterator[str]:
    """A fresh database for one server run."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work}/{name}.db"
        return
    db_name = f"onboarding_bench_{name}_{os.getpid()}"
    asyncio.run(_admin(f'CREATE DATABASE "{db_name}"'))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{db_name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


def driver_dsn(url: str) -> str:
    """The database of a SQLAlchemy URL as the bare drivers name it: a path, or a libpq DSN."""
    if url.startswith("sqlite+aiosqlite:///"):
        return url.removeprefix("sqlite+aiosqlite:///")
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User + system CPU time the worker process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """VmHWM: the highest resident set size the worker process has had."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        (line,) = [row for row in status.splitlines() if row.startswith("VmHWM:")]
        return int(line.split()[1]) / 1024


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine so far (every core, /proc/stat): the load generator,
    the database server and anything else running count too."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL server processes (0 when the server
    runs elsewhere). A backend that exits takes its CPU time with it, so the figure is sound
    only while the pool keeps its connections through the run (as it now does)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            head, fields = stat.read_text().rsplit(")", 1)
            if head.endswith("(postgres"):
                total += int(fields.split()[11]) + int(fields.split()[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(
    url: str, work: Path, name: str, *, limits: bool = True, settings: dict[str, str] | None = None
) -> Iterator[Server]:
    """`onboarding-api serve --workers 1` in prod mode, logging at INFO to a file. The rate
    limiter runs but never refuses (`limits`), or is off; `settings` override any of that."""
    with socket_port() as port:
        pass
    env = {
        **os.environ,
        "ONBOARDING_ENV": "prod",
        "ONBOARDING_JWT_SECRET": secrets.token_urlsafe(48),
        "ONBOARDING_SECRETS_KEY": secrets.token_urlsafe(48),
        "ONBOARDING_DATABASE_URL": url,
        "ONBOARDING_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        "ONBOARDING_RATE_LIMIT_PER_IP": UNLIMITED if limits else "null",
        "ONBOARDING_RATE_LIMIT_PER_WALLET": UNLIMITED if limits else "null",
        **(settings or {}),
    }
    with (work / f"{name}.log").open("wb") as log:
        # `serve` refuses a database that is not at the release's schema revision.
        subprocess.run([str(CLI), "migrate"], env=env, stdout=log, stderr=log, check=True)
    command = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with running(command, env, work / f"{name}.log", port) as srv:
        yield srv


@contextlib.contextmanager
def reference_server(url: str, work: Path) -> Iterator[Server]:
    """bench/reference.py under uvicorn the default way (`uvicorn[standard]` picks uvloop and
    httptools itself), one worker."""
    with socket_port() as port:
        pass
    dsn = driver_dsn(url)
    env = {
        **os.environ,
        "BENCH_REFERENCE_DB": dsn if dsn.startswith("postgresql://") else f"sqlite:///{dsn}",
        "BENCH_REFERENCE_JWT_SECRET": secrets.token_urlsafe(48),
    }
    command = [sys.executable, "-m", "uvicorn", "bench.reference:app", "--port", str(port)]
    with running(
        [*command, "--workers", "1", "--no-access-log"], env, work / "reference.log", port
    ) as srv:
        yield srv


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], log_path: Path, port: int) -> Iterator[Server]:
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=HERE.parent)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, process)
            yield Server(base, process)
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield int(probe.getsockname()[1])


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited; see its log in bench/results")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{base}/healthz", timeout=1),  # noqa: S310
        ):
            return
        time.sleep(0.2)
    raise RuntimeError("the server did not come up within 60 s")


# (b), (c): load --------------------------------------------------------------------------


def wrk(
    base: str, target: Target, proofs: list[Proof], seconds: float, connections: int, work: Path
) -> dict[str, Any]:
    """Run wrk over pre-signed requests (each sent once) and return bench/requests.lua's JSON."""
    requests = work / f"requests-{target.name}-{len(proofs)}-{time.monotonic_ns()}.txt"
    requests.write_text("\n".join(target.line(proof) for proof in proofs) + "\n")
    threads = min(THREADS, connections)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "requests.lua"),
        base,
        "--",
        str(requests),
        "POST",
        target.path,
        str(threads),
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    requests.unlink()
    (line,) = [row for row in run.stdout.splitlines() if row.startswith("BENCH_JSON ")]
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    result["per_second"] = result["requests"] / result["seconds"]
    return result


def one_connection(
    base: str, target: Target, proofs: list[Proof], seconds: float
) -> dict[str, Any]:
    """The 1-connection figures, timed by this client: one keep-alive connection, each request
    sent when the last answer is in, timed from its first byte sent to its last byte read.

    Not wrk: on one connection its latency statistics contradict its own throughput (mean
    latency x requests came to 1.2-1.4x the run's duration, which no sequential client can
    reach; wg/wrk#114, #438), and its p99 was 5-7x what the worker's own access log allows
    (bench/README.md, "Fifth pass"). The answer is judged as bench/requests.lua judges it."""
    host, _, port = base.removeprefix("http://").partition(":")
    requests = [http_request(target, proof, host) for proof in proofs]
    latencies: list[float] = []
    errors, received, samples = 0, 0, list[str]()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = connection.makefile("rb")
        started = time.perf_counter()
        deadline = started + seconds
        for request in requests:
            sent = time.perf_counter()
            if sent >= deadline:
                break
            connection.sendall(request)
            status, body = read_response(reader)
            latencies.append((time.perf_counter() - sent) * 1000)
            received += len(body)
            if status != 200 or b'"errors"' in body:
                errors += 1
                if len(samples) < 3:
                    samples.append(f"{status} {body[:200].decode(errors='replace')}")
        elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "errors": errors,
        "socket_or_status_errors": 0,
        "ran_out": count == len(requests),
        **{f"p{p}_ms": latencies[min(count - 1, count * p // 100)] for p in (50, 90, 99)},
        "max_ms": latencies[-1],
        "mean_ms": sum(latencies) / count,
        "bytes": received,
        "samples": samples,
    }


def http_request(target: Target, proof: Proof, host: str) -> bytes:
    """The HTTP/1.1 request bench/requests.lua makes of `target.line(proof)`."""
    headers, payload = target.request(proof)
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (
        f"POST {target.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{lines}Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def read_response(reader: BinaryIO) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length (what every target sends): status, body."""
    status = int(reader.readline().split()[1])
    length = None
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("bench: an answer without Content-Length")
    return status, reader.read(length)


@contextlib.contextmanager
def profiler(srv: Server, work: Path, name: str, enabled: bool) -> Iterator[None]:
    """py-spy attached to the worker while the block runs (speedscope file in the results)."""
    if not enabled:
        yield
        return
    output = work / f"profile-{name}.speedscope.json"
    spy = subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(srv.process.pid),
            "--format",
            "speedscope",
            "--output",
            str(output),
            "--rate",
            "250",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(timeout=60)


# Report ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--db",
        choices=["all", "sqlite", "postgresql"],
        default="all",
        help="all: SQLite, and PostgreSQL too when BENCH_POSTGRES answers",
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--floor-iterations", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="py-spy the worker during (b)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (`apt-get install wrk`, or `make bench` as root)")
    kinds = [args.db] if args.db != "all" else ["sqlite"] + (["postgresql"] * postgres_answers())
    RESULTS.mkdir(exist_ok=True)
    for kind in kinds:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        work = Path(tempfile.mkdtemp(prefix=f"{stamp}-{kind}-", dir=RESULTS))
        report = measure(kind, args, work)
        (work / "results.json").write_text(json.dumps(report, indent=2))
        print_report(report, work)


def postgres_answers() -> bool:
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        print(f"bench: no PostgreSQL at {POSTGRES_ADMIN}; SQLite only (set BENCH_POSTGRES)")
        return False
    return True


def measure(kind: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every measurement for one database, in one run, so the ratios compare like with like."""
    report: dict[str, Any] = {"db": kind, "connections": args.connections}
    with database(kind, work, "floor") as url:
        report["floor"] = floor(kind, driver_dsn(url), args.floor_iterations)
    run = Run(args, kind, work, expected_rate=REFERENCE_GUESS)
    report.update(run.target(REFERENCE))
    reference = report["reference"], report["reference_one_connection"]
    run.expected_rate = max(2 * max(r["per_second"] for r in reference), 100)
    for target in (GRAPHQL, LEGACY):
        report.update(run.target(target))
    return report


@dataclass
class Run:
    args: argparse.Namespace
    kind: str
    work: Path
    expected_rate: float

    def load(
        self,
        srv: Server,
        target: Target,
        proofs: Callable[[int], list[Proof]],
        *,
        share: float = 1,
        connections: int | None = None,
        seconds: int | None = None,
    ) -> dict[str, Any]:
        """Warm up for 2 s, then measure; pre-sign 1.3x what the expected rate would need."""
        rate, seconds = self.expected_rate * share, seconds or self.args.seconds
        connections = connections or self.args.connections

        def run(batch: list[Proof], seconds: float) -> dict[str, Any]:
            if connections == 1:
                return one_connection(srv.base, target, batch, seconds)
            return wrk(srv.base, target, batch, seconds, connections, self.work)

        run(proofs(int(rate * 2.6)), 2)
        batch = proofs(int(rate * seconds * 1.3))
        database_cpu = postgres_cpu_seconds if self.kind == "postgresql" else lambda: 0.0
        cpu, machine, database = srv.cpu_seconds(), machine_cpu_seconds(), database_cpu()
        result = run(batch, seconds)
        per_request = 1000 / result["requests"]
        result["server_cpu_ms"] = (srv.cpu_seconds() - cpu) * per_request
        result["machine_cpu_ms"] = (machine_cpu_seconds() - machine) * per_request
        result["database_cpu_ms"] = (database_cpu() - database) * per_request
        # Little's law: requests in flight on average, at most the connections. More means the
        # latencies are not the ones the throughput was reached with (as wrk's at 1 connection).
        result["in_flight"] = result["per_second"] * result["mean_ms"] / 1000
        return result

    def target(self, target: Target) -> dict[str, Any]:
        """(b) for one target at 16 connections and at one, (c) on GraphQL, then (d)."""
        results: dict[str, Any] = {}
        name = target.name
        with database(self.kind, self.work, name) as url, self.server(target, url) as srv:
            with profiler(srv, self.work, name, self.args.profile):
                results[name] = self.load(srv, target, new_wallet_proofs)
            results[f"{name}_one_connection"] = self.load(
                srv,
                target,
                new_wallet_proofs,
                connections=1,
                seconds=max(5, self.args.seconds // 2),
            )
            if target is GRAPHQL:
                keys = asyncio.run(seed_heavy_profiles(url, profiles=self.args.connections))
                with profiler(srv, self.work, "heavy", self.args.profile):
                    results["heavy"] = self.load(srv, target, repeat_proofs(keys), share=0.1)
            results[f"{name}_peak_rss_mb"] = srv.peak_rss_mb()
        return results

    def server(self, target: Target, url: str) -> contextlib.AbstractContextManager[Server]:
        if target is REFERENCE:
            return reference_server(url, self.work)
        return server(url, self.work, target.name)


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    goal: str
    met: bool


def checks(report: dict[str, Any]) -> list[Check]:
    """Issue 10's targets, each a ratio or bound within this one run."""
    reference = report["reference"]
    found: list[Check] = []
    for target, least in ((GRAPHQL, 1.0), (LEGACY, 1.2)):
        run, one = report[target.name], report[f"{target.name}_one_connection"]
        share = run["per_second"] / reference["per_second"]
        p99 = run["p99_ms"] / reference["p99_ms"]
        found += [
            Check(f"{target.name} / reference (throughput)", share, f">= {least}", share >= least),
            Check(f"{target.name} p99 / reference p99", p99, "<= 1.5", p99 <= 1.5),
            Check(f"{target.name} p99 at 1 conn (ms)", one["p99_ms"], "<= 5", one["p99_ms"] <= 5),
            Check(
                f"{target.name} CPU / onboarding (ms)",
                run["server_cpu_ms"],
                "<= 1.2",
                run["server_cpu_ms"] <= 1.2,
            ),
            Check(
                f"{target.name} worker peak RSS (MB)",
                report[f"{target.name}_peak_rss_mb"],
                "<= 150",
                report[f"{target.name}_peak_rss_mb"] <= 150,
            ),
        ]
    heavy = report["heavy"]["server_cpu_ms"]
    found.append(Check("400/40/15 CPU / onboarding (ms)", heavy, "<= 15", heavy <= 15))
    return found


def print_report(report: dict[str, Any], work: Path) -> None:
    floor_run, connections = report["floor"], report["connections"]
    print(
        f"\nonboarding-api benchmarks on {report['db']}: one worker, pre-signed requests, "
        f"wrk at {connections} connections, bench.run.one_connection at 1"
    )
    print(
        f"(a) floor (raw primitives)      {floor_run['per_second']:7.0f} /s   recovery "
        f"{floor_run['recovery_us']:.0f} µs + JWT {floor_run['jwt_us']:.0f} µs + "
        f"committed insert {floor_run['insert_us']:.0f} µs"
    )
    rows = []
    for t in TARGETS:
        rows.append((f"(b) {t.name}, {connections} conns", report[t.name]))
        rows.append((f"    {t.name}, 1 conn", report[f"{t.name}_one_connection"]))
    rows.append((f"(c) 400/40/15 profile, {connections}", report["heavy"]))
    for name, run in rows:
        trouble = run["errors"] or run["ran_out"]
        print(
            f"{name:31} {run['per_second']:7.0f} /s   p50 {run['p50_ms']:7.2f} ms   "
            f"p99 {run['p99_ms']:7.2f} ms   in flight {run['in_flight']:5.2f}   "
            f"worker CPU {run['server_cpu_ms']:5.2f} ms/req   machine "
            f"{run['machine_cpu_ms']:5.2f}"
            + (f", database {run['database_cpu_ms']:4.2f}" if report["db"] == "postgresql" else "")
            + (f"   ERRORS {run['errors']} (results.json)" if trouble else "")
        )
    for t in TARGETS:
        print(f"(d) {t.name} worker peak RSS {report[f'{t.name}_peak_rss_mb']:11.1f} MB")
    print()
    for check in checks(report):
        print(
            f"    {check.name:36} {check.value:8.3f}   target {check.goal:7} "
            f"{'ok' if check.met else 'MISSED'}"
        )
    print(f"results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
