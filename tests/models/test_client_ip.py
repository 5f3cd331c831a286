"""Client addresses behind (trusted) proxies and API-key allow-lists."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.client_ip import client_address, is_allowed, parse_address, parse_networks

TRUSTED = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("203.0.113.9:443", "203.0.113.9"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("testclient", None),
        ("", None),
        ("unknown", None),
        ("999.1.1.1", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.5", None, "10.0.0.5"),
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "1.1.1.1, 198.51.100.1", "198.51.100.1"),  # the client wrote 1.1.1.1
        ("10.0.0.5", "198.51.100.1, 10.0.0.7, 10.0.0.6", "198.51.100.1"),  # proxy chain
        ("10.0.0.5", "10.0.0.8, 10.0.0.7", "10.0.0.8"),  # all trusted: the farthest
        ("10.0.0.5", "garbage, 10.0.0.7", "10.0.0.7"),
        ("10.0.0.5", "198.51.100.1, garbage", "10.0.0.5"),
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        ("testclient", "198.51.100.1", None),
        (None, "198.51.100.1", None),
    ],
)
def test_client_address(peer: str | None, forwarded: str | None, expected: str | None) -> None:
    address = client_address(peer, forwarded, TRUSTED)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize(
    ("address", "allowed", "admitted"),
    [
        ("203.0.113.9", [], True),
        (None, [], True),
        ("203.0.113.9", ["203.0.113.0/24"], True),
        ("203.0.113.9", ["203.0.113.9"], True),
        ("203.0.113.9", ["198.51.100.0/24", "203.0.113.9/32"], True),
        ("203.0.113.9", ["198.51.100.0/24"], False),
        ("203.0.113.9", ["2001:db8::/32"], False),
        ("2001:db8::5", ["2001:db8::/32"], True),
        ("203.0.113.9", ["203.0.113.1/24"], True),  # host bits are forgiven
        ("203.0.113.9", ["not an address", "203.0.113.0/24"], True),
        ("203.0.113.9", ["not an address"], False),  # a broken list admits no one
        (None, ["0.0.0.0/0"], False),  # an unknown caller matches no entry
    ],
)
def test_is_allowed(address: str | None, allowed: list[str], admitted: bool) -> None:
    parsed = ip_address(address) if address else None
    assert is_allowed(parsed, allowed) is admitted


def test_parse_networks_drops_what_does_not_parse() -> None:
    assert parse_networks(["10.0.0.0/8", "x", "::1"]) == [
        ip_network("10.0.0.0/8"),
        ip_network("::1/128"),
    ]


@given(st.text(max_size=60), st.text(max_size=200))
def test_any_header_text_is_handled(peer: str, forwarded: str) -> None:
    address = client_address(peer, forwarded, TRUSTED)
    assert address is None or address.version in (4, 6)
