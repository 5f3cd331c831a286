"""Metrics stay right with several real worker processes (prometheus-client multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.api.metrics_helpers import Samples, parse, total
from tests.conftest import migrate_database
from tests.live_server import CLI, free_port, wait_until_ready
from tests.signing import Signer, fresh_timestamp
from tests.waiting import eventually


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`onboarding-api serve --workers 2` on a free port, with a stale metrics file to clean."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over from an earlier run")
    port = free_port()
    env = {
        **os.environ,
        "ONBOARDING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/onboarding.db",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "ONBOARDING_LOG_LEVEL": "WARNING",
        "ONBOARDING_RATE_LIMIT_PER_IP": "null",  # every request comes from 127.0.0.1
    }
    migrate_database(env["ONBOARDING_DATABASE_URL"])  # `serve` refuses an unmigrated database
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(CLI), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
        yield base, metrics_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def served_by_worker(metrics_dir: Path, route: str) -> dict[str, float]:
    """Requests each worker counted (one counter file per worker process)."""
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                if sample.name == "onboarding_http_requests_total" and (
                    sample.labels["route"] == route
                ):
                    counts[path.name] = counts.get(path.name, 0) + sample.value
    return counts


@pytest.mark.slow
def test_totals_are_exact_across_two_workers(server: tuple[str, Path]) -> None:
    base, metrics_dir = server
    assert not (metrics_dir / "counter_1.db").exists()  # cleaned when the server started

    def get(_: int) -> int:
        return httpx.get(f"{base}/healthz", timeout=10).status_code  # a new connection each

    def ask_clock(_: int) -> int:
        response = httpx.post(
            f"{base}/graphql", json={"query": "query Clock { serverTime }"}, timeout=10
        )
        return response.status_code

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while sent < 2000:
            assert set(pool.map(get, range(50))) == {200}
            sent += 50
            if len([n for n in served_by_worker(metrics_dir, "/healthz").values() if n]) >= 2:
                break
        assert set(pool.map(ask_clock, range(30))) == {200}

    # A worker counts a request just after its answer has left, so under load a scrape may
    # come a moment before the last few are counted: the totals must become exact, never more.
    def all_counted() -> Samples | None:
        samples = parse(httpx.get(f"{base}/metrics", timeout=10).text)
        counted = total(samples, "onboarding_http_requests_total", route="/healthz")
        assert counted <= sent
        return samples if counted == sent else None

    samples = eventually(all_counted, within=10, what=f"{sent} /healthz requests counted")
    per_worker = served_by_worker(metrics_dir, "/healthz")
    assert len([n for n in per_worker.values() if n]) == 2, per_worker  # requests spread
    assert sum(per_worker.values()) == sent
    assert (
        total(samples, "onboarding_graphql_operations_total", operation="Clock", outcome="ok") == 30
    )
    assert total(samples, "onboarding_db_statements_total") >= 1  # readiness pings, any worker


def test_two_workers_onboard_at_once_on_one_sqlite_file(server: tuple[str, Path]) -> None:
    """Each worker's write turn meets the other's write lock: it waits with its loop running
    (`models.db`, "The write turn on the loop") instead of failing or stopping the worker, so
    every onboarding is served, by both workers."""
    base, metrics_dir = server

    def onboard(signer: Signer) -> int:
        ts = fresh_timestamp()
        body = {"wallet": signer.address, "signature": signer.eip191(ts), "is_client": True}
        headers = {"RBT-TS": str(ts)}
        return httpx.post(f"{base}/onboarding", json=body, headers=headers, timeout=30).status_code

    def both_wrote() -> bool:
        served = served_by_worker(metrics_dir, "/onboarding").values()
        return len([n for n in served if n >= 10]) == 2  # a fair share each

    codes: list[int] = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(10):
            codes += pool.map(onboard, [Signer() for _ in range(48)])
            if both_wrote():
                break
    assert set(codes) == {200}
    assert both_wrote()
