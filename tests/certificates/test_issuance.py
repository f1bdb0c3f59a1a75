"""End to end with real programs: request -> qcluster worker -> Pebble -> files -> nginx HTTPS.

Renewal moves the clock with time-machine into the renewal window, runs the schedule's function
and proves nginx switches serials without a single failed request. Failure is produced for real
(the name resolves nowhere, as told to pebble-challtestsrv).
"""

from __future__ import annotations

import datetime as dt
import ssl
import stat
import subprocess
import threading
import time

import pytest
import time_machine
from cryptography import x509
from django.conf import settings
from django.db import transaction

from panel.audit.models import AuditLog
from panel.certificates.models import CertStatus, Provider, SslCertificate
from panel.certificates.services import certificate_request, renewal_run
from panel.jobs.models import Job

from .conftest import https_fetch, wait_https, wait_stable

pytestmark = [pytest.mark.services]


def _issue(worker, owner, site):
    job = worker.wait_for_job(certificate_request(user=owner, site=site))
    return job, SslCertificate.objects.get(site=site, provider=Provider.LETSENCRYPT)


def test_issued_certificate_is_served_over_https_and_http_redirects(
    pebble, nginx, worker, owner, unique_domain
):
    from panel.sites.services import site_create

    # A site provisioned the way a customer gets one: site_create -> site.provision job.
    site = site_create(user=owner, domain=unique_domain("issue"), runtime="static")
    provision = Job.objects.get(site_id=site.pk, type="site.provision")
    assert worker.wait_for_job(provision).status == "success"
    site.refresh_from_db()
    wait_stable(nginx, site.domain)
    page = nginx.get(site.domain).body
    job, cert = _issue(worker, owner, site)
    assert job.status == "success", job.error_message

    wait_https(nginx, site.domain, str(pebble.root_path), cert.serial)
    resp = https_fetch(nginx, site.domain, str(pebble.root_path))
    assert resp.status == 200 and resp.body == page
    leaf = x509.load_pem_x509_certificates(
        (settings.NUSANTARA_CERT_DIR / site.domain / "fullchain.pem").read_bytes()
    )[0]
    assert cert.status == CertStatus.ISSUED
    assert cert.serial == resp.serial == format(leaf.serial_number, "x")
    assert cert.expires_at == leaf.not_valid_after_utc
    assert dt.timedelta(days=89) < cert.expires_at - leaf.not_valid_before_utc

    wait_stable(nginx, site.domain, status=301)
    redirect = nginx.get(site.domain, "/index.html?x=1")
    assert redirect.status == 301
    assert redirect.headers["Location"] == (
        f"https://{site.domain}:{nginx.https_port}/index.html?x=1"
    )
    # The challenge path stays on plain HTTP (renewals must reach it): a 404, not a redirect.
    assert nginx.get(site.domain, "/.well-known/acme-challenge/missing").status == 404

    directory = settings.NUSANTARA_CERT_DIR / site.domain
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "privkey.pem").stat().st_mode) == 0o600
    ok, err = nginx.config_ok()
    assert ok, err
    issued = AuditLog.objects.get(action="ssl.issued", target_id=str(cert.pk))
    assert "PRIVATE" not in str(issued.metadata)


def test_https_asked_for_at_creation_follows_provisioning_by_itself(
    pebble, nginx, worker, owner, unique_domain
):
    from panel.sites.services import site_create

    site = site_create(user=owner, domain=unique_domain("auto"), runtime="static", https=True)
    provision = Job.objects.get(site_id=site.pk, type="site.provision")
    provision = worker.wait_for_job(provision)
    assert provision.status == "success", provision.error_message
    issue = Job.objects.get(site_id=site.pk, type="ssl.issue")
    assert issue.created_by == owner
    assert any("certificate requested" in line["msg"] for line in provision.log)
    issue = worker.wait_for_job(issue)
    assert issue.status == "success", issue.error_message
    cert = SslCertificate.objects.get(site=site)
    assert cert.status == CertStatus.ISSUED
    wait_https(nginx, site.domain, str(pebble.root_path), cert.serial)
    assert AuditLog.objects.filter(action="ssl.request", actor=owner).exists()


def test_untrusted_without_pebbles_root(pebble, nginx, worker, owner, live_site):
    """The HTTPS check above is meaningful: a default trust store rejects Pebble's chain."""
    site = live_site("trust")
    _job, cert = _issue(worker, owner, site)
    wait_https(nginx, site.domain, str(pebble.root_path), cert.serial)
    with pytest.raises(ssl.SSLCertVerificationError):
        https_fetch(nginx, site.domain, pebble.ca_bundle)


