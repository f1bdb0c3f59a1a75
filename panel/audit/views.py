"""The audit log page (admins): filter by actor, action, target and date range; read-only; the
same selection as CSV.

Pages are fetched with LIMIT n+1 instead of COUNT(*) so that the page stays fast with millions of
rows: there is a "newer"/"older" link, not a page count.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from panel.web.decorators import admin_required

from .models import AuditLog
from .names import attach_target_names

PAGE_SIZE = 50
MAX_PAGE = 10_000
DATE_MIN = dt.date(1970, 1, 1)
DATE_MAX = dt.date(9998, 12, 31)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor (username)"), required=False, max_length=150)
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=100,
        help_text=_("Exact, or a prefix ending in a dot, e.g. “site.”"),
    )
    target_type = forms.CharField(label=_("Target type"), required=False, max_length=50)
    target_id = forms.CharField(label=_("Target ID"), required=False, max_length=100)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def _clean_day(self, name: str) -> dt.date | None:
        # A day at the edge of the calendar (9999-12-31, 0001-01-01) overflows once it becomes
        # the next midnight or is converted to UTC; no audit entry is that old or that new.
        day = self.cleaned_data.get(name)
        if day is not None and not (DATE_MIN <= day <= DATE_MAX):
            raise forms.ValidationError(
                _("Enter a date between %(first)s and %(last)s."),
                code="out_of_range",
                params={"first": DATE_MIN.isoformat(), "last": DATE_MAX.isoformat()},
            )
        return day

    def clean_date_from(self) -> dt.date | None:
        return self._clean_day("date_from")

    def clean_date_to(self) -> dt.date | None:
        return self._clean_day("date_to")

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the zone the user sees times in."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filtered_entries(data: dict[str, Any], user: object) -> QuerySet[AuditLog]:
    entries = AuditLog.objects.visible_to(user).select_related("actor")
    if data.get("actor"):
        entries = entries.filter(actor__username=data["actor"].strip())
    if action := data.get("action", "").strip():
        if action.endswith("."):
            entries = entries.filter(action__startswith=action)
        else:
            entries = entries.filter(action=action)
    if data.get("target_type"):
        entries = entries.filter(target_type=data["target_type"].strip())
    if data.get("target_id"):
        entries = entries.filter(target_id=data["target_id"].strip())
    if data.get("date_from"):
        entries = entries.filter(created_at__gte=_day_start(data["date_from"]))
    if data.get("date_to"):
        entries = entries.filter(created_at__lt=_day_start(data["date_to"] + dt.timedelta(days=1)))
    return entries.order_by("-created_at", "-id")


# Targets that have a page of their own; the link is built without a query per row.
_TARGET_PAGES = {"site": "site_detail", "user": "user_detail", "job": "job_detail"}


def _target_url(entry: AuditLog) -> str:
    name = _TARGET_PAGES.get(entry.target_type)
    if not name or not entry.target_id:
        return ""
    try:
        return reverse(name, args=[uuid.UUID(entry.target_id)])
    except (ValueError, NoReverseMatch):
        return ""


def _details(metadata: object) -> list[tuple[str, str]]:
    """Metadata as (key, text) pairs, nested values as compact JSON, for a readable cell."""
    if not isinstance(metadata, dict):
        return [("", json.dumps(metadata, ensure_ascii=False))]
    pairs = []
    for key in sorted(metadata):
        value = metadata[key]
        if isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        pairs.append((str(key), text))
    return pairs


def _page_number(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        return 1


@admin_required
@require_safe
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    number = _page_number(request)
    start = (number - 1) * PAGE_SIZE
    rows: list[Any] = list(filtered_entries(data, request.user)[start : start + PAGE_SIZE + 1])
    entries = rows[:PAGE_SIZE]
    for entry in entries:
        entry.details = _details(entry.metadata)
        entry.target_url = _target_url(entry)
    attach_target_names(entries)
    context = {
        "form": form,
        "entries": entries,
        "page_number": number,
        "has_previous": number > 1,
        "has_next": len(rows) > PAGE_SIZE,
    }
    return render(request, "audit/list.html", context)


# The header says the zone: times are UTC whatever the zone the user sees on the page.
CSV_COLUMNS = ("id", "created_at_utc", "actor", "action", "target_type", "target_id", "metadata")
# A cell starting with one of these is a formula to Excel or LibreOffice (CSV injection): a
# username such as "=HYPERLINK(...)" must reach the spreadsheet as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer writes each row into this and gets the line back, to stream it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _csv_lines(entries) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    # A server-side cursor: an export of a million rows never sits in memory.
    for entry in entries.iterator(chunk_size=2000):
        row = (
            entry.pk,
            entry.created_at.astimezone(dt.UTC).isoformat(),
            entry.actor.username if entry.actor else "",
            entry.action,
            entry.target_type,
            entry.target_id,
            json.dumps(entry.metadata, ensure_ascii=False, sort_keys=True),
        )
        yield writer.writerow([_cell(v) for v in row])


@admin_required
@require_safe
def audit_export(request: HttpRequest) -> HttpResponseBase:
    """The filtered audit log as CSV (UTC times, metadata as JSON), streamed."""
    form = AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    data = form.cleaned_data if request.GET else {}
    response = StreamingHttpResponse(
        _csv_lines(filtered_entries(data, request.user)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
