"""Real Safe wallets (npm `@safe-global/safe-contracts` 1.4.1) and how their owners sign.

A Safe answers ERC-1271 `isValidSignature(bytes32 digest, bytes signatures)` through its
CompatibilityFallbackHandler: the handler hashes `digest` into the Safe's own EIP-712 message hash
(domain `{chainId, verifyingContract: safe}`, type `SafeMessage(bytes message)` over the 32 bytes
of `digest`) and `checkSignatures` wants `threshold` owner signatures of that hash, each 65 bytes
`r‖s‖v` (v 27/28: a plain ECDSA signature of the hash), ordered by owner address, ascending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from .node import Anvil, call_data, safe_artifact

SAFE_DOMAIN_TYPEHASH = keccak(b"EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_MESSAGE_TYPEHASH = keccak(b"SafeMessage(bytes message)")
ERC6492_SUFFIX = bytes.fromhex("6492" * 16)
ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class SafeDeployment:
    """The singleton, proxy factory and fallback handler, deployed once per node."""

    singleton: str
    factory: str
    fallback_handler: str

    @classmethod
    def deploy(cls, node: Anvil) -> SafeDeployment:
        return cls(
            singleton=node.deploy(safe_artifact("Safe.sol/Safe.json")),
            factory=node.deploy(
                safe_artifact("proxies/SafeProxyFactory.sol/SafeProxyFactory.json")
            ),
            fallback_handler=node.deploy(
                safe_artifact(
                    "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"
                )
            ),
        )

    def factory_call(self, owners: Sequence[LocalAccount], threshold: int, salt: int) -> bytes:
        """`createProxyWithNonce(singleton, setup(owners, threshold, …), salt)`."""
        initializer = call_data(
            "setup(address[],uint256,address,bytes,address,address,uint256,address)",
            [
                "address[]",
                "uint256",
                "address",
                "bytes",
                "address",
                "address",
                "uint256",
                "address",
            ],
            [
                [o.address for o in owners],
                threshold,
                ZERO,
                b"",
                self.fallback_handler,
                ZERO,
                0,
                ZERO,
            ],
        )
        return call_data(
            "createProxyWithNonce(address,bytes,uint256)",
            ["address", "bytes", "uint256"],
            [self.singleton, initializer, salt],
        )


@dataclass(frozen=True)
class Safe:
    address: str
    owners: tuple[LocalAccount, ...]
    chain_id: int
    factory: str
    factory_call: bytes

    @classmethod
    def create(
        cls,
        node: Anvil,
        deployment: SafeDeployment,
        owners: Sequence[LocalAccount],
        threshold: int,
        *,
        salt: int,
        deploy: bool = True,
    ) -> Safe:
        """A Safe of `owners`; with `deploy=False` only its (CREATE2) address, nothing on chain."""
        factory_call = deployment.factory_call(owners, threshold, salt)
        predicted = node.call(deployment.factory, factory_call)[12:32]
        safe = cls(
            address=to_checksum_address(predicted),
            owners=tuple(owners),
            chain_id=node.chain_id,
            factory=deployment.factory,
            factory_call=factory_call,
        )
        if deploy:
            node.send(deployment.factory, factory_call)
            assert node.code(safe.address), "the Safe proxy was not deployed"
        return safe

    def message_hash(self, digest: bytes) -> bytes:
        """What the owners sign for `isValidSignature(digest, …)` (CompatibilityFallbackHandler)."""
        domain = keccak(
            encode(
                ["bytes32", "uint256", "address"],
                [SAFE_DOMAIN_TYPEHASH, self.chain_id, self.address],
            )
        )
        message = keccak(encode(["bytes32", "bytes32"], [SAFE_MESSAGE_TYPEHASH, keccak(digest)]))
        return bytes(keccak(b"\x19\x01" + domain + message))

    def sign(self, digest: bytes, signers: Sequence[LocalAccount] | None = None) -> bytes:
        """The owners' signatures over the Safe message hash of `digest`, sorted by owner."""
        chosen = sorted(
            signers if signers is not None else self.owners, key=lambda o: int(o.address, 16)
        )
        message_hash = self.message_hash(digest)
        return b"".join(bytes(o.unsafe_sign_hash(message_hash).signature) for o in chosen)

    def wrap_6492(self, signature: bytes) -> bytes:
        """ERC-6492: `abi.encode(factory, factoryCalldata, signature) ‖ magic suffix`."""
        return (
            encode(["address", "bytes", "bytes"], [self.factory, self.factory_call, signature])
            + ERC6492_SUFFIX
        )


def owners(count: int, seed: str) -> tuple[LocalAccount, ...]:
    """Deterministic owner keys, so failures reproduce."""
    return tuple(Account.from_key(keccak(f"{seed}/{index}".encode())) for index in range(count))
