"""Proof that the caller owns a wallet by ECDSA: pure functions, no I/O.

The signed text is `f"{sign_in_text}\\n{timestamp}"` (EIP-191 `personal_sign`) or the EIP-712
typed data `signin{message: sign_in_text, timestamp}`; every configured text is tried under both
schemes, most common first. The digests are built from keccak here (fast: the EIP-712 domain
separator and text hashes are cached); tests pin them to eth-account's own encoders. Contract
wallets prove the same digests through their contract (`models.contract_wallets`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import coincurve
from eth_utils.address import to_checksum_address
from sha3 import keccak_256

from .config import Exchange
from .errors import AppError, ErrorCode, bad_input

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

EIP712_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId)"
SIGNIN_TYPE = "signin(string message,uint256 timestamp)"
ECDSA_SIGNATURE_BYTES = 65
MAX_SIGNATURE_HEX_DIGITS = 8192
"""A contract wallet's signature may be longer than 65 bytes: up to 8 KiB of hex (4 KiB), room
for an EIP-6492-wrapped multisig or passkey signature with its factory call."""


class ProofKind(StrEnum):
    """How a wallet proved itself (also the metric label of onboardings by proof)."""

    ECDSA = "ecdsa"
    EIP1271 = "eip1271"
    EIP6492 = "eip6492"


@dataclass(frozen=True, slots=True)
class Signature:
    """A parsed, canonical (low-s) secp256k1 signature."""

    r: int
    s: int
    recovery_id: int  # 0 or 1, whichever of v ∈ {0, 1, 27, 28} was sent

    def recoverable_bytes(self) -> bytes:
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.recovery_id])


@dataclass(frozen=True, slots=True)
class WalletProof:
    """A verified proof: who signed, and which digest (the replay ledger's key)."""

    address: bytes
    digest: bytes
    scheme: str
    kind: ProofKind = ProofKind.ECDSA


def _hex_body(text: object, field: str, hex_digits: int) -> str:
    if not isinstance(text, str):
        raise bad_input(f"{field} must be a string")
    body = text[2:] if text[:2] in ("0x", "0X") else None
    if body is None or len(body) != hex_digits or not _HEX_DIGITS.issuperset(body):
        raise bad_input(f"{field} must be 0x followed by {hex_digits} hex digits")
    return body


def parse_wallet(text: object) -> bytes:
    """`0x` + 40 hex → 20 address bytes. Case (and so any EIP-55 checksum) does not matter."""
    return bytes.fromhex(_hex_body(text, "wallet", 40))


def wallet_text(address: bytes) -> str:
    """How a wallet is stored and keyed: lower-case `0x…`."""
    return "0x" + address.hex()


def parse_signature(text: object) -> Signature:
    """`0x` + 130 hex (`r‖s‖v`) → a canonical signature, refusing anything malleable."""
    return ecdsa_signature(bytes.fromhex(_hex_body(text, "signature", 2 * ECDSA_SIGNATURE_BYTES)))


def parse_signature_bytes(text: object) -> bytes:
    """`0x` + 130 to `MAX_SIGNATURE_HEX_DIGITS` hex digits (whole bytes) → the signature bytes."""
    if not isinstance(text, str):
        raise bad_input("signature must be a string")
    body = text[2:] if text[:2] in ("0x", "0X") else ""
    if (
        not 2 * ECDSA_SIGNATURE_BYTES <= len(body) <= MAX_SIGNATURE_HEX_DIGITS
        or len(body) % 2
        or not _HEX_DIGITS.issuperset(body)
    ):
        raise bad_input(
            "signature must be 0x followed by 130 hex digits (r‖s‖v), or for a contract wallet "
            f"an even number of hex digits from 130 to {MAX_SIGNATURE_HEX_DIGITS}"
        )
    return bytes.fromhex(body)


def ecdsa_signature(raw: bytes) -> Signature:
    """65 bytes `r‖s‖v` → a canonical signature, refusing anything malleable."""
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    if v not in (0, 1, 27, 28):
        raise bad_input(f"signature v byte must be 0, 1, 27 or 28, got {v}")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise bad_input("signature r and s must be in 1..n-1 of secp256k1")
    if s > _HALF_N:
        raise bad_input(
            "signature s is in the upper half of the curve order (malleable); send the low-s form"
        )
    return Signature(r=r, s=s, recovery_id=v % 27)


def check_timestamp(timestamp: int, *, now: int, ttl: int) -> None:
    """The timestamp is the signature's expiry: `now < timestamp ≤ now + ttl`."""
    if timestamp <= now:
        raise AppError(
            ErrorCode.SIGNATURE_EXPIRED,
            f"timestamp {timestamp} is not after server time {now}; sign a new message with a "
            f"timestamp in ({now}, {now + ttl}]",
        )
    if timestamp > now + ttl:
        raise AppError(
            ErrorCode.TIMESTAMP_TOO_FAR,
            f"timestamp {timestamp} is more than {ttl} s after server time {now}; "
            f"use a timestamp in ({now}, {now + ttl}]",
        )


def keccak(data: bytes) -> bytes:
    """Ethereum's keccak-256 (not NIST SHA3-256). safe-pysha3's C object, called directly:
    eth-hash's default (pycryptodome through cffi) spends ~6x as long per call."""
    return keccak_256(data).digest()  # type: ignore[no-any-return]


def eip191_digest(text: str) -> bytes:
    """keccak256 of the `personal_sign` envelope of `text`."""
    data = text.encode()
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


@cache
def _keccak_text(text: str) -> bytes:
    return keccak(text.encode())


@cache
def _domain_separator(name: str, version: str, chain_id: int) -> bytes:
    return keccak(
        _keccak_text(EIP712_DOMAIN_TYPE)
        + _keccak_text(name)
        + _keccak_text(version)
        + chain_id.to_bytes(32, "big")
    )


def eip712_digest(exchange: Exchange, message: str, timestamp: int) -> bytes:
    """keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(signin{message, timestamp}))."""
    struct_hash = keccak(
        _keccak_text(SIGNIN_TYPE) + _keccak_text(message) + timestamp.to_bytes(32, "big")
    )
    domain = _domain_separator(exchange.eip712_name, exchange.eip712_version, exchange.chain_id)
    return keccak(b"\x19\x01" + domain + struct_hash)


def candidate_digests(exchange: Exchange, timestamp: int) -> Iterator[tuple[str, bytes]]:
    """Every digest a genuine client may have signed, most common first."""
    for index, text in enumerate(exchange.sign_in_texts):
        label = "current" if index == 0 else f"text #{index + 1}"
        yield f"EIP-191 ({label} sign-in text)", eip191_digest(f"{text}\n{timestamp}")
        yield f"EIP-712 ({label} sign-in text)", eip712_digest(exchange, text, timestamp)


def recover_address(digest: bytes, signature: Signature) -> bytes | None:
    """The address whose key made `signature` over `digest`, or None when no key could have."""
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature.recoverable_bytes(), digest, hasher=None
        )
    except ValueError:
        return None
    return keccak(public_key.format(compressed=False)[1:])[-20:]


