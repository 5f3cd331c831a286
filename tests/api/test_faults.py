"""Faults survived: the database going away and coming back, connections cut during load, a
worker killed mid-transaction, a graceful shutdown with a request in flight.

The shared PostgreSQL server is never stopped (other test runs use it): "the database is down"
is a TCP proxy this test owns between the instance and the server, and cut connections are
`pg_terminate_backend` of this test's throwaway database only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from sqlalchemy.engine import make_url

from tests.api.test_onboard import ONBOARD, signed
from tests.api.test_sessions import ME
from tests.cluster import (
    TcpProxy,
    blocked_backends,
    broken_invariants,
    error_code,
    graphql,
    instances,
    new_client,
    scalar,
    table_locked,
    terminate_service_connections,
)
from tests.signing import Signer, fresh_timestamp
from tests.waiting import eventually

pytestmark = pytest.mark.slow


def onboarding(signer: Signer | None = None, ts: int | None = None) -> dict[str, Any]:
    return {"input": signed(signer or Signer(), is_client=True, ts=ts or fresh_timestamp())}


def session_id(body: dict[str, Any]) -> str:
    token = body["data"]["onboard"]["jwt"]
    sid: str = pyjwt.decode(token, options={"verify_signature": False})["sid"]
    return sid


async def stored_sessions(url: str, bodies: list[dict[str, Any]]) -> int:
    ids = [session_id(body) for body in bodies]
    return int(await scalar(url, "SELECT count(*) FROM auth_sessions WHERE id = ANY($1)", ids))


async def stored_traces(url: str, wallet: str) -> int:
    """Rows of any kind an onboarding of `wallet` would have written."""
    return int(
        await scalar(
            url,
            "SELECT (SELECT count(*) FROM profiles WHERE wallet = $1) "
            "+ (SELECT count(*) FROM used_signatures WHERE address = $1)",
            wallet,
        )
    )


@pytest.fixture
def proxy(migrated_postgres_url: str) -> Iterator[TcpProxy]:
    target = make_url(migrated_postgres_url)
    gateway = TcpProxy(target.port or 5432, target.host or "127.0.0.1")
    yield gateway
    gateway.close()


def through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def test_database_down_fails_fast_and_the_service_recovers_without_restart(
    migrated_postgres_url: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    timeouts = {"db_connect_timeout": "3", "db_statement_timeout": "2"}
    url = through(proxy, migrated_postgres_url)
    with instances(url, tmp_path, 1, **timeouts) as (instance,):

        async def call(query: str, variables: dict[str, Any], **headers: str) -> Any:
            async with new_client() as client:
                started = time.monotonic()
                response = await client.post(
                    f"{instance.url}/graphql",
                    json={"query": query, "variables": variables},
                    headers=headers,
                )
                return response.json(), time.monotonic() - started

        def ready() -> int:
            return httpx.get(f"{instance.url}/readyz", timeout=10).status_code

        before, _ = asyncio.run(call(ONBOARD, onboarding()))
        jwt = before["data"]["onboard"]["jwt"]
        assert ready() == 200

        # The server is gone: connections are refused, open ones reset.
        proxy.cut()
        body, took = asyncio.run(call(ONBOARD, onboarding()))
        assert error_code(body) == "SERVICE_UNAVAILABLE"
        assert took < 2, f"refused connections must fail at once, not time out: {took:.2f}s"
        body, _ = asyncio.run(call(ME, {}, Authorization=f"Bearer {jwt}"))
        assert error_code(body) == "SERVICE_UNAVAILABLE"
        readiness = httpx.get(f"{instance.url}/readyz", timeout=10)
        assert (readiness.status_code, readiness.json()["database"]) == (503, "unreachable")
        assert httpx.get(f"{instance.url}/healthz").status_code == 200

        recover(proxy, ready)

        # A partition: nothing answers, nothing is refused; the timeouts bound the wait.
        proxy.freeze()
        body, took = asyncio.run(call(ONBOARD, onboarding()))
        assert error_code(body) == "SERVICE_UNAVAILABLE"
        assert took < 2 + 3 + 2, f"a partition must fail within the timeouts, took {took:.2f}s"
        assert ready() == 503

        recover(proxy, ready)
        again, _ = asyncio.run(call(ME, {}, Authorization=f"Bearer {jwt}"))
        assert again["data"]["me"]["id"] == before["data"]["onboard"]["profile"]["id"]
        assert instance.process.poll() is None, "recovered without a restart"
    assert asyncio.run(broken_invariants(migrated_postgres_url)) == {}


def recover(proxy: TcpProxy, ready: Any) -> None:
    proxy.restore()
    eventually(lambda: ready() == 200, within=10, what="readiness back", every=0.1)


def test_connections_cut_during_load_break_no_invariant(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    url = migrated_postgres_url
    with instances(url, tmp_path, 2, db_pool_size="4") as pair:

        async def cut_in_flight() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
            """Transactions certainly in flight (queued on a lock) when their connections die."""
            proofs = [onboarding() for _ in range(8)]
            async with new_client() as client:
                async with table_locked(url, "auth_sessions"):
                    requests = [
                        asyncio.ensure_future(graphql(client, pair[i % 2], ONBOARD, proof))
                        for i, proof in enumerate(proofs)
                    ]
                    await blocked_backends(url, 8, from_each=[i.pid for i in pair])
                    terminated = await terminate_service_connections(url)
                bodies = list(await asyncio.gather(*requests))
            return proofs, bodies, terminated

        proofs, bodies, terminated = asyncio.run(cut_in_flight())
        assert terminated >= 8
        assert [error_code(body) for body in bodies] == ["SERVICE_UNAVAILABLE"] * 8
        logs = "".join(instance.log() for instance in pair)
        assert "terminating connection due to administrator command" in logs
        assert asyncio.run(broken_invariants(url)) == {}

        async def load_while_cutting() -> tuple[list[dict[str, Any]], list[int]]:
            """Free-running load from 30 wallets while every connection is cut three times."""
            wallets = [Signer() for _ in range(30)]
            base = fresh_timestamp()
            gate = asyncio.Semaphore(12)
            async with new_client() as client:

                async def one(n: int) -> dict[str, Any]:
                    async with gate:
                        proof = onboarding(wallets[n % 30], base + n)
                        return await graphql(client, pair[n % 2], ONBOARD, proof)

                async def cutter() -> list[int]:
                    counts = []
                    for _ in range(3):
                        await asyncio.sleep(0.3)
                        counts.append(await terminate_service_connections(url))
                    return counts

                *results, cuts = await asyncio.gather(*(one(n) for n in range(150)), cutter())
            return results, cuts

        results, cuts = asyncio.run(load_while_cutting())
        outcomes = Counter(error_code(body) for body in results)
        assert set(outcomes) <= {None, "SERVICE_UNAVAILABLE"}, outcomes
        assert sum(cuts) > 0, "the cuts hit live connections"
        succeeded = [body for body in results if error_code(body) is None]
        assert asyncio.run(stored_sessions(url, succeeded)) == len(succeeded)

        # Nothing of the killed transactions was kept: their proofs were never spent.
        async def retry() -> list[str | None]:
            async with new_client() as client:
                again = [
                    await graphql(client, pair[i % 2], ONBOARD, proof)
                    for i, proof in enumerate(proofs)
                ]
            return [error_code(body) for body in again]

        assert asyncio.run(retry()) == [None] * 8
        assert all(instance.process.poll() is None for instance in pair)
    assert asyncio.run(broken_invariants(url)) == {}
    wallets = asyncio.run(scalar(url, "SELECT count(DISTINCT wallet) FROM profiles"))
    assert asyncio.run(scalar(url, "SELECT count(*) FROM profiles")) == wallets


def test_a_worker_killed_mid_onboarding_leaves_no_partial_rows(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    url = migrated_postgres_url
    # A pool of 8: the 12 requests may all land on one worker, and 8 must reach the database.
    with instances(url, tmp_path, 1, workers=2, db_pool_size="8") as (instance,):
        signers = [Signer() for _ in range(12)]
        proofs = [onboarding(signer) for signer in signers]

        async def kill_mid_transaction() -> tuple[list[Any], int, int]:
            async with new_client() as client:
                async with table_locked(url, "auth_sessions"):
                    # Each onboarding's statement (the whole transaction, on PostgreSQL) has
                    # reached the server and waits for the sessions table.
                    requests = [
                        asyncio.ensure_future(graphql(client, instance, ONBOARD, proof))
                        for proof in proofs
                    ]
                    waiting = await blocked_backends(url, 8)
                    victim, in_flight = Counter(waiting).most_common(1)[0]
                    assert victim in instance.worker_pids()
                    os.kill(victim, signal.SIGKILL)
                results = await asyncio.gather(*requests, return_exceptions=True)
            return results, in_flight, victim

        results, in_flight, victim = asyncio.run(kill_mid_transaction())
        lost = [i for i, result in enumerate(results) if isinstance(result, Exception)]
        assert all(isinstance(results[i], httpx.TransportError) for i in lost)
        assert len(lost) >= in_flight >= 1
        served = [result for result in results if not isinstance(result, Exception)]
        assert [error_code(body) for body in served] == [None] * len(served)

        assert asyncio.run(broken_invariants(url)) == {}
        assert asyncio.run(stored_sessions(url, served)) == len(served)
        for i in lost:
            assert asyncio.run(stored_traces(url, signers[i].address.lower())) == 0

        # uvicorn replaced the worker; the lost onboardings' proofs were never spent.
        eventually(
            lambda: len(instance.worker_pids()) == 2,
            within=15,
            what="the killed worker replaced",
            every=0.1,
        )
        died = [json.loads(line) for line in instance.log().splitlines() if " died" in line]
        assert f"Child process [{victim}] died" in [line["msg"] for line in died]
        assert {line["level"] for line in died} == {"warning"}

        async def retry() -> list[str | None]:
            async with new_client() as client:
                return [
                    error_code(await graphql(client, instance, ONBOARD, proofs[i])) for i in lost
                ]

        assert asyncio.run(retry()) == [None] * len(lost)
    assert asyncio.run(broken_invariants(url)) == {}


@pytest.mark.parametrize("workers", [1, 2])
def test_graceful_shutdown_lets_in_flight_requests_finish(
    migrated_postgres_url: str, tmp_path: Path, workers: int
) -> None:
    """And then exits 0, with one worker as with several (uvicorn alone would end 143)."""
    url = migrated_postgres_url
    with instances(url, tmp_path, 1, workers=workers) as (instance,):

        async def stop_during_a_request() -> tuple[dict[str, Any], bool]:
            async with new_client() as client:
                async with table_locked(url, "auth_sessions"):
                    request = asyncio.ensure_future(
                        graphql(client, instance, ONBOARD, onboarding())
                    )
                    await blocked_backends(url, 1)
                    instance.signal(signal.SIGTERM)
                    await asyncio.sleep(1.0)
                    still_running = instance.process.poll() is None
                return await request, still_running

        body, still_running = asyncio.run(stop_during_a_request())
        assert still_running, "the server waited for its in-flight request"
        assert error_code(body) is None
        assert instance.process.wait(timeout=15) == 0
        assert asyncio.run(stored_sessions(url, [body])) == 1
