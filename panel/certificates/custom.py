"""Checks for an uploaded certificate: each problem refused with its own message.

The private key never appears in a message, a log line or an exception's text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from .files import CertInfo

# A real chain is the certificate and one to three intermediates, a few KiB of PEM; more is a
# mistake or an attempt to make nginx load something huge on every handshake.
MAX_CHAIN_CERTS = 10
MAX_UPLOAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class CheckedUpload:
    fullchain_pem: str
    key_pem: str
    info: CertInfo


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        # Browsers ignore the CN; so do we.
        return []


def covers(name: str, domain: str) -> bool:
    """RFC 6125 matching: exact, or a wildcard for exactly one left-most label."""
    if name == domain:
        return True
    if name.startswith("*."):
        head, _sep, rest = domain.partition(".")
        return bool(head) and rest == name[2:]
    return False


def check_upload(domain: str, chain_pem: str, key_pem: str) -> CheckedUpload:
    """Validate a PEM chain + key for `domain`; raise ValidationError with a specific code."""
    chain_pem = (chain_pem or "").strip()
    key_pem = (key_pem or "").strip()
    limit = {"size": MAX_UPLOAD_BYTES // 1024}
    if len(chain_pem.encode(errors="replace")) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            _(
                "The certificate chain is larger than %(size)s KiB; upload only the certificate "
                "and its intermediates."
            )
            % limit,
            code="cert_too_large",
        )
    if len(key_pem.encode(errors="replace")) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            _("The private key is larger than %(size)s KiB; upload only the key.") % limit,
            code="key_too_large",
        )
    if "-----BEGIN CERTIFICATE-----" not in chain_pem:
        raise ValidationError(
            _(
                "The certificate is not in PEM format "
                "(it must start with -----BEGIN CERTIFICATE-----)."
            ),
            code="cert_not_pem",
        )
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        raise ValidationError(
            _("The certificate could not be read: the PEM data is damaged or incomplete."),
            code="cert_not_pem",
        )
    _check_chain(certs)
    if "PRIVATE KEY-----" not in key_pem:
        raise ValidationError(
            _(
                "The private key is not in PEM format "
                "(it must start with -----BEGIN PRIVATE KEY-----)."
            ),
            code="key_not_pem",
        )
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        raise ValidationError(
            _("The private key is protected by a passphrase; upload it without one."),
            code="key_encrypted",
        )
    except (ValueError, UnsupportedAlgorithm):
        # Deliberately without the exception text: it could quote key material.
        raise ValidationError(
            _("The private key could not be read: the PEM data is damaged or not a key."),
            code="key_not_pem",
        )
    leaf = certs[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise ValidationError(
            _("The private key does not match the certificate."), code="key_mismatch"
        )
    names = _names(leaf)
    if not any(covers(n, domain) for n in names):
        raise ValidationError(
            _("The certificate does not cover %(domain)s (it is for: %(names)s).")
            % {"domain": domain, "names": ", ".join(names) or _("no DNS names")},
            code="wrong_domain",
        )
    now = timezone.now()
    if leaf.not_valid_before_utc > now:
        raise ValidationError(
            _("The certificate is not valid yet (valid from %(when)s).")
            % {"when": _fmt(leaf.not_valid_before_utc)},
            code="not_yet_valid",
        )
    if leaf.not_valid_after_utc <= now:
        raise ValidationError(
            _("The certificate has expired (on %(when)s).")
            % {"when": _fmt(leaf.not_valid_after_utc)},
            code="expired",
        )
    # Normalised PEM: exactly what was parsed, so nginx reads what we checked.
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
    key_out = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = CertInfo(
        serial=format(leaf.serial_number, "x"),
        not_before=leaf.not_valid_before_utc,
        expires_at=leaf.not_valid_after_utc,
    )
    return CheckedUpload(fullchain_pem=pem, key_pem=key_out, info=info)


def _check_chain(certs: list[x509.Certificate]) -> None:
    """The chain is the certificate, then each issuer in order: every certificate is signed by
    the next one. The last one is not checked against a root store (nginx does not either)."""
    if len(certs) > MAX_CHAIN_CERTS:
        raise ValidationError(
            _("The chain has %(count)s certificates; at most %(max)s are accepted.")
            % {"count": len(certs), "max": MAX_CHAIN_CERTS},
            code="cert_chain_too_long",
        )
    seen: set[bytes] = set()
    for position, cert in enumerate(certs, start=1):
        der = cert.public_bytes(serialization.Encoding.DER)
        if der in seen:
            raise ValidationError(
                _(
                    "Certificate %(n)s in the chain is a copy of an earlier one; upload each "
                    "certificate once."
                )
                % {"n": position},
                code="cert_chain_duplicate",
            )
        seen.add(der)
    for position, (cert, issuer) in enumerate(zip(certs, certs[1:], strict=False), start=1):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise ValidationError(
                _(
                    "Certificate %(n)s in the chain (%(subject)s) is not issued by the certificate "
                    "after it (%(next)s). Put the certificate first, then each intermediate in "
                    "order."
                )
                % {
                    "n": position,
                    "subject": _subject(cert),
                    "next": _subject(issuer),
                },
                code="cert_chain_order",
            )


def _subject(cert: x509.Certificate) -> str:
    try:
        text = cert.subject.rfc4514_string()
    except ValueError:
        text = ""
    return (text or "?")[:200]


def _fmt(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")
