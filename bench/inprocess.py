"""CPU per onboarding with no network, no uvicorn and no load generator: the product's ASGI app
called in a loop in this process, for profiling and for before/after comparisons of one change.

    python -m bench.inprocess [--db sqlite|postgresql] [--target graphql|legacy|heavy]
                              [--requests 2000] [--concurrency 1] [--profile out.prof]

It builds the app as `serve` does (prod settings, the rate limiter on and counting, the
single-use ledger on, JSON logging at INFO to a file that is removed afterwards, multiprocess
metrics), runs its lifespan, pre-signs every proof before timing, then sends the requests one
after another (or `--concurrency` of them at a time, as 16 wrk connections would) and reports
this process's CPU time per request (`time.process_time`, all threads) and its peak and current
resident set size (`VmHWM`, `VmRSS`: what bench.run reads of the worker).
`make bench` remains the measurement of record; this is the microscope (cProfile with
`--profile`; read the file with `python -m pstats`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import uvloop

from .run import (
    GRAPHQL,
    LEGACY,
    UNLIMITED,
    Proof,
    Target,
    database,
    new_wallet_proofs,
    repeat_proofs,
)
from .seed import seed_heavy_profiles


def _environment(url: str) -> dict[str, str]:
    return {
        "ONBOARDING_ENV": "prod",
        "ONBOARDING_JWT_SECRET": secrets.token_urlsafe(48),
        "ONBOARDING_SECRETS_KEY": secrets.token_urlsafe(48),
        "ONBOARDING_DATABASE_URL": url,
        "ONBOARDING_LOG_LEVEL": "INFO",
        "ONBOARDING_RATE_LIMIT_PER_IP": UNLIMITED,
        "ONBOARDING_RATE_LIMIT_PER_WALLET": UNLIMITED,
    }


def _request(target: Target, proof: Proof) -> tuple[dict[str, Any], bytes]:
    """The ASGI scope and body wrk would send for `proof` (bench/requests.lua)."""
    extra, encoded = target.request(proof)
    headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
    headers += [(name.lower().encode(), value.encode()) for name, value in extra]
    headers.append((b"content-length", str(len(encoded)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": target.path,
        "raw_path": target.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    return scope, encoded


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(dict(scope, state={}), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def _send_all(app: Any, batch: list[tuple[dict[str, Any], bytes]], concurrency: int) -> None:
    """Every request, `concurrency` in flight at a time (each worker takes the next one)."""
    requests = iter(batch)

    async def worker() -> None:
        for scope, body in requests:
            status, answer = await _call(app, scope, body)
            if status != 200 or b'"errors"' in answer:
                raise SystemExit(f"refused ({status}): {answer[:300]!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _memory() -> dict[str, float]:
    """This process's peak and current resident set size in MB, and its threads (Linux)."""
    found: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[f"{name.lower()}_mb"] = round(int(value.split()[0]) / 1024, 1)
        elif name == "Threads":
            found["threads"] = int(value)
    return found


async def measure(
    url: str,
    target: Target,
    proofs: Callable[[int], list[Proof]],
    count: int,
    profile: str | None,
    log: TextIO,
    concurrency: int = 1,
) -> dict[str, float]:
    os.environ.update(_environment(url))
    from api.app import create_app
    from api.observability import configure_logging
    from api.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(log)
    await _migrate(url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        warm = [_request(target, proof) for proof in proofs(min(200, count))]
        batch = [_request(target, proof) for proof in proofs(count)]
        await _send_all(app, warm, concurrency)
        before = _memory()
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        await _send_all(app, batch, concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        after = _memory()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile or "")
    return {
        "requests": count,
        "concurrency": concurrency,
        "cpu_ms": cpu / count * 1000,
        "wall_ms": wall / count * 1000,
        "vmrss_mb_before": before["vmrss_mb"],
        **after,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--target", choices=("graphql", "legacy", "heavy"), default="graphql")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests in flight at a time (default 1)"
    )
    parser.add_argument("--profile", help="write a cProfile of the timed requests here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, database(args.db, Path(work), "inprocess") as url:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = work  # multiprocess metrics, as `serve` has them
        target = LEGACY if args.target == "legacy" else GRAPHQL
        proofs: Callable[[int], list[Proof]] = new_wallet_proofs
        if args.target == "heavy":
            proofs = repeat_proofs(asyncio.run(seed_heavy_profiles(url, profiles=16)))
        with Path(work, "server.log").open("a") as log:
            run = measure(url, target, proofs, args.requests, args.profile, log, args.concurrency)
            result = uvloop.run(run)  # the loop uvicorn runs the product on
    print(json.dumps({"db": args.db, "target": args.target, **result}))


async def _migrate(url: str) -> None:
    from models.db import Database

    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()


if __name__ == "__main__":
    main()
