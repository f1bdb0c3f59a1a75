"""Which proxy upstreams a customer may point a site at (docs/security.md, "Proxy upstreams").

A reverse proxy makes nginx, on the panel's server, connect wherever the upstream says. So the
addresses nobody has a business proxying to are refused (link-local, unspecified, multicast,
reserved), and on this server or its private networks the ports of its own services
(`NUSANTARA_UPSTREAM_DENY_PORTS`), of the panel (`NUSANTARA_PANEL_PORTS`) and of nginx's own
listeners (a proxy to itself loops). Names are resolved and every address they resolve to is
checked: when the form is sent, and again in the worker right before the vhost is rendered.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .grammar import is_upstream, split_upstream

RESOLVE_TIMEOUT = 3.0  # seconds; getaddrinfo has no timeout of its own
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_upstream(upstream: str) -> list[Address]:
    """Raise ValidationError (a message for the customer) unless `upstream`, a value from
    grammar.normalize_upstream, may be proxied to; return the addresses that were checked."""
    if not is_upstream(upstream):
        raise ValidationError(_("The upstream must be host:port, e.g. 127.0.0.1:3000."))
    host, port = split_upstream(upstream)
    addresses = resolve(host)
    for address in addresses:
        problem = address_problem(address, port)
        if problem:
            if host.strip("[]") == str(address):
                raise ValidationError(problem)
            raise ValidationError(
                _("%(host)s resolves to %(address)s. %(problem)s")
                % {"host": host, "address": address, "problem": problem}
            )
    return addresses


def resolve(host: str) -> list[Address]:
    """The addresses nginx would connect to for `host` (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    result: dict[str, Any] = {}

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            result["error"] = exc

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(RESOLVE_TIMEOUT)
    if thread.is_alive():
        raise ValidationError(
            _("The upstream host %(host)s did not resolve within %(seconds)d seconds.")
            % {"host": host, "seconds": RESOLVE_TIMEOUT}
        )
    addresses = []
    for info in result.get("infos") or []:
        literal = str(info[4][0]).split("%", 1)[0]  # a resolver may add a zone to fe80::
        try:
            addresses.append(ipaddress.ip_address(literal))
        except ValueError:
            continue
    if not addresses:
        raise ValidationError(
            _(
                "The upstream host %(host)s does not resolve to an address. Use a name this "
                "server can resolve, or an IP address such as 127.0.0.1."
            )
            % {"host": host}
        )
    return addresses


def denied_ports() -> set[int]:
    """Ports no upstream on this server or a private network may use."""
    ports = set(settings.NUSANTARA_UPSTREAM_DENY_PORTS) | set(settings.NUSANTARA_PANEL_PORTS)
    for listen in (settings.NUSANTARA_HTTP_LISTEN, settings.NUSANTARA_HTTPS_LISTEN):
        tail = str(listen).rsplit(":", 1)[-1]
        if tail.isdigit():
            ports.add(int(tail))
    return {int(p) for p in ports}


def address_problem(address: Address, port: int) -> str | None:
    """Why nginx must not connect to address:port, or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return _("An IPv6 upstream cannot have a zone id.")
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    if address.is_unspecified or address in _THIS_NETWORK:
        return _("%(address)s is not an address a proxy can connect to.") % {"address": address}
    if address.is_link_local:
        return _("Link-local addresses (%(address)s) cannot be used as an upstream.") % {
            "address": address
        }
    if address.is_multicast:
        return _("Multicast addresses (%(address)s) cannot be used as an upstream.") % {
            "address": address
        }
    if not address.is_loopback and (  # ::1 lies inside IPv6's reserved ::/8
        address.is_reserved
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or address == ipaddress.IPv4Address("255.255.255.255")
    ):
        return _("Reserved addresses (%(address)s) cannot be used as an upstream.") % {
            "address": address
        }
    if _is_own_or_private(address) and port in denied_ports():
        return _(
            "Port %(port)d on this server or a private network is reserved for the server's own "
            "services (database, mail, SSH, the panel, nginx itself); run your application on "
            "another port, e.g. 3000."
        ) % {"port": port}
    return None


def _is_own_or_private(address: Address) -> bool:
    if address.is_loopback or address.is_private or address in _CGNAT:
        return True
    own = set()
    for value in getattr(settings, "NUSANTARA_PUBLIC_ADDRESSES", []) or []:
        try:
            own.add(ipaddress.ip_address(str(value).strip()))
        except ValueError:
            continue
    return address in own
