"""Onboarding rate limits over HTTP: 429 + Retry-After + RATE_LIMITED, per address and per wallet.

The test client's peer is a trusted proxy, so `X-Forwarded-For` picks the client address.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from ipaddress import ip_network
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings
from models.config import Rate
from tests.api.test_onboard import ONBOARD, ok, row_counts, signed
from tests.signing import Signer, fresh_timestamp

PROXY = "192.0.2.1"


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    settings.rate_limit_per_ip = Rate(burst=3, per_minute=1)
    settings.rate_limit_per_wallet = Rate(burst=2, per_minute=1)
    settings.trusted_proxies = (ip_network(PROXY),)
    app = create_app(settings)
    with TestClient(app, client=(PROXY, 4000)) as client:
        client.portal.call(app.state.services.db.create_schema)
        yield client


def onboard_from(client: TestClient, address: str, fields: dict[str, Any]) -> Any:
    return client.post(
        "/graphql",
        json={"query": ONBOARD, "variables": {"input": fields}},
        headers={"x-forwarded-for": address},
    )


def refusal(response: Any) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert response.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    assert 1 <= int(response.headers["retry-after"]) <= 60
    return dict(error)


def junk(signer: Signer) -> dict[str, Any]:
    fields = signed(signer, is_client=True)
    return {**fields, "signature": Signer().eip191(fields["timestamp"])}  # someone else's


def test_a_flood_from_one_address_is_refused_and_other_clients_are_served(
    limited: TestClient,
) -> None:
    for _ in range(3):  # every attempt counts, refused ones too
        assert onboard_from(limited, "203.0.113.5", junk(Signer())).status_code == 200
    services: Services = limited.app.state.services  # type: ignore[attr-defined]
    before = row_counts(limited, services)
    error = refusal(onboard_from(limited, "203.0.113.5", signed(Signer(), is_client=True)))
    assert "from this address" in error["message"]
    assert row_counts(limited, services) == before  # a refused onboarding writes nothing
    honest = onboard_from(limited, "203.0.113.6", signed(Signer(), is_client=True))
    assert honest.status_code == 200
    ok(honest.json())


def test_one_wallet_is_limited_whatever_address_it_comes_from(limited: TestClient) -> None:
    signer = Signer()
    for index in range(2):
        fields = signed(signer, is_client=True, ts=fresh_timestamp(100 + index))
        ok(onboard_from(limited, f"198.51.100.{index}", fields).json())
    fields = signed(signer, is_client=False, ts=fresh_timestamp(200))
    error = refusal(onboard_from(limited, "198.51.100.9", fields))
    assert "for this wallet" in error["message"]
    ok(onboard_from(limited, "198.51.100.9", signed(Signer(), is_client=True)).json())


def test_nobody_can_use_up_another_wallets_tokens(limited: TestClient) -> None:
    """Only proven onboardings take a wallet's token: forged attempts for it take none."""
    victim = Signer()
    for index in range(6):
        forged = onboard_from(limited, f"198.51.100.{index}", junk(victim)).json()
        assert forged["errors"][0]["extensions"]["code"] == "SIGNATURE_MISMATCH"
    ok(onboard_from(limited, "198.51.100.200", signed(victim, is_client=True)).json())


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings: Settings) -> None:
    settings.rate_limit_per_ip = Rate(burst=2, per_minute=1)
    app = create_app(settings)
    with TestClient(app, client=("198.51.100.50", 4000)) as client:
        client.portal.call(app.state.services.db.create_schema)
        for index in range(2):
            onboard_from(client, f"203.0.113.{index}", junk(Signer()))
        refusal(onboard_from(client, "203.0.113.99", signed(Signer(), is_client=True)))


