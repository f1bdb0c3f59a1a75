"""Rate limits on expensive actions (panel.jobs.limits): a limit reached refuses with the time to
try again in the user's zone and writes nothing; once the window has passed the action is
allowed again; other sites and other users are not affected."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils import timezone

from panel.audit.models import AuditLog
from panel.certificates.models import SslCertificate
from panel.certificates.services import certificate_request, certificate_upload, renewal_run
from panel.jobs.limits import RateLimited
from panel.jobs.models import Job, JobStatus
from panel.sites.models import Site
from panel.sites.services import site_create, site_update
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
TEN_MINUTES = dt.timedelta(minutes=10)
JAYAPURA = zoneinfo.ZoneInfo("Asia/Jayapura")  # UTC+9, not the panel's default zone


def _jobs(n, *, type, site=None, user=None, status=JobStatus.SUCCESS):
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            type=type,
            status=status,
            site_id=site.pk if site else None,
            created_by=user,
            payload={},
            started_at=now,
            finished_at=now,
        )
        for _ in range(n)
    )
    # created_at comes from the database's now(): read it back, it is what the limit counts.
    return Job.objects.filter(type=type).order_by("created_at").first()


def _at(when: dt.datetime, zone=JAYAPURA) -> str:
    """HH:MM as the message shows it: rounded up to the minute, in `zone`."""
    if when.second or when.microsecond:
        when = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    when = when.astimezone(zone)
    # With the date when that is not today in `zone` (a run shortly before midnight there).
    if when.date() != timezone.now().astimezone(zone).date():
        return when.strftime("%Y-%m-%d %H:%M")
    return when.strftime("%H:%M")


def _snapshot():
    return (Job.objects.count(), AuditLog.objects.count(), SslCertificate.objects.count())


# --- certificate requests ---------------------------------------------------------------------


def test_sixth_certificate_request_in_an_hour_is_refused_with_the_time(owner, time_machine):
    site = SiteFactory(created_by=owner)
    oldest = _jobs(5, type="ssl.issue", site=site)  # requests that succeeded: not failures
    before = _snapshot()
    with timezone.override(JAYAPURA), pytest.raises(RateLimited) as refused:
        certificate_request(user=owner, site=site)
    assert refused.value.messages == [
        "Too many certificate requests for this site. "
        f"Try again at {_at(oldest.created_at + HOUR)}."
    ]
    assert refused.value.retry_at == oldest.created_at + HOUR
    assert _snapshot() == before  # no job, no audit entry, no pending certificate row

    # Another site of the same owner is not affected.
    assert certificate_request(user=owner, site=SiteFactory(created_by=owner)).type == "ssl.issue"

    time_machine.move_to(refused.value.retry_at + dt.timedelta(seconds=1))
    assert certificate_request(user=owner, site=site).type == "ssl.issue"


def test_admins_get_the_same_certificate_limits_because_the_ca_does(owner, admin_user):
    site = SiteFactory(created_by=owner)
    _jobs(5, type="ssl.renew", site=site, user=owner)
    with pytest.raises(RateLimited, match="Too many certificate requests"):
        certificate_request(user=admin_user, site=site)


def test_three_failed_validations_back_off_until_the_hour_is_up(owner, time_machine):
    site = SiteFactory(created_by=owner)
    _jobs(3, type="ssl.issue", site=site, user=owner, status=JobStatus.FAILED)
    first_failure = Job.objects.order_by("finished_at").first().finished_at
    with timezone.override(JAYAPURA), pytest.raises(RateLimited) as refused:
        certificate_request(user=owner, site=site)
    message = refused.value.messages[0]
    assert message.startswith("The last certificate requests for this site failed.")
    assert f"try again at {_at(first_failure + HOUR)}" in message
    assert Job.objects.count() == 3

    # The daily renewal run respects it too, and says so in its record.
    SslCertificate.objects.create(
        site=site, provider="letsencrypt", status="issued", expires_at=timezone.now()
    )
    assert renewal_run()["limited"] == 1
    assert Job.objects.count() == 3

    time_machine.move_to(first_failure + HOUR + dt.timedelta(seconds=1))
    assert certificate_request(user=owner, site=site).type == "ssl.issue"


def test_failures_older_than_the_window_do_not_count(owner):
    site = SiteFactory(created_by=owner)
    _jobs(3, type="ssl.issue", site=site, user=owner, status=JobStatus.FAILED)
    Job.objects.update(finished_at=timezone.now() - HOUR - dt.timedelta(seconds=1))
    assert certificate_request(user=owner, site=site).type == "ssl.issue"


def test_certificate_upload_limit_refuses_before_reading_the_certificate(owner):
    site = SiteFactory(created_by=owner)
    _jobs(5, type="ssl.install", site=site, user=owner)
    before = _snapshot()
    with pytest.raises(RateLimited, match="Too many certificate uploads for this site"):
        certificate_upload(user=owner, site=site, chain_pem="junk", key_pem="junk")
    assert _snapshot() == before
    # Another site's uploads are its own: this one gets to the certificate check.
    with pytest.raises(ValidationError) as other:
        certificate_upload(
            user=owner, site=SiteFactory(created_by=owner), chain_pem="junk", key_pem="junk"
        )
    assert not isinstance(other.value, RateLimited)


# --- runtime changes and site creation ----------------------------------------------------------


def test_eleventh_runtime_change_in_ten_minutes_is_refused(owner, admin_user, time_machine):
    site = SiteFactory(created_by=owner)
    oldest = _jobs(10, type="site.update", site=site, user=owner)
    with timezone.override(JAYAPURA), pytest.raises(RateLimited) as refused:
        site_update(user=owner, site=site, runtime="php")
    assert refused.value.messages == [
        "Too many settings changes for this site. "
        f"Try again at {_at(oldest.created_at + TEN_MINUTES)}."
    ]
    site.refresh_from_db()
    assert site.runtime == "static" and Job.objects.count() == 10
    # An admin gets NUSANTARA_RATE_ADMIN_FACTOR times the limit, not none.
    assert site_update(user=admin_user, site=site, runtime="php").type == "site.update"
    Job.objects.filter(status=JobStatus.QUEUED).update(status=JobStatus.SUCCESS)

    time_machine.move_to(refused.value.retry_at + dt.timedelta(seconds=1))
    assert site_update(user=owner, site=site, runtime="php").type == "site.update"


def test_account_limit_counts_every_job_of_the_user(owner, outsider, settings):
    settings.NUSANTARA_RATE_ACCOUNT_JOBS = (30, 600)
    busy_sites = [SiteFactory(created_by=owner) for _ in range(3)]
    for site in busy_sites:
        _jobs(
            10, type="ssl.issue" if site is busy_sites[0] else "site.delete", site=site, user=owner
        )
    fresh = SiteFactory(created_by=owner)
    with pytest.raises(RateLimited, match="Too many operations from your account"):
        site_update(user=owner, site=fresh, runtime="php")
    with pytest.raises(RateLimited, match="Too many operations from your account"):
        certificate_request(user=owner, site=fresh)
    # Another user is not affected.
    theirs = SiteFactory(created_by=outsider)
    assert site_update(user=outsider, site=theirs, runtime="php").type == "site.update"


def test_account_limit_for_admins_is_higher_not_absent(admin_user, settings):
    settings.NUSANTARA_RATE_ACCOUNT_JOBS = (3, 600)
    settings.NUSANTARA_RATE_ADMIN_FACTOR = 2
    _jobs(5, type="site.delete", user=admin_user)
    assert site_update(user=admin_user, site=SiteFactory(), runtime="php")  # the 6th: allowed
    with pytest.raises(RateLimited, match="from your account"):
        site_update(user=admin_user, site=SiteFactory(), runtime="php")


def test_site_creation_has_a_per_account_rate_beyond_the_quota(owner, outsider, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 100
    _jobs(10, type="site.provision", user=owner)
    with pytest.raises(RateLimited) as refused:
        site_create(user=owner, domain="one-more.example", runtime="static")
    assert refused.value.messages[0].startswith("Too many new sites from your account")
    assert not Site.objects.filter(domain="one-more.example").exists()
    assert site_create(user=outsider, domain="theirs.example", runtime="static")


def test_a_limit_set_to_off_is_not_checked(owner, settings):
    settings.NUSANTARA_RATE_SITE_CHANGES = None
    site = SiteFactory(created_by=owner)
    _jobs(50, type="site.update", site=site)
    assert site_update(user=owner, site=site, runtime="php").type == "site.update"


def test_retry_time_on_another_day_carries_the_date(owner, time_machine):
    time_machine.move_to(dt.datetime(2030, 1, 1, 14, 30, tzinfo=JAYAPURA), tick=False)
    site = SiteFactory(created_by=owner)
    _jobs(10, type="site.update", site=site, user=owner)
    # The rows carry the database's clock; put them just before midnight, Jayapura time.
    late = dt.datetime(2030, 1, 1, 23, 55, 30, tzinfo=JAYAPURA)
    Job.objects.update(created_at=late)
    time_machine.move_to(late + dt.timedelta(minutes=1), tick=False)
    with timezone.override(JAYAPURA), pytest.raises(RateLimited, match="at 2030-01-02 00:06"):
        site_update(user=owner, site=site, runtime="php")


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5/1h", (5, 3600)), ("10/10m", (10, 600)), ("30/600s", (30, 600)), (" OFF ", None)],
)
def test_rate_settings_read_count_and_period(monkeypatch, value, expected):
    from nusantara.settings import _rate

    monkeypatch.setenv("NUSANTARA_RATE_X", value)
    assert _rate("NUSANTARA_RATE_X", "1/1h") == expected


@pytest.mark.parametrize("value", ["0/1h", "5", "5/", "5/h", "-1/1h", "5/1d", "5/0s", "x/1h"])
def test_bad_rate_settings_stop_the_start(monkeypatch, value):
    from nusantara.settings import _rate

    monkeypatch.setenv("NUSANTARA_RATE_X", value)
    with pytest.raises(ImproperlyConfigured, match="NUSANTARA_RATE_X"):
        _rate("NUSANTARA_RATE_X", "1/1h")


def test_an_admin_retry_of_a_failed_certificate_job_waits_like_a_new_request(
    owner, admin_user, time_machine
):
    from panel.jobs.services import job_retry

    site = SiteFactory(created_by=owner)
    _jobs(3, type="ssl.issue", site=site, user=owner, status=JobStatus.FAILED)
    failed = Job.objects.order_by("finished_at").last()
    with pytest.raises(RateLimited, match="The last certificate requests for this site failed"):
        job_retry(job=failed, user=admin_user)
    failed.refresh_from_db()
    assert failed.status == JobStatus.FAILED
    assert not AuditLog.objects.filter(action="job.retry").exists()

    time_machine.move_to(failed.finished_at + HOUR + dt.timedelta(seconds=1))
    assert job_retry(job=failed, user=admin_user).status == JobStatus.QUEUED
