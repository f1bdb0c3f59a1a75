"""/sites/<id>/logs/: the site's own nginx logs, newest first, escaped, paged, filtered; readable
by the panel's group and by no other site's user."""

from __future__ import annotations

import grp
import os
import subprocess

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from panel.jobs.models import Job
from panel.sites.services import site_create
from panel.tenancy import homes, rootcmd
from tests.conftest import require
from tests.factories import SiteFactory

OK_LINE = "GET / HTTP/1.1&quot; 200"  # as the page shows it (quotes escaped too)
LINE = '10.0.0.{n} - - [03/Dec/2026:08:00:00 +0700] "GET /p{n} HTTP/1.1" {status} 5 "-" "ua"\n'


def _active(worker, owner, domain):
    site = site_create(user=owner, domain=domain, runtime="static")
    job = worker.wait_for_job(Job.objects.filter(site_id=site.pk).latest("created_at"))
    assert job.status == "success", job.error_message
    site.refresh_from_db()
    return site


def test_the_real_access_and_error_logs_are_shown_escaped(worker, nginx, owner, owner_client):
    site = _active(worker, owner, "logs.e2e.example")
    assert nginx.wait_for(site.domain).status == 200
    assert nginx.get(site.domain, "/<script>alert(1)</script>").status == 404
    url = f"/sites/{site.pk}/logs/"
    body = owner_client.get(url).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body
    lines = body.split('data-testid="log-lines"')[1]
    assert lines.index("alert(1)") < lines.index(OK_LINE)  # newest first
    only_4xx = owner_client.get(url + "?which=access&status=4xx").content.decode()
    assert "alert(1)" in only_4xx and OK_LINE not in only_4xx
    only_2xx = owner_client.get(url + "?which=access&status=2xx").content.decode()
    assert "alert(1)" not in only_2xx and OK_LINE in only_2xx
    # An error nginx logs: a folder without an index page (its path quoted in the entry).
    (homes.public_path(site.domain) / "x<script>").mkdir()
    assert nginx.get(site.domain, "/x<script>/").status == 403
    errors = owner_client.get(url + "?which=error").content.decode()
    assert "is forbidden" in errors and "x&lt;script&gt;" in errors
    assert "<script>" not in errors


def test_another_sites_user_cannot_read_the_logs_but_the_panels_group_can(worker, nginx, owner):
    require(rootcmd.isolation_enabled(), "isolation needs root (site users)")
    one = _active(worker, owner, "one.logs.example")
    two = _active(worker, owner, "two.logs.example")
    assert nginx.wait_for(one.domain).status == 200
    log = homes.logs_dir(one) / "access.log"
    other = subprocess.run(
        ["setpriv", "--reuid", two.system_user, "--regid", two.system_user, "--clear-groups",
         "cat", str(log)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert other.returncode != 0 and "Permission denied" in other.stderr
    panel_gid = grp.getgrnam(os.environ.get("NUSANTARA_PANEL_GROUP") or "root").gr_gid
    panel = subprocess.run(
        ["setpriv", "--reuid", "nobody", "--regid", str(panel_gid), "--clear-groups",
         "cat", str(log)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert panel.returncode == 0 and '"GET / HTTP/1.1" 200' in panel.stdout


@pytest.fixture
def logged_site(db, settings, tmp_path, owner):
    settings.NUSANTARA_WEB_ROOT = tmp_path
    site = SiteFactory(
        created_by=owner, domain="paged.example", root_path=str(tmp_path / "paged.example/public")
    )
    logs = tmp_path / "paged.example" / "logs"
    logs.mkdir(parents=True)
    return site, logs


def _write(path, count, start=0, status=200):
    with path.open("w") as f:
        for n in range(start, start + count):
            f.write(LINE.format(n=n, status=status))


def test_pages_go_back_through_the_rotated_file(logged_site, owner_client, settings):
    site, logs = logged_site
    settings.NUSANTARA_LOG_PAGE_LINES = 100
    _write(logs / "access.log.1", 150)
    _write(logs / "access.log", 30, start=150)
    base = url = f"/sites/{site.pk}/logs/"
    seen = []
    for _ in range(3):
        response = owner_client.get(url)
        body = response.content.decode()
        seen += [int(part.split(" ")[0]) for part in body.split("GET /p")[1:]]
        if 'data-testid="older"' not in body:
            break
        href = body.split('data-testid="older" href="')[1].split('"')[0]
        url = base + href.replace("&amp;", "&")
    assert seen == list(range(179, -1, -1))


def test_query_count_does_not_grow_with_the_log(logged_site, owner_client):
    site, logs = logged_site
    url = f"/sites/{site.pk}/logs/"
    _write(logs / "access.log", 1)
    with CaptureQueriesContext(connection) as small:
        assert owner_client.get(url).status_code == 200
    _write(logs / "access.log", 5000)
    with CaptureQueriesContext(connection) as large:
        assert owner_client.get(url).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries) <= 6


def test_no_logs_yet_and_hostile_parameters(logged_site, owner_client, outsider_client, client):
    site, _logs = logged_site
    url = f"/sites/{site.pk}/logs/"
    assert "Nothing logged yet." in owner_client.get(url).content.decode()
    for query in (
        "?which=../../etc/passwd",
        "?cursor=../../x",
        "?status=<b>",
        "?which=error&status=4xx",
    ):
        assert owner_client.get(url + query).status_code == 200
    assert outsider_client.get(url).status_code == 404
    assert client.get(url)["Location"].startswith("/accounts/login/")
    assert owner_client.post(url).status_code == 405
