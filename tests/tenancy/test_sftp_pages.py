"""The SFTP page and card: what an owner sees and sends, what an outsider gets, and the
services' refusals shown next to the field (no worker needed: jobs stay queued here)."""

from __future__ import annotations

import pytest

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.tenancy.models import SiteSshKey
from tests.factories import SiteFactory

from .keygen import ed25519_pair, rsa_line


@pytest.fixture
def site(owner):
    site = SiteFactory(created_by=owner)
    site.system_user = "np" + site.pk.hex[:10]
    site.save()
    return site


def _url(site) -> str:
    return f"/sites/{site.pk}/sftp/"


def test_owner_adds_a_key_and_the_card_shows_it(owner_client, site, settings):
    settings.NUSANTARA_SFTP_PORT = 2222
    line = ed25519_pair("budi@laptop")[1]
    response = owner_client.post(_url(site), {"public_key": line + "\n"})
    assert response.status_code == 302 and response["Location"].endswith("#sftp")
    key = SiteSshKey.objects.get(site=site)
    assert key.public_key == line and key.comment == "budi@laptop"
    job = Job.objects.get(site_id=site.pk, type="sftp.keys")
    assert job.payload == {"domain": site.domain, "user": site.system_user}
    audit = AuditLog.objects.get(action="sftp.key_add", target_id=str(site.pk))
    assert audit.metadata["fingerprint"] == key.fingerprint
    page = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert key.fingerprint in page and "budi@laptop" in page
    assert f"sftp -P 2222 {site.system_user}@testserver" in page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('command="/bin/sh" {line}', "Options before the key type"),
        ("{line}\n{line}", "exactly one key"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "DSA keys"),
        ("{rsa1024}", "RSA keys must have 2048"),
    ],
)
def test_a_refused_key_is_explained_and_nothing_is_stored(owner_client, site, text, message):
    line = ed25519_pair("")[1]
    text = text.format(line=line, rsa1024=rsa_line(1024) if "rsa" in text else "")
    response = owner_client.post(_url(site), {"public_key": text})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SiteSshKey.objects.exists() and not Job.objects.exists()


def test_the_same_key_twice_and_too_many_keys_are_refused(owner_client, site, settings):
    line = ed25519_pair("")[1]
    owner_client.post(_url(site), {"public_key": line})
    response = owner_client.post(_url(site), {"public_key": line})
    assert "already on this site" in response.content.decode()
    settings.NUSANTARA_SFTP_MAX_KEYS = 1
    response = owner_client.post(_url(site), {"public_key": ed25519_pair("")[1]})
    assert "the most allowed" in response.content.decode()
    assert SiteSshKey.objects.count() == 1


def test_password_is_checked_encrypted_in_the_job_and_never_echoed(owner_client, site):
    response = owner_client.post(_url(site), {"password": "short"})
    assert response.status_code == 400 and "at least 12 characters" in response.content.decode()
    assert "short" not in response.content.decode().split('name="password"')[1][:200]
    secret = "kopi-tubruk-Jakarta-2025"
    assert owner_client.post(_url(site), {"password": secret}).status_code == 302
    job = Job.objects.get(type="sftp.password")
    assert job.payload["action"] == "set" and secret not in str(job.payload)
    from panel.tenancy.sftp import decrypt_password

    assert decrypt_password(job.payload["secret"]) == secret
    # A second change waits for the first (so they apply in order).
    owner_client.post(_url(site), {"password": ""})
    assert Job.objects.filter(type="sftp.password").count() == 1
    assert secret not in str(list(AuditLog.objects.values_list("metadata", flat=True)))


def test_outsider_cannot_add_remove_or_set_anything(outsider_client, owner, site):
    key = SiteSshKey.objects.create(site=site, public_key="x", fingerprint="SHA256:x")
    line = ed25519_pair("")[1]
    for data in ({"public_key": line}, {"remove_key": str(key.pk)}, {"password": "x" * 20}):
        assert outsider_client.post(_url(site), data).status_code == 404
    assert SiteSshKey.objects.count() == 1 and not Job.objects.exists()


def test_sftp_changes_need_the_csrf_token(csrf_client, owner, site):
    csrf_client.force_login(owner)
    response = csrf_client.post(_url(site), {"public_key": ed25519_pair("")[1]})
    assert response.status_code == 403
    assert not SiteSshKey.objects.exists()
