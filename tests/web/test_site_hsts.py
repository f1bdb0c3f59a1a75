"""The HSTS card on the site page: shown with its warning, POST + CSRF, owner or admin."""

from __future__ import annotations

import pytest

from panel.jobs.models import Job

pytestmark = pytest.mark.django_db


def test_card_explains_and_needs_a_certificate(owner_client, site):
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'data-testid="hsts-card"' in html
    assert "refuses plain HTTP for the domain until the two years are over" in html
    assert "once the site is active and has a certificate" in html
    assert 'name="confirm"' not in html  # nothing to switch on without HTTPS


def test_owner_must_confirm_then_a_job_switches_it_on(owner_client, site, make_cert):
    make_cert(site=site)
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert f'action="/sites/{site.pk}/hsts/"' in html and 'name="confirm"' in html

    response = owner_client.post(f"/sites/{site.pk}/hsts/", {"action": "on"})
    assert response.status_code == 400
    assert "Confirm that you understand what HSTS does." in response.content.decode()
    assert not Job.objects.filter(type="site.hsts").exists()

    response = owner_client.post(f"/sites/{site.pk}/hsts/", {"action": "on", "confirm": "on"})
    job = Job.objects.get(type="site.hsts", site_id=site.pk)
    assert response.status_code == 302 and response.url == f"/jobs/{job.pk}/"
    assert job.payload["enabled"] is True


def test_service_refusal_is_shown_on_the_form(owner_client, site):
    response = owner_client.post(f"/sites/{site.pk}/hsts/", {"action": "on", "confirm": "on"})
    assert response.status_code == 400
    assert "get a certificate for the site first" in response.content.decode()


def test_site_with_hsts_on_offers_to_switch_it_off(admin_client, site):
    site.hsts = True
    site.save()
    html = admin_client.get(f"/sites/{site.pk}/").content.decode()
    assert "HSTS is on." in html and 'name="action" value="off"' in html
    assert "no valid certificate now" in html
    response = admin_client.post(f"/sites/{site.pk}/hsts/", {"action": "off"})
    assert response.status_code == 302
    assert Job.objects.get(type="site.hsts").payload["enabled"] is False


def test_outsider_gets_404_and_csrf_is_enforced(outsider_client, csrf_client, owner, site):
    assert outsider_client.post(f"/sites/{site.pk}/hsts/", {"action": "off"}).status_code == 404
    csrf_client.force_login(owner)
    assert csrf_client.post(f"/sites/{site.pk}/hsts/", {"action": "off"}).status_code == 403


@pytest.mark.parametrize("action", ["", "yes", "on;add_header X 1", "1"])
def test_anything_but_on_or_off_is_refused(owner_client, site, make_cert, action):
    make_cert(site=site)
    data = {"action": action, "confirm": "on"}
    assert owner_client.post(f"/sites/{site.pk}/hsts/", data).status_code == 400
    assert not Job.objects.filter(type="site.hsts").exists()
