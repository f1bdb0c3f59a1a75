"""HSTS end to end: the owner switches it on, the real worker re-renders the vhost, the real
nginx sends Strict-Transport-Security over HTTPS; switched off, the header is gone."""

from __future__ import annotations

import pytest

from panel.audit.models import AuditLog
from panel.certificates.services import certificate_upload
from panel.sites.services import site_set_hsts

from .certgen import cert_pem, key_pem, make_ca, make_leaf
from .conftest import wait_https

pytestmark = [pytest.mark.services]

HSTS = "Strict-Transport-Security"


def test_owner_switches_hsts_on_and_off_through_the_worker(worker, nginx, owner, live_site):
    ca = make_ca()
    site = live_site("hsts", created_by=owner)
    key, leaf = make_leaf([site.domain], ca=ca)
    job = certificate_upload(
        user=owner, site=site, chain_pem=cert_pem(leaf) + cert_pem(ca[1]), key_pem=key_pem(key)
    )
    assert worker.wait_for_job(job).status == "success"
    wait_https(nginx, site.domain, _ca_file(ca, nginx))
    assert HSTS not in nginx.https_get(site.domain).headers

    job = worker.wait_for_job(site_set_hsts(user=owner, site=site, enabled=True))
    assert job.status == "success", job.error_message
    assert any("HSTS on" in line["msg"] for line in job.log)
    site.refresh_from_db()
    assert site.hsts is True
    nginx.wait_for_https(site.domain)  # settled on the new vhost
    resp = nginx.https_get(site.domain)
    assert resp.status == 200 and resp.headers[HSTS] == "max-age=63072000"
    assert HSTS not in nginx.get(site.domain).headers  # the HTTP redirect never carries it
    assert AuditLog.objects.filter(action="site.hsts_changed", target_id=str(site.pk)).exists()

    job = worker.wait_for_job(site_set_hsts(user=owner, site=site, enabled=False))
    assert job.status == "success", job.error_message
    site.refresh_from_db()
    assert site.hsts is False
    nginx.wait_for_https(site.domain)
    assert HSTS not in nginx.https_get(site.domain).headers


def _ca_file(ca, nginx) -> str:
    path = nginx.dir / f"hsts-ca-{ca[1].serial_number:x}.pem"
    path.write_text(cert_pem(ca[1]))
    return str(path)
