"""Certificates list and the certificate actions on the site page."""

from __future__ import annotations

import pytest

from panel.certificates.models import CertStatus
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    assert client.get("/certificates/").status_code == 302


def test_user_sees_only_own_certificates(owner_client, site, outsider, make_cert):
    make_cert(site=site, days=10)
    make_cert(site=SiteFactory(domain="theirs.example", created_by=outsider))
    html = owner_client.get("/certificates/").content.decode()
    assert "bücher.id" in html and "theirs.example" not in html


def test_admin_sees_all_with_owner(admin_client, site, outsider, make_cert):
    make_cert(site=site)
    make_cert(site=SiteFactory(domain="theirs.example", created_by=outsider))
    html = admin_client.get("/certificates/").content.decode()
    assert "bücher.id" in html and "theirs.example" in html and "outsider" in html


def test_status_filter_and_error_shown(owner_client, site, owner, make_cert):
    make_cert(site=site, status=CertStatus.FAILED, error_message="urn:ietf:params:acme:error:dns")
    make_cert(site=SiteFactory(domain="fine.example", created_by=owner))
    html = owner_client.get("/certificates/", {"status": "failed"}).content.decode()
    assert "urn:ietf:params:acme:error:dns" in html
    assert "fine.example" not in html


def _jobs(site):
    from panel.jobs.models import Job

    return Job.objects.filter(site_id=site.pk)


def test_request_queues_issue_job_and_page_polls(owner_client, site):
    response = owner_client.post(f"/sites/{site.pk}/certificate/", follow=True)
    assert response.redirect_chain[-1][0] == f"/sites/{site.pk}/"
    assert _jobs(site).get().type == "ssl.issue"
    assert site.certificates.get().status == CertStatus.PENDING
    html = response.content.decode()
    assert "Certificate requested for bücher.id" in html
    assert 'hx-trigger="every 2s"' in html


def test_button_renews_an_issued_certificate(owner_client, site, make_cert):
    make_cert(site=site, days=10)
    owner_client.post(f"/sites/{site.pk}/certificate/")
    assert _jobs(site).get().type == "ssl.renew"


def test_request_on_inactive_site_shows_reason(owner_client, owner):
    from panel.sites.models import SiteStatus

    pending = SiteFactory(created_by=owner, status=SiteStatus.PROVISIONING)
    response = owner_client.post(f"/sites/{pending.pk}/certificate/", follow=True)
    assert "only be installed on an active site" in response.content.decode()
    assert not _jobs(pending).exists()


def test_upload_errors_appear_under_their_fields_and_key_is_not_echoed(owner_client, site):
    secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
    response = owner_client.post(
        f"/sites/{site.pk}/certificate/upload/", {"chain_pem": "not a pem", "key_pem": secret}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_chain_pem_error"' in html
    assert "c2VjcmV0" not in html
    assert not site.certificates.exists()


def test_upload_requires_both_fields(owner_client, site):
    html = owner_client.post(f"/sites/{site.pk}/certificate/upload/", {}).content.decode()
    assert 'id="id_chain_pem_error"' in html and 'id="id_key_pem_error"' in html


@pytest.mark.parametrize(
    "bad_key",
    [
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN EC PRIVATE KEY-----\nÄÖ\n-----END EC PRIVATE KEY-----\n",
    ],
)
def test_a_malformed_private_key_is_a_message_under_the_field(owner_client, site, bad_key):
    # Once a 500: the refusal itself crashed (a misnamed exception class).
    from tests.certificates.certgen import cert_pem, make_leaf

    _key, leaf = make_leaf([site.domain])
    response = owner_client.post(
        f"/sites/{site.pk}/certificate/upload/", {"chain_pem": cert_pem(leaf), "key_pem": bad_key}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_key_pem_error"' in html
    assert "The private key could not be read" in html
    assert not site.certificates.exists()


def test_copies_of_the_leaf_as_a_chain_are_refused_on_the_page(owner_client, site):
    from tests.certificates.certgen import cert_pem, key_pem, make_leaf

    key, leaf = make_leaf([site.domain])
    response = owner_client.post(
        f"/sites/{site.pk}/certificate/upload/",
        {"chain_pem": cert_pem(leaf) * 3000, "key_pem": key_pem(key)},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_chain_pem_error"' in html
    assert "larger than 64 KiB" in html
    response = owner_client.post(
        f"/sites/{site.pk}/certificate/upload/",
        {"chain_pem": cert_pem(leaf) * 3, "key_pem": key_pem(key)},
    )
    assert "Certificate 2 in the chain is a copy of an earlier one" in response.content.decode()
    assert not site.certificates.exists()


def _action(html: str) -> str:
    import re

    return re.search(r'data-testid="certificate-action">([^<]+)<', html).group(1)


@pytest.mark.parametrize(
    ("status", "button"),
    [
        (None, "Request certificate"),
        (CertStatus.PENDING, "Request certificate"),
        (CertStatus.FAILED, "Request certificate"),  # the first attempt failed: never issued
        (CertStatus.ISSUED, "Renew certificate"),
        (CertStatus.EXPIRED, "Renew certificate"),
    ],
)
def test_button_requests_a_never_issued_certificate_and_renews_an_installed_one(
    owner_client, site, status, button
):
    from panel.certificates.models import SslCertificate

    if status is not None:
        SslCertificate.objects.create(site=site, status=status)
    assert _action(owner_client.get(f"/sites/{site.pk}/").content.decode()) == button
    owner_client.post(f"/sites/{site.pk}/certificate/")
    expected = "ssl.renew" if button.startswith("Renew") else "ssl.issue"
    assert _jobs(site).get().type == expected


@pytest.mark.parametrize(
    ("directory", "label"),
    [
        (
            "https://acme-staging-v02.api.letsencrypt.org/directory",
            "ACME: Let&#x27;s Encrypt (staging)",
        ),
        ("https://acme-v02.api.letsencrypt.org/directory", "ACME: Let&#x27;s Encrypt<"),
        ("https://127.0.0.1:14000/dir", "ACME: Pebble (127.0.0.1:14000)"),
    ],
)
def test_the_ca_is_named_on_the_site_page_and_the_list(
    owner_client, site, make_cert, settings, directory, label
):
    settings.NUSANTARA_ACME_DIRECTORY = directory
    make_cert(site=site)
    page = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert label in page.replace("</dd>", "<")
    listing = owner_client.get("/certificates/").content.decode()
    assert label in listing.replace("</td>", "<")
