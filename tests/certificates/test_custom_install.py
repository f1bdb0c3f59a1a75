"""Uploading a certificate (provider `custom`) through the real nginx."""

from __future__ import annotations

import stat

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from panel.audit.models import AuditLog
from panel.certificates.models import CertStatus, Provider, SslCertificate
from panel.certificates.services import certificate_upload, due_for_renewal

from .certgen import cert_pem, key_pem, make_ca, make_leaf
from .conftest import https_fetch, wait_https

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture(scope="module")
def upload_ca(tmp_path_factory):
    ca = make_ca()
    path = tmp_path_factory.mktemp("upload-ca") / "ca.pem"
    path.write_text(cert_pem(ca[1]))
    return ca, str(path)


def test_good_upload_serves_over_https(nginx, owner, live_site, upload_ca):
    ca, ca_file = upload_ca
    site = live_site("custom", created_by=owner)
    key, leaf = make_leaf([site.domain], ca=ca)
    cert = certificate_upload(
        user=owner, site=site, chain_pem=cert_pem(leaf) + cert_pem(ca[1]), key_pem=key_pem(key)
    )
    assert (cert.provider, cert.status) == (Provider.CUSTOM, CertStatus.ISSUED)
    assert cert.expires_at == leaf.not_valid_after_utc
    serial = format(leaf.serial_number, "x")
    wait_https(nginx, site.domain, ca_file, serial)
    resp = https_fetch(nginx, site.domain, ca_file)
    assert resp.status == 200 and site.domain in resp.body
    keyfile = settings.NUSANTARA_CERT_DIR / site.domain / "privkey.pem"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    entry = AuditLog.objects.get(action="ssl.uploaded")
    assert "BEGIN" not in str(entry.metadata)
    # Renewal never touches an uploaded certificate.
    assert cert not in due_for_renewal(cert.expires_at)


def test_bad_upload_changes_nothing(nginx, owner, live_site):
    site = live_site("custom-bad", created_by=owner)
    conf = (settings.NUSANTARA_NGINX_CONF_DIR / f"{site.domain}.conf").read_text()
    key, _leaf = make_leaf([site.domain])
    _other_key, other = make_leaf(["elsewhere.example.org"])
    with pytest.raises(ValidationError) as info:
        certificate_upload(user=owner, site=site, chain_pem=cert_pem(other), key_pem=key_pem(key))
    assert info.value.code == "key_mismatch"
    assert not SslCertificate.objects.filter(site=site).exists()
    assert not (settings.NUSANTARA_CERT_DIR / site.domain / "privkey.pem").exists()
    assert (settings.NUSANTARA_NGINX_CONF_DIR / f"{site.domain}.conf").read_text() == conf
    assert nginx.get(site.domain).status == 200
