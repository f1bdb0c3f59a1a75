"""Development without root: NUSANTARA_ISOLATION=off runs every site as the panel's own user,
through the shared php-fpm pool, with the same home layout, and the dashboard says so."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from panel.jobs.models import Job
from panel.sites.models import SiteStatus
from panel.sites.services import site_create


@pytest.fixture
def isolation_off(settings):
    settings.NUSANTARA_ISOLATION = "off"


def test_sites_are_served_without_system_users(isolation_off, worker, nginx, owner, settings):
    for runtime in ("static", "php"):
        site = site_create(user=owner, domain=f"dev-{runtime}.tenancy.example", runtime=runtime)
        job = worker.wait_for_job(Job.objects.get(site_id=site.pk))
        assert job.status == "success", job.error_message
        site.refresh_from_db()
        assert site.status == SiteStatus.ACTIVE
        assert site.root_path.endswith("/public")
        with pytest.raises(KeyError):
            pwd.getpwnam(site.system_user)
        home = settings.NUSANTARA_WEB_ROOT / site.domain
        assert (home / "public").is_dir() and (home / "logs").is_dir()
    assert "6 * 7 = 42" in nginx.wait_for("dev-php.tenancy.example", text="6 * 7 = 42").body
    assert not list(Path(settings.NUSANTARA_PHP_FPM_POOL_DIR).glob("*.conf"))


def test_the_dashboard_says_isolation_is_off(isolation_off, owner_client):
    html = owner_client.get("/").content.decode()
    assert "Isolation is off: every site runs as the panel's own user" in html


def test_the_dashboard_is_quiet_with_isolation_on(settings, owner_client):
    settings.NUSANTARA_ISOLATION = "on"
    assert "Isolation is off" not in owner_client.get("/").content.decode()


def test_the_sftp_card_says_sftp_needs_isolation(isolation_off, owner, owner_client):
    from tests.factories import SiteFactory

    site = SiteFactory(created_by=owner, status=SiteStatus.ACTIVE, system_user="np0123456789")
    html = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'data-testid="sftp-off"' in html and "SFTP needs isolation" in html
    assert "np0123456789@" not in html  # no login line for an account that does not exist
