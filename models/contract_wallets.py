"""Wallet proofs for every kind of wallet: ECDSA keys, and contracts (ERC-1271, ERC-6492).

The order is ERC-6492's own, with one shortcut in front so that key holders never wait on a chain:
1. a 65-byte canonical ECDSA signature that recovers to the wallet over a candidate digest is
   proven at once, with no chain call (today's path, unchanged);
2. a signature ending with the ERC-6492 magic suffix is checked by the universal validator
   (`contracts/UniversalSigValidator.sol`) run deployless: its creation code goes out as an
   `eth_call` without a `to`, deploys the wallet through the wrapped factory call in the node's
   throw-away state, asks the wallet, and answers one byte; nothing is ever deployed for real;
3. otherwise, when the wallet has code on the exchange's chain, its
   `isValidSignature(digest, signature)` must answer the ERC-1271 magic value `0x1626ba7e`;
4. otherwise the ECDSA verdict stands (SIGNATURE_MISMATCH naming the key that did sign).

Every candidate digest (each sign-in text, EIP-191 and EIP-712) is asked in one JSON-RPC batch,
so a proof costs one round trip. A wallet contract that says no is refused with a code for how it
said it; the message tells what it answered for the current EIP-191 text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address

from .chain import Answer, Call, Chain, Chains, Failed, Failure, GetCode, Returned
from .config import Exchange
from .errors import AppError, ErrorCode
from .wallet import (
    ECDSA_SIGNATURE_BYTES,
    ProofKind,
    WalletProof,
    candidate_digests,
    check_timestamp,
    ecdsa_mismatch,
    ecdsa_proof,
    ecdsa_signature,
    keccak,
    parse_signature_bytes,
    parse_wallet,
)

ERC6492_SUFFIX = bytes.fromhex("6492" * 16)
ERC1271_MAGIC_WORD = bytes.fromhex("1626ba7e") + bytes(28)
"""`bytes4(0x1626ba7e)` as ABI-encoded return data."""
IS_VALID_SIGNATURE = keccak(b"isValidSignature(bytes32,bytes)")[:4]
_ERROR_STRING = keccak(b"Error(string)")[:4]
_PANIC = keccak(b"Panic(uint256)")[:4]
_ERC1271_REVERT = keccak(b"ERC1271Revert(bytes)")[:4]
_ERC6492_DEPLOY_FAILED = keccak(b"ERC6492DeployFailed(bytes)")[:4]


@cache
def validator_creation_code() -> bytes:
    """`ValidateSigOffchain`'s creation code, compiled from the committed reference source."""
    path = Path(__file__).with_name("contracts") / "ValidateSigOffchain.hex"
    return bytes.fromhex(path.read_text().strip())


async def prove_wallet(
    wallet: object,
    signature: object,
    timestamp: int,
    exchange: Exchange,
    exchange_id: str,
    chains: Chains,
    *,
    now: int,
    ttl: int,
    before_chain_call: Callable[[], Awaitable[None]] | None = None,
) -> WalletProof:
    """Check format, then freshness, then the signer (key or contract); raise the first rule
    broken. Only a contract wallet's proof calls the chain, after `before_chain_call` (the
    caller's rate limit: whoever makes us call a node pays first)."""
    address = parse_wallet(wallet)
    raw = parse_signature_bytes(signature)
    check_timestamp(timestamp, now=now, ttl=ttl)
    ecdsa: AppError | None = None
    if len(raw) == ECDSA_SIGNATURE_BYTES:
        try:
            parsed = ecdsa_signature(raw)
        except AppError as not_ecdsa:
            ecdsa = not_ecdsa
        else:
            proof = ecdsa_proof(address, parsed, exchange, timestamp)
            if proof is not None:
                return proof
            ecdsa = ecdsa_mismatch(address, parsed, exchange, timestamp)
    chain = chains.get(exchange.chain_id)
    if chain is None:
        if ecdsa is not None:
            raise ecdsa
        raise AppError(
            ErrorCode.CONTRACT_WALLET_UNSUPPORTED,
            f"exchange {exchange_id!r} does not accept contract-wallet signatures (no node is "
            f"configured for its chain {exchange.chain_id}); sign with the wallet's own key: "
            "a 65-byte ECDSA signature",
        )
    if before_chain_call is not None:
        await before_chain_call()
    if raw.endswith(ERC6492_SUFFIX):
        return await _prove_counterfactual(chain, address, raw, exchange, timestamp)
    return await _prove_deployed(chain, address, raw, exchange, timestamp, ecdsa)