def test_renewal_in_window_serves_a_new_serial_without_downtime(
    pebble, nginx, worker, owner, live_site
):
    site = live_site("renew")
    _job, cert = _issue(worker, owner, site)
    old_serial = cert.serial
    wait_https(nginx, site.domain, str(pebble.root_path), old_serial)

    errors: list[str] = []
    serials: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                resp = https_fetch(nginx, site.domain, str(pebble.root_path), timeout=2)
                if resp.status != 200:
                    errors.append(f"HTTP {resp.status}")
                serials.add(resp.serial)
            except Exception as exc:  # any failed request is downtime
                errors.append(repr(exc))

    poller = threading.Thread(target=hammer, daemon=True)
    poller.start()
    try:
        # Commit after leaving the moved clock, so the queued task is stamped with real time
        # (the worker's clock is not moved).
        in_window = cert.expires_at - dt.timedelta(days=10)
        with transaction.atomic(), time_machine.travel(in_window, tick=True):
            assert renewal_run()["queued"] == 1
        renew = Job.objects.get(site_id=site.pk, type="ssl.renew")
        assert worker.wait_for_job(renew).status == "success"
        cert.refresh_from_db()
        deadline = time.monotonic() + 10
        # The reload is asynchronous: the old nginx worker may finish a few more handshakes.
        while cert.serial not in serials and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # keep polling a little while after the switch
    finally:
        stop.set()
        poller.join(timeout=10)

    cert.refresh_from_db()
    assert cert.status == CertStatus.ISSUED and cert.serial != old_serial
    assert serials == {old_serial, cert.serial}
    assert errors == []
    assert AuditLog.objects.filter(action="ssl.renewal_run").exists()


def test_failure_keeps_site_as_it_was_and_shows_pebbles_message(
    pebble, nginx, worker, owner, live_site
):
    site = live_site("fail")
    before = nginx.get(site.domain)
    conf = (settings.NUSANTARA_NGINX_CONF_DIR / f"{site.domain}.conf").read_text()
    pebble.resolve_nowhere(site.domain)

    job, cert = _issue(worker, owner, site)

    assert job.status == "failed"
    assert cert.status == CertStatus.FAILED
    assert site.domain in cert.error_message and "http-01" in cert.error_message
    assert "could not resolve" in cert.error_message or "SERVFAIL" in cert.error_message
    assert cert.failure_count == 1 and cert.next_attempt_at is not None
    after = nginx.get(site.domain)
    assert (after.status, after.body) == (before.status, before.body)
    assert (settings.NUSANTARA_NGINX_CONF_DIR / f"{site.domain}.conf").read_text() == conf
    assert not (settings.NUSANTARA_CERT_DIR / site.domain / "privkey.pem").exists()
    ok, err = nginx.config_ok()
    assert ok, err
    failed = AuditLog.objects.get(action="ssl.failed", target_id=str(cert.pk))
    assert site.domain in failed.metadata["error"]


def test_failed_renewal_keeps_serving_the_current_certificate(
    pebble, nginx, worker, owner, live_site
):
    site = live_site("keep")
    _job, cert = _issue(worker, owner, site)
    wait_https(nginx, site.domain, str(pebble.root_path), cert.serial)
    pebble.resolve_nowhere(site.domain)

    job, cert = _issue(worker, owner, site)

    assert job.status == "failed"
    # Still what the site serves, with the CA's words for the failed attempt.
    assert cert.status == CertStatus.ISSUED and cert.error_message
    resp = https_fetch(nginx, site.domain, str(pebble.root_path))
    assert resp.status == 200 and resp.serial == cert.serial


def test_failed_preflight_costs_no_ca_attempt(pebble, nginx, worker, owner, live_site):
    site = live_site("preflight")
    # The vhost disappears behind the panel's back: nginx no longer serves this name.
    conf = settings.NUSANTARA_NGINX_CONF_DIR / f"{site.domain}.conf"
    conf.unlink()
    subprocess.run(nginx.reload_cmd.split(), check=True)
    wait_stable(nginx, site.domain, status=404)

    job, cert = _issue(worker, owner, site)

    assert job.status == "failed" and cert.status == CertStatus.FAILED
    assert "Pre-flight" in cert.error_message and "No request was sent" in cert.error_message
    assert not any("ordering" in line["msg"] for line in job.log)


def test_deleting_the_site_removes_its_certificate_files(pebble, nginx, worker, owner, live_site):
    from panel.sites.services import site_delete

    site = live_site("delete", created_by=owner)
    job, _cert = _issue(worker, owner, site)
    assert job.status == "success"
    directory = settings.NUSANTARA_CERT_DIR / site.domain
    assert (directory / "privkey.pem").exists()
    assert worker.wait_for_job(site_delete(user=owner, site=site)).status == "success"
    assert not directory.exists()
    assert not SslCertificate.objects.filter(pk=_cert.pk).exists()
