"""manage.py nginx_resync: reports and corrects vhosts that differ from the database."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

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

    report = _run()
    assert "corrected 2, rejected 0" in report
    assert "hacked.html" not in path.read_text()
    assert nginx.wait_for(missing.domain).status == 200
    assert "0 vhost(s) to correct" in _run("--dry-run")
    (nginx.conf_dir / "stray.example.conf").unlink()
