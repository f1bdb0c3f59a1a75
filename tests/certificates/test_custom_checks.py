"""Upload checks: every bad certificate is refused with its own message; the key never leaks."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from panel.certificates.custom import MAX_CHAIN_CERTS, MAX_UPLOAD_BYTES, check_upload, covers

from .certgen import cert_pem, key_pem, make_ca, make_leaf

DOMAIN = "shop.example.com"


def refused(chain: str, key: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        check_upload(DOMAIN, chain, key)
    return info.value


def test_good_chain_and_key_pass_and_report_expiry():
    ca = make_ca()
    key, leaf = make_leaf([DOMAIN], ca=ca)
    checked = check_upload(DOMAIN, cert_pem(leaf) + cert_pem(ca[1]), key_pem(key))
    assert checked.info.expires_at == leaf.not_valid_after_utc
    assert checked.fullchain_pem.count("BEGIN CERTIFICATE") == 2


def test_non_pem_certificate_is_refused():
    key, _leaf = make_leaf([DOMAIN])
    err = refused("hello, this is not a certificate", key_pem(key))
    assert err.code == "cert_not_pem"
    assert "PEM" in err.messages[0]


def test_damaged_pem_certificate_is_refused():
    key, leaf = make_leaf([DOMAIN])
    broken = cert_pem(leaf).replace("A", "!", 5)
    assert refused(broken, key_pem(key)).code == "cert_not_pem"


def test_non_pem_key_is_refused():
    _key, leaf = make_leaf([DOMAIN])
    assert refused(cert_pem(leaf), "not a key").code == "key_not_pem"


def test_encrypted_key_is_refused_with_its_own_message():
    key, leaf = make_leaf([DOMAIN])
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ).decode()
    assert refused(cert_pem(leaf), encrypted).code == "key_encrypted"


def test_key_that_does_not_match_is_refused_and_not_quoted():
    _key, leaf = make_leaf([DOMAIN])
    other = key_pem(ec.generate_private_key(ec.SECP256R1()))
    err = refused(cert_pem(leaf), other)
    assert err.code == "key_mismatch"
    body = other.splitlines()[1]
    assert body not in str(err)


def test_certificate_for_another_domain_is_refused_naming_both():
    key, leaf = make_leaf(["other.example.org"])
    err = refused(cert_pem(leaf), key_pem(key))
    assert err.code == "wrong_domain"
    assert DOMAIN in err.messages[0] and "other.example.org" in err.messages[0]


def test_expired_certificate_is_refused():
    now = dt.datetime.now(dt.UTC)
    key, leaf = make_leaf(
        [DOMAIN], not_before=now - dt.timedelta(days=100), not_after=now - dt.timedelta(days=1)
    )
    err = refused(cert_pem(leaf), key_pem(key))
    assert err.code == "expired"


def test_not_yet_valid_certificate_is_refused():
    now = dt.datetime.now(dt.UTC)
    key, leaf = make_leaf(
        [DOMAIN], not_before=now + dt.timedelta(days=2), not_after=now + dt.timedelta(days=90)
    )
    assert refused(cert_pem(leaf), key_pem(key)).code == "not_yet_valid"


def test_each_refusal_has_a_distinct_message():
    now = dt.datetime.now(dt.UTC)
    key, leaf = make_leaf([DOMAIN])
    wrong_key, wrong = make_leaf(["x.example.org"])
    old_key, old = make_leaf(
        [DOMAIN], not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(days=1)
    )
    new_key, new = make_leaf(
        [DOMAIN], not_before=now + dt.timedelta(days=9), not_after=now + dt.timedelta(days=19)
    )
    other = key_pem(ec.generate_private_key(ec.SECP256R1()))
    messages = {
        refused("junk", key_pem(key)).messages[0],
        refused(cert_pem(leaf), "junk").messages[0],
        refused(cert_pem(leaf), other).messages[0],
        refused(cert_pem(wrong), key_pem(wrong_key)).messages[0],
        refused(cert_pem(old), key_pem(old_key)).messages[0],
        refused(cert_pem(new), key_pem(new_key)).messages[0],
    }
    assert len(messages) == 6


@pytest.mark.parametrize(
    ("name", "domain", "expected"),
    [
        ("a.example.com", "a.example.com", True),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "b.a.example.com", False),
        ("b.example.com", "a.example.com", False),
    ],
)
def test_wildcard_covers_exactly_one_label(name, domain, expected):
    assert covers(name, domain) is expected


def _intermediate(ca):
    """An intermediate CA signed by `ca`: (key, cert)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Upload test intermediate")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca[0], hashes.SHA256())
    )
    return key, cert


