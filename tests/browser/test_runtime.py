"""Changing a site's runtime in a real browser: the upstream field appears only for a reverse
proxy, the change is applied by the real worker and nginx while the job page updates itself, and
an upstream that does not resolve is refused on the form while the site is served as before."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from panel.jobs.models import Job
from panel.sites.models import Site
from panel.sites.services import site_create
from tests.factories import PASSWORD, UserFactory

from .test_journey import LIVE_TIMEOUT, Tr, assert_not_reloaded, mark_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.services]


def test_user_switches_a_static_site_to_a_reverse_proxy(
    page: Page, panel_server, nginx, worker, upstream
) -> None:
    t = Tr("en")
    base = panel_server.url
    user = UserFactory(username="sari")
    site = site_create(user=user, domain="kopi.nusantara.test", runtime="static")
    job = Job.objects.get(site_id=site.pk, type="site.provision")
    assert worker.wait_for_job(job).status == "success"
    assert "<h1>kopi.nusantara.test</h1>" in nginx.wait_for(site.domain).body

    sign_in(page, base, t, "sari", PASSWORD)
    page.goto(f"{base}/sites/{site.pk}/")
    card = page.locator("section[aria-labelledby=settings-h]")
    upstream_field = card.locator("#id_upstream")
    expect(upstream_field).to_be_hidden()  # static: no upstream to give
    card.get_by_label(t("Reverse proxy (Node, Python, ...)")).check()
    expect(upstream_field).to_be_visible()
    upstream_field.fill(upstream)
    card.get_by_role("button", name=t("Apply settings")).click()

    # The job page follows the change until it ends, without a reload.
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    assert page.url.endswith(f"/jobs/{Job.objects.get(type='site.update').pk}/")
    mark_page(page)
    expect(page.locator("[data-testid=job-status] .badge-success")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    assert_not_reloaded(page)
    proxied = "upstream saw host kopi.nusantara.test"
    assert nginx.wait_for(site.domain, text=proxied).body == proxied

    # An upstream that resolves nowhere is refused on the form (a translated message naming
    # it), no job is queued, and the site keeps its working proxy.
    page.goto(f"{base}/sites/{site.pk}/")
    expect(upstream_field).to_have_value(upstream)
    upstream_field.fill("upstream-gone.invalid:8080")
    card.get_by_role("button", name=t("Apply settings")).click()
    expect(card.locator(".field-error")).to_contain_text("upstream-gone.invalid")
    assert Job.objects.filter(type="site.update").count() == 1
    site.refresh_from_db()
    assert (site.runtime, site.upstream, site.status) == ("proxy", upstream, "active")
    assert nginx.wait_for(site.domain).body == proxied
    assert Site.objects.count() == 1
