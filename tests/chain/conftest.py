"""Fixtures of the contract-wallet tests: one anvil node per session (chain id 1, rbx's EIP-712
chain), the Safe contracts and the misbehaving wallets deployed on it, and the app configured
with that node behind a request-counting proxy, on each database engine.

Where anvil is not installed or does not start, the tests skip with the reason; under CI=true
they fail instead (`make test` installs it: tests/chain/package.json)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings

from .node import HERE, NODE_MODULES, Anvil, CountingProxy, anvil_binary, compile_contracts
from .safes import Safe, SafeDeployment, owners

MISBEHAVING = (
    "RevertingWallet",
    "WrongMagicWallet",
    "GarbageWallet",
    "SilentWallet",
    "LoopingWallet",
)


MODELS_CONTRACTS = Path(__file__).resolve().parents[2] / "models" / "contracts"


def _no_chain(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the contract-wallet tests against anvil, but {reason}")
    pytest.skip(reason)


def require_chain_tools() -> None:
    """anvil, solc-js and the Safe artifacts: `make test` installs them (tests/chain)."""
    if not (NODE_MODULES / ".installed").exists():
        _no_chain("tests/chain is not installed (run `make test`, which installs it)")


def start_anvil() -> Anvil:
    require_chain_tools()
    binary = anvil_binary()
    if binary is None:
        _no_chain("the npm package @foundry-rs/anvil has no binary for this platform")
    assert binary is not None
    try:
        return Anvil.start(binary, chain_id=1)
    except (OSError, RuntimeError) as error:
        _no_chain(f"anvil did not start: {error}")
        raise


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def proxy(anvil: Anvil) -> Iterator[CountingProxy]:
    counting = CountingProxy(anvil.url)
    try:
        yield counting
    finally:
        counting.close()


@dataclass(frozen=True)
class Wallets:
    one_of_one: Safe
    two_of_three: Safe
    counterfactual: Safe
    misbehaving: dict[str, str]


@pytest.fixture(scope="session")
def wallets(anvil: Anvil) -> Wallets:
    deployment = SafeDeployment.deploy(anvil)
    keys = owners(4, "safe-owner")
    bytecodes = compile_contracts(HERE / "contracts" / "MisbehavingWallets.sol")
    return Wallets(
        one_of_one=Safe.create(anvil, deployment, keys[:1], 1, salt=1),
        two_of_three=Safe.create(anvil, deployment, keys[1:4], 2, salt=2),
        counterfactual=Safe.create(anvil, deployment, keys[:1], 1, salt=3, deploy=False),
        misbehaving={name: anvil.deploy(bytecodes[name]) for name in MISBEHAVING},
    )


def chain_settings(database_url: str, rpc_url: str, **overrides: object) -> Settings:
    return Settings(
        database_url=database_url,
        env="dev",
        chain_rpc_urls={1: SecretStr(rpc_url)},
        **overrides,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def serving(settings: Settings, peer: str = "testclient") -> Iterator[TestClient]:
    """The app with its lifespan running and its schema created, called from `peer`."""
    app = create_app(settings)
    with TestClient(app, client=(peer, 4000)) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        yield test_client


@pytest.fixture
def chain_client(database_url: str, proxy: CountingProxy) -> Iterator[TestClient]:
    """The app with rbx's chain (1) served by the session's anvil, through the counting proxy."""
    with serving(chain_settings(database_url, proxy.url)) as test_client:
        yield test_client


@pytest.fixture
def chain_services(chain_client: TestClient) -> Services:
    services: Services = chain_client.app.state.services  # type: ignore[attr-defined]
    return services
