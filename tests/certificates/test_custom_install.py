"""Uploading a certificate (provider `custom`): the web process checks and stages it, the real
worker installs it into the real nginx (job `ssl.install`).

The web process runs as in the systemd/compose split: it has no right to test or reload nginx.
Its nginx commands are set to ones that leave a mark or fail, and the upload must not call them.
"""

from __future__ import annotations

import stat

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from panel.audit.models import AuditLog
from panel.certificates import staging
from panel.certificates.models import CertStatus, Provider, SslCertificate
from panel.certificates.services import certificate_upload, due_for_renewal
from panel.jobs.models import Job
from tests.services.worker import worker_env

from .certgen import cert_pem, key_pem, make_ca, make_leaf
from .conftest import https_fetch, served_serial, wait_https

pytestmark = [pytest.mark.services]


@pytest.fixture(scope="module")
def upload_ca(tmp_path_factory):
    ca = make_ca()
    path = tmp_path_factory.mktemp("upload-ca") / "ca.pem"
    path.write_text(cert_pem(ca[1]))
    return ca, str(path)


@pytest.fixture
def web_without_nginx(settings, tmp_path):
    """From here on the test process (the "web process") cannot test or reload nginx: the test
    command leaves a mark if anyone runs it, the reload command fails. The worker keeps the
    environment it was started with (the real commands)."""
    marker = tmp_path / "web-process-ran-nginx"

    def apply() -> None:
        settings.NUSANTARA_NGINX_TEST_CMD = f"touch {marker}"
        settings.NUSANTARA_NGINX_RELOAD_CMD = "false"

    apply.marker = marker  # type: ignore[attr-defined]
    return apply


def _upload(client, site, chain: str, key: str):
    return client.post(
        f"/sites/{site.pk}/certificate/upload/", {"chain_pem": chain, "key_pem": key}
    )


def test_upload_through_the_page_is_installed_by_the_worker(
    worker, nginx, owner, owner_client, live_site, upload_ca, web_without_nginx
):
    ca, ca_file = upload_ca
    site = live_site("custom", created_by=owner)
    web_without_nginx()
    key, leaf = make_leaf([site.domain], ca=ca)
    response = _upload(owner_client, site, cert_pem(leaf) + cert_pem(ca[1]), key_pem(key))
    job = Job.objects.get(site_id=site.pk, type="ssl.install")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    # Staged for the worker, readable by nobody else.
    staged = staging.staged_dir(job.pk)
    job = worker.wait_for_job(job)
    assert job.status == "success", job.error_message
    assert not web_without_nginx.marker.exists(), "the web process ran nginx"
    assert not staged.exists()
    serial = format(leaf.serial_number, "x")
    wait_https(nginx, site.domain, ca_file, serial)
    resp = https_fetch(nginx, site.domain, ca_file)
    assert resp.status == 200 and site.domain in resp.body
    cert = SslCertificate.objects.get(site=site)
    assert (cert.provider, cert.status, cert.serial) == (Provider.CUSTOM, CertStatus.ISSUED, serial)
    assert cert.expires_at == leaf.not_valid_after_utc
    keyfile = settings.NUSANTARA_CERT_DIR / site.domain / "privkey.pem"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    requested = AuditLog.objects.get(action="ssl.upload")
    installed = AuditLog.objects.get(action="ssl.uploaded")
    assert requested.actor == owner and requested.metadata["job_id"] == str(job.pk)
    assert "BEGIN" not in str(requested.metadata) + str(installed.metadata)
    # Renewal never touches an uploaded certificate.
    assert cert not in due_for_renewal(cert.expires_at)


def test_staged_files_are_0600_until_the_worker_takes_them(db, owner, live_site, nginx):
    # No worker here: the job stays queued and its staged pair waits on disk.
    site = live_site("custom-staged", created_by=owner)
    key, leaf = make_leaf([site.domain])
    job = certificate_upload(user=owner, site=site, chain_pem=cert_pem(leaf), key_pem=key_pem(key))
    directory = staging.staged_dir(job.pk)
    assert directory.parent == settings.NUSANTARA_DATA_DIR / "staged-certs"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("fullchain.pem", "privkey.pem"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert not (settings.NUSANTARA_CERT_DIR / site.domain).exists()  # nothing installed yet
    staging.discard(job.pk)


def test_nginx_refusing_keeps_the_previous_certificate_serving(
    worker_manager, worker, nginx, owner, live_site, upload_ca, web_without_nginx
):
    ca, ca_file = upload_ca
    site = live_site("custom-refused", created_by=owner)
    key, first = make_leaf([site.domain], ca=ca)
    job = certificate_upload(user=owner, site=site, chain_pem=cert_pem(first), key_pem=key_pem(key))
    assert worker.wait_for_job(job).status == "success"
    first_serial = format(first.serial_number, "x")
    wait_https(nginx, site.domain, ca_file, first_serial)

    # Now a worker whose `nginx -t` refuses everything.
    refusing = worker_manager.ensure(worker_env(NUSANTARA_NGINX_TEST_CMD="false"))
    web_without_nginx()
    key2, second = make_leaf([site.domain], ca=ca)
    job = certificate_upload(
        user=owner, site=site, chain_pem=cert_pem(second), key_pem=key_pem(key2)
    )
    job = refusing.wait_for_job(job)
    assert job.status == "failed"
    assert "previous configuration and certificate keep serving" in job.error_message
    assert not staging.staged_dir(job.pk).exists()
    assert served_serial(nginx, site.domain, ca_file)[0] == first_serial
    cert = SslCertificate.objects.get(site=site)
    assert cert.serial == first_serial
    assert AuditLog.objects.filter(action="ssl.uploaded").count() == 1
    failed = AuditLog.objects.get(action="ssl.upload_failed")
    assert failed.metadata["job_id"] == str(job.pk)
    assert not web_without_nginx.marker.exists()


def test_bad_upload_changes_nothing(db, nginx, owner, live_site):
    site = live_site("custom-bad", created_by=owner)
    conf = (settings.NUSANTARA_NGINX_CONF_DIR / f"{site.domain}.conf").read_text()
    key, _leaf = make_leaf([site.domain])
    _other_key, other = make_leaf(["elsewhere.example.org"])
    with pytest.raises(ValidationError) as info:
        certificate_upload(user=owner, site=site, chain_pem=cert_pem(other), key_pem=key_pem(key))
    assert info.value.code == "key_mismatch"
    assert not Job.objects.filter(site_id=site.pk).exists()
    root = staging.staging_root()
    assert not root.exists() or not any(root.iterdir())
    assert not SslCertificate.objects.filter(site=site).exists()
    assert not (settings.NUSANTARA_CERT_DIR / site.domain / "privkey.pem").exists()
    assert (settings.NUSANTARA_NGINX_CONF_DIR / f"{site.domain}.conf").read_text() == conf
    assert nginx.get(site.domain).status == 200
