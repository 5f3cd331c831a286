"""The client address: the peer, unless a trusted proxy says otherwise in X-Forwarded-For."""

from __future__ import annotations

import pytest
from starlette.requests import HTTPConnection

from api.client_ip import client_ip, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"])


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
        ("testclient", ["203.0.113.5"], "testclient"),
        (None, ["203.0.113.5"], None),
    ],
)
def test_client_ip(peer: str | None, forwarded: list[str], client: str | None) -> None:
    assert client_ip(connection(peer, *forwarded), PROXIES) == client


def test_without_trusted_proxies_the_header_never_counts() -> None:
    assert client_ip(connection("10.1.2.3", "203.0.113.5")) == "10.1.2.3"


def test_bad_proxy_settings_fail_loudly() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        trusted_networks(["10.0.0.0/33"])
