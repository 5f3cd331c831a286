"""Contract wallets onboard against a real node: Safes (ERC-1271), a counterfactual Safe (ERC-6492),
wallet contracts that misbehave, a node that stops; on both routes and both database engines."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.messages import SignableMessage, encode_defunct, encode_typed_data
from eth_hash.auto import keccak
from starlette.testclient import TestClient

from api.services import Services
from models.config import CURRENT_SIGN_IN_TEXT, LEGACY_SIGN_IN_TEXT
from tests.api.test_onboard import ONBOARD, row_counts
from tests.conftest import graphql
from tests.signing import Signer, fresh_timestamp, typed_data

from .conftest import Wallets, chain_settings, serving, start_anvil
from .node import Anvil, CountingProxy
from .safes import Safe, SafeDeployment, owners

ROUTES = ("graphql", "legacy")
EXCHANGES = "{ exchanges { id contractWallets } }"


def digest_of(message: SignableMessage) -> bytes:
    """What a wallet signs for a message, as eth-account hashes it (EIP-191 envelope)."""
    return bytes(keccak(b"\x19" + message.version + message.header + message.body))


def eip191_digest(timestamp: int, text: str = CURRENT_SIGN_IN_TEXT) -> bytes:
    return digest_of(encode_defunct(text=f"{text}\n{timestamp}"))


def eip712_digest(timestamp: int) -> bytes:
    return digest_of(encode_typed_data(full_message=typed_data(CURRENT_SIGN_IN_TEXT, timestamp)))


@dataclass(frozen=True)
class Outcome:
    code: str | None
    message: str = ""
    profile_id: int | None = None
    wallet: str | None = None
    status: int = 200
    retry_after: str | None = None


def attempt(
    client: TestClient, route: str, wallet: str, signature: bytes | str, timestamp: int
) -> Outcome:
    """One client onboarding on `route`; what the client saw."""
    text = signature if isinstance(signature, str) else "0x" + signature.hex()
    if route == "graphql":
        response = client.post(
            "/graphql",
            json={
                "query": ONBOARD,
                "variables": {
                    "input": {
                        "wallet": wallet,
                        "signature": text,
                        "timestamp": timestamp,
                        "isClient": True,
                    }
                },
            },
        )
        body: dict[str, Any] = response.json()
        retry_after = response.headers.get("retry-after")
        if body.get("errors"):
            (error,) = body["errors"]
            return Outcome(
                error["extensions"]["code"],
                error["message"],
                None,
                None,
                response.status_code,
                retry_after,
            )
        profile = body["data"]["onboard"]["profile"]
        return Outcome(None, "", int(profile["id"]), profile["wallet"], response.status_code)
    response = client.post(
        "/onboarding",
        json={"wallet": wallet, "signature": text, "is_client": True},
        headers={"RBT-TS": str(timestamp)},
    )
    envelope = response.json()
    if not envelope["success"]:
        code, _, message = envelope["error"].partition(": ")
        return Outcome(
            code, message, None, None, response.status_code, response.headers.get("retry-after")
        )
    profile = envelope["result"][0]["profile"]
    return Outcome(None, "", int(profile["id"]), profile["wallet"], response.status_code)


def refused(outcome: Outcome, code: str, *fragments: str) -> None:
    assert outcome.code == code, outcome
    assert outcome.status < 500 or code == "CHAIN_UNAVAILABLE", outcome
    for fragment in fragments:
        assert fragment in outcome.message, outcome


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_deployed_safe_onboards_and_keeps_its_profile(
    chain_client: TestClient, chain_services: Services, wallets: Wallets, route: str
) -> None:
    safe = wallets.one_of_one
    first_ts = fresh_timestamp()
    first = attempt(chain_client, route, safe.address, safe.sign(eip191_digest(first_ts)), first_ts)
    assert first.code is None, first
    assert first.wallet == safe.address.lower()
    # A second onboarding (a new message, signed over the EIP-712 form this time): same profile.
    second_ts = first_ts + 1
    second = attempt(
        chain_client, route, safe.address, safe.sign(eip712_digest(second_ts)), second_ts
    )
    assert second.code is None, second
    assert second.profile_id == first.profile_id
    counts = row_counts(chain_client, chain_services)
    assert counts["profiles"] == 1
    assert counts["used_signatures"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_every_configured_sign_in_text_works_for_a_safe(
    chain_client: TestClient, wallets: Wallets, route: str
) -> None:
    safe = wallets.one_of_one
    ts = fresh_timestamp()
    signature = safe.sign(eip191_digest(ts, LEGACY_SIGN_IN_TEXT))
    assert attempt(chain_client, route, safe.address, signature, ts).code is None


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_safe_refuses_a_signature_by_someone_else_and_nothing_is_written(
    chain_client: TestClient, chain_services: Services, wallets: Wallets, route: str
) -> None:
    safe = wallets.one_of_one
    stranger = owners(1, "not-an-owner")
    ts = fresh_timestamp()
    outcome = attempt(chain_client, route, safe.address, safe.sign(eip191_digest(ts), stranger), ts)
    # What the contract answered replaces the recovered-address hint of the ECDSA path.
    refused(outcome, "CONTRACT_WALLET_REVERTED", "GS026", "isValidSignature", safe.address)
    assert "was made by" not in outcome.message
    assert set(row_counts(chain_client, chain_services).values()) == {0}


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_two_of_three_safe_needs_two_owners(
    chain_client: TestClient, chain_services: Services, wallets: Wallets, route: str
) -> None:
    safe = wallets.two_of_three
    ts = fresh_timestamp()
    digest = eip191_digest(ts)
    one = attempt(chain_client, route, safe.address, safe.sign(digest, safe.owners[:1]), ts)
    refused(one, "CONTRACT_WALLET_REVERTED", "GS020")
    assert set(row_counts(chain_client, chain_services).values()) == {0}
    two = attempt(chain_client, route, safe.address, safe.sign(digest, safe.owners[1:]), ts)
    assert two.code is None, two
    assert two.wallet == safe.address.lower()


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_counterfactual_safe_onboards_by_erc6492_and_stays_undeployed(
    chain_client: TestClient, anvil: Anvil, wallets: Wallets, route: str
) -> None:
    safe = wallets.counterfactual
    assert anvil.code(safe.address) == b""
    ts = fresh_timestamp()
    wrapped = safe.wrap_6492(safe.sign(eip191_digest(ts)))
    outcome = attempt(chain_client, route, safe.address, wrapped, ts)
    assert outcome.code is None, outcome
    assert outcome.wallet == safe.address.lower()
    assert anvil.code(safe.address) == b"", "verification must not deploy anything"
    # Without the wrapping the wallet has no code: only a key could have signed for it.
    bare_ts = ts + 1
    bare = attempt(chain_client, route, safe.address, safe.sign(eip191_digest(bare_ts)), bare_ts)
    refused(bare, "SIGNATURE_MISMATCH", "has no code", "ERC-6492")


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_counterfactual_safe_refuses_a_stranger(
    chain_client: TestClient, chain_services: Services, wallets: Wallets, route: str
) -> None:
    safe = wallets.counterfactual
    ts = fresh_timestamp()
    wrapped = safe.wrap_6492(safe.sign(eip191_digest(ts), owners(1, "not-an-owner")))
    outcome = attempt(chain_client, route, safe.address, wrapped, ts)
    refused(outcome, "CONTRACT_WALLET_REVERTED", "universal validator", "GS026")
    assert set(row_counts(chain_client, chain_services).values()) == {0}


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("contract", "code", "says"),
    [
        ("RevertingWallet", "CONTRACT_WALLET_REVERTED", "this wallet refuses every signature"),
        ("WrongMagicWallet", "CONTRACT_WALLET_WRONG_ANSWER", "0xffffffff"),
        ("GarbageWallet", "CONTRACT_WALLET_WRONG_ANSWER", "0xdeadbeefdeadbe"),
        ("SilentWallet", "CONTRACT_WALLET_NO_ANSWER", "returned nothing"),
        ("LoopingWallet", "CONTRACT_WALLET_OUT_OF_GAS", "gas"),
    ],
)
def test_a_misbehaving_wallet_contract_is_refused_with_its_code(
    chain_client: TestClient,
    chain_services: Services,
    wallets: Wallets,
    route: str,
    contract: str,
    code: str,
    says: str,
) -> None:
    address = wallets.misbehaving[contract]
    ts = fresh_timestamp()
    outcome = attempt(chain_client, route, address, b"\x01" * 96, ts)
    refused(outcome, code, says)
    assert set(row_counts(chain_client, chain_services).values()) == {0}


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_safe_signature_is_single_use(
    chain_client: TestClient, wallets: Wallets, route: str
) -> None:
    safe = wallets.one_of_one
    ts = fresh_timestamp()
    signature = safe.sign(eip191_digest(ts))
    assert attempt(chain_client, route, safe.address, signature, ts).code is None
    refused(attempt(chain_client, route, safe.address, signature, ts), "SIGNATURE_REPLAYED")


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_key_holder_never_waits_on_the_node(
    chain_client: TestClient, proxy: CountingProxy, wallets: Wallets, route: str
) -> None:
    signer = Signer()
    ts = fresh_timestamp()
    before = proxy.requests
    outcome = attempt(chain_client, route, signer.address, signer.eip191(ts), ts)
    assert outcome.code is None, outcome
    assert proxy.requests == before, "the ECDSA path must not call the node"
    # The proof of a Safe is one round trip, its code and every candidate digest in one batch.
    safe = wallets.one_of_one
    assert attempt(chain_client, route, safe.address, safe.sign(eip191_digest(ts)), ts).code is None
    assert proxy.requests == before + 1


@pytest.mark.slow
def test_the_per_ip_rate_limit_is_taken_before_any_chain_call(
    database_url: str, proxy: CountingProxy, wallets: Wallets
) -> None:
    settings = chain_settings(
        database_url, proxy.url, rate_limit_per_ip={"burst": 1, "per_minute": 1}
    )
    safe = wallets.one_of_one
    with serving(settings, peer="192.0.2.7") as client:
        ts = fresh_timestamp()
        assert (
            attempt(client, "graphql", safe.address, safe.sign(eip191_digest(ts)), ts).code is None
        )
        before = proxy.requests
        second = attempt(client, "legacy", safe.address, safe.sign(eip191_digest(ts + 1)), ts + 1)
        refused(second, "RATE_LIMITED")
        assert proxy.requests == before


@pytest.mark.slow
def test_the_exchanges_say_which_accept_contract_wallets(chain_client: TestClient) -> None:
    body = graphql(chain_client, EXCHANGES)
    assert body["data"]["exchanges"] == [
        {"id": "bfx", "contractWallets": False},
        {"id": "rbx", "contractWallets": True},
    ]


@pytest.mark.slow
def test_proofs_are_counted_by_kind_and_chain_calls_timed(
    chain_client: TestClient, wallets: Wallets
) -> None:
    def sample(name: str, **labels: str) -> float:
        for line in chain_client.get("/metrics").text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    proofs = "onboarding_onboard_proofs_total"
    calls = "onboarding_chain_call_duration_seconds_count"
    before = {kind: sample(proofs, kind=kind) for kind in ("ecdsa", "eip1271", "eip6492")}
    timed = sample(calls, chain_id="1", outcome="ok")
    ts = fresh_timestamp()
    signer = Signer()
    assert attempt(chain_client, "graphql", signer.address, signer.eip191(ts), ts).code is None
    safe, later = wallets.one_of_one, wallets.counterfactual
    assert (
        attempt(chain_client, "legacy", safe.address, safe.sign(eip191_digest(ts)), ts).code is None
    )
    wrapped = later.wrap_6492(later.sign(eip191_digest(ts)))
    assert attempt(chain_client, "graphql", later.address, wrapped, ts).code is None
    for kind in ("ecdsa", "eip1271", "eip6492"):
        assert sample(proofs, kind=kind) == before[kind] + 1, kind
    assert sample(calls, chain_id="1", outcome="ok") == timed + 2


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_stopped_node_is_chain_unavailable_and_nothing_is_written(
    database_url: str, route: str
) -> None:
    node = start_anvil()
    try:
        deployment = SafeDeployment.deploy(node)
        safe = Safe.create(node, deployment, owners(1, "stopped-node"), 1, salt=7)
        with serving(chain_settings(database_url, node.url)) as client:
            services: Services = client.app.state.services  # type: ignore[attr-defined]
            ts = fresh_timestamp()
            ok = attempt(client, route, safe.address, safe.sign(eip191_digest(ts)), ts)
            assert ok.code is None, ok
            counts = row_counts(client, services)
            node.stop()  # mid-run: the service still holds its connection to the node
            down = attempt(client, route, safe.address, safe.sign(eip191_digest(ts + 1)), ts + 1)
            refused(down, "CHAIN_UNAVAILABLE", "chain 1", "retry")
            assert down.status == (503 if route == "legacy" else 200)
            assert down.retry_after is not None
            assert int(down.retry_after) >= 1
            assert row_counts(client, services) == counts
            # Key holders are not affected: their proof never needed the node.
            signer = Signer()
            assert attempt(client, route, signer.address, signer.eip191(ts), ts).code is None
    finally:
        node.stop()


@pytest.mark.slow
def test_the_rpc_url_is_never_logged(
    database_url: str, proxy: CountingProxy, wallets: Wallets, caplog: pytest.LogCaptureFixture
) -> None:
    """Hosted nodes carry the API key in the URL; the proxy serves any path."""
    caplog.set_level(logging.DEBUG)
    secret = "v3/0123456789abcdef-api-key"
    safe = wallets.one_of_one
    with serving(chain_settings(database_url, f"{proxy.url}/{secret}")) as client:
        ts = fresh_timestamp()
        assert (
            attempt(client, "legacy", safe.address, safe.sign(eip191_digest(ts)), ts).code is None
        )
        stranger = safe.sign(eip191_digest(ts + 1), owners(1, "not-an-owner"))
        refused(
            attempt(client, "graphql", safe.address, stranger, ts + 1), "CONTRACT_WALLET_REVERTED"
        )
    assert caplog.records, "nothing was logged at all: the test would prove nothing"
    assert secret not in caplog.text
