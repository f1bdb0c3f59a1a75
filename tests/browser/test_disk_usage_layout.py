"""Disk use on a laptop screen (1366x768): the admin's site list with its Disk use column fits
without scrolling sideways, the column sorts largest first by a click, and the site page says
the size and its age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from panel.accounts.models import Role
from panel.certificates.models import CertStatus, SslCertificate
from panel.sites.models import Site
from tests.factories import PASSWORD, SiteFactory, UserFactory

from .test_journey import Tr, sign_in

pytestmark = [pytest.mark.browser]

WIDTH = 1366
MIB = 1024 * 1024


def test_site_list_disk_column_fits_at_1366_and_sorts(page: Page, plain_server, shoot) -> None:
    t = Tr("en")
    admin = UserFactory(username="admin-disk", role=Role.ADMIN)
    owner = UserFactory(username="administrator-jakarta-selatan")
    long_domain = "toko-batik-dan-kerajinan-tangan-nusantara.example.co.id"
    big = SiteFactory(created_by=owner, domain=long_domain)
    small = SiteFactory(created_by=owner, domain="a-small.example.com")
    SiteFactory(created_by=owner, domain="0-never.example.com")
    for site in (big, small):
        SslCertificate.objects.create(
            site=site, status=CertStatus.ISSUED, expires_at=timezone.now() + timedelta(days=60)
        )
    measured = timezone.now() - timedelta(minutes=10)
    Site.objects.filter(pk=big.pk).update(disk_bytes=1234 * MIB, disk_measured_at=measured)
    Site.objects.filter(pk=small.pk).update(disk_bytes=3 * MIB, disk_measured_at=measured)

    page.set_viewport_size({"width": WIDTH, "height": 768})
    sign_in(page, plain_server.url, t, admin.username, PASSWORD)
    page.goto(f"{plain_server.url}/sites/")
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("0-never.example.com")
    expect(rows.first.locator("[data-testid=site-disk]")).to_have_text("not measured yet")
    page.get_by_test_id("sort-disk").click()
    expect(page).to_have_url(f"{plain_server.url}/sites/?sort=disk")
    expect(rows.nth(0)).to_contain_text(long_domain)
    expect(rows.nth(0).locator("[data-testid=site-disk]")).to_have_text("1.2\xa0GB")
    expect(rows.nth(1)).to_contain_text("a-small.example.com")
    expect(rows.nth(2)).to_contain_text("0-never.example.com")
    shoot(page, "sites-disk-use-1366")
    assert page.evaluate(f"document.documentElement.scrollWidth <= {WIDTH}")
    overflowing = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')]"
        ".filter(w => w.scrollWidth > w.clientWidth + 1).length"
    )
    assert overflowing == 0

    rows.nth(0).get_by_role("link", name=long_domain).click()
    expect(page.get_by_test_id("site-disk")).to_have_text("1.2\xa0GB, measured 10\xa0minutes ago")
    page.goto(f"{plain_server.url}/users/{owner.pk}/")
    expect(page.get_by_test_id("user-disk")).to_contain_text("1.2\xa0GB")
    expect(page.get_by_test_id("user-disk")).to_contain_text("(2 of 3 sites measured)")
