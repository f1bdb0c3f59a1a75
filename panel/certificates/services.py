"""Certificate operations: request (ACME, as a job), upload (custom), renewal and expiry runs.

Status says what the site serves: `issued` while a valid certificate is installed (a failed
renewal keeps it `issued` and records the CA's words in `error_message`), `expired` once past
`expires_at`, `pending` while a first certificate is being obtained, `failed` when an attempt
failed and nothing valid of this row is serving.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.limits import RateLimited, rate_check
from panel.jobs.models import Job
from panel.jobs.services import JobBusy, ensure_site_idle, job_create
from panel.jobs.types import JobType
from panel.nodes.schedules import RENEWAL, schedule_name
from panel.nodes.services import ensure_files_here
from panel.sites.models import Site, SiteStatus

from . import staging
from .custom import check_upload
from .files import install_files, leaf_info
from .models import CertStatus, Provider, SslCertificate

ISSUE = JobType.SSL_ISSUE
RENEW = JobType.SSL_RENEW
INSTALL = JobType.SSL_INSTALL
RENEWAL_SCHEDULE = RENEWAL.name  # "ssl-renewal"; `ssl-renewal@<node>` for other nodes


class InstallError(Exception):
    """nginx refused the new certificate (the previous files and vhost were restored), or
    there is nothing to install any more."""


def _lock_active_site(site: Site) -> Site:
    site = Site.objects.select_for_update().get(pk=site.pk)
    if site.status != SiteStatus.ACTIVE:
        raise ValidationError(
            _("A certificate can only be installed on an active site (this one is %(status)s).")
            % {"status": site.get_status_display()},
            code="site_not_active",
        )
    return site


def certificate_request(*, user: Any, site: Site, job_type: JobType = ISSUE) -> Job:
    """Queue an ACME issuance (or renewal) for `site`. Raises JobBusy while the site has a job
    in flight, ValidationError when the site is not active, RateLimited (a ValidationError)
    after too many requests or failed validations for the site (panel.jobs.limits)."""
    with transaction.atomic():
        site = _lock_active_site(site)
        rate_check("ssl.request", user=user, site_id=site.pk)
        cert = (
            SslCertificate.objects.filter(site=site, provider=Provider.LETSENCRYPT)
            .order_by("-created_at")
            .first()
        )
        if cert is None:
            cert = SslCertificate.objects.create(
                site=site, provider=Provider.LETSENCRYPT, status=CertStatus.PENDING
            )
        elif cert.status in (CertStatus.FAILED, CertStatus.PENDING):
            # An installed certificate (issued/expired) keeps its status: it is still what the
            # site serves until a new one replaces it.
            cert.status = CertStatus.PENDING
            cert.save(update_fields=["status", "updated_at"])
        job = job_create(
            type=job_type,
            payload={"certificate_id": str(cert.pk), "domain": site.domain},
            user=user,
            site_id=site.pk,
        )
        audit_record(
            actor=user,
            action=AuditAction.SSL_REQUEST,
            target=cert,
            metadata={
                "site_id": str(site.pk),
                "domain": site.domain,
                "job_id": str(job.pk),
                "type": job_type,
            },
        )
    return job


def covered_site_names(site: Site, fullchain_pem: str) -> list[str]:
    """The site's names (primary first) a certificate is valid for."""
    from panel.sites.nginx import site_names
    from panel.sites.tls import certificate_names, covers

    sans = certificate_names(fullchain_pem)
    return [name for name in site_names(site) if covers(sans, name)]


def switch_to(site: Site, fullchain_pem: str, key_pem: str) -> None:
    """Install the pair and re-render the vhost; on nginx failure put the old files back."""
    from panel.sites.nginx import NginxError, sync_site

    installed = install_files(site.domain, fullchain_pem, key_pem)
    try:
        sync_site(site)
    except NginxError as exc:
        installed.restore()
        raise InstallError(str(exc)) from exc
    except BaseException:
        installed.restore()
        raise


def certificate_upload(*, user: Any, site: Site, chain_pem: str, key_pem: str) -> Job:
    """Check an uploaded certificate (provider `custom`) and queue its installation (job
    `ssl.install`). ValidationError says what is wrong with it. The web process only checks and
    stages the pair (0600, see panel.certificates.staging); the worker installs it, runs
    `nginx -t` and reloads, so the web process needs no right over nginx and holds no lock
    while nginx works. The key is never logged, shown or stored outside the 0600 files."""
    with transaction.atomic():
        site = _lock_active_site(site)
        # The web stages the pair on its own disk: only its own node's worker can see it.
        ensure_files_here(site, _("Certificate uploads"))
        ensure_site_idle(site.pk)
        rate_check("ssl.upload", user=user, site_id=site.pk)
        checked = check_upload(site.domain, chain_pem, key_pem)
        job = job_create(
            type=INSTALL,
            payload={
                "domain": site.domain,
                "serial": checked.info.serial,
                "expires_at": checked.info.expires_at.isoformat(),
            },
            user=user,
            site_id=site.pk,
        )
        try:
            staging.stage(job.pk, checked.fullchain_pem, checked.key_pem)
            audit_record(
                actor=user,
                action=AuditAction.SSL_UPLOAD,
                target_type="site",
                target_id=site.pk,
                metadata={
                    "site_id": str(site.pk),
                    "domain": site.domain,
                    "job_id": str(job.pk),
                    "serial": checked.info.serial,
                    "expires_at": checked.info.expires_at.isoformat(),
                },
            )
        except BaseException:
            staging.discard(job.pk)
            raise
    return job


