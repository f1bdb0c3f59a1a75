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
