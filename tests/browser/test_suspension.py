"""An admin suspends a customer's site in a real browser and resumes it: the job page follows
the worker live, and nginx answers 503 in between."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from panel.accounts.models import Role
from panel.jobs.models import Job
from panel.sites.services import site_create
from tests.factories import PASSWORD, UserFactory

from .test_journey import LIVE_TIMEOUT, Tr, assert_not_reloaded, mark_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.services]


def _wait_for_job_page(page: Page, previous_url: str) -> None:
    expect(page).not_to_have_url(previous_url)
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    mark_page(page)
    expect(page.locator("[data-testid=job-status] .badge-success")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    assert_not_reloaded(page)


def test_admin_suspends_and_resumes_a_customers_site(page: Page, panel_server, nginx, worker):
    t = Tr("en")
    base = panel_server.url
    UserFactory(username="admin", role=Role.ADMIN)
    customer = UserFactory(username="dewi")
    site = site_create(user=customer, domain="warung.nusantara.test", runtime="static")
    assert worker.wait_for_job(Job.objects.get(site_id=site.pk)).status == "success"
    page_text = "<h1>warung.nusantara.test</h1>"
    assert page_text in nginx.wait_for(site.domain).body

    sign_in(page, base, t, "admin", PASSWORD)
    page.goto(f"{base}/sites/{site.pk}/")
    card = page.locator("section[aria-labelledby=suspend-h]")
    card.get_by_label(t("Reason")).fill("Tagihan November belum dibayar")
    detail_url = page.url
    card.get_by_role("button", name=t("Suspend site")).click()
    _wait_for_job_page(page, detail_url)
    assert "temporarily unavailable" in nginx.wait_for(site.domain, status=503).body

    page.goto(f"{base}/sites/{site.pk}/")
    expect(page.locator("[data-testid=site-suspended]")).to_contain_text(
        "Tagihan November belum dibayar"
    )
    detail_url = page.url
    card.get_by_role("button", name=t("Resume site")).click()
    _wait_for_job_page(page, detail_url)
    assert page_text in nginx.wait_for(site.domain, text=page_text).body
    page.goto(f"{base}/sites/{site.pk}/")
    expect(page.locator("[data-testid=site-suspended]")).to_have_count(0)
