"""Pagination without COUNT(*): a page fetches one row more than it shows to know whether a next
page exists, so a list costs the same at 1,000 rows and at 1,000,000."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

PER_PAGE = 25
MAX_PAGE = 10_000  # deeper offsets get slow; nobody pages that far instead of filtering


@dataclass
class Page:
    rows: list[Any]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    def __iter__(self):  # noqa: ANN204 - lets templates loop over the page directly
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def paginate(
    request: HttpRequest,
    qs: QuerySet | None = None,
    per_page: int = PER_PAGE,
    fetch: Callable[[int, int], list[Any]] | None = None,
) -> Page:
    """One page of `qs`, or of `fetch(start, stop)` when the rows need a smarter read."""
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        number = 1
    number = min(max(number, 1), MAX_PAGE)
    start = (number - 1) * per_page
    stop = start + per_page + 1
    if fetch is None:
        assert qs is not None, "paginate() needs a queryset or a fetch function"
        rows = list(qs[start:stop])
    else:
        rows = fetch(start, stop)
    return Page(rows=rows[:per_page], number=number, has_next=len(rows) > per_page)
