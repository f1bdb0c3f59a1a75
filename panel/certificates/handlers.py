"""Job handlers `ssl.issue` and `ssl.renew` (pre-flight, ACME, install, switch nginx) and
`ssl.install` (switch nginx to an uploaded certificate the web process checked and staged).

Idempotent: a re-delivered job simply obtains another certificate. Until the new pair has
passed `nginx -t` and been reloaded, the site keeps serving whatever it served before.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.models import Job
from panel.jobs.runner import JobFailed, job_log, register
from panel.jobs.services import JobBusy
from panel.sites.models import Site, SiteStatus
from panel.sites.nginx import NginxError, site_names

from . import acme, staging
from .files import leaf_info
from .models import CertStatus, Provider, SslCertificate
from .preflight import preflight_names
from .services import (
    INSTALL,
    ISSUE,
    RENEW,
    InstallError,
    backoff,
    certificate_install,
    certificate_request,
    mark_serving,
    switch_to,
)

logger = logging.getLogger(__name__)


def _certificate(job: Job) -> SslCertificate:
    cert = (
        SslCertificate.objects.select_related("site")
        .filter(pk=job.payload.get("certificate_id"))
        .first()
    )
    if cert is None:
        raise JobFailed(_("The certificate record no longer exists (was the site deleted?)."))
    return cert


def obtain(job: Job) -> None:
    cert = _certificate(job)
    site = cert.site
    if site.status != SiteStatus.ACTIVE:
        raise JobFailed(
            _("The site %(domain)s is %(status)s, not active.")
            % {"domain": site.domain, "status": site.get_status_display()}
        )

    def log(msg: str) -> None:
        job_log(job, msg)

    try:
        names = site_names(site)
    except NginxError as exc:
        raise JobFailed(str(exc))
    log(f"pre-flight check for {', '.join(names)}")
    passing, failing = preflight_names(names)
    for name, reason in failing.items():
        log(f"not covered: {name}: {reason}")
    if not passing:
        raise JobFailed("\n".join(failing.values()))
    try:
        issued = acme.issue_covering(passing, log=log)
    except acme.AcmeError as exc:
        raise JobFailed(str(exc))
    not_covered = {**failing, **dict(issued.not_covered)}
    note = None
    if not_covered:
        note = _("Not covered by the certificate: %(names)s.") % {
            "names": "; ".join(f"{name}: {reason}" for name, reason in not_covered.items())
        }
    info = leaf_info(issued.fullchain_pem)
    log(f"issued serial {info.serial}, valid until {info.expires_at.isoformat()}")
    try:
        switch_to(site, issued.fullchain_pem, issued.key_pem)
    except InstallError as exc:
        raise JobFailed(
            _(
                "The certificate was issued but could not be put in service; the previous "
                "configuration and certificate were kept. %(error)s"
            )
            % {"error": exc}
        )
    log("nginx now serves the new certificate")
    with transaction.atomic():
        cert = SslCertificate.objects.select_for_update().get(pk=cert.pk)
        # An uploaded certificate this one replaced must not linger as "issued".
        mark_serving(
            cert,
            expires_at=info.expires_at,
            serial=info.serial,
            domains=list(issued.names),
            note=note[:4000] if note else None,
        )
        audit_record(
            actor=None,
            action=AuditAction.SSL_ISSUED,
            target=cert,
            metadata={
                "site_id": str(site.pk),
                "domain": site.domain,
                "serial": info.serial,
                "expires_at": info.expires_at.isoformat(),
                "job_id": str(job.pk),
                "renewal": job.type == RENEW,
                "names": list(issued.names),
                "not_covered": sorted(not_covered),
            },
        )


def on_failure(job: Job, message: str) -> None:
    """In the job's failure transaction: record the CA's words; keep an installed cert's status."""
    cert = (
        SslCertificate.objects.select_for_update()
        .filter(pk=job.payload.get("certificate_id"))
        .first()
    )
    if cert is None:
        return
    now = timezone.now()
    still_serving = cert.status in (CertStatus.ISSUED, CertStatus.EXPIRED)
    if not still_serving:
        cert.status = CertStatus.FAILED
    cert.error_message = message
    cert.failure_count += 1
    cert.next_attempt_at = backoff(cert.failure_count, cert.expires_at, now)
    cert.save()
    audit_record(
        actor=None,
        action=AuditAction.SSL_FAILED,
        target=cert,
        metadata={
            "site_id": str(cert.site_id),
            "domain": job.payload.get("domain"),
            "job_id": str(job.pk),
            "renewal": job.type == RENEW,
            "error": message[:1000],
            "failures": cert.failure_count,
            "next_attempt_at": cert.next_attempt_at.isoformat(),
        },
    )


