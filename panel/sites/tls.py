"""The TLS profile of customer vhosts: Mozilla's "intermediate" configuration (version 5.7, the
one sslyze checks against), and whether a certificate can have OCSP stapling.

See docs/security.md for the choices (why these ciphers, why one shared session cache, why
stapling only when the certificate names an OCSP responder).
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

logger = logging.getLogger(__name__)

# https://ssl-config.mozilla.org/guidelines/5.7.json, "intermediate". The DHE suites only work
# with `ssl_dhparam`, which we do not set: nginx then simply never offers them.
MOZILLA_INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
)
SSL_CIPHERS = ":".join(MOZILLA_INTERMEDIATE_CIPHERS)
SSL_ECDH_CURVE = "X25519:prime256v1:secp384r1"
# One zone for every vhost: each file declares it identically (name and size), so nginx creates
# it once, whatever the main config and however many vhosts there are. 10 MB holds about
# 40,000 sessions; nginx keys them by server, so a session never resumes on another site.
SSL_SESSION_ZONE = "nusantara_sites:10m"


def has_ocsp_responder(fullchain: Path) -> bool:
    """Whether the leaf certificate names an OCSP responder and its issuer is in the chain.

    Let's Encrypt stopped putting OCSP URLs in its certificates in 2025; for those (and for
    Pebble's) stapling would only make nginx warn "ssl_stapling ignored" on every reload. A
    certificate that does name one (an uploaded commercial certificate) gets stapling with
    `ssl_stapling_verify on`. An unreadable file gives False: nginx's own test reports it."""
    try:
        chain = x509.load_pem_x509_certificates(fullchain.read_bytes())
    except (OSError, ValueError) as exc:
        logger.warning("cannot read %s for OCSP stapling: %s", fullchain, exc)
        return False
    if len(chain) < 2:  # nginx needs the issuer to check the stapled answer
        return False
    try:
        aia = chain[0].extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return False
    return any(
        desc.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(desc.access_location, x509.UniformResourceIdentifier)
        for desc in aia
    )


def certificate_names(pem: bytes | str) -> set[str]:
    """The DNS names of a PEM chain's leaf certificate (its subjectAltName), lower case;
    a `*.parent` wildcard is kept as written. ValueError when the PEM has no certificate."""
    data = pem.encode() if isinstance(pem, str) else pem
    leaf = x509.load_pem_x509_certificates(data)[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {name.lower().rstrip(".") for name in san.get_values_for_type(x509.DNSName)}


def covers(sans: set[str], name: str) -> bool:
    """Whether a certificate with these names is valid for `name` (one wildcard label)."""
    if name in sans:
        return True
    _label, _dot, parent = name.partition(".")
    return bool(parent) and f"*.{parent}" in sans


def covered_names(fullchain: Path, names: list[str], *, fallback: str) -> set[str]:
    """Which of `names` the installed certificate is valid for. An unreadable file gives
    {fallback} (the primary), so the vhost still refers to it and nginx's test says what is
    wrong with it."""
    try:
        sans = certificate_names(fullchain.read_bytes())
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the names of %s: %s", fullchain, exc)
        return {fallback}
    return {name for name in names if covers(sans, name)}
