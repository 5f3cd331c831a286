"""Wallet proof: fixed vectors (key + timestamp → exact digest, signature, address), rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.messages import _hash_eip191_message, encode_defunct, encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from models.config import (
    BFX_SIGN_IN_TEXT,
    CURRENT_SIGN_IN_TEXT,
    DEFAULT_EXCHANGES,
    LEGACY_SIGN_IN_TEXT,
    Exchange,
)
from models.errors import AppError, ErrorCode
from models.wallet import (
    SECP256K1_N,
    check_timestamp,
    eip191_digest,
    eip712_digest,
    parse_signature,
    parse_wallet,
    recover_address,
    verify_wallet_proof,
)
from tests.signing import FIXED_ADDRESS, FIXED_KEY, Signer, typed_data

TS = 1732400000
ADDRESS = bytes.fromhex(FIXED_ADDRESS[2:])

# (name, exchange, text, scheme, digest, signature) computed once with eth-account and frozen.
VECTORS = [
    (
        "rbx-current-191",
        "rbx",
        CURRENT_SIGN_IN_TEXT,
        "eip191",
        "25641cf0cdcdcad6834d77c1965112eb57407cb65b6a1a2461fcf9a9c03f462d",
        "0xeba704864d91d448a4bee06e8c2cf0c7b5a0c5a17716b66a56d884c751a194d8"
        "17f6f6842ab318adb34137cf385b0deba1d307205e660e98c44cfbebbe2e1f951c",
    ),
    (
        "rbx-current-712",
        "rbx",
        CURRENT_SIGN_IN_TEXT,
        "eip712",
        "0e07b6a769af2cfa8b8b36e9f43e8ae1a183965bb718b178793750b6bbb4f8f0",
        "0x890f7f34862d6c36e6ca1da1008c5e46dbb9bb21d1c91b436e4a15fef5d4b83f"
        "1c707b2a2c5b66329b2022c09001963bfb2396c19acef2711b79c58c8a85ed3b1c",
    ),
    (
        "rbx-legacy-191",
        "rbx",
        LEGACY_SIGN_IN_TEXT,
        "eip191",
        "bd3da2a32aa8f2e73b13f9ff6af8709cf2a11e9425517e53ed7206977b4023f4",
        "0xe14aa9b18c2c010db5d216bd2a81e333bf1cf3ad4a692aeb57f028955a718ea6"
        "7e21543c135b0adcfca33ba49d0f6eb134ed6df960f66a8ffaa5381714d80abd1b",
    ),
    (
        "rbx-legacy-712",
        "rbx",
        LEGACY_SIGN_IN_TEXT,
        "eip712",
        "11d8e95cd6ab79c03c5b16902356a6f83df33043d6561762a9305933cc7930c4",
        "0x919c9af4ef48dd7c625a61256452908bf72dd93b1a413f0867866e50efa456ba"
        "36c057d09ecb6d3ca426512d479165b464b5b1107c29c95a81f34488e19e01891c",
    ),
    (
        "bfx-191",
        "bfx",
        BFX_SIGN_IN_TEXT,
        "eip191",
        "e9b62b4551350c0287f426b917265627c853a9901f75f62b284feb0b34ba1a9d",
        "0x66d23301bde00570c11769020c945f329b5df8c27acde0785b1df6ab27f2bdc3"
        "6a89d7712ce9e0f565e16747f128ab85c585b29b23a3ef9d0f3404cf963dbdfb1b",
    ),
    (
        "bfx-712",
        "bfx",
        BFX_SIGN_IN_TEXT,
        "eip712",
        "0fbe91deb43d5987678c5f2ee1c1439a06b40e600ba75ac8d4331111226bfbe8",
        "0x9f5f336902a76654176e8888f46549c73100829a235efb409b08f822857b6959"
        "5b0d38d41532091c39326ab0d9910fe36e85233e97ae55f74314fa977edc23ec1b",
    ),
]


def _digest(exchange_id: str, text: str, scheme: str) -> bytes:
    if scheme == "eip191":
        return eip191_digest(f"{text}\n{TS}")
    return eip712_digest(DEFAULT_EXCHANGES[exchange_id], text, TS)


def test_the_fixed_key_has_the_fixed_address() -> None:
    assert Signer(FIXED_KEY).address == FIXED_ADDRESS


@pytest.mark.parametrize(
    ("exchange_id", "text", "scheme", "digest", "signature"),
    [pytest.param(*v[1:], id=v[0]) for v in VECTORS],
)
def test_fixed_vectors(
    exchange_id: str, text: str, scheme: str, digest: str, signature: str
) -> None:
    assert _digest(exchange_id, text, scheme).hex() == digest
    signer = Signer(FIXED_KEY)
    produced = (
        signer.eip191(TS, text) if scheme == "eip191" else signer.eip712(TS, text, exchange_id)
    )
    assert produced == signature
    assert recover_address(bytes.fromhex(digest), parse_signature(signature)) == ADDRESS
    proof = verify_wallet_proof(
        FIXED_ADDRESS, signature, TS, DEFAULT_EXCHANGES[exchange_id], now=TS - 1, ttl=600
    )
    assert proof.digest.hex() == digest
    assert proof.address == ADDRESS


@pytest.mark.parametrize("scheme", ["eip191", "eip712"])
def test_the_digests_equal_eth_accounts_encoders(scheme: str) -> None:
    """Our fast digests are pinned to the reference implementation."""
    for exchange_id, exchange in DEFAULT_EXCHANGES.items():
        for text in exchange.sign_in_texts:
            if scheme == "eip191":
                expected = _hash_eip191_message(encode_defunct(text=f"{text}\n{TS}"))
            else:
                expected = _hash_eip191_message(
                    encode_typed_data(full_message=typed_data(text, TS, exchange_id))
                )
            assert _digest(exchange_id, text, scheme) == expected


@given(text=st.text(max_size=300), timestamp=st.integers(min_value=0, max_value=2**64))
def test_eip712_digest_matches_eth_account_for_any_text(text: str, timestamp: int) -> None:
    exchange = Exchange(sign_in_texts=(text or "x",), eip712_name="RabbitXId", chain_id=1)
    expected = _hash_eip191_message(
        encode_typed_data(full_message=typed_data(text, timestamp, "rbx"))
    )
    assert eip712_digest(exchange, text, timestamp) == expected


@pytest.mark.parametrize("v", [0, 1, 27, 28])
def test_v_conventions(v: int) -> None:
    parsed = parse_signature("0x" + "11" * 32 + "22" * 32 + f"{v:02x}")
    assert parsed.recovery_id == v % 27


def test_the_malleated_twin_is_refused() -> None:
    signature = VECTORS[0][5]
    raw = bytes.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    twin = raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([((raw[64] - 27) ^ 1) + 27])
    # The twin is a valid ECDSA signature by the same key over the same digest …
    from coincurve import PublicKey

    recovered = PublicKey.from_signature_and_message(
        twin[:64] + bytes([twin[64] - 27]), bytes.fromhex(VECTORS[0][4]), hasher=None
    )
    assert (
        recovered.format()
        == PublicKey.from_signature_and_message(
            raw[:64] + bytes([raw[64] - 27]), bytes.fromhex(VECTORS[0][4]), hasher=None
        ).format()
    )
    # … and still refused.
    with pytest.raises(AppError, match="low-s") as refused:
        parse_signature("0x" + twin.hex())
    assert refused.value.code is ErrorCode.BAD_USER_INPUT


def test_wallet_parsing_ignores_case_and_checksum() -> None:
    assert parse_wallet(FIXED_ADDRESS) == parse_wallet(FIXED_ADDRESS.lower()) == ADDRESS
    assert parse_wallet("0X" + FIXED_ADDRESS[2:].upper()) == ADDRESS


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "",
        "0x",
        "0x" + "a" * 39,
        "0x" + "a" * 41,
        "1x" + "a" * 40,
        "0x" + "ä" * 40,
        " 0x" + "a" * 40,
        "0x" + "a" * 38 + " a",
    ],
)
def test_malformed_wallets(bad: object) -> None:
    with pytest.raises(AppError) as refused:
        parse_wallet(bad)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT


@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=70).map(lambda b: "0x" + b.hex()),
        st.none(),
        st.integers(),
    )
)
def test_signature_parsing_refuses_cleanly(text: object) -> None:
    """Whatever arrives, the parser answers a signature or BAD_USER_INPUT; never another error."""
    try:
        parsed = parse_signature(text)
    except AppError as refused:
        code = refused.code
    else:
        code = None
        assert 0 < parsed.r < SECP256K1_N
        assert 0 < parsed.s <= SECP256K1_N // 2
    assert code in (None, ErrorCode.BAD_USER_INPUT)


@given(now=st.integers(0, 2**40), offset=st.integers(-(2**20), 2**20))
def test_timestamp_window(now: int, offset: int) -> None:
    timestamp = now + offset
    if 0 < offset <= 600:
        check_timestamp(timestamp, now=now, ttl=600)
        return
    expected = ErrorCode.SIGNATURE_EXPIRED if offset <= 0 else ErrorCode.TIMESTAMP_TOO_FAR
    with pytest.raises(AppError, match=f"server time {now}") as refused:
        check_timestamp(timestamp, now=now, ttl=600)
    assert refused.value.code is expected


def test_mismatch_names_the_recovered_address() -> None:
    other = Signer()
    signature = other.eip191(TS)
    with pytest.raises(AppError) as refused:
        verify_wallet_proof(
            FIXED_ADDRESS, signature, TS, DEFAULT_EXCHANGES["rbx"], now=TS - 1, ttl=600
        )
    assert refused.value.code is ErrorCode.SIGNATURE_MISMATCH
    assert other.address in refused.value.message
    assert FIXED_ADDRESS in refused.value.message


HEX_CASES = st.sampled_from([str.lower, str.upper, str.swapcase])


@given(
    address=st.binary(min_size=20, max_size=20),
    case=HEX_CASES,
    prefix=st.sampled_from(["0x", "0X"]),
)
def test_any_address_parses_in_any_case(
    address: bytes, case: Callable[[str], str], prefix: str
) -> None:
    assert parse_wallet(prefix + case(address.hex())) == address


@given(st.one_of(st.text(max_size=60), st.binary(max_size=30).map(lambda b: "0x" + b.hex())))
def test_wallet_parsing_accepts_exactly_0x_and_40_hex_digits(text: str) -> None:
    well_formed = (
        len(text) == 42
        and text[:2] in ("0x", "0X")
        and all(c in "0123456789abcdefABCDEF" for c in text[2:])
    )
    if well_formed:
        assert parse_wallet(text) == bytes.fromhex(text[2:])
        return
    with pytest.raises(AppError) as refused:
        parse_wallet(text)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT


@given(
    r=st.integers(1, SECP256K1_N - 1),
    s=st.integers(1, SECP256K1_N // 2),
    v=st.sampled_from([0, 1, 27, 28]),
)
def test_canonical_signatures_round_trip(r: int, s: int, v: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
    parsed = parse_signature("0x" + raw.hex())
    assert (parsed.r, parsed.s, parsed.recovery_id) == (r, s, v % 27)
    assert parsed.recoverable_bytes() == raw[:64] + bytes([v % 27])
    twin = r.to_bytes(32, "big") + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v])
    if SECP256K1_N - s > SECP256K1_N // 2:
        with pytest.raises(AppError, match="low-s"):
            parse_signature("0x" + twin.hex())


@given(
    key=st.integers(1, SECP256K1_N - 1),
    ahead=st.integers(1, 600),
    v_base=st.sampled_from([0, 27]),
    tamper=st.one_of(st.none(), st.integers(0, 63)),
)
def test_any_key_proves_its_wallet_and_any_tampering_is_refused(
    key: int, ahead: int, v_base: int, tamper: int | None
) -> None:
    """Signed with libsecp256k1 directly (fast); the digest is the pinned EIP-191 one."""
    from coincurve import PrivateKey

    private = PrivateKey(key.to_bytes(32, "big"))
    address = keccak(private.public_key.format(compressed=False)[1:])[-20:]
    wallet = "0x" + address.hex()
    digest = eip191_digest(f"{CURRENT_SIGN_IN_TEXT}\n{TS + ahead}")
    raw = bytearray(private.sign_recoverable(digest, hasher=None))
    raw[64] += v_base
    if tamper is not None:
        raw[tamper] ^= 0x01
    signature = "0x" + raw.hex()
    rbx = DEFAULT_EXCHANGES["rbx"]
    if tamper is None:
        proof = verify_wallet_proof(wallet, signature, TS + ahead, rbx, now=TS, ttl=600)
        assert proof.address == address
        assert proof.digest == digest
        return
    with pytest.raises(AppError) as refused:
        verify_wallet_proof(wallet, signature, TS + ahead, rbx, now=TS, ttl=600)
    assert refused.value.code in (ErrorCode.BAD_USER_INPUT, ErrorCode.SIGNATURE_MISMATCH)


@given(
    now=st.integers(0, 2**40),
    offset=st.integers(-(2**20), 2**20),
    ttl=st.integers(1, 3600),
)
def test_timestamp_window_for_any_ttl(now: int, offset: int, ttl: int) -> None:
    if 0 < offset <= ttl:
        check_timestamp(now + offset, now=now, ttl=ttl)
        return
    with pytest.raises(AppError) as refused:
        check_timestamp(now + offset, now=now, ttl=ttl)
    expected = ErrorCode.SIGNATURE_EXPIRED if offset <= 0 else ErrorCode.TIMESTAMP_TOO_FAR
    assert refused.value.code is expected
    assert f"({now}, {now + ttl}]" in refused.value.message


def test_keccak_is_ethereums_keccak_256_not_sha3() -> None:
    """Fixed vectors: keccak-256 of "" and of "abc" (NIST SHA3-256 differs on both)."""
    from models.wallet import keccak

    assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak(b"abc").hex() == (
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    )
