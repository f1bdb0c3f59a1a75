"""The ACME client against a real Pebble: issuance, account reuse, the CA's own error words."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings

from panel.certificates import acme

pytestmark = pytest.mark.services


def test_issues_an_ecdsa_certificate_chaining_to_pebbles_root(pebble):
    issued = acme.issue(["acme-one.example.com"])
    chain = x509.load_pem_x509_certificates(issued.fullchain_pem.encode())
    leaf = chain[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["acme-one.example.com"]
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(leaf.public_key().curve, ec.SECP256R1)
    root = x509.load_pem_x509_certificate(pebble.root_pem)
    # The last certificate of the chain is issued by Pebble's root.
    assert chain[-1].issuer == root.subject
    chain[-1].verify_directly_issued_by(root)
    # The challenge file is gone after the order.
    leftover = list((settings.NUSANTARA_CHALLENGE_DIR / ".well-known" / "acme-challenge").iterdir())
    assert leftover == []


def test_rsa_keys_when_configured(pebble, settings):
    settings.NUSANTARA_ACME_KEY_TYPE = "rsa"
    issued = acme.issue(["acme-rsa.example.com"])
    leaf = x509.load_pem_x509_certificates(issued.fullchain_pem.encode())[0]
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey)
    assert leaf.public_key().key_size == 2048


def test_account_key_is_private_and_reused(pebble):
    acme.issue(["acme-reuse-1.example.com"])
    directory = acme.account_dir()
    key_file, url_file = directory / "account_key.json", directory / "account_url"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = (key_file.read_text(), url_file.read_text())
    acme.issue(["acme-reuse-2.example.com"])
    assert (key_file.read_text(), url_file.read_text()) == before


def test_unresolvable_name_fails_with_pebbles_words(pebble):
    pebble.resolve_nowhere("acme-nowhere.example.com")
    with pytest.raises(acme.AcmeError) as info:
        acme.issue(["acme-nowhere.example.com"])
    message = str(info.value)
    assert "acme-nowhere.example.com" in message
    assert "http-01" in message
    # Pebble's own words about what it saw.
    assert "could not resolve" in message or "SERVFAIL" in message
