"""Request signing: fixed vectors (computed independently with hashlib/hmac and openssl), the
official Python client's value encoding, and properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.hmac_payload import (
    encode,
    payload_text,
    sign,
    signature_matches,
    signed_fields,
)
from tests.legacy_client import official_signature

SECRET = "0x" + "11" * 32
TS = 1732400300


@pytest.mark.parametrize(
    ("fields", "text", "signature"),
    [
        (
            {"refresh_token": "abc.def.ghi", "is_client": False, "method": "POST", "path": "/jwt"},
            "is_client=falsemethod=POSTpath=/jwtrefresh_token=abc.def.ghi1732400300",
            "0x079cfc29baa1e660323889c9475a28b430b3599ec0c65b8b4156cb87b39ad96b",
        ),
        (
            # `printf 'method=GETpath=/account1732400300' | openssl dgst -sha256 -binary
            #  | openssl dgst -sha256 -mac HMAC -macopt hexkey:1111…11`
            {"method": "GET", "path": "/account"},
            "method=GETpath=/account1732400300",
            "0xf828fa99ad496377aa655de336182c138a21500077c8e4e3d0e213b4ea0c3990",
        ),
        (
            {
                "ids": ["a", "b"],
                "n": 5,
                "x": 0.1,
                "none": None,
                "flag": True,
                "nested": [True, None],
                "s": "it's",
                "method": "POST",
                "path": "/x",
            },
            'flag=trueids=["a", "b"]method=POSTn=5nested=[True, None]none=Nonepath=/xs=it\'s'
            "x=0.11732400300",
            "0xd5bf6a3e5bb8711b72408ea05afe7251225e9f453bccb9bd6212db2b374088b8",
        ),
    ],
    ids=["market-maker-jwt", "get-account", "every-value-type"],
)
def test_fixed_vectors(fields: dict[str, Any], text: str, signature: str) -> None:
    assert payload_text(fields, TS) == text
    assert sign(fields, TS, SECRET) == signature
    assert signature_matches(fields, TS, SECRET, signature)
    assert signature_matches(fields, TS, SECRET, signature.upper().replace("0X", "0x"))
    assert not signature_matches(fields, TS + 1, SECRET, signature)
    assert not signature_matches(fields, TS, "0x" + "12" * 32, signature)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        ("plain", "plain"),
        (7, "7"),
        (-0.5, "-0.5"),
        (1e-07, "1e-07"),
        (100.0, "100.0"),
        (None, "None"),
        (["BTC-USD", "ETH-USD"], '["BTC-USD", "ETH-USD"]'),
        ([1, 2.5], "[1, 2.5]"),
        ([], "[]"),
    ],
)
def test_values_are_written_as_the_official_client_writes_them(value: object, text: str) -> None:
    assert encode(value) == text


def test_the_server_signs_its_own_method_and_path() -> None:
    body = {"method": "GET", "path": "/account", "refresh_token": "t"}
    assert signed_fields(body, "post", "/jwt") == {
        "method": "POST",
        "path": "/jwt",
        "refresh_token": "t",
    }


def test_malformed_signatures_never_match() -> None:
    fields = {"method": "GET", "path": "/account"}
    for signature in ("", "0x", "0x" + "zz" * 32, "\u00e9" * 66):
        assert not signature_matches(fields, TS, SECRET, signature)


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = json_scalars | st.lists(json_scalars, max_size=4)
bodies = st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=6)


@given(bodies, st.integers(min_value=0, max_value=2**40))
def test_the_official_clients_signature_always_verifies(body: dict[str, Any], ts: int) -> None:
    fields = signed_fields(body, "POST", "/jwt")
    assert signature_matches(fields, ts, SECRET, official_signature(fields, ts, SECRET))


@given(bodies, st.randoms())
def test_key_order_does_not_matter(body: dict[str, Any], random: Any) -> None:
    items = list(body.items())
    random.shuffle(items)
    assert sign(dict(items), TS, SECRET) == sign(body, TS, SECRET)


@given(bodies, bodies)
def test_signatures_differ_exactly_when_the_signed_texts_differ(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    same_text = payload_text(first, TS) == payload_text(second, TS)
    assert (sign(first, TS, SECRET) == sign(second, TS, SECRET)) is same_text


def test_the_text_has_no_separators_as_in_the_original() -> None:
    """A known property of the protocol: distinct bodies can share a text (and a signature)."""
    assert payload_text({"a": "1b=2"}, TS) == payload_text({"a": "1", "b": "2"}, TS)
