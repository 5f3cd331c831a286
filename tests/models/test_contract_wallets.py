"""Revert data in words: what a refused contract wallet's message says (fixed vectors)."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_hash.auto import keccak

from models.contract_wallets import revert_reason


def error(signature: str, types: list[str], values: list[object]) -> bytes:
    return bytes(keccak(signature.encode()))[:4] + encode(types, values)


def test_a_revert_string_is_quoted() -> None:
    # Solidity's `require(false, "GS026")`, as a Safe reverts for a non-owner's signature.
    data = bytes.fromhex(
        "08c379a0"
        "0000000000000000000000000000000000000000000000000000000000000020"
        "0000000000000000000000000000000000000000000000000000000000000005"
        "4753303236000000000000000000000000000000000000000000000000000000"
    )
    assert revert_reason(data) == "'GS026'"


def test_a_panic_names_its_code() -> None:
    assert revert_reason(error("Panic(uint256)", ["uint256"], [0x11])) == "panic 0x11"


def test_the_validators_errors_unwrap_what_they_carry() -> None:
    inner = error("Error(string)", ["string"], ["no"])
    wrapped = error("ERC1271Revert(bytes)", ["bytes"], [inner])
    assert revert_reason(wrapped) == "isValidSignature reverted: 'no'"
    deploy = error("ERC6492DeployFailed(bytes)", ["bytes"], [b""])
    assert revert_reason(deploy) == "the factory call reverted: without a reason"


def test_other_revert_data_is_shown_as_hex_and_cut_short() -> None:
    assert revert_reason(b"") == ""
    assert revert_reason(bytes.fromhex("deadbeef")) == "0xdeadbeef"
    assert revert_reason(b"\xab" * 100) == "0x" + "ab" * 68 + "…"
    # A selector of a known error with a body that does not decode is shown as hex, not raised.
    broken = bytes(keccak(b"Error(string)"))[:4] + b"\x00" * 5
    assert revert_reason(broken) == "0x" + broken.hex()
