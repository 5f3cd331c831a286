"""The HTTP side of `models.client_ip`: the one way both GraphQL and the legacy routes find out
who is calling (rate limits and API-key allow-lists key on it).

The peer counts, unless it is one of `ONBOARDING_TRUSTED_PROXIES`; then `X-Forwarded-For` is
read from the right as `models.client_ip.client_address` explains. A peer that is not an IP
address (a test client, a Unix socket) gives None: no per-IP rate limit, and no allow-listed key.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from starlette.requests import HTTPConnection

from models.client_ip import Address, Network, client_address


def caller_address(connection: HTTPConnection, trusted: Sequence[Network]) -> Address | None:
    return _caller(*_sources(connection), tuple(trusted))[0]


def caller_ip(connection: HTTPConnection, trusted: Sequence[Network]) -> str | None:
    """`caller_address` as text: what rate limits key on."""
    return _caller(*_sources(connection), tuple(trusted))[1]


def _sources(connection: HTTPConnection) -> tuple[str | None, str | None]:
    """The peer and the `X-Forwarded-For` values joined, read off the ASGI scope."""
    scope = connection.scope
    client = scope.get("client")
    peer = client[0] if client else None
    forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
    return peer, b",".join(forwarded).decode("latin-1") if forwarded else None


@lru_cache(maxsize=4096)
def _caller(
    peer: str | None, forwarded: str | None, trusted: tuple[Network, ...]
) -> tuple[Address | None, str | None]:
    """A pure function of its arguments, and the same few peers call again and again: parsing
    an address costs more than looking it up."""
    address = client_address(peer, forwarded, trusted)
    return address, None if address is None else str(address)