def certificate_install(job: Job) -> SslCertificate:
    """The worker's half of an upload (job `ssl.install`): switch nginx to the staged pair and
    record it. InstallError when nginx refuses it (the previous certificate keeps serving)."""
    domain = job.payload.get("domain", "")
    site = Site.objects.of_job(job).first()
    if site is None or site.domain != domain:
        raise InstallError(_("The site no longer exists."))
    if site.status != SiteStatus.ACTIVE:
        raise InstallError(
            _("The site %(domain)s is %(status)s, not active.")
            % {"domain": site.domain, "status": site.get_status_display()}
        )
    fullchain_pem, key_pem = staging.load(job.pk)
    info = leaf_info(fullchain_pem)
    switch_to(site, fullchain_pem, key_pem)
    with transaction.atomic():
        cert = (
            SslCertificate.objects.select_for_update()
            .filter(site=site, provider=Provider.CUSTOM)
            .order_by("-created_at")
            .first()
        ) or SslCertificate(site=site, provider=Provider.CUSTOM)
        # The uploaded certificate now serves: an ACME row must not renew over it.
        mark_serving(
            cert,
            expires_at=info.expires_at,
            serial=info.serial,
            domains=covered_site_names(site, fullchain_pem),
        )
        audit_record(
            actor=None,
            action=AuditAction.SSL_UPLOADED,
            target=cert,
            metadata={
                "site_id": str(site.pk),
                "domain": site.domain,
                "job_id": str(job.pk),
                "serial": cert.serial,
                "expires_at": info.expires_at.isoformat(),
            },
        )
    return cert


# --- renewal and expiry (django-q2 schedule) ---------------------------------------------


def mark_serving(
    cert: SslCertificate,
    *,
    expires_at: dt.datetime,
    serial: str,
    domains: list[str] | None = None,
    note: str | None = None,
) -> None:
    """Record that `cert` is what nginx now serves for its site: issued, no pending failure,
    and the site's other certificate rows (ACME or uploaded) removed, so that exactly one row
    says what is served and the renewal never replaces the wrong one. `domains`: the site's
    names it covers; `note`: why some names are not covered. Call inside atomic()."""
    cert.status = CertStatus.ISSUED
    cert.expires_at = expires_at
    cert.serial = serial
    cert.domains = domains
    cert.error_message = note
    cert.failure_count = 0
    cert.next_attempt_at = None
    cert.save()
    SslCertificate.objects.filter(site_id=cert.site_id).exclude(pk=cert.pk).delete()


def backoff(failures: int, expires_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When to try a failed renewal again: 1, 2, then every 4 days; daily in the last week.
    Minus an hour, so the daily run at about the same time still picks it up."""
    days = min(2 ** max(failures - 1, 0), 4)
    if expires_at is None or expires_at - now < dt.timedelta(days=7):
        days = 1
    return now + dt.timedelta(days=days) - dt.timedelta(hours=1)


def mark_expired(now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        # This node's certificates: every node runs its own renewal schedule (panel.nodes).
        for cert in SslCertificate.objects.select_for_update().filter(
            status=CertStatus.ISSUED, expires_at__lte=now, site__node__name=settings.NUSANTARA_NODE
        ):
            cert.status = CertStatus.EXPIRED
            cert.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=None,
                action=AuditAction.SSL_EXPIRED,
                target=cert,
                # never None here: the row was selected by expires_at <= now
                metadata={
                    "site_id": str(cert.site_id),
                    "expires_at": (cert.expires_at or now).isoformat(),
                },
            )
            count += 1
    return count


def due_for_renewal(now: dt.datetime | None = None) -> QuerySet[SslCertificate]:
    now = now or timezone.now()
    window = now + dt.timedelta(days=settings.NUSANTARA_RENEW_BEFORE_DAYS)
    # Only ACME certificates: an uploaded one is never replaced behind its owner's back.
    return (
        SslCertificate.objects.filter(
            provider=Provider.LETSENCRYPT,
            status__in=[CertStatus.ISSUED, CertStatus.EXPIRED],
            expires_at__lte=window,
            site__status=SiteStatus.ACTIVE,
            site__node__name=settings.NUSANTARA_NODE,
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .select_related("site")
    )


def renewal_run() -> dict[str, int]:
    """The daily schedule of this node (NUSANTARA_NODE): mark its expired certificates, queue
    their renewals, record that it ran."""
    now = timezone.now()
    result = {"expired": mark_expired(now), "queued": 0, "busy": 0, "limited": 0}
    for cert in due_for_renewal(now):
        try:
            certificate_request(user=None, site=cert.site, job_type=RENEW)
            result["queued"] += 1
        except RateLimited:
            # Recent failed validations for this site (e.g. its owner's attempts): the CA's
            # limit is per host name, so the daily run waits for the next day like them.
            result["limited"] += 1
        except (JobBusy, ValidationError):
            result["busy"] += 1  # picked up again on the next run
    # The dashboard reads the latest of these to show the renewal schedule is alive.
    audit_record(
        actor=None,
        action=AuditAction.SSL_RENEWAL_RUN,
        target_type="schedule",
        target_id=schedule_name(RENEWAL_SCHEDULE, settings.NUSANTARA_NODE),
        metadata=result,
    )
    return result


def last_renewal_run() -> dt.datetime | None:
    from panel.audit.models import AuditLog

    return (
        AuditLog.objects.filter(action=AuditAction.SSL_RENEWAL_RUN)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def ensure_schedules(**_kwargs: Any) -> None:
    """Create every node's renewal schedule once (idempotent; runs after every migrate)."""
    from panel.nodes.services import ensure_node_schedules

    ensure_node_schedules(using=str(_kwargs.get("using", "default")))
