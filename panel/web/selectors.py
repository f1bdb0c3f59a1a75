"""Reading pages of rows in a way that stays fast on large tables with the indexes we have.

Both helpers first read the ordered primary keys of one page from a single table (an index scan
or a short sort, no joins), then load those rows with their joins: two queries whatever the size.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from panel.jobs.models import JobStatus
from panel.sites.models import Site


def rows_for_ids(qs: QuerySet, ids: list[Any]) -> list[Any]:
    by_pk = {row.pk: row for row in qs.order_by().filter(pk__in=ids)}
    return [by_pk[pk] for pk in ids if pk in by_pk]


def page_by_ids(qs: QuerySet, order: list[Any], start: int, stop: int) -> list[Any]:
    """Sort and cut on the base table alone; PostgreSQL would otherwise join every row first."""
    ids = list(qs.order_by(*order).values_list("pk", flat=True)[start:stop])
    return rows_for_ids(qs, ids)


def latest_jobs(qs: QuerySet, start: int, stop: int) -> list[Any]:
    """Newest jobs of every status, through the seed's (status, created_at DESC) index: one
    short index scan per status, merged. Without it, "newest of all" sorts the whole table.
    Use it for unfiltered (admin) job lists; a user's jobs are few and sort quickly."""
    if connection.vendor != "postgresql":
        return page_by_ids(qs, ["-created_at", "-pk"], start, stop)
    parts = [
        qs.filter(status=status).order_by("-created_at").values_list("pk", "created_at")[:stop]
        for status in JobStatus.values
    ]
    merged = parts[0].union(*parts[1:], all=True).order_by("-created_at")[start:stop]
    return rows_for_ids(qs, [pk for pk, _ in merged])


def site_names(site_ids: set[Any], user: Any) -> dict[Any, Any]:
    """One query for the sites of a page of jobs (jobs.site_id has no FK: it outlives the site)."""
    if not site_ids:
        return {}
    return {
        s.pk: s for s in Site.objects.visible_to(user).filter(pk__in=site_ids).only("id", "domain")
    }
