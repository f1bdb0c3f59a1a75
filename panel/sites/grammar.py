"""What may reach an nginx vhost, value by value: allowlists of what nginx needs there.

Every rule is a full match over ASCII. Nothing that can end a token or a directive (whitespace,
quotes, `;{}#`, `$`, backslashes, control characters) is in any of them, whatever a parser such as
`ipaddress` would accept: `ipaddress.IPv6Address("fe80::1%x\\n}")` is valid Python, and was a
way into the vhost. The services use these rules (with a translated message for the form), and
the renderer (panel.sites.nginx) refuses any value outside them before a vhost is written.
"""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PORT = r"[1-9][0-9]{0,4}"

# A stored domain: lower-case punycode labels, at least two, the last one not all digits.
DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}", re.ASCII)
# An upstream host name: like a domain, but one label (`localhost`, `app`) is fine.
HOSTNAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}", re.ASCII)
# A dotted quad in canonical form: no leading zeros, no fewer than four parts.
IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)
# The inside of a bracketed IPv6 address: hex digits, colons and (mapped v4) dots; no zone id.
IPV6 = re.compile(r"[0-9a-f:.]{2,45}", re.ASCII)
PORT = re.compile(_PORT, re.ASCII)
# Absolute paths made of plain names (no `.`/`..` segments, checked below).
PATH = re.compile(r"/[A-Za-z0-9._/+@-]*", re.ASCII)
# A file name relative to nginx's own conf dir (`fastcgi_params` when no absolute one exists).
RELATIVE_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*", re.ASCII)
BODY_SIZE = re.compile(r"[0-9]{1,9}[kKmMgG]?", re.ASCII)
LISTEN = re.compile(
    rf"(?:(?:{_OCTET}(?:\.{_OCTET}){{3}}|\[[0-9a-fA-F:.]{{2,45}}\]|\*|{_LABEL}(?:\.{_LABEL})*):)?"
    rf"{_PORT}",
    re.ASCII,
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
# A hex or octal number where an address is expected: glibc's inet_aton reads `0x7f000001`.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.ASCII)


def is_domain(value: str) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= 253
        and DOMAIN.fullmatch(value) is not None
        and not value.rsplit(".", 1)[-1].isdigit()
    )


def is_port(value: str) -> bool:
    return isinstance(value, str) and PORT.fullmatch(value) is not None and int(value) <= 65535


def is_path(value: str) -> bool:
    if not isinstance(value, str) or PATH.fullmatch(value) is None:
        return False
    return not any(part in (".", "..") for part in value.split("/"))


def is_body_size(value: str) -> bool:
    return isinstance(value, str) and BODY_SIZE.fullmatch(value) is not None


def is_listen(value: str) -> bool:
    if not isinstance(value, str) or LISTEN.fullmatch(value) is None:
        return False
    return is_port(value.rsplit(":", 1)[-1])


def is_upstream_host(value: str) -> bool:
    """A host name, a canonical dotted quad, or a canonical bracketed IPv6 without zone id."""
    if not isinstance(value, str):
        return False
    if value.startswith("["):
        inner = value[1:-1]
        if not value.endswith("]") or IPV6.fullmatch(inner) is None:
            return False
        try:
            return ipaddress.IPv6Address(inner).compressed == inner
        except ValueError:
            return False
    if IPV4.fullmatch(value):
        return True
    return (
        len(value) <= 253
        and HOSTNAME.fullmatch(value) is not None
        and _NUMERIC_LABEL.fullmatch(value.rsplit(".", 1)[-1]) is None
    )


def is_upstream(value: str) -> bool:
    if not isinstance(value, str):
        return False
    host, sep, port = value.rpartition(":")
    return bool(sep) and is_upstream_host(host) and is_port(port)


def split_upstream(value: str) -> tuple[str, int]:
    """(host, port) of an upstream that passed `is_upstream`; the host keeps IPv6 brackets."""
    host, _sep, port = value.rpartition(":")
    return host, int(port)


def normalize_upstream(value: str | None) -> str:
    """Return the canonical `host:port` of a proxy upstream, or raise ValidationError.

    Syntax only: panel.sites.upstreams decides which addresses and ports are allowed."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(_("Enter the upstream as host:port, e.g. 127.0.0.1:3000."))
    if raw.lower().startswith("unix:"):
        raise ValidationError(
            _("A unix socket cannot be an upstream: give host:port, e.g. 127.0.0.1:3000.")
        )
    if "://" in raw:
        raise ValidationError(
            _("Give the upstream without a scheme, as host:port, e.g. 127.0.0.1:3000.")
        )
    if not raw.isascii() or any(not ch.isprintable() or ch.isspace() for ch in raw):
        raise ValidationError(
            _("The upstream may contain only letters, digits, dots, hyphens, colons and [ ].")
        )
    if raw.startswith("["):
        inner, sep, port = raw[1:].partition("]:")
        if not sep:
            raise ValidationError(_("Write an IPv6 upstream as [address]:port."))
        if "%" in inner:
            raise ValidationError(_("An IPv6 upstream cannot have a zone id (%…)."))
        try:
            if IPV6.fullmatch(inner.lower()) is None:
                raise ValueError(inner)
            host = f"[{ipaddress.IPv6Address(inner).compressed}]"
        except ValueError:
            raise ValidationError(
                _("“%(host)s” is not a valid IPv6 address.") % {"host": inner[:100]}
            )
    else:
        host, sep, port = raw.rpartition(":")
        if not sep or not host:
            raise ValidationError(_("Enter the upstream as host:port, e.g. 127.0.0.1:3000."))
        host = host.lower()
        if not IPV4.fullmatch(host):
            if _looks_numeric(host):
                raise ValidationError(
                    _(
                        "Write an IPv4 upstream as four decimal numbers without leading "
                        "zeros, e.g. 127.0.0.1 (not %(host)s)."
                    )
                    % {"host": host[:100]}
                )
            if not is_upstream_host(host):
                raise ValidationError(_("The upstream host must be a host name or an IP address."))
    if not is_port(port):
        raise ValidationError(
            _("The upstream port must be a number from 1 to 65535, without leading zeros.")
        )
    value = f"{host}:{port}"
    assert is_upstream(value), value  # the grammar the renderer applies agrees
    return value


def _looks_numeric(host: str) -> bool:
    """`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`: the C library reads them as
    addresses, so they are refused rather than guessed at."""
    return all(_NUMERIC_LABEL.fullmatch(label) for label in host.split(".") if label) or (
        _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]) is not None
    )
