"""manage.py nginx_resync: reports vhosts that differ from the database; the correction is an
audited `nginx.resync` job (queued for the worker, or run here with --now)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.sites import nginx as ngx
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("nginx_resync", *args, stdout=out)
    return out.getvalue()


def test_resync_reports_then_repairs_hand_edits_and_missing_vhosts(nginx):
    edited = SiteFactory(domain="edited.resync.example")
    missing = SiteFactory(domain="missing.resync.example")
    same = SiteFactory(domain="same.resync.example")
    for site in (edited, missing, same):
        ngx.ensure_docroot(site)
        ngx.sync_site(site)
    path = ngx.conf_path(edited.domain)
    path.write_text(path.read_text().replace("index index.html", "index hacked.html"))
    ngx.conf_path(missing.domain).unlink()
    (nginx.conf_dir / "stray.example.conf").write_text("# hand-made\n")

    report = _run("--dry-run")
    assert "DIFFERS  edited.resync.example" in report and "hacked.html" in report
    assert "MISSING  missing.resync.example" in report
    assert "same.resync.example" not in report
    assert "UNKNOWN" in report and "stray.example.conf" in report
    assert "hacked.html" in path.read_text()  # dry run changed nothing

    report = _run("--now")
    assert "corrected 2, rejected 0" in report
    job = Job.objects.get(type="nginx.resync")
    assert job.status == "success"
    assert AuditLog.objects.filter(action="nginx.resync", target_id=str(job.pk)).exists()
    done = AuditLog.objects.get(action="nginx.resynced")
    assert done.metadata["corrected"] == [edited.domain, missing.domain]
    assert "hacked.html" not in path.read_text()
    assert nginx.wait_for(missing.domain).status == 200
    assert "0 vhost(s) to correct" in _run("--dry-run")
    (nginx.conf_dir / "stray.example.conf").unlink()


def test_resync_without_now_only_queues_the_job(nginx):
    site = SiteFactory(domain="queued.resync.example")
    ngx.ensure_docroot(site)
    ngx.sync_site(site)
    ngx.conf_path(site.domain).unlink()
    report = _run()
    job = Job.objects.get(type="nginx.resync")
    assert f"queued nginx.resync job {job.pk}" in report
    assert job.status == "queued"
    assert not ngx.conf_path(site.domain).exists()  # the worker writes, not the command
    assert AuditLog.objects.filter(action="nginx.resync", target_id=str(job.pk)).exists()


def test_dry_run_records_nothing(nginx):
    SiteFactory(domain="dry.resync.example")
    _run("--dry-run")
    assert not Job.objects.exists()
    assert not AuditLog.objects.exists()