def test_tokens_come_back(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the use case's clock, not the wall's: with a real 0.1 s refill a loaded machine took
    longer than that between two requests and the refusal never came (a flaky test)."""
    now = [time.time()]
    monkeypatch.setattr("models.onboarding.time", SimpleNamespace(time=lambda: now[0]))
    settings.rate_limit_per_ip = Rate(burst=1, per_minute=60)  # a token every second
    app = create_app(settings)
    with TestClient(app, client=("198.51.100.51", 4000)) as client:
        client.portal.call(app.state.services.db.create_schema)
        ok(onboard_from(client, "-", signed(Signer(), is_client=True)).json())
        now[0] += 0.5
        assert (
            refusal(onboard_from(client, "-", signed(Signer(), is_client=True)))["extensions"][
                "retryAfter"
            ]
            == 1
        )
        now[0] += 0.5
        ok(onboard_from(client, "-", signed(Signer(), is_client=True)).json())


def test_limits_can_be_switched_off(settings: Settings) -> None:
    settings.rate_limit_per_ip = None
    settings.rate_limit_per_wallet = None
    app = create_app(settings)
    signer = Signer()
    with TestClient(app) as client:
        client.portal.call(app.state.services.db.create_schema)
        for index in range(8):  # over the default wallet burst (5)
            fields = signed(signer, is_client=True, ts=fresh_timestamp(100 + index))
            ok(onboard_from(client, "-", fields).json())


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_RATE_LIMIT_PER_IP", '{"burst": 7, "per_minute": 2.5}')
    monkeypatch.setenv("ONBOARDING_RATE_LIMIT_PER_WALLET", "null")
    loaded = Settings()
    assert loaded.rate_limit_per_ip == Rate(burst=7, per_minute=2.5)
    assert loaded.rate_limit_per_wallet is None
    assert Settings.model_fields["rate_limit_per_wallet"].default == Rate(burst=5, per_minute=6)


def legacy_onboard_from(client: TestClient, address: str, signer: Signer, ahead: int) -> Any:
    ts = fresh_timestamp(ahead)
    return client.post(
        "/onboarding",
        json={"wallet": signer.address, "signature": signer.eip191(ts), "is_client": True},
        headers={"RBT-TS": str(ts), "x-forwarded-for": address},
    )


def test_the_legacy_route_shares_the_buckets_and_answers_in_its_envelope(
    limited: TestClient,
) -> None:
    signer = Signer()
    for ahead in (100, 101):  # the wallet's burst of 2, from two addresses
        assert legacy_onboard_from(limited, f"203.0.113.{ahead}", signer, ahead).status_code == 200
    refused = legacy_onboard_from(limited, "203.0.113.102", signer, 102)
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) == {"error", "pagination", "result", "success"}
    assert (body["success"], body["result"]) == (False, [])
    assert body["error"].startswith("RATE_LIMITED: ")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The per-address bucket is the one GraphQL uses too: 3 attempts, then 429 on either route.
    for ahead in (110, 111, 112):
        legacy_onboard_from(limited, "198.51.100.20", Signer(), ahead)
    graphql = onboard_from(limited, "198.51.100.20", signed(Signer(), is_client=True))
    refusal(graphql)


def test_a_legacy_429_validates_against_the_openapi_document(limited: TestClient) -> None:
    from openapi_core import OpenAPI

    from tests.api.test_legacy_openapi import check

    signer = Signer()
    for ahead in (100, 101):
        legacy_onboard_from(limited, "203.0.113.7", signer, ahead)
    refused = legacy_onboard_from(limited, "203.0.113.7", signer, 102)
    assert refused.status_code == 429
    check(OpenAPI.from_dict(limited.get("/openapi.json").json()), refused)


def replay_code(client: TestClient, address: str, fields: dict[str, Any]) -> str:
    body = onboard_from(client, address, fields).json()
    return str(body["errors"][0]["extensions"]["code"])


def test_replays_take_none_of_the_wallets_tokens(limited: TestClient) -> None:
    """A replayed proof is refused and writes nothing: the wallet's two tokens stay for its
    owner's next two proofs, however often its last one is replayed (as a client or not)."""
    signer = Signer()
    first = signed(signer, is_client=True, ts=fresh_timestamp(100))
    ok(onboard_from(limited, "198.51.100.1", first).json())
    for index in range(3):
        replay = {**first, "isClient": index % 2 == 0}
        assert replay_code(limited, f"198.51.100.{10 + index}", replay) == "SIGNATURE_REPLAYED"
    second = signed(signer, is_client=False, ts=fresh_timestamp(101))
    ok(onboard_from(limited, "198.51.100.2", second).json())
    error = refusal(
        onboard_from(
            limited, "198.51.100.3", signed(signer, is_client=True, ts=fresh_timestamp(102))
        )
    )
    assert "for this wallet" in error["message"]


def test_a_replay_is_answered_as_one_even_over_the_wallets_limit(limited: TestClient) -> None:
    """Over the wallet's limit a replay is still SIGNATURE_REPLAYED: no wait would make it work."""
    signer = Signer()
    proofs = [signed(signer, is_client=True, ts=fresh_timestamp(100 + i)) for i in range(2)]
    for index, fields in enumerate(proofs):
        ok(onboard_from(limited, f"198.51.100.{index}", fields).json())
    assert replay_code(limited, "198.51.100.7", proofs[0]) == "SIGNATURE_REPLAYED"
    fresh = signed(signer, is_client=True, ts=fresh_timestamp(102))
    assert "for this wallet" in refusal(onboard_from(limited, "198.51.100.8", fresh))["message"]


def test_a_refused_onboarding_counts_against_its_address_exactly_once(settings: Settings) -> None:
    """Four attempts from one address with a burst of four: two onboardings, one refused by the
    wallet's limit (its address token kept, and not taken twice), one more that still fits; the
    fifth does not."""
    settings.rate_limit_per_ip = Rate(burst=4, per_minute=1)
    settings.rate_limit_per_wallet = Rate(burst=2, per_minute=1)
    app = create_app(settings)
    with TestClient(app, client=("198.51.100.77", 4000)) as client:
        client.portal.call(app.state.services.db.create_schema)

        def attempt(signer: Signer, ahead: int) -> Any:
            fields = signed(signer, is_client=True, ts=fresh_timestamp(ahead))
            return client.post("/graphql", json={"query": ONBOARD, "variables": {"input": fields}})

        signer = Signer()
        ok(attempt(signer, 100).json())
        ok(attempt(signer, 101).json())
        assert "for this wallet" in refusal(attempt(signer, 102))["message"]
        ok(attempt(Signer(), 103).json())
        assert "from this address" in refusal(attempt(Signer(), 104))["message"]
