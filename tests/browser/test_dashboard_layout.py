"""The dashboard on a common laptop screen (1366x768): the job tables show each job's site and
fit without scrolling sideways, the page included."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from panel.accounts.models import Role
from panel.jobs.models import Job, JobStatus
from tests.factories import PASSWORD, SiteFactory, UserFactory

from .test_journey import Tr, sign_in

pytestmark = [pytest.mark.browser]

WIDTH = 1366


def _job(site, user, status: str, type_: str) -> Job:
    now = timezone.now()
    return Job.objects.create(
        type=type_,
        status=status,
        site_id=site.pk,
        created_by=user,
        payload={"domain": site.domain},
        started_at=now,
        finished_at=now if status in (JobStatus.SUCCESS, JobStatus.FAILED) else None,
    )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.USER])
def test_dashboard_job_tables_fit_at_1366_and_name_the_site(
    page: Page, plain_server, shoot, role
) -> None:
    t = Tr("en")
    user = UserFactory(username="administrator-jakarta-selatan", role=role)
    long_domain = "toko-batik-dan-kerajinan-tangan-nusantara.example.co.id"
    sites = [
        SiteFactory(created_by=user, domain=long_domain),
        SiteFactory(created_by=user, domain="xn--bcher-kva.id"),
    ]
    for i in range(8):
        site = sites[i % 2]
        _job(site, user, JobStatus.FAILED, "certificate.renew")
        _job(site, user, JobStatus.RUNNING if i == 0 else JobStatus.SUCCESS, "site.provision")

    page.set_viewport_size({"width": WIDTH, "height": 768})
    sign_in(page, plain_server.url, t, user.username, PASSWORD)
    page.goto(f"{plain_server.url}/")
    tables = page.locator("[data-testid=dashboard-jobs] table")
    expect(tables).to_have_count(2)
    for table in tables.all():
        expect(table.locator("thead")).to_contain_text(t("Site"))
        expect(table.locator("tbody")).to_contain_text(long_domain)
        expect(table.locator("tbody")).to_contain_text("bücher.id")
    shoot(page, f"dashboard-1366-{role}")
    assert page.evaluate(f"document.documentElement.scrollWidth <= {WIDTH}")
    # Each table fits its card too (no sideways scrolling inside the table's wrapper).
    overflowing = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')]"
        ".filter(w => w.scrollWidth > w.clientWidth + 1).length"
    )
    assert overflowing == 0
