"""One certificate for all of a site's names, against the real Pebble, nginx and worker: every
name served over HTTPS, a name the CA cannot validate left out (not the whole certificate),
and a new name re-issued for."""

from __future__ import annotations

import pytest
from cryptography import x509
from django.conf import settings

from panel.certificates.models import CertStatus, Provider, SslCertificate
from panel.certificates.services import RENEW, certificate_request
from panel.jobs.models import Job
from panel.sites.aliases import alias_add, alias_remove
from panel.sites.services import site_create
from panel.sites.tls import certificate_names

from .conftest import https_fetch, wait_https, wait_stable

pytestmark = [pytest.mark.services]


def _live(worker, nginx, owner, domain: str, www: bool = True):
    site = site_create(user=owner, domain=domain, runtime="static", www=www)
    provision = Job.objects.get(site_id=site.pk, type="site.provision")
    assert worker.wait_for_job(provision).status == "success"
    wait_stable(nginx, site.domain)
    return site


def _served_names(site) -> set[str]:
    pem = (settings.NUSANTARA_CERT_DIR / site.domain / "fullchain.pem").read_bytes()
    return certificate_names(pem)


def test_one_certificate_for_primary_www_and_an_alias(pebble, nginx, worker, owner, unique_domain):
    site = _live(worker, nginx, owner, unique_domain("san"))
    alias = unique_domain("san-alias")
    assert worker.wait_for_job(alias_add(user=owner, site=site, domain=alias)).status == "success"
    job = worker.wait_for_job(certificate_request(user=owner, site=site))
    assert job.status == "success", job.error_message
    cert = SslCertificate.objects.get(site=site, provider=Provider.LETSENCRYPT)
    names = [site.domain, alias, f"www.{site.domain}"]
    assert cert.domains == [site.domain, *sorted(names[1:])]
    assert cert.status == CertStatus.ISSUED and cert.error_message is None
    assert _served_names(site) == set(names)
    for name in names:
        wait_https(nginx, name, str(pebble.root_path), cert.serial)
        resp = https_fetch(nginx, name, str(pebble.root_path))
        assert resp.status == 200 and f"<h1>{site.domain}</h1>" in resp.body, name
        redirect = nginx.wait_for(name, "/p?q=1", status=301)
        assert redirect.headers["Location"] == f"https://{name}:{nginx.https_port}/p?q=1"
    ok, err = nginx.config_ok()
    assert ok, err


def test_a_name_the_ca_cannot_validate_is_left_out_not_the_whole_certificate(
    pebble, nginx, worker, owner, unique_domain
):
    site = _live(worker, nginx, owner, unique_domain("partial"))
    broken = unique_domain("nowhere")
    assert worker.wait_for_job(alias_add(user=owner, site=site, domain=broken)).status == "success"
    pebble.resolve_nowhere(broken)  # the CA's DNS gives SERVFAIL for it: a real refusal
    try:
        job = worker.wait_for_job(certificate_request(user=owner, site=site), timeout=60)
    finally:
        pebble.resolve_normally(broken)
    assert job.status == "success", job.error_message
    cert = SslCertificate.objects.get(site=site, provider=Provider.LETSENCRYPT)
    assert cert.status == CertStatus.ISSUED
    assert cert.domains == [site.domain, f"www.{site.domain}"]
    assert _served_names(site) == {site.domain, f"www.{site.domain}"}
    # The failing name is reported by name, with the CA's reason.
    assert cert.error_message and broken in cert.error_message
    assert "Not covered by the certificate" in cert.error_message
    assert any(broken in line["msg"] and "refused" in line["msg"] for line in job.log)
    for name in (site.domain, f"www.{site.domain}"):
        wait_https(nginx, name, str(pebble.root_path), cert.serial)
    # The name outside the certificate is still served, over plain HTTP (no broken HTTPS).
    resp = nginx.wait_for(broken)
    assert resp.status == 200 and f"<h1>{site.domain}</h1>" in resp.body
    # ...and the site page says it is not covered.
    from django.test import Client

    client = Client()
    client.force_login(owner)
    page = client.get(f"/sites/{site.pk}/").content.decode()
    assert "not covered by the certificate" in page and broken in page


def test_adding_an_alias_to_an_https_site_reissues_to_cover_it(
    pebble, nginx, worker, owner, unique_domain
):
    site = _live(worker, nginx, owner, unique_domain("reissue"), www=False)
    first = worker.wait_for_job(certificate_request(user=owner, site=site))
    assert first.status == "success", first.error_message
    old = SslCertificate.objects.get(site=site)
    alias = unique_domain("reissue-alias")
    job = worker.wait_for_job(alias_add(user=owner, site=site, domain=alias))
    assert job.status == "success", job.error_message
    assert any("certificate requested" in line["msg"] for line in job.log)
    issue = Job.objects.filter(site_id=site.pk, type="ssl.issue").order_by("-created_at").first()
    assert issue.pk != first.pk
    issue = worker.wait_for_job(issue)
    assert issue.status == "success", issue.error_message
    cert = SslCertificate.objects.get(site=site)
    assert cert.serial != old.serial and cert.domains == [site.domain, alias]
    assert _served_names(site) == {site.domain, alias}
    wait_https(nginx, alias, str(pebble.root_path), cert.serial)
    leaf = x509.load_der_x509_certificate(
        nginx.https_get(alias, cafile=str(pebble.root_path)).cert_der
    )
    assert format(leaf.serial_number, "x") == cert.serial

    # Removing the name: the certificate keeps covering it until it is renewed on demand.
    job = worker.wait_for_job(alias_remove(user=owner, site=site, domain=alias))
    assert job.status == "success", job.error_message
    assert not Job.objects.filter(site_id=site.pk, type="ssl.issue", status="queued").exists()
    assert _served_names(site) == {site.domain, alias}
    renew = worker.wait_for_job(certificate_request(user=owner, site=site, job_type=RENEW))
    assert renew.status == "success", renew.error_message
    cert = SslCertificate.objects.get(site=site)
    assert cert.domains == [site.domain] and _served_names(site) == {site.domain}
    wait_https(nginx, site.domain, str(pebble.root_path), cert.serial)
