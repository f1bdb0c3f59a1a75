"""Domain names in a real browser: the new-site form's www box follows the typed name (ticked for
an apex name, unticked for a subdomain, left alone once clicked), and a name added on the site
page is served by the real worker and nginx."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from panel.jobs.models import Job
from panel.sites.services import site_create
from tests.factories import PASSWORD, UserFactory

from .test_journey import LIVE_TIMEOUT, Tr, sign_in

pytestmark = [pytest.mark.browser]


def test_the_www_box_follows_the_typed_name_until_clicked(page: Page, plain_server) -> None:
    t = Tr("en")
    UserFactory(username="dewi")
    sign_in(page, plain_server.url, t, "dewi", PASSWORD)
    page.goto(f"{plain_server.url}/sites/new/")
    domain, www = page.locator("#id_domain"), page.locator("#id_www")
    expect(www).to_be_checked()  # without script too: the server ticks it
    for typed, ticked in [
        ("toko.example.com", False),
        ("kopi.co.id", True),
        ("shop.kopi.co.id", False),
        ("www.kopi.co.id", True),
        ("bücher.id", True),
    ]:
        domain.fill(typed)
        if ticked:
            expect(www).to_be_checked()
        else:
            expect(www).not_to_be_checked()
    www.uncheck()  # the customer decided: typing no longer changes it
    domain.fill("warung.id")
    expect(www).not_to_be_checked()


@pytest.mark.services
def test_a_name_added_on_the_site_page_is_served(page: Page, plain_server, nginx, worker) -> None:
    t = Tr("en")
    user = UserFactory(username="budi")
    site = site_create(user=user, domain="teh.nusantara.test", runtime="static")
    assert worker.wait_for_job(Job.objects.get(site_id=site.pk)).status == "success"
    sign_in(page, plain_server.url, t, "budi", PASSWORD)
    page.goto(f"{plain_server.url}/sites/{site.pk}/")
    card = page.locator("[data-testid=names-card]")
    card.locator("#id_domain").fill("Teh-Manis.nusantara.test")
    card.get_by_role("button", name="Add name").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-testid=job-status] .badge-success")).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    assert "<h1>teh.nusantara.test</h1>" in nginx.wait_for("teh-manis.nusantara.test").body
    page.goto(f"{plain_server.url}/sites/{site.pk}/")
    expect(card.locator("[data-testid=site-name]")).to_have_count(2)
    expect(card).to_contain_text("teh-manis.nusantara.test")
