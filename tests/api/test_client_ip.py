"""The client address over HTTP: the peer, unless a trusted proxy says otherwise in
X-Forwarded-For (the rules themselves: tests/models/test_client_ip.py)."""

from __future__ import annotations

import pytest
from starlette.requests import HTTPConnection

from api.client_ip import caller_address
from models.client_ip import parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"])


def connection(peer: str | None, *forwarded: str) -> HTTPConnection:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {
        "type": "http",
        "headers": headers,
        "client": (peer, 1234) if peer else None,
    }
    return HTTPConnection(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.7", [], "198.51.100.7"),
        ("198.51.100.7", ["203.0.113.5"], "198.51.100.7"),  # an untrusted peer's header is ignored
        ("10.1.2.3", [], "10.1.2.3"),
        ("10.1.2.3", ["203.0.113.5"], "203.0.113.5"),
        ("10.1.2.3", ["1.1.1.1, 203.0.113.5"], "203.0.113.5"),  # the client may prepend lies
        ("10.1.2.3", ["203.0.113.5, 10.9.9.9"], "203.0.113.5"),  # skip trusted hops
        ("10.1.2.3", ["203.0.113.5", "10.9.9.9"], "203.0.113.5"),  # repeated headers join
        ("10.1.2.3", ["10.8.8.8, 10.9.9.9"], "10.8.8.8"),  # all trusted: the leftmost
        ("10.1.2.3", ["203.0.113.5, garbage, 10.9.9.9"], "10.9.9.9"),  # stop at garbage
        ("10.1.2.3", ["garbage"], "10.1.2.3"),
        ("10.1.2.3", ["::ffff:203.0.113.5"], "203.0.113.5"),
        ("2001:db8:ffff::1", ["2001:db8:1::5"], "2001:db8:1::5"),
        ("192.0.2.1", ["203.0.113.5"], "203.0.113.5"),
        ("testclient", ["203.0.113.5"], None),  # not an address: no per-IP limit, no allow-list
        (None, ["203.0.113.5"], None),
    ],
)
def test_client_ip(peer: str | None, forwarded: list[str], client: str | None) -> None:
    address = caller_address(connection(peer, *forwarded), PROXIES)
    assert (None if address is None else str(address)) == client


def test_without_trusted_proxies_the_header_never_counts() -> None:
    assert str(caller_address(connection("10.1.2.3", "203.0.113.5"), ())) == "10.1.2.3"


def test_bad_proxy_settings_fail_loudly() -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies=["10.0.0.0/33"])
