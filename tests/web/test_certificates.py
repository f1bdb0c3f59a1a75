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
