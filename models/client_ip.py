"""Who is calling, by address, and whether an API key's allow-list admits them: pure functions.

`X-Forwarded-For` is believed only when the direct peer is a trusted proxy; anyone else could
write any address there. Behind trusted proxies the header is read from the right (each proxy
appends the address it saw), skipping trusted hops: the first untrusted address is the client.
An address that cannot be determined matches no allow-list entry, so a restricted key refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def parse_address(text: str) -> Address | None:
    """`1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`; IPv4-mapped IPv6 becomes IPv4."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """CIDR strings (a bare address is a /32 or /128); entries that do not parse are dropped."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ip_network(entry.strip(), strict=False))
        except (ValueError, TypeError, AttributeError):
            continue
    return networks


def _within(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def is_trusted_peer(peer: str | None, trusted_proxies: Sequence[Network]) -> bool:
    """The direct peer is one of the trusted proxies (whose forwarded headers are believed)."""
    address = parse_address(peer) if peer else None
    return address is not None and _within(address, trusted_proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> Address | None:
    """The caller's address: the peer, or, behind trusted proxies, the forwarded client."""
    address = parse_address(peer) if peer else None
    if address is None or not forwarded_for or not is_trusted_peer(peer, trusted_proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        forwarded = parse_address(hop)
        if forwarded is None:
            break  # garbage left of here was written by the client, not by a proxy
        address = forwarded
        if not _within(address, trusted_proxies):
            break
    return address


def is_allowed(address: Address | None, allowed_ips: Sequence[str]) -> bool:
    """An empty allow-list admits everyone; otherwise the address must fall in one entry."""
    if not allowed_ips:
        return True
    return address is not None and _within(address, parse_networks(allowed_ips))
