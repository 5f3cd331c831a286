"""Several stateless instances on one PostgreSQL database: the invariants hold across them.

Each "instance" is a real `onboarding-api serve` process on its own port, so a request is known
to land on the instance it is sent to (two instances on two ports model N workers behind a load
balancer exactly: they share nothing but the database). Races are made certain, not hoped for:
a test holds a table lock until the competing requests from both instances are queued at the
same statement in PostgreSQL (their connections name their worker's pid), then lets them go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.test_onboard import ONBOARD, signed
from tests.api.test_sessions import REFRESH
from tests.cluster import (
    Instance,
    blocked_backends,
    broken_invariants,
    dsn,
    error_code,
    graphql,
    instances,
    new_client,
    scalar,
    table_locked,
)
from tests.conftest import migrate_database, throwaway_postgres_database
from tests.signing import Signer, fresh_timestamp, with_v

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """One migrated throwaway database for this module's instances."""
    with throwaway_postgres_database() as url:
        migrate_database(url)
        yield url


@pytest.fixture(scope="module")
def two_instances(
    shared_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Instance]]:
    """Two single-worker instances on two ports; small pools, so 40 requests also queue for
    connections, as they would in production under a burst."""
    with instances(
        shared_database, tmp_path_factory.mktemp("logs"), 2, db_pool_size="5"
    ) as started:
        yield started


def pids(started: list[Instance]) -> set[int]:
    return {instance.pid for instance in started}


def onboarding(signer: Signer, ts: int, *, is_client: bool = True) -> dict[str, Any]:
    return {"input": signed(signer, is_client=is_client, ts=ts)}


def test_forty_concurrent_onboardings_of_one_wallet_give_one_profile(
    two_instances: list[Instance], shared_database: str
) -> None:
    signer = Signer()
    base = fresh_timestamp()
    # Clients and market makers alike, each with its own proof (a proof onboards once).
    inputs = [onboarding(signer, base + i, is_client=i % 2 == 0) for i in range(40)]

    async def burst() -> tuple[list[dict[str, Any]], list[int]]:
        async with new_client() as client:
            async with table_locked(shared_database, "profiles"):
                requests = [
                    asyncio.ensure_future(graphql(client, two_instances[i % 2], ONBOARD, body))
                    for i, body in enumerate(inputs)
                ]
                # Both instances' transactions found no profile and now wait to insert one.
                waiting = await blocked_backends(shared_database, 8, from_each=pids(two_instances))
            return list(await asyncio.gather(*requests)), waiting

    bodies, waiting = asyncio.run(burst())
    assert set(waiting) == pids(two_instances)
    assert [error_code(body) for body in bodies] == [None] * 40
    assert len({body["data"]["onboard"]["profile"]["id"] for body in bodies}) == 1
    wallet = signer.address.lower()
    assert (
        asyncio.run(
            scalar(shared_database, "SELECT count(*) FROM profiles WHERE wallet = $1", wallet)
        )
        == 1
    )
    market_maker_keys = {
        body["data"]["onboard"]["apiSecret"]["key"]
        for body in bodies
        if body["data"]["onboard"]["apiSecret"] is not None
    }
    assert len(market_maker_keys) == 1, "one onboarding API key per wallet, under any race"
    assert asyncio.run(broken_invariants(shared_database)) == {}


def test_a_signature_spent_on_one_instance_cannot_be_replayed_on_another(
    two_instances: list[Instance], shared_database: str
) -> None:
    first, second = two_instances
    signer = Signer()
    proof = onboarding(signer, fresh_timestamp())

    async def sequential() -> list[str | None]:
        async with new_client() as client:
            spent = await graphql(client, first, ONBOARD, proof)
            replayed = await graphql(client, second, ONBOARD, proof)
            # Rewriting v (27/28 → 0/1) is the same proof, not a new one.
            rewritten = {
                "input": {**proof["input"], "signature": with_v(proof["input"]["signature"], 0)}
            }
            malleated = await graphql(client, second, ONBOARD, rewritten)
        return [error_code(spent), error_code(replayed), error_code(malleated)]

    assert asyncio.run(sequential()) == [None, "SIGNATURE_REPLAYED", "SIGNATURE_REPLAYED"]

    race = onboarding(Signer(), fresh_timestamp())

    async def simultaneous() -> list[str]:
        async with new_client() as client:
            async with table_locked(shared_database, "used_signatures"):
                requests = [
                    asyncio.ensure_future(graphql(client, instance, ONBOARD, race))
                    for instance in two_instances
                ]
                waiting = await blocked_backends(shared_database, 2, from_each=pids(two_instances))
            bodies = await asyncio.gather(*requests)
        assert set(waiting) == pids(two_instances)
        return sorted(str(error_code(body)) for body in bodies)

    assert asyncio.run(simultaneous()) == ["None", "SIGNATURE_REPLAYED"]


