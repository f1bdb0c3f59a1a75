"""Domain rules in one place: normalise to lower-case punycode, validate, display as Unicode."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import idna
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalize_domain(value: str) -> str:
    """Return the stored form of a domain (punycode, lower case, no trailing dot) or raise
    ValidationError with a message a customer understands."""
    if value is None:
        raise ValidationError(_("Enter a domain name."), code="required")
    raw = str(value).strip()
    if not raw:
        raise ValidationError(_("Enter a domain name."), code="required")
    if raw.endswith("."):
        raw = raw[:-1]
    if any(ch.isspace() for ch in raw):
        raise ValidationError(_("A domain name cannot contain spaces."), code="space")
    if "*" in raw:
        raise ValidationError(_("Wildcard domains are not supported yet."), code="wildcard")
    if "_" in raw:
        raise ValidationError(_("A domain name cannot contain underscores (_)."), code="underscore")
    if raw.startswith("[") or _is_ip(raw):
        raise ValidationError(_("Enter a domain name, not an IP address."), code="ip")
    if ".." in raw or raw.startswith("."):
        raise ValidationError(_("A domain name cannot contain empty labels."), code="empty_label")
    try:
        ascii_name = idna.encode(raw.lower(), uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        raise ValidationError(
            _("“%(value)s” is not a valid domain name (%(reason)s).")
            % {"value": raw[:100], "reason": str(exc)[:100]},
            code="idna",
        )
    except UnicodeError:
        raise ValidationError(_("This domain name is too long or has an empty label."), code="long")
    ascii_name = ascii_name.lower()
    if len(ascii_name) > 253:
        raise ValidationError(
            _("A domain name can be at most 253 characters long."), code="too_long"
        )
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValidationError(_("Enter a full domain name such as example.com."), code="one_label")
    for label in labels:
        if not label:
            raise ValidationError(
                _("A domain name cannot contain empty labels."), code="empty_label"
            )
        if len(label) > 63:
            raise ValidationError(
                _("Each part of a domain name can be at most 63 characters long."),
                code="label_too_long",
            )
        if label.startswith("-") or label.endswith("-"):
            raise ValidationError(
                _("A part of a domain name cannot start or end with a hyphen."), code="hyphen"
            )
        if not _LABEL.fullmatch(label):
            raise ValidationError(
                _("A domain name may contain only letters, digits, hyphens and dots."),
                code="characters",
            )
    if labels[-1].isdigit():
        raise ValidationError(_("Enter a domain name, not an IP address."), code="ip")
    return ascii_name


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def to_unicode(domain: str) -> str:
    """Unicode form for display; falls back to the stored form when it cannot be decoded, and
    keeps it for a lookalike (_mixes_confusable_scripts): `kеdai.co.id` with a Cyrillic е is
    another name than the neighbour's `kedai.co.id`, and is shown as `xn--kdai-v4d.co.id`."""
    try:
        decoded = idna.decode(domain)
    except (idna.IDNAError, UnicodeError):
        return domain
    if any(_mixes_confusable_scripts(label) for label in decoded.split(".")):
        return domain
    return decoded


_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})


def _mixes_confusable_scripts(label: str) -> bool:
    """Whether a label has letters of two of Latin, Cyrillic and Greek, whose letters look
    alike (а/a, е/e, о/o, ο/o): the classic homograph, which browsers also show as xn--."""
    scripts = set()
    for ch in label:
        if ch.isascii():
            if ch.isalpha():
                scripts.add("LATIN")
            continue
        script = unicodedata.name(ch, "").split(" ", 1)[0]
        if script in _CONFUSABLE_SCRIPTS:
            scripts.add(script)
    return len(scripts) > 1


def panel_host_names() -> tuple[set[str], set[str]]:
    """The panel's own host names, normalised: (exact names, parents of forbidden subdomains).

    From ALLOWED_HOSTS and NUSANTARA_PANEL_HOSTS: `*` is skipped, `.example.com` stands for the
    name and every subdomain, IP addresses and names that are not domains are kept as written."""
    from django.conf import settings

    exact: set[str] = set()
    parents: set[str] = set()
    entries = [*settings.ALLOWED_HOSTS, *getattr(settings, "NUSANTARA_PANEL_HOSTS", [])]
    for entry in entries:
        name = str(entry).strip()
        if not name or name == "*":
            continue
        wildcard = name.startswith(".") or name.startswith("*.")
        name = name.lstrip("*").lstrip(".")
        try:
            name = normalize_domain(name)
        except ValidationError:
            name = name.lower().rstrip(".")
        exact.add(name)
        if wildcard:
            parents.add(name)
    return exact, parents


def ensure_not_panel_host(domain: str) -> None:
    """Raise ValidationError when `domain` (normalised) is one of the panel's own names: a site
    there would take the panel's address (and its certificate) from everyone, admins included."""
    exact, parents = panel_host_names()
    if domain in exact or any(domain.endswith(f".{parent}") for parent in parents):
        raise ValidationError(
            _("%(domain)s is the control panel's own address and cannot be used for a site.")
            % {"domain": to_unicode(domain)},
            code="panel_host",
        )


# Public suffixes of more than one label, for `is_apex` only (the panel ships no copy of the
# Public Suffix List): Indonesia's second-level names and the most common elsewhere. A name
# under a suffix missing here counts as a subdomain, which only changes the default of the
# "also serve www." option on the new-site form.
MULTI_LABEL_SUFFIXES = frozenset(
    {
        "ac.id", "biz.id", "co.id", "desa.id", "go.id", "mil.id", "my.id", "net.id", "or.id",
        "ponpes.id", "sch.id", "web.id",
        "ac.uk", "co.uk", "gov.uk", "org.uk", "me.uk", "com.au", "net.au", "org.au", "co.jp",
        "com.sg", "com.my", "co.nz", "com.br", "co.za", "co.in", "com.cn", "com.tw", "com.hk",
    }
)  # fmt: skip


def is_apex(domain: str) -> bool:
    """Whether a normalised name is one label above a public suffix (`example.co.id`,
    `example.com`), as opposed to a subdomain (`shop.example.com`, `www.example.co.id`)."""
    labels = domain.split(".")
    suffix_labels = 2 if ".".join(labels[-2:]) in MULTI_LABEL_SUFFIXES else 1
    return len(labels) == suffix_labels + 1


def www_name(domain: str) -> str:
    """`www.` + a normalised name (the alias the new-site form's `www` option adds)."""
    return f"www.{domain}"
