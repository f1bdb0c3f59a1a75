"""Upload checks: every bad certificate is refused with its own message; the key never leaks."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ValidationError

from panel.certificates.custom import check_upload, covers

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