def test_two_refreshes_of_one_token_on_two_instances_have_one_winner(
    two_instances: list[Instance], shared_database: str
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], str]:
        async with new_client() as client:
            session = await graphql(
                client, two_instances[0], ONBOARD, onboarding(Signer(), fresh_timestamp())
            )
            token = session["data"]["onboard"]["refreshToken"]
            async with table_locked(shared_database, "auth_sessions"):
                requests = [
                    asyncio.ensure_future(graphql(client, instance, REFRESH, {"token": token}))
                    for instance in two_instances
                ]
                waiting = await blocked_backends(shared_database, 2, from_each=pids(two_instances))
                assert set(waiting) == pids(two_instances)
            profile_id = session["data"]["onboard"]["profile"]["id"]
            return list(await asyncio.gather(*requests)), profile_id

    bodies, profile_id = asyncio.run(scenario())
    winners = [body for body in bodies if error_code(body) is None]
    assert len(winners) == 1
    assert sorted(map(str, map(error_code, bodies))) == ["None", "REFRESH_TOKEN_REUSED"]
    successors = asyncio.run(
        scalar(
            shared_database,
            "SELECT count(*) FROM auth_sessions WHERE profile_id = $1 AND family_id <> id",
            int(profile_id),
        )
    )
    assert successors == 1, "exactly one session replaced the refreshed one"


def test_serve_runs_the_requested_number_of_workers(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    with instances(migrated_postgres_url, tmp_path, 1, workers=2) as (instance,):
        workers = instance.worker_pids()
        assert len(workers) == 2
        assert instance.pid not in workers

        async def load() -> list[str | None]:
            signer = Signer()
            base = fresh_timestamp()
            async with new_client() as client:
                bodies = await asyncio.gather(
                    *(
                        graphql(client, instance, ONBOARD, onboarding(signer, base + i))
                        for i in range(20)
                    )
                )
            return [error_code(body) for body in bodies]

        assert asyncio.run(load()) == [None] * 20
        assert httpx.get(f"{instance.url}/readyz").status_code == 200


def test_a_profile_created_elsewhere_during_an_onboarding_is_taken_over_in_its_statement(
    two_instances: list[Instance], shared_database: str
) -> None:
    """The race the one-statement admission must settle itself: the wallet's profile is not in
    the statement's snapshot, yet another transaction (here a bare connection, standing in for
    another host) has inserted it and commits while the statement waits on the unique key. The
    onboarding answers with that profile, as an existing one (its notification read, not taken
    for a new profile's empty lists), and its session is written for it."""
    signer = Signer()
    wallet = signer.address.lower()

    async def scenario() -> tuple[dict[str, Any], int]:
        other = await asyncpg.connect(dsn(shared_database), timeout=5)
        try:
            async with new_client() as client:
                transaction = other.transaction()
                await transaction.start()
                profile_id = await other.fetchval(
                    "INSERT INTO profiles (wallet, exchange_id, profile_type, status, balance,"
                    " cum_trading_volume, leverage, last_update, last_liq_check, created_at)"
                    " VALUES ($1, 'rbx', 'trader', 'active', 7, 0, '{}', 1, 0, 1) RETURNING id",
                    wallet,
                )
                await other.execute(
                    "INSERT INTO notifications (profile_id, type, title, description, created_at)"
                    " VALUES ($1, 'info', 'made elsewhere', '', 1)",
                    profile_id,
                )
                body = onboarding(signer, fresh_timestamp())
                answer = asyncio.ensure_future(graphql(client, two_instances[0], ONBOARD, body))
                await blocked_backends(shared_database, 1, from_each={two_instances[0].pid})
                await transaction.commit()
                return await answer, profile_id
        finally:
            await other.close()

    body, profile_id = asyncio.run(scenario())
    assert error_code(body) is None, body
    profile = body["data"]["onboard"]["profile"]
    assert (profile["id"], profile["balance"]) == (str(profile_id), "7")
    assert len(profile["notifications"]["edges"]) == 1
    sessions = "SELECT count(*) FROM auth_sessions WHERE profile_id = $1"
    assert asyncio.run(scalar(shared_database, sessions, profile_id)) == 1
