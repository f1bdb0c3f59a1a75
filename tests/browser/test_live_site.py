"""The site page stays true while a job runs: when a runtime change or a suspension ends in the
real worker, every card of the open page (status, runtime, the settings and suspension forms, the
banner) shows the new state without a reload, and the page stops polling afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from panel.accounts.models import Role
from panel.jobs.models import Job
from panel.sites.services import site_create, site_suspend, site_update
from tests.factories import PASSWORD, UserFactory

from .test_journey import LIVE_TIMEOUT, Tr, assert_not_reloaded, mark_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.services]


@contextlib.contextmanager
def held(worker) -> Iterator[None]:
    """Hold the real worker (SIGSTOP on the process group the fixture started) so that the page
    is drawn while the job is still queued; it runs the job for real once released."""
    os.killpg(worker.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(worker.proc.pid, signal.SIGCONT)


def _open_while_queued(page: Page, base: str, site, worker, queue) -> Job:
    with held(worker):
        job = queue()
        page.goto(f"{base}/sites/{site.pk}/")
        expect(page.locator("#site-live")).to_have_attribute("hx-trigger", "every 2s")
        mark_page(page)
    return job


def test_site_page_follows_runtime_change_and_suspension(
    page: Page, panel_server, nginx, worker, upstream
) -> None:
    t = Tr("en")
    base = panel_server.url
    admin = UserFactory(username="admin", role=Role.ADMIN)
    customer = UserFactory(username="wayan")
    site = site_create(user=customer, domain="sate.nusantara.test", runtime="static")
    assert worker.wait_for_job(Job.objects.get(site_id=site.pk)).status == "success"
    sign_in(page, base, t, "admin", PASSWORD)

    # --- a runtime change ends: the status card and the settings form follow ---
    job = _open_while_queued(
        page,
        base,
        site,
        worker,
        lambda: site_update(user=admin, site=site, runtime="proxy", upstream=upstream),
    )
    runtime = page.locator("[data-testid=site-runtime]")
    expect(runtime).to_have_text(t("Static files"))
    settings_card = page.locator("section[aria-labelledby=settings-h]")
    expect(settings_card.locator("#id_upstream")).to_be_hidden()
    assert worker.wait_for_job(job, timeout=60).status == "success"
    expect(runtime).to_have_text(t("Reverse proxy (Node, Python, ...)"), timeout=LIVE_TIMEOUT)
    # A card outside the status fragment was redrawn too: the form now holds the proxy.
    expect(settings_card.locator("#id_upstream")).to_have_value(upstream)
    expect(settings_card.locator("#id_upstream")).to_be_visible()
    # The redrawn form is enhanced like a loaded one: the upstream field hides for static.
    settings_card.get_by_label(t("Static files")).check()
    expect(settings_card.locator("#id_upstream")).to_be_hidden()
    expect(page.locator(f"#site-live a[href='/jobs/{job.pk}/']")).to_be_visible()
    expect(page.locator("#site-live")).not_to_have_attribute("hx-trigger", "every 2s")
    assert_not_reloaded(page)

    # --- a suspension ends: "Suspended" (not "Active"), the banner, the resume button ---
    reason = "Tagihan Desember belum dibayar"
    job = _open_while_queued(
        page,
        base,
        site,
        worker,
        lambda: site_suspend(user=admin, site=site, suspend=True, reason=reason),
    )
    status = page.locator("[data-testid=site-status]")
    expect(status).to_have_text(t("Active"))
    expect(page.locator("[data-testid=site-suspended]")).to_have_count(0)
    assert worker.wait_for_job(job, timeout=60).status == "success"
    expect(status).to_have_text(t("Suspended"), timeout=LIVE_TIMEOUT)
    expect(page.locator("[data-testid=site-suspended]")).to_contain_text(reason)
    suspend_card = page.locator("section[aria-labelledby=suspend-h]")
    expect(suspend_card.get_by_role("button", name=t("Resume site"))).to_be_visible()
    assert_not_reloaded(page)
    assert "temporarily unavailable" in nginx.wait_for(site.domain, status=503).body