async def _prove_counterfactual(
    chain: Chain, address: bytes, raw: bytes, exchange: Exchange, timestamp: int
) -> WalletProof:
    """ERC-6492: the deployless universal validator, once per candidate digest."""
    digests = list(candidate_digests(exchange, timestamp))
    code = validator_creation_code()
    answers = await chain.ask(
        [
            Call(None, code + encode(["address", "bytes32", "bytes"], [address, digest, raw]))
            for _, digest in digests
        ]
    )
    for (scheme, digest), answer in zip(digests, answers, strict=True):
        if isinstance(answer, Returned) and answer.data == b"\x01":
            return WalletProof(address, digest, scheme, ProofKind.EIP6492)
    raise _refusal(address, chain.chain_id, answers[0], via_validator=True)


async def _prove_deployed(
    chain: Chain,
    address: bytes,
    raw: bytes,
    exchange: Exchange,
    timestamp: int,
    ecdsa: AppError | None,
) -> WalletProof:
    """ERC-1271 when the wallet has code: its code and its verdicts in one round trip."""
    digests = list(candidate_digests(exchange, timestamp))
    code, *answers = await chain.ask(
        [
            GetCode(address),
            *(
                Call(address, IS_VALID_SIGNATURE + encode(["bytes32", "bytes"], [digest, raw]))
                for _, digest in digests
            ),
        ]
    )
    if not (isinstance(code, Returned) and code.data):
        no_code = (
            f"wallet {to_checksum_address(address)} has no code on chain {chain.chain_id}, so "
            "only its own key can sign for it (65 bytes r‖s‖v); a contract wallet that is not "
            "deployed yet must wrap its signature with its factory call (ERC-6492)"
        )
        if ecdsa is None:
            raise AppError(ErrorCode.SIGNATURE_MISMATCH, no_code)
        raise AppError(ecdsa.code, f"{ecdsa.message}; and {no_code}")
    for (scheme, digest), answer in zip(digests, answers, strict=True):
        if isinstance(answer, Returned) and answer.data[:32] == ERC1271_MAGIC_WORD:
            return WalletProof(address, digest, scheme, ProofKind.EIP1271)
    raise _refusal(address, chain.chain_id, answers[0], via_validator=False)


def _refusal(address: bytes, chain_id: int, answer: Answer, *, via_validator: bool) -> AppError:
    """What the wallet contract answered (for the current EIP-191 text), as a refusal."""
    asked = (
        "through the ERC-6492 universal validator"
        if via_validator
        else "by isValidSignature (ERC-1271)"
    )
    prefix = (
        f"wallet {to_checksum_address(address)} on chain {chain_id}, asked {asked} about the "
        "current sign-in text (EIP-191)"
    )
    if isinstance(answer, Failed):
        if answer.failure is Failure.OUT_OF_GAS:
            return AppError(
                ErrorCode.CONTRACT_WALLET_OUT_OF_GAS,
                f"{prefix}, used all the gas allowed: {answer.detail}",
            )
        return AppError(
            ErrorCode.CONTRACT_WALLET_REVERTED,
            f"{prefix}, reverted: {revert_reason(answer.data) or answer.detail}",
        )
    if not answer.data:
        return AppError(ErrorCode.CONTRACT_WALLET_NO_ANSWER, f"{prefix}, returned nothing")
    shown = "0x" + answer.data[:32].hex() + ("…" if len(answer.data) > 32 else "")
    wanted = "0x01 (valid)" if via_validator else "the magic value 0x1626ba7e"
    return AppError(
        ErrorCode.CONTRACT_WALLET_WRONG_ANSWER,
        f"{prefix}, returned {shown}, not {wanted}: the signature is not valid for this wallet",
    )


def revert_reason(data: bytes) -> str:
    """Revert data in words: `Error(string)`, `Panic(uint256)`, the validator's own errors."""
    selector, body = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING:
            (text,) = decode(["string"], body)
            return repr(text[:200])
        if selector == _PANIC:
            (code,) = decode(["uint256"], body)
            return f"panic 0x{code:02x}"
        if selector in (_ERC1271_REVERT, _ERC6492_DEPLOY_FAILED):
            (inner,) = decode(["bytes"], body)
            what = "isValidSignature" if selector == _ERC1271_REVERT else "the factory call"
            return f"{what} reverted: {revert_reason(inner) or 'without a reason'}"
    except (DecodingError, UnicodeDecodeError, OverflowError):
        pass
    if not data:
        return ""
    return "0x" + data[:68].hex() + ("…" if len(data) > 68 else "")