def test_a_chain_in_order_through_an_intermediate_passes():
    root = make_ca()
    inter = _intermediate(root)
    key, leaf = make_leaf([DOMAIN], ca=inter)
    checked = check_upload(
        DOMAIN, cert_pem(leaf) + cert_pem(inter[1]) + cert_pem(root[1]), key_pem(key)
    )
    assert checked.fullchain_pem.count("BEGIN CERTIFICATE") == 3


def test_copies_of_the_leaf_as_the_chain_are_refused():
    key, leaf = make_leaf([DOMAIN])
    err = refused(cert_pem(leaf) * 3, key_pem(key))
    assert err.code == "cert_chain_duplicate"
    assert "Certificate 2 in the chain is a copy" in err.messages[0]


def test_a_chain_out_of_order_is_refused_naming_the_certificates():
    root = make_ca()
    inter = _intermediate(root)
    key, leaf = make_leaf([DOMAIN], ca=inter)
    err = refused(cert_pem(leaf) + cert_pem(root[1]) + cert_pem(inter[1]), key_pem(key))
    assert err.code == "cert_chain_order"
    assert "Certificate 1 in the chain" in err.messages[0]
    assert "Upload test CA" in err.messages[0]


def test_an_unrelated_certificate_after_the_leaf_is_refused():
    key, leaf = make_leaf([DOMAIN], ca=make_ca())
    stranger = make_ca()[1]
    assert refused(cert_pem(leaf) + cert_pem(stranger), key_pem(key)).code == "cert_chain_order"


def test_a_forged_issuer_with_the_right_name_but_wrong_signature_is_refused():
    # Same subject name as the real CA, different key: only the signature check can tell.
    real = make_ca()
    key, leaf = make_leaf([DOMAIN], ca=real)
    forged = make_ca()
    assert forged[1].subject == real[1].subject
    err = refused(cert_pem(leaf) + cert_pem(forged[1]), key_pem(key))
    assert err.code == "cert_chain_order"


def test_a_chain_longer_than_the_cap_is_refused():
    cas = [make_ca()]
    for _ in range(MAX_CHAIN_CERTS):
        cas.append(_intermediate(cas[-1]))
    key, leaf = make_leaf([DOMAIN], ca=cas[-1])
    chain = cert_pem(leaf) + "".join(cert_pem(c[1]) for c in reversed(cas))
    err = refused(chain, key_pem(key))
    assert err.code == "cert_chain_too_long"
    assert f"at most {MAX_CHAIN_CERTS}" in err.messages[0]


def test_an_oversized_upload_is_refused_before_parsing():
    key, leaf = make_leaf([DOMAIN])
    padding = "\n" + "A" * MAX_UPLOAD_BYTES
    err = refused(cert_pem(leaf) + padding, key_pem(key))
    assert err.code == "cert_too_large"
    assert "64 KiB" in err.messages[0]
    assert refused(cert_pem(leaf), key_pem(key) + padding).code == "key_too_large"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "AAAA",
        "\x00",
        "ÄÖ",
        "MAA=",
        "////",
    ],
)
@pytest.mark.parametrize("label", ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])
def test_malformed_private_keys_are_refused_with_a_message(label, body):
    _key, leaf = make_leaf([DOMAIN])
    key = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"
    assert refused(cert_pem(leaf), key).code in ("key_not_pem", "key_encrypted")