def on_retry(job: Job) -> None:
    SslCertificate.objects.filter(
        pk=job.payload.get("certificate_id"), status=CertStatus.FAILED
    ).update(status=CertStatus.PENDING)


def install(job: Job) -> None:
    """Install the staged upload. The staged pair goes whatever happens: on success it is in
    the certificate directory, on failure the owner uploads again (a re-delivered job whose
    worker died mid-way still finds it and installs it again)."""
    try:
        job_log(job, f"installing the uploaded certificate for {job.payload.get('domain')}")
        try:
            cert = certificate_install(job)
        except staging.NotStaged as exc:
            raise JobFailed(str(exc))
        except InstallError as exc:
            raise JobFailed(
                _(
                    "nginx refused the uploaded certificate; the previous configuration and "
                    "certificate keep serving. nginx said: %(error)s"
                )
                % {"error": exc}
            )
        job_log(job, f"nginx now serves the uploaded certificate (serial {cert.serial})")
    finally:
        staging.discard(job.pk)


def on_install_failure(job: Job, message: str) -> None:
    """Also when the reaper fails the job: no staged key may outlive it."""
    try:
        staging.discard(job.pk)
    except OSError:
        logger.exception("could not remove the staged certificate of job %s", job.pk)
    audit_record(
        actor=None,
        action=AuditAction.SSL_UPLOAD_FAILED,
        target_type="site",
        target_id=job.site_id,
        metadata={
            "site_id": str(job.site_id),
            "domain": job.payload.get("domain"),
            "job_id": str(job.pk),
            "error": message[:1000],
        },
    )


def request_after_provisioning(job: Job, *, always: bool = False) -> None:
    """The customer asked for HTTPS at creation (`https` in the site.provision payload): queue
    the ACME issuance now that the site is live (after complete_job, so the one-job-per-site
    rule sees this job as finished; run through panel.sites.extensions). A refusal is logged on
    the provisioning job; the site itself is live either way."""
    if not (always or job.payload.get("https")):
        return
    try:
        with transaction.atomic():
            issue = certificate_request(user=job.created_by, site=Site(pk=job.site_id))
    except (ValidationError, JobBusy) as exc:
        reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        job_log(job, f"certificate not requested: {reason}")
        return
    except Exception as exc:  # the site is live: a bug here must not undo that
        logger.exception("certificate request after provisioning %s failed", job.pk)
        job_log(job, f"certificate not requested: internal error ({exc.__class__.__name__})")
        return
    job_log(job, f"certificate requested: job {issue.pk}")


def reissue_for_new_name(job: Job) -> None:
    """A name was added to a site whose certificate came from the CA: ask for one that covers
    it too (run through panel.sites.extensions after the `site.aliases` job completed). An
    uploaded certificate is left alone: its owner decides."""
    if not job.payload.get("add") or job.site_id is None:
        return
    if not SslCertificate.objects.filter(
        site_id=job.site_id, provider=Provider.LETSENCRYPT, status=CertStatus.ISSUED
    ).exists():
        return
    request_after_provisioning(job, always=True)


register(ISSUE, on_failure=on_failure, on_retry=on_retry)(obtain)
register(RENEW, on_failure=on_failure, on_retry=on_retry)(obtain)
register(INSTALL, on_failure=on_install_failure)(install)
