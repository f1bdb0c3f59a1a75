"""Disk use per site, end to end: real sites provisioned by the real worker (their own system
users, homes owned by them), real files written into the homes, the measurement run as the
schedule runs it, and the pages showing the result. Checked against the real `du`."""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django_q.models import Schedule

from panel.jobs.models import Job
from panel.sites.models import Site
from panel.sites.services import site_create
from panel.tenancy import usage
from tests.factories import SiteFactory

MB = 1024 * 1024


def _du(path: Path) -> int:
    out = subprocess.run(["du", "-sxPB1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _provision(worker, owner, domain: str) -> Site:
    site = site_create(user=owner, domain=domain, runtime="static")
    job = Job.objects.filter(site_id=site.pk).order_by("-created_at").first()
    assert worker.wait_for_job(job).status == "success", job.error_message
    site.refresh_from_db()
    return site


def _write_as_site_user(site: Site, name: str, size: int) -> Path:
    """A file the customer uploaded: in public/, owned by the site's user."""
    path = Path(settings.NUSANTARA_WEB_ROOT) / site.domain / "public" / name
    path.write_bytes(os.urandom(size))
    entry = pwd.getpwnam(site.system_user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _text(response) -> str:
    return response.content.decode().replace("\xa0", " ")


def _size(n: int) -> str:
    return filesizeformat(n).replace("\xa0", " ")  # "3.0 MB", as the pages write it


def test_measured_homes_show_on_the_site_page_the_list_and_the_user_page(
    worker, owner, admin_client, client
):
    one = _provision(worker, owner, "disk-one.e2e.example")
    two = _provision(worker, owner, "disk-two.e2e.example")
    assert one.system_user and os.geteuid() == 0  # isolation on: homes belong to site users
    home = Path(settings.NUSANTARA_WEB_ROOT) / one.domain
    _write_as_site_user(one, "video.bin", 3 * MB)
    _write_as_site_user(two, "photo.bin", 1 * MB)
    (home / "public" / "escape").symlink_to("/")  # the customer's link to the whole disk
    page = admin_client.get(f"/sites/{one.pk}/")
    assert "not measured yet" in _text(page)

    summary = usage.measure_all()

    assert "measured for 2 of 2 site(s); 0 failed" in summary
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.disk_bytes == _du(home)  # the same number as du, and / was not followed
    assert 3 * MB < one.disk_bytes < 4 * MB
    assert 1 * MB < two.disk_bytes < 2 * MB
    assert timezone.now() - one.disk_measured_at < timedelta(minutes=1)
    page = _text(admin_client.get(f"/sites/{one.pk}/"))
    assert "Disk use" in page and f"{_size(one.disk_bytes)}, measured 0 minutes ago" in page
    assert _size(one.disk_bytes) == "3.0 MB"
    client.force_login(owner)  # the owner sees it on their own site's page too
    assert f"{_size(one.disk_bytes)}, measured" in _text(client.get(f"/sites/{one.pk}/"))
    listing = _text(admin_client.get("/sites/?sort=disk"))
    assert listing.index("disk-one.e2e.example") < listing.index("disk-two.e2e.example")
    assert f">{_size(one.disk_bytes)}</time>" in listing
    assert f">{_size(two.disk_bytes)}</time>" in listing
    user_page = _text(admin_client.get(f"/users/{owner.pk}/"))
    total = one.disk_bytes + two.disk_bytes
    assert total > 4 * MB
    assert f"{_size(total)}" in user_page and "(all 2 sites)" in user_page


def test_a_vanished_or_refused_home_does_not_break_the_run(worker, owner, caplog):
    good = _provision(worker, owner, "disk-good.e2e.example")
    refused = _provision(worker, owner, "disk-refused.e2e.example")
    _write_as_site_user(good, "data.bin", 2 * MB)
    # Measured before: keeps that number and its time when a later measurement fails.
    before = timezone.now() - timedelta(hours=3)
    Site.objects.filter(pk=refused.pk).update(disk_bytes=12345, disk_measured_at=before)
    # Its home replaced by a link to / (as only root could): refused, never followed.
    refused_home = Path(settings.NUSANTARA_WEB_ROOT) / refused.domain
    refused_home.rename(refused_home.with_name("disk-refused.moved"))
    refused_home.symlink_to("/")
    # A site whose home is gone (deleted by hand, or never created).
    vanished = SiteFactory(created_by=owner, domain="disk-vanished.e2e.example")

    with caplog.at_level(logging.WARNING, logger="panel.tenancy.usage"):
        summary = usage.measure_all()

    assert "measured for 1 of 3 site(s); 1 failed, 1 without a home" in summary
    good.refresh_from_db()
    refused.refresh_from_db()
    vanished.refresh_from_db()
    assert 2 * MB < good.disk_bytes < 3 * MB
    assert (refused.disk_bytes, refused.disk_measured_at) == (12345, before)
    assert (vanished.disk_bytes, vanished.disk_measured_at) == (None, None)
    assert "disk-refused.e2e.example not measured" in caplog.text
    assert "symbolic link" in caplog.text
    refused_home.unlink()
    refused_home.with_name("disk-refused.moved").rename(refused_home)


def test_the_schedule_measures_through_the_real_worker(worker, owner):
    site = _provision(worker, owner, "disk-sched.e2e.example")
    _write_as_site_user(site, "blob.bin", 2 * MB)
    schedule = Schedule.objects.get(name=usage.SCHEDULE_NAME)
    assert (schedule.func, schedule.minutes) == (usage.TASK, settings.NUSANTARA_DISK_USAGE_INTERVAL)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() - timedelta(seconds=1))
    deadline = time.monotonic() + 90  # django-q2's scheduler looks about every 30 s
    while time.monotonic() < deadline:
        site.refresh_from_db()
        if site.disk_measured_at is not None:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the schedule did not measure within 90 s; worker log: {worker.log_tail()}")
    assert site.disk_bytes == _du(Path(settings.NUSANTARA_WEB_ROOT) / site.domain)
    schedule.refresh_from_db()
    assert schedule.next_run > timezone.now()  # and it is due again one interval later


@pytest.mark.django_db
def test_without_isolation_the_panel_measures_its_own_files(settings, tmp_path, owner):
    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    settings.NUSANTARA_DATA_DIR = tmp_path / "data"
    site = SiteFactory(created_by=owner, domain="plain.example.com")
    public = tmp_path / "www" / site.domain / "public"
    public.mkdir(parents=True)
    (public / "index.html").write_bytes(os.urandom(50_000))
    (public / "up").symlink_to("/")
    assert "measured for 1 of 1 site(s)" in usage.measure_all()
    site.refresh_from_db()
    assert site.disk_bytes == _du(tmp_path / "www" / site.domain)


@pytest.mark.django_db
def test_a_name_the_helper_refuses_costs_only_its_own_measurement(settings, tmp_path, caplog):
    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_DATA_DIR = tmp_path
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    odd = SiteFactory(domain="localhost")  # no dot: outside the helper's grammar
    fine = SiteFactory(domain="fine.example.com")
    (tmp_path / "www" / fine.domain).mkdir(parents=True)
    (tmp_path / "www" / "localhost").mkdir()
    with caplog.at_level(logging.WARNING, logger="panel.tenancy.usage"):
        summary = usage.measure_all()
    assert "measured for 1 of 2 site(s); 1 failed" in summary
    assert "disk use of localhost not measured: refused" in caplog.text
    odd.refresh_from_db()
    fine.refresh_from_db()
    assert odd.disk_bytes is None and fine.disk_bytes is not None


@pytest.mark.django_db
def test_a_second_run_while_one_is_going_is_skipped(settings, tmp_path):
    settings.NUSANTARA_DATA_DIR = tmp_path
    with usage._run_lock() as held:
        assert held
        assert usage.measure_all().startswith("skipped: another disk use measurement")


@pytest.mark.django_db
def test_the_helper_failing_as_a_whole_saves_nothing_and_says_why(settings, tmp_path, owner):
    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_DATA_DIR = tmp_path
    link = tmp_path / "linked-www"
    link.symlink_to(tmp_path)
    settings.NUSANTARA_WEB_ROOT = link  # the helper refuses a web root through a link
    site = SiteFactory(created_by=owner, domain="x.example.com")
    summary = usage.measure_all()
    assert "measured for 0 of 1 site(s)" in summary and "symbolic link" in summary
    site.refresh_from_db()
    assert site.disk_bytes is None and site.disk_measured_at is None


@pytest.mark.django_db
def test_a_run_cut_short_starts_with_the_stalest_next_time(settings, tmp_path, owner, monkeypatch):
    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_DATA_DIR = tmp_path
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    old = timezone.now() - timedelta(days=1)
    fresh = SiteFactory(created_by=owner, domain="a-fresh.example.com")
    stale = SiteFactory(created_by=owner, domain="b-stale.example.com")
    never = SiteFactory(created_by=owner, domain="c-never.example.com")
    Site.objects.filter(pk=fresh.pk).update(disk_bytes=1, disk_measured_at=timezone.now())
    Site.objects.filter(pk=stale.pk).update(disk_bytes=1, disk_measured_at=old)
    for site in (fresh, stale, never):
        (tmp_path / "www" / site.domain).mkdir(parents=True)
    seen = []
    real = usage._measure

    def one_at_a_time(domains, seconds, budget):
        seen.append(domains[0])
        return real(domains[:1], seconds, budget)

    monkeypatch.setattr(usage, "_measure", one_at_a_time)  # the helper stopping after each home
    usage.measure_all()
    assert seen == ["c-never.example.com", "b-stale.example.com", "a-fresh.example.com"]


@pytest.mark.django_db
def test_a_home_that_keeps_failing_does_not_starve_the_others(settings, tmp_path, monkeypatch):
    """A home over its time cap keeps its old measurement time, so "stalest first" alone would
    start every run with it; after a failure it goes last until it succeeds again."""
    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_DATA_DIR = tmp_path
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    heavy = SiteFactory(domain="a-heavy.example.com")
    light = [SiteFactory(domain=f"b{n}-light.example.com") for n in range(3)]
    for site in (heavy, *light):
        (tmp_path / "www" / site.domain).mkdir(parents=True)
    real = usage._measure
    order: list[str] = []

    def measure(domains, seconds, budget):
        results = real(domains, seconds, budget)
        order.extend(domains)
        if heavy.domain in results:  # as if its walk had hit the time cap
            results[heavy.domain] = {"error": "measuring stopped: took longer than its limit"}
        return results

    monkeypatch.setattr(usage, "_measure", measure)
    usage.measure_all()
    assert order[0] == heavy.domain  # never measured, first in name order
    order.clear()
    Site.objects.update(disk_measured_at=timezone.now() - timedelta(days=1))
    assert "1 failed" in usage.measure_all()
    assert order[-1] == heavy.domain and len(order) == 4
    monkeypatch.setattr(usage, "_measure", real)  # it succeeds again: back in the normal order
    usage.measure_all()
    assert usage._load_failures() == {}
    heavy.refresh_from_db()
    assert heavy.disk_bytes is not None


@pytest.mark.django_db
def test_the_interval_setting_reaches_the_schedule(settings):
    from django.core.management import call_command

    Schedule.objects.filter(name=usage.SCHEDULE_NAME).delete()
    call_command("ensure_schedules")  # as on the first migrate after an upgrade
    first_run = Schedule.objects.get(name=usage.SCHEDULE_NAME).next_run
    assert timedelta(seconds=50) < first_run - timezone.now() <= timedelta(minutes=1)
    settings.NUSANTARA_DISK_USAGE_INTERVAL = 15
    call_command("ensure_schedules")
    call_command("ensure_schedules")
    schedule = Schedule.objects.get(name=usage.SCHEDULE_NAME)
    assert schedule.next_run == first_run  # a later migrate changes the interval only
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        usage.TASK,
        Schedule.MINUTES,
        15,
        -1,
    )


@pytest.mark.django_db
def test_a_run_costs_the_same_queries_for_3_sites_and_for_300(settings, tmp_path):
    """One SELECT and one bulk UPDATE per 500 homes, however many sites: no query per site."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_DATA_DIR = tmp_path
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    owner = SiteFactory().created_by

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            site = SiteFactory(created_by=owner, domain=f"q{i:03d}.example.com")
            (tmp_path / "www" / site.domain / "public").mkdir(parents=True)
            (tmp_path / "www" / site.domain / "public" / "index.html").write_text("x" * i)

    def run() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert "0 failed" in usage.measure_all()
        return len(ctx.captured_queries)

    add(2, 0)
    few = run()
    add(297, 2)
    many = run()
    assert many == few <= 3
    assert Site.objects.filter(disk_bytes__isnull=True).count() == 1  # the one without a home


@pytest.mark.django_db
def test_the_schedule_is_on_this_nodes_queue_so_a_worker_runs_it():
    """django-q2 gives a schedule without a queue (cluster NULL) only to a worker whose cluster
    name is the prefix; every worker here is named after its node, so such a schedule never ran
    ("not measured yet" forever after `bin/run`). One made that way is handed to this node."""
    from django.core.management import call_command

    Schedule.objects.filter(func=usage.TASK).delete()
    Schedule.objects.create(
        name=usage.SCHEDULE_NAME, func=usage.TASK, schedule_type=Schedule.MINUTES, minutes=60
    )
    call_command("ensure_schedules")
    rows = list(Schedule.objects.filter(func=usage.TASK).values_list("name", "cluster"))
    assert rows == [(usage.SCHEDULE_NAME, settings.NUSANTARA_NODE)]


@pytest.mark.django_db
def test_a_run_measures_the_homes_of_its_own_node_only(settings, tmp_path):
    from panel.nodes.models import Node

    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_DATA_DIR = tmp_path
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    other = Node.objects.create(name="web-9", address="10.0.0.9")
    here = SiteFactory(domain="here.example.com")
    there = SiteFactory(domain="there.example.com", node=other)
    for site in (here, there):
        (tmp_path / "www" / site.domain / "public").mkdir(parents=True)
        (tmp_path / "www" / site.domain / "public" / "index.html").write_text("x" * 5000)
    assert "measured for 1 of 1 site(s)" in usage.measure_all()
    here.refresh_from_db()
    there.refresh_from_db()
    assert here.disk_bytes is not None
    assert (there.disk_bytes, there.disk_measured_at) == (None, None)  # web-9 measures it
