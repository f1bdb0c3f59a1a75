"""The client's IP address, the one answer used by login throttling (django-axes) and the audit.

Behind nginx every request comes from nginx's own address. `X-Forwarded-For` is believed only
when the direct peer (REMOTE_ADDR) is one of `NUSANTARA_TRUSTED_PROXIES`; the client is then the
rightmost address of the chain that is not itself a trusted proxy, so a client that sends its own
`X-Forwarded-For` only adds addresses to the left of the one our proxy appended.

Parsing (ports, brackets, IPv4-mapped IPv6, garbage tokens) is django-ipware's engine,
python-ipware. Its own trusted-proxy rule matches a fixed number of hops in order, which does not
fit "any number of hops from a set of trusted networks", so the walk along the chain is here.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from python_ipware.modern.parsers import parse_ip

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Anything longer is not a chain a real deployment produces; parsing it is wasted work.
_MAX_HEADER = 2048


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(parse_trusted_proxies(entries))


def parse_trusted_proxies(entries: Any) -> list[Network]:
    """`NUSANTARA_TRUSTED_PROXIES` entries (IPs or CIDRs) as networks; a bad entry is an error."""
    networks: list[Network] = []
    for entry in entries:
        text = str(entry).strip()
        if not text:
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"NUSANTARA_TRUSTED_PROXIES: {text!r} is not an IP address or CIDR network."
            ) from exc
        networks.append(network)
    return networks


def _trusted(ip: Address, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_ip(request: Any) -> str:
    """The client's address as text ("" when the request carries none, e.g. a test without one)."""
    meta = getattr(request, "META", None) or {}
    peer = parse_ip(meta.get("REMOTE_ADDR"))
    if peer is None:
        return ""
    networks = _networks(tuple(getattr(settings, "NUSANTARA_TRUSTED_PROXIES", ())))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    header = meta.get("HTTP_X_FORWARDED_FOR", "")
    if not isinstance(header, str) or len(header) > _MAX_HEADER:
        return str(peer)
    # Right to left: each hop was appended by the (trusted) hop to its right, so it is as
    # reliable as that one. Whatever lies left of the first untrusted hop came from the client.
    # A garbled hop ends the walk at the last trusted address known: junk sent by a client can
    # never hide the address our proxy appended after it.
    current = peer
    for token in reversed(header.split(",")):
        hop = parse_ip(token)
        if hop is None:
            return str(current)
        if not _trusted(hop, networks):
            return str(hop)
        current = hop
    # Every hop is one of ours (a request from inside): the leftmost is where it began.
    return str(current)
