"""The audit log page: admins only, filters, pagination without COUNT, fixed query count."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from panel.audit.actions import AuditAction
from panel.audit.models import AuditLog
from panel.audit.services import audit_record

pytestmark = pytest.mark.django_db


def _entry(actor, action: str, when: dt.datetime | None = None, **kw) -> AuditLog:
    """A row as stored: the page shows whatever text a row holds (rows imported from V0 too),
    while audit_record itself takes only AuditAction members."""
    entry = audit_record(actor=actor, action=AuditAction.SITE_CREATE, **kw)
    AuditLog.objects.filter(pk=entry.pk).update(action=action)
    entry.action = action
    if when is not None:
        AuditLog.objects.filter(pk=entry.pk).update(created_at=when)
    return entry


def _actions(response) -> list[str]:
    return [e.action for e in response.context["entries"]]


def test_newest_first_with_actor_and_metadata(admin_client: Client, admin_user, owner) -> None:
    _entry(owner, "site.create", target_type="site", target_id="s1", metadata={"domain": "a.id"})
    _entry(None, "ssl.renew", target_type="site", target_id="s1")
    response = admin_client.get("/audit/")
    assert response.status_code == 200
    assert _actions(response) == ["ssl.renew", "site.create"]
    html = response.content.decode()
    assert "owner" in html
    assert '<span class="muted">domain</span> <code title="a.id">a.id</code>' in html


def test_filters_by_actor_action_prefix_and_target(admin_client, admin_user, owner, outsider):
    _entry(owner, "site.create", target_type="site", target_id="s1")
    _entry(owner, "site.delete", target_type="site", target_id="s2")
    _entry(outsider, "site.create", target_type="site", target_id="s3")
    _entry(owner, "user.role_change", target_type="user", target_id="u1")

    assert len(_actions(admin_client.get("/audit/?actor=owner"))) == 3
    assert _actions(admin_client.get("/audit/?action=site.create&actor=outsider")) == [
        "site.create"
    ]
    assert sorted(_actions(admin_client.get("/audit/?action=site."))) == [
        "site.create",
        "site.create",
        "site.delete",
    ]
    assert _actions(admin_client.get("/audit/?target_type=site&target_id=s2")) == ["site.delete"]
    assert _actions(admin_client.get("/audit/?target_type=user")) == ["user.role_change"]


def test_filters_by_date_range_in_the_panel_time_zone(admin_client, owner) -> None:
    tz = timezone.get_current_timezone()  # Asia/Jakarta, UTC+7
    _entry(owner, "a.old", when=dt.datetime(2026, 1, 1, 23, 30, tzinfo=tz))
    _entry(owner, "a.mid", when=dt.datetime(2026, 1, 2, 0, 30, tzinfo=tz))
    _entry(owner, "a.new", when=dt.datetime(2026, 1, 5, 12, 0, tzinfo=tz))

    response = admin_client.get("/audit/?date_from=2026-01-02&date_to=2026-01-02")
    assert _actions(response) == ["a.mid"]
    response = admin_client.get("/audit/?date_from=2026-01-02")
    assert _actions(response) == ["a.new", "a.mid"]
    response = admin_client.get("/audit/?date_to=2026-01-01")
    assert _actions(response) == ["a.old"]


def test_a_reversed_date_range_is_an_error_on_the_field(admin_client) -> None:
    response = admin_client.get("/audit/?date_from=2026-02-01&date_to=2026-01-01")
    assert response.context["form"].errors["date_to"]


@pytest.mark.parametrize(
    "query",
    [
        "date_to=9999-12-31",
        "date_from=9999-12-31",
        "date_from=0001-01-01",
        "date_to=0001-01-01",
        "date_from=0001-01-01&date_to=9999-12-31",
    ],
)
def test_dates_at_the_edge_of_the_calendar_are_a_form_error(admin_client, owner, query) -> None:
    _entry(owner, "site.create")
    response = admin_client.get(f"/audit/?{query}")
    assert response.status_code == 200
    field = query.split("=")[0]
    assert response.context["form"].errors[field] == [
        "Enter a date between 1970-01-01 and 9998-12-31."
    ]
    assert "Enter a date between 1970-01-01 and 9998-12-31." in response.content.decode()

    export = admin_client.get(f"/audit/export.csv?{query}")
    assert export.status_code == 400
    assert "Enter a date between 1970-01-01 and 9998-12-31." in export.content.decode()


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "99999999-01-01", "%00", "x" * 5000])
def test_garbled_dates_are_a_form_error(admin_client, value) -> None:
    response = admin_client.get("/audit/", {"date_to": value})
    assert response.status_code == 200
    assert response.context["form"].errors["date_to"]
    assert admin_client.get("/audit/export.csv", {"date_to": value}).status_code == 400


def test_the_last_allowed_day_still_filters(admin_client, owner) -> None:
    _entry(owner, "site.create")
    response = admin_client.get("/audit/?date_from=1970-01-01&date_to=9998-12-31")
    assert not response.context["form"].errors
    assert _actions(response) == ["site.create"]
    assert admin_client.get("/audit/export.csv?date_to=9998-12-31").status_code == 200


def test_pages_of_fifty_with_newer_and_older_links(admin_client, owner) -> None:
    AuditLog.objects.bulk_create(
        AuditLog(actor=owner, action=f"x.{i:03d}", target_type="t") for i in range(60)
    )
    first = admin_client.get("/audit/?action=x.")
    assert len(first.context["entries"]) == 50
    assert first.context["has_next"] and not first.context["has_previous"]
    assert "page=2" in first.content.decode()
    second = admin_client.get("/audit/?action=x.&page=2")
    assert len(second.context["entries"]) == 10
    assert not second.context["has_next"] and second.context["has_previous"]
    assert admin_client.get("/audit/?page=oops").status_code == 200


def test_query_count_does_not_grow_with_rows(admin_client, owner, outsider) -> None:
    _entry(owner, "one")
    with CaptureQueriesContext(connection) as few:
        admin_client.get("/audit/")
    for i in range(40):
        _entry(owner if i % 2 else outsider, f"many.{i}")
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get("/audit/")
    assert len(response.context["entries"]) == 41
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


def _targets(owner, n: int, start: int = 0) -> None:
    """n sites, each with a certificate, and an entry for the site, its certificate and the user."""
    from panel.certificates.models import SslCertificate
    from tests.factories import SiteFactory

    for i in range(start, start + n):
        site = SiteFactory(created_by=owner, domain=f"n{i:03d}.example.com")
        cert = SslCertificate.objects.create(site=site, status="pending")
        _entry(owner, "site.create", target=site)
        _entry(owner, "ssl.issue", target=cert)
        _entry(owner, "user.update", target=owner)


def test_targets_are_named_not_numbered(admin_client, owner) -> None:
    from panel.certificates.models import SslCertificate
    from tests.factories import SiteFactory

    site = SiteFactory(created_by=owner, domain="xn--bcher-kva.id")
    cert = SslCertificate.objects.create(site=site, status="pending")
    gone = SiteFactory(created_by=owner, domain="gone.example")
    _entry(owner, "site.create", target=site)
    _entry(owner, "ssl.issue", target=cert)
    _entry(owner, "user.update", target=owner)
    _entry(owner, "site.delete", target=gone, metadata={"domain": "gone.example"})
    gone_id = str(gone.pk)
    gone.delete()
    html = admin_client.get("/audit/").content.decode()
    cells = re.findall(r'<td data-testid="audit-target">(.*?)</td>', html, re.S)
    assert len(cells) == 4
    deleted, user, certificate, created = cells
    assert f'href="/sites/{site.pk}/"' in created and ">bücher.id</a>" in created
    assert "bücher.id" in certificate and str(cert.pk) not in certificate.split('"')[2]
    assert f'href="/users/{owner.pk}/"' in user and f">{owner.username}</a>" in user
    assert "gone.example" in deleted and f">{gone_id}<" not in deleted


def test_query_count_with_named_targets_does_not_grow(admin_client, owner) -> None:
    """One query per target type, whatever the number of rows."""
    _targets(owner, 1)
    with CaptureQueriesContext(connection) as few:
        admin_client.get("/audit/")
    _targets(owner, 15, start=1)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get("/audit/")
    assert len(response.context["entries"]) == 48
    assert all(e.target_name for e in response.context["entries"])
    assert len(many.captured_queries) == len(few.captured_queries)


def test_times_are_labelled_with_their_zone(admin_client, owner) -> None:
    _entry(owner, "one")
    html = admin_client.get("/audit/").content.decode()
    assert '<span class="muted small" data-testid="time-zone">(WIB)</span>' in html
    assert 'title="Asia/Jakarta"' in html
    session = admin_client.session
    session["tz"] = "Europe/Berlin"
    session.save()
    html = admin_client.get("/audit/").content.decode()
    assert re.search(r'data-testid="time-zone">\(CES?T\)', html)
    assert "Times are in CE" in html and "(Europe/Berlin)" in html


def test_audit_log_is_read_only(admin_client) -> None:
    assert admin_client.post("/audit/").status_code == 405


def test_secrets_never_reach_metadata(owner) -> None:
    entry = audit_record(
        actor=owner,
        action=AuditAction.SITE_CREATE,
        metadata={"password": "p", "nested": {"token": "t"}, "ok": 1},
    )
    assert entry.metadata == {"password": "[removed]", "nested": {"token": "[removed]"}, "ok": 1}


def test_targets_link_to_their_pages(admin_client, owner) -> None:
    _entry(owner, "user.role_change", target=owner)
    _entry(owner, "odd", target_type="site", target_id="not-a-uuid")
    html = admin_client.get("/audit/").content.decode()
    assert f'href="/users/{owner.pk}/"' in html
    assert "not-a-uuid" in html


def test_long_metadata_values_are_shortened_but_kept_in_full_in_the_title(admin_client, owner):
    agent = "Mozilla/5.0 " + "x" * 200
    _entry(owner, "auth.login", metadata={"user_agent": agent, "n": {"a": 1}})
    html = admin_client.get("/audit/").content.decode()
    assert f'title="{agent}"' in html
    assert "xxxx…</code>" in html
    assert "{&quot;a&quot;: 1}" in html


def _csv_rows(response) -> list[dict[str, str]]:
    import csv
    import io

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(body)))


def test_csv_export_has_the_filtered_rows_in_utc_with_metadata(admin_client, owner, outsider):
    when = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)  # 06:30 on the 21st in Jakarta
    _entry(owner, "site.create", when, target_type="site", target_id="s1", metadata={"d": "ü.id"})
    _entry(outsider, "site.create", target_type="site", target_id="s2")
    _entry(None, "ssl.renew", target_type="site", target_id="s1")

    rows = _csv_rows(admin_client.get("/audit/export.csv"))
    assert "created_at_utc" in rows[0]  # the header says the zone
    assert [r["action"] for r in rows] == ["ssl.renew", "site.create", "site.create"]
    rows = _csv_rows(admin_client.get("/audit/export.csv?actor=owner&target_id=s1"))
    assert len(rows) == 1
    assert rows[0]["created_at_utc"] == "2026-11-20T23:30:00+00:00"
    assert (rows[0]["actor"], rows[0]["target_type"], rows[0]["target_id"]) == (
        "owner",
        "site",
        "s1",
    )
    assert rows[0]["metadata"] == '{"d": "ü.id"}'
    # The date filter works in the panel's time zone, as on the page.
    assert len(_csv_rows(admin_client.get("/audit/export.csv?date_from=2026-11-21"))) == 3


def test_csv_export_defuses_spreadsheet_formulas(admin_client) -> None:
    from tests.factories import UserFactory

    evil = UserFactory(username="=cmd|calc")
    _entry(evil, "@SUM(1)", target_type="+x", target_id="-1", metadata={"k": "=v"})
    row = _csv_rows(admin_client.get("/audit/export.csv?actor==cmd|calc"))[0]
    assert (row["actor"], row["action"], row["target_type"], row["target_id"]) == (
        "'=cmd|calc",
        "'@SUM(1)",
        "'+x",
        "'-1",
    )
    assert row["metadata"] == '{"k": "=v"}'  # JSON starts with "{": nothing to defuse


def test_csv_export_refuses_a_bad_filter_with_the_reason(admin_client) -> None:
    response = admin_client.get("/audit/export.csv?date_from=2026-11-22&date_to=2026-11-21")
    assert response.status_code == 400
    assert "end date is before the start date" in response.content.decode()


def test_audit_page_links_the_export_with_its_filters(admin_client) -> None:
    html = admin_client.get("/audit/?action=site.&page=2").content.decode()
    assert 'href="/audit/export.csv?action=site." download' in html
    assert 'href="/audit/export.csv" download' in admin_client.get("/audit/").content.decode()
