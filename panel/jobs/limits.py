"""Rate limits on the actions that cost the server (an `nginx -t` and a reload) or the CA (an
ACME order and its validations). Counted from what the panel records anyway (the `jobs` rows),
checked by the services under their row lock before they write anything, so a refused request
changes nothing and records nothing.

Each limit is a setting `NUSANTARA_RATE_*` = (count, seconds) or None (off); docs/security.md
lists them. Admins get NUSANTARA_RATE_ADMIN_FACTOR times the per-account and per-site change
limits; the certificate limits are the same for everyone, because the CA's are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Job, JobStatus
from .types import JobType

CERT_JOB_TYPES = (JobType.SSL_ISSUE, JobType.SSL_RENEW)


class RateLimited(ValidationError):
    """A limit is reached; `retry_at` is when the oldest counted action leaves the window."""

    def __init__(self, message: str, *, retry_at: dt.datetime, limit: str) -> None:
        super().__init__(message, code="rate_limited")
        self.retry_at = retry_at
        self.limit = limit


def _uploads(site_id: Any) -> QuerySet:
    # Every upload that passed the checks is an `ssl.install` job (whatever nginx made of it).
    return Job.objects.filter(site_id=site_id, type=JobType.SSL_INSTALL)


def _by_account(user_id: Any) -> QuerySet:
    # Every status, named: that lets PostgreSQL walk jobs_status_created_at_idx over the window
    # only, instead of every job the account ever made (an admin's can be 100,000s).
    return Job.objects.filter(created_by_id=user_id, status__in=JobStatus.values)


@dataclass(frozen=True)
class Limit:
    setting: str
    per_site: bool  # else per account (the user who asks)
    admin_factor: bool
    rows: Callable[[Any], QuerySet]  # site id or user id -> the counted rows
    field: str  # the timestamp that must fall inside the window
    message: Promise  # with %(time)s


LIMITS = {
    "cert_failures": Limit(
        "NUSANTARA_RATE_CERT_FAILURES",
        per_site=True,
        admin_factor=False,
        rows=lambda site_id: Job.objects.filter(
            site_id=site_id, type__in=CERT_JOB_TYPES, status=JobStatus.FAILED
        ),
        field="finished_at",
        message=_(
            "The last certificate requests for this site failed. To stay within the certificate "
            "authority's limits on failed validations, try again at %(time)s, after fixing what "
            "the last job's error names."
        ),
    ),
    "cert_requests": Limit(
        "NUSANTARA_RATE_CERT_REQUESTS",
        per_site=True,
        admin_factor=False,
        rows=lambda site_id: Job.objects.filter(site_id=site_id, type__in=CERT_JOB_TYPES),
        field="created_at",
        message=_("Too many certificate requests for this site. Try again at %(time)s."),
    ),
    "cert_uploads": Limit(
        "NUSANTARA_RATE_CERT_UPLOADS",
        per_site=True,
        admin_factor=True,
        rows=_uploads,
        field="created_at",
        message=_("Too many certificate uploads for this site. Try again at %(time)s."),
    ),
    "site_changes": Limit(
        "NUSANTARA_RATE_SITE_CHANGES",
        per_site=True,
        admin_factor=True,
        rows=lambda site_id: Job.objects.filter(site_id=site_id, type=JobType.SITE_UPDATE),
        field="created_at",
        message=_("Too many settings changes for this site. Try again at %(time)s."),
    ),
    "account_sites": Limit(
        "NUSANTARA_RATE_ACCOUNT_SITES",
        per_site=False,
        admin_factor=True,
        rows=lambda user_id: _by_account(user_id).filter(type=JobType.SITE_PROVISION),
        field="created_at",
        message=_("Too many new sites from your account in a short time. Try again at %(time)s."),
    ),
    "account_jobs": Limit(
        "NUSANTARA_RATE_ACCOUNT_JOBS",
        per_site=False,
        admin_factor=True,
        rows=_by_account,
        field="created_at",
        message=_("Too many operations from your account in a short time. Try again at %(time)s."),
    ),
}

# Which limits each action passes, the most specific first (its message is the one shown).
ACTIONS = {
    "ssl.request": ("cert_failures", "cert_requests", "account_jobs"),
    "ssl.upload": ("cert_uploads", "account_jobs"),
    "site.update": ("site_changes", "account_jobs"),
    "site.create": ("account_sites", "account_jobs"),
    "db.create": ("account_jobs",),
    "db.change": ("account_jobs",),
    "sftp.change": ("account_jobs",),
    "site.upload": ("account_jobs",),
    "site.aliases": ("account_jobs",),
}


def rate_check_form(action: str, *, user: Any, site_id: Any = None) -> None:
    """rate_check for services whose callers expect errors keyed by form field (`__all__`)."""
    try:
        rate_check(action, user=user, site_id=site_id)
    except RateLimited as exc:
        raise ValidationError({"__all__": exc.messages}, code="rate_limited")


def rate_check(action: str, *, user: Any, site_id: Any = None) -> None:
    """Raise RateLimited if `user` (None: the panel itself, e.g. the renewal run, which has no
    per-account limit) may not start `action` on `site_id` now. One indexed query per limit."""
    now = timezone.now()
    for name in ACTIONS[action]:
        limit = LIMITS[name]
        rate = getattr(settings, limit.setting)
        key = site_id if limit.per_site else getattr(user, "pk", None)
        if rate is None or key is None:
            continue
        count, seconds = rate
        if limit.admin_factor and getattr(user, "is_admin", False):
            count *= settings.NUSANTARA_RATE_ADMIN_FACTOR
        window = dt.timedelta(seconds=seconds)
        # The count-th newest action in the window: while it is inside, the limit is reached,
        # and once it leaves (at its time + window) one more is allowed.
        nth = list(
            limit.rows(key)
            .filter(**{f"{limit.field}__gt": now - window})
            .order_by(f"-{limit.field}")
            .values_list(limit.field, flat=True)[count - 1 : count]
        )
        if nth:
            retry_at = nth[0] + window
            message = str(limit.message) % {"time": _clock(retry_at, now)}
            raise RateLimited(message, retry_at=retry_at, limit=name)


def _clock(when: dt.datetime, now: dt.datetime) -> str:
    """HH:MM in the active (the user's) time zone, rounded up so that the time shown is never
    too early; with the date when it is not today."""
    if when.second or when.microsecond:
        when = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    local = timezone.localtime(when)
    if local.date() != timezone.localtime(now).date():
        return local.strftime("%Y-%m-%d %H:%M")
    return local.strftime("%H:%M")
