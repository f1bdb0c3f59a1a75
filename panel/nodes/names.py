"""What a node's name and address may be. The name becomes a django-q2 queue name (a Redis key
and an ORM `key`), so it follows one strict grammar; the address is a host name or an IP."""

from __future__ import annotations

import ipaddress
import re
import socket

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalize_name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise ValidationError(_("Enter the node's name."), code="required")
    if not re.fullmatch(settings.NODE_NAME_RE, name):
        raise ValidationError(
            _(
                "A node name is 1-63 lower-case letters (a-z), digits and hyphens, and does not "
                "start or end with a hyphen, for example web-2."
            ),
            code="grammar",
        )
    if name in settings.NODE_RESERVED_NAMES:
        raise ValidationError(
            _("%(name)s is reserved for the task queue; choose another node name.")
            % {"name": name},
            code="reserved",
        )
    return name


def _inet_aton_reads(name: str) -> bool:
    """True when inet_aton (the resolver's shorthand parser) takes `name` for an IPv4 address."""
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def normalize_address(value: str) -> str:
    """An IPv4/IPv6 address (no zone id) or a host name in lower case, without a port."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(_("Enter the node's host name or IP address."), code="required")
    candidate = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    if "%" in candidate:
        raise ValidationError(_("A node's address cannot carry an IPv6 zone id."))
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        pass
    else:
        if ip.is_unspecified or ip.is_multicast:
            raise ValidationError(
                _("%(address)s cannot be a node's address.") % {"address": ip}, code="ip"
            )
        return str(ip)
    name = raw.lower().rstrip(".")
    labels = name.split(".")
    if (
        len(name) > 253
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
        # 10.0.1, 2130706433, 0x7f000001 or 1.0x7f: shorthand that resolvers read as an IP address.
        or labels[-1].isdigit()
        or _inet_aton_reads(name)
    ):
        raise ValidationError(
            _(
                "Enter a host name (letters, digits, hyphens and dots, such as web-2.example.net) "
                "or an IP address, without a port or a path."
            ),
            code="grammar",
        )
    return name