def verify_wallet_proof(
    wallet: object,
    signature: object,
    timestamp: int,
    exchange: Exchange,
    *,
    now: int,
    ttl: int,
) -> WalletProof:
    """An ECDSA proof only: check format, then freshness, then the signer; raise the first rule
    broken. (Onboarding goes through `models.contract_wallets.prove_wallet`, which starts here.)"""
    address = parse_wallet(wallet)
    parsed = parse_signature(signature)
    check_timestamp(timestamp, now=now, ttl=ttl)
    proof = ecdsa_proof(address, parsed, exchange, timestamp)
    if proof is None:
        raise ecdsa_mismatch(address, parsed, exchange, timestamp)
    return proof


def ecdsa_proof(
    address: bytes, signature: Signature, exchange: Exchange, timestamp: int
) -> WalletProof | None:
    """The proof when `address`'s key made `signature` over any candidate digest."""
    for scheme, digest in candidate_digests(exchange, timestamp):
        if recover_address(digest, signature) == address:
            return WalletProof(address=address, digest=digest, scheme=scheme)
    return None


def ecdsa_mismatch(
    address: bytes, signature: Signature, exchange: Exchange, timestamp: int
) -> AppError:
    """SIGNATURE_MISMATCH naming who did make the signature, read over the first digest."""
    first_signer = next(
        filter(
            None, (recover_address(d, signature) for _, d in candidate_digests(exchange, timestamp))
        ),
        None,
    )
    wallet_shown = to_checksum_address(address)
    if first_signer is None:
        return AppError(
            ErrorCode.SIGNATURE_MISMATCH,
            f"signature does not recover to any address; it was not made for wallet {wallet_shown}",
        )
    return AppError(
        ErrorCode.SIGNATURE_MISMATCH,
        f"signature was made by {to_checksum_address(first_signer)} (read as EIP-191 over the "
        f"current sign-in text), not by wallet {wallet_shown}; sign the sign-in text followed by "
        f"a newline and the timestamp, or the EIP-712 signin message",
    )
