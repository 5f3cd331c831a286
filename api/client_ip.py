"""Who is calling: the direct peer, or what trusted proxies say in `X-Forwarded-For`.

A client can write anything into `X-Forwarded-For`, so the header counts only when the peer is one
of `ONBOARDING_TRUSTED_PROXIES`. Each proxy appends the address it saw, so the header is read from
the right: trusted proxies are skipped, and the first address that is not one is the client. When
every hop is trusted the leftmost is the client; an entry that is not an address ends the walk at
the last address we could trust. Rate limits key on the result, so this is the one place that
decides it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse `ONBOARDING_TRUSTED_PROXIES` (CIDRs or single addresses); a bad entry raises."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def client_ip(connection: HTTPConnection, trusted: Sequence[Network] = ()) -> str | None:
    """The client's address (text), or None when the server does not know its peer."""
    if connection.client is None:
        return None
    peer = connection.client.host
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, trusted):
        return peer
    forwarded = ",".join(connection.headers.getlist("x-forwarded-for"))
    client: Address = peer_address
    for hop in reversed(forwarded.split(",") if forwarded else []):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)
