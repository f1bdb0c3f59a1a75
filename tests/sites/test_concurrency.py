"""Parallel requests: one site per domain whatever the spelling, and the quota holds."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from panel.sites.models import Site
from panel.sites.services import site_create

pytestmark = pytest.mark.django_db(transaction=True)


def _in_parallel(calls):
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_same_domain_in_three_spellings_at_once_gives_one_site(owner):
    spellings = ["Example.COM", "example.com.", "example.com"]
    results = _in_parallel(
        [lambda d=d: site_create(user=owner, domain=d, runtime="static") for d in spellings]
    )
    sites = [r for r in results if isinstance(r, Site)]
    errors = [r for r in results if isinstance(r, ValidationError)]
    assert len(sites) == 1 and len(errors) == 2, results
    for err in errors:
        assert "is already used by a site" in " ".join(err.message_dict["domain"])
    assert list(Site.objects.values_list("domain", flat=True)) == ["example.com"]


def test_quota_holds_under_parallel_requests(owner, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 1
    results = _in_parallel(
        [
            lambda i=i: site_create(user=owner, domain=f"q{i}.example", runtime="static")
            for i in range(4)
        ]
    )
    assert sum(isinstance(r, Site) for r in results) == 1, results
    for err in (r for r in results if not isinstance(r, Site)):
        assert isinstance(err, ValidationError) and "limit of 1" in str(err.message_dict)
    assert Site.objects.filter(created_by=owner).count() == 1
