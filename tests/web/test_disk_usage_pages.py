"""Disk use as the pages show it: read from the columns the schedule writes, with constant
queries (the measurement itself: tests/sites/test_disk_usage.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from panel.sites.models import Site
from tests.factories import SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def _text(response) -> str:
    assert response.status_code == 200
    return response.content.decode().replace("\xa0", " ")


def _measure(site, size, ago=timedelta(minutes=10)):
    Site.objects.filter(pk=site.pk).update(disk_bytes=size, disk_measured_at=timezone.now() - ago)


def _section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start : page.index("</dd>", start)]


def test_site_page_says_not_measured_yet_then_the_size_and_its_age(owner_client, owner):
    site = SiteFactory(created_by=owner)
    page = _text(owner_client.get(f"/sites/{site.pk}/"))
    assert "not measured yet" in _section(page, "site-disk")
    _measure(site, int(12.3 * MIB))
    disk = _section(_text(owner_client.get(f"/sites/{site.pk}/")), "site-disk")
    assert "12.3 MB, measured 10 minutes ago" in disk
    assert "<time datetime=" in disk  # the exact time in the user's zone, as a tooltip


def test_an_outsider_cannot_see_a_sites_disk_use(outsider_client, owner):
    site = SiteFactory(created_by=owner)
    _measure(site, 5 * MIB)
    assert outsider_client.get(f"/sites/{site.pk}/").status_code == 404
    assert "5.0 MB" not in _text(outsider_client.get("/sites/"))


def test_site_list_shows_the_column_and_sorts_largest_first(admin_client, owner):
    small = SiteFactory(created_by=owner, domain="a-small.example.com")
    big = SiteFactory(created_by=owner, domain="b-big.example.com")
    never = SiteFactory(created_by=owner, domain="0-never.example.com")
    _measure(small, 2 * MIB)
    _measure(big, 700 * MIB)
    by_domain = _text(admin_client.get("/sites/"))
    assert "Disk use" in by_domain
    order = [by_domain.index(s.domain) for s in (never, small, big)]
    assert order == sorted(order)
    by_size = _text(admin_client.get("/sites/?sort=disk"))
    order = [by_size.index(s.domain) for s in (big, small, never)]
    assert order == sorted(order)  # never measured comes last
    assert ">700.0 MB</time>" in by_size and ">2.0 MB</time>" in by_size
    assert 'aria-sort="descending"' in by_size
    for hostile in ("evil", "-domain", "disk_bytes;drop", "%00"):
        page = _text(admin_client.get(f"/sites/?sort={hostile}"))
        order = [page.index(s.domain) for s in (never, small, big)]
        assert order == sorted(order)  # an unknown order is ignored


def test_user_page_total_is_the_sum_of_their_sites(admin_client, owner, outsider):
    page = _text(admin_client.get(f"/users/{owner.pk}/"))
    assert "no sites" in _section(page, "user-disk")
    sites = [SiteFactory(created_by=owner) for _ in range(3)]
    _measure(SiteFactory(created_by=outsider), 999 * MIB)  # someone else's: not in the total
    assert "not measured yet" in _section(
        _text(admin_client.get(f"/users/{owner.pk}/")), "user-disk"
    )
    _measure(sites[0], 10 * MIB, ago=timedelta(hours=2))
    _measure(sites[1], 5 * MIB)
    disk = _section(_text(admin_client.get(f"/users/{owner.pk}/")), "user-disk")
    assert "15.0 MB" in disk and "(2 of 3 sites measured)" in disk
    assert "oldest measurement 2 hours ago" in disk
    _measure(sites[2], 1 * MIB)
    disk = _section(_text(admin_client.get(f"/users/{owner.pk}/")), "user-disk")
    assert "16.0 MB" in disk and "(all 3 sites)" in disk
    assert "3 of 10 sites" in _section(_text(admin_client.get(f"/users/{owner.pk}/")), "user-sites")


def test_user_page_queries_do_not_grow_with_sites(admin_client):
    user = UserFactory(username="many")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(f"/users/{user.pk}/").status_code == 200
        return len(ctx.captured_queries)

    _measure(SiteFactory(created_by=user), MIB)
    one = count()
    for n in range(30):
        site = SiteFactory(created_by=user)
        if n % 2:
            _measure(site, n * MIB)
    assert count() == one
