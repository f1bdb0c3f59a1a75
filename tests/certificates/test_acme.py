"""The ACME client against a real Pebble validating through the suite's nginx."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings

from panel.certificates import acme

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_issues_an_ecdsa_certificate_chaining_to_pebbles_root(pebble, live_site):
    site = live_site("acme-one")
    issued = acme.issue([site.domain])
    chain = x509.load_pem_x509_certificates(issued.fullchain_pem.encode())
    leaf = chain[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [site.domain]
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(leaf.public_key().curve, ec.SECP256R1)
    root = x509.load_pem_x509_certificate(pebble.root_pem)
    assert chain[-1].issuer == root.subject
    chain[-1].verify_directly_issued_by(root)
    # The challenge file is gone after the order.
    challenge_dir = settings.NUSANTARA_CHALLENGE_DIR / ".well-known" / "acme-challenge"
    assert list(challenge_dir.iterdir()) == []


def test_rsa_keys_when_configured(pebble, live_site, settings):
    site = live_site("acme-rsa")
    settings.NUSANTARA_ACME_KEY_TYPE = "rsa"
    issued = acme.issue([site.domain])
    leaf = x509.load_pem_x509_certificates(issued.fullchain_pem.encode())[0]
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey)
    assert leaf.public_key().key_size == 2048


def test_account_key_is_private_and_reused(pebble, live_site):
    acme.issue([live_site("acme-reuse").domain])
    directory = acme.account_dir()
    key_file, url_file = directory / "account_key.json", directory / "account_url"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = (key_file.read_text(), url_file.read_text())
    acme.issue([live_site("acme-reuse").domain])
    assert (key_file.read_text(), url_file.read_text()) == before


def test_unresolvable_name_fails_with_pebbles_words(pebble, live_site):
    site = live_site("acme-nowhere")
    pebble.resolve_nowhere(site.domain)
    with pytest.raises(acme.AcmeError) as info:
        acme.issue([site.domain])
    message = str(info.value)
    # First what it means for the customer, then Pebble's own words about what it saw.
    assert message.startswith(
        f"{site.domain}: The CA could not look up {site.domain} in DNS: the name has no address"
    ), message
    assert "Point its A/AAAA record to this server" in message
    assert "The CA's http-01 check said:" in message
    assert "could not resolve" in message or "SERVFAIL" in message


def test_challenge_path_not_served_fails_with_what_pebble_saw(pebble, unique_domain, nginx):
    # No vhost for this name: nginx's default server answers 404 for the token.
    domain = unique_domain("acme-404")
    with pytest.raises(acme.AcmeError) as info:
        acme.issue([domain])
    message = str(info.value)
    assert message.startswith(f"{domain}: The CA could not find the challenge file at "), message
    assert f"http://{domain}/.well-known/acme-challenge/" in message
    assert "returned 404" in message  # Pebble's words


def test_an_account_the_ca_forgot_is_registered_again(pebble, live_site):
    acme.issue([live_site("acme-forgot").domain])
    url_file = acme.account_dir() / "account_url"
    url_file.write_text(url_file.read_text().rsplit("/", 1)[0] + "/no-such-account")
    acme.issue([live_site("acme-forgot").domain])
    assert not url_file.read_text().endswith("/no-such-account")
