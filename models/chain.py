"""The chain port: the few read-only questions contract-wallet proofs ask an EVM node.

Onboarding never sends a transaction. It asks for a wallet's code (`eth_getCode`) and runs
calls (`eth_call`) against the latest block, all of one proof in one round trip. The adapter
(`models.chain_rpc`) speaks JSON-RPC over HTTP; tests run the same adapter against a real anvil.

A call that executes and fails is an answer (`Failed`), the wallet contract's verdict. A node that
cannot be reached, is too slow, or answers something that is not JSON-RPC raises
`ChainUnavailable`: the proof could not be checked, nothing is written, the client may retry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from .errors import AppError, ErrorCode
from .wallet import ProofKind

CHAIN_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True, slots=True)
class GetCode:
    """`eth_getCode(address, "latest")`."""

    address: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """`eth_call({to, data, gas}, "latest")`; `to=None` runs `data` as creation code."""

    to: bytes | None
    data: bytes


Query = GetCode | Call


@dataclass(frozen=True, slots=True)
class Returned:
    """The query executed; its return data (for `GetCode`, the code)."""

    data: bytes


class Failure(StrEnum):
    REVERTED = "reverted"
    """Reverted, or halted on an invalid instruction: `detail` says which."""
    OUT_OF_GAS = "out_of_gas"


@dataclass(frozen=True, slots=True)
class Failed:
    """The call executed and failed; `data` is the revert data (empty when none was given)."""

    failure: Failure
    detail: str
    data: bytes = b""


Answer = Returned | Failed


class ChainUnavailable(AppError):
    """CHAIN_UNAVAILABLE: the node could not answer, so the proof could not be checked."""

    def __init__(self, chain_id: int, why: str) -> None:
        super().__init__(
            ErrorCode.CHAIN_UNAVAILABLE,
            f"cannot check the contract wallet's signature: the node for chain {chain_id} {why}; "
            f"retry in {CHAIN_RETRY_AFTER_SECONDS} s",
            retry_after=CHAIN_RETRY_AFTER_SECONDS,
        )


class Chain(Protocol):
    """One chain's node, read-only."""

    chain_id: int

    async def ask(self, queries: Sequence[Query]) -> list[Answer]:
        """Answers in the order of `queries`, or raise `ChainUnavailable`."""
        ...

    async def close(self) -> None: ...


def _ignore(_: ProofKind) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Chains:
    """The configured nodes by chain id, and who hears how each onboarding was proven."""

    by_id: Mapping[int, Chain] = field(default_factory=dict)
    on_onboarded: Callable[[ProofKind], None] = _ignore

    def get(self, chain_id: int) -> Chain | None:
        return self.by_id.get(chain_id)

    def supports(self, chain_id: int) -> bool:
        return chain_id in self.by_id

    async def close(self) -> None:
        for chain in self.by_id.values():
            await chain.close()


NO_CHAINS = Chains()
"""No node configured: contract wallets are refused with CONTRACT_WALLET_UNSUPPORTED."""
