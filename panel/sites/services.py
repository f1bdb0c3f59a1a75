"""Site verbs: create, change runtime, suspend/resume and delete. Each writes the site, its job
and the audit entry in one transaction; the job's task is enqueued only after commit
(panel.jobs.services.job_create)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from panel.accounts.models import Role, User
from panel.audit.services import audit_record
from panel.jobs.models import Job
from panel.jobs.services import JobBusy, ensure_site_idle, job_create

from .domains import normalize_domain
from .models import Runtime, Site, SiteStatus

__all__ = [
    "JobBusy",
    "normalize_upstream",
    "site_create",
    "site_delete",
    "site_suspend",
    "site_update",
]

_HOST_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _domain_exists_error() -> ValidationError:
    return ValidationError({"domain": _("This domain already exists.")}, code="exists")


def normalize_upstream(value: str | None) -> str:
    """Return `host:port` for the proxy runtime or raise ValidationError.

    The host is a hostname, an IPv4 address or a bracketed IPv6 address; the port 1-65535.
    Nothing else is allowed, because the value ends up inside an nginx directive."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(_("Enter the upstream as host:port, e.g. 127.0.0.1:3000."))
    if raw.startswith("["):
        host, sep, port = raw[1:].partition("]:")
        if not sep:
            raise ValidationError(_("Write an IPv6 upstream as [address]:port."))
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise ValidationError(_("“%(host)s” is not a valid IPv6 address.") % {"host": host})
    else:
        host, sep, port = raw.rpartition(":")
        if not sep or not host:
            raise ValidationError(_("Enter the upstream as host:port, e.g. 127.0.0.1:3000."))
        host = host.lower()
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            labels = host.split(".")
            if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
                raise ValidationError(_("The upstream host must be a host name or an IP address."))
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValidationError(_("The upstream port must be a number from 1 to 65535."))
    return f"{host}:{int(port)}"


def _validate(domain: str, runtime: str, upstream: str | None) -> tuple[str, str, str | None]:
    errors: dict[str, Any] = {}
    try:
        domain = normalize_domain(domain)
    except ValidationError as exc:
        errors["domain"] = exc
    try:
        runtime, upstream = _validate_runtime(runtime, upstream)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    return domain, runtime, upstream


def _validate_runtime(runtime: str, upstream: str | None) -> tuple[str, str | None]:
    errors: dict[str, Any] = {}
    if runtime not in Runtime.values:
        errors["runtime"] = ValidationError(_("Choose one of the offered runtimes."))
    if runtime == Runtime.PROXY:
        try:
            upstream = normalize_upstream(upstream)
        except ValidationError as exc:
            errors["upstream"] = exc
    else:
        upstream = None
    if errors:
        raise ValidationError(errors)
    return runtime, upstream


def site_create(
    *,
    user: User,
    domain: str,
    runtime: str,
    upstream: str | None = None,
    owner: User | None = None,
    https: bool = False,
) -> Site:
    """Create a site in `provisioning` and queue its `site.provision` job. With `https`, the
    worker requests an ACME certificate as soon as the site is live (panel.sites.handlers).

    Raises ValidationError keyed by form field ("domain", "runtime", "upstream", "__all__")."""
    owner = owner or user
    if owner.pk != user.pk and user.role != Role.ADMIN:
        raise PermissionDenied(_("Only an administrator can create a site for another user."))
    domain, runtime, upstream = _validate(domain, runtime, upstream)
    try:
        with transaction.atomic():
            if user.role != Role.ADMIN:
                # Locking the owner's row serialises this user's creations, so two parallel
                # requests cannot both pass the quota check below. Admins have no quota.
                User.objects.select_for_update().filter(pk=owner.pk).first()
                limit = settings.NUSANTARA_MAX_SITES_PER_USER
                if Site.objects.filter(created_by=owner).count() >= limit:
                    raise ValidationError(
                        {
                            "__all__": _(
                                "You have reached your limit of %(limit)d sites. Delete a site "
                                "or ask an administrator to raise the limit."
                            )
                            % {"limit": limit}
                        },
                        code="quota",
                    )
            if Site.objects.filter(domain=domain).exists():
                raise _domain_exists_error()
            site = Site.objects.create(
                domain=domain,
                root_path=str(settings.NUSANTARA_WEB_ROOT / domain),
                runtime=runtime,
                upstream=upstream,
                status=SiteStatus.PROVISIONING,
                created_by=owner,
            )
            job_create(
                type="site.provision",
                payload={"domain": domain, "runtime": runtime, "https": bool(https)},
                user=user,
                site_id=site.pk,
            )
            audit_record(
                actor=user,
                action="site.create",
                target=site,
                metadata={
                    "domain": domain,
                    "runtime": runtime,
                    "upstream": upstream,
                    "owner": owner.username,
                    "https": bool(https),
                },
            )
    except IntegrityError as exc:
        # The unique index on sites.domain is the real guard against parallel requests.
        if "domain" in str(exc):
            raise _domain_exists_error()
        raise
    return site


def site_update(*, user: User, site: Site, runtime: str, upstream: str | None = None) -> Job:
    """Queue a `site.update` job that switches the site to another runtime or upstream.

    The site keeps being served as it is until nginx has accepted the new vhost; only then does
    the worker store the new runtime and upstream (the job's payload carries them meanwhile), so
    the row never describes a configuration nginx refused. Raises ValidationError for bad input
    or no change, JobBusy while another job runs for the site."""
    if user.role != Role.ADMIN and site.created_by_id != user.pk:
        raise PermissionDenied
    runtime, upstream = _validate_runtime(runtime, upstream)
    with transaction.atomic():
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.status not in (SiteStatus.ACTIVE, SiteStatus.FAILED):
            raise ValidationError(
                {"__all__": _("The site can be changed once it is active.")}, code="status"
            )
        ensure_site_idle(site.pk)
        if site.status == SiteStatus.ACTIVE and (site.runtime, site.upstream) == (
            runtime,
            upstream,
        ):
            raise ValidationError(
                {"__all__": _("Nothing to change: the site already runs like this.")},
                code="unchanged",
            )
        previous = {"runtime": site.runtime, "upstream": site.upstream, "status": site.status}
        job = job_create(
            type="site.update",
            payload={
                "domain": site.domain,
                "runtime": runtime,
                "upstream": upstream,
                "previous": previous,
            },
            user=user,
            site_id=site.pk,
            exclusive=False,  # checked above, under the same row lock
        )
        if site.status == SiteStatus.FAILED:
            # Nothing is served for a failed site: this is a new attempt at setting it up.
            site.status = SiteStatus.PROVISIONING
            site.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=user,
            action="site.update",
            target=site,
            metadata={
                "domain": site.domain,
                "from": {"runtime": previous["runtime"], "upstream": previous["upstream"]},
                "to": {"runtime": runtime, "upstream": upstream},
                "job_id": str(job.pk),
            },
        )
    return job


def site_suspend(*, user: User, site: Site, suspend: bool, reason: str = "") -> Job:
    """Admins: take an active site offline (its vhost answers 503) or bring it back, through a
    `site.suspend` / `site.resume` job. The reason is required to suspend and is shown to the
    owner. Raises ValidationError (wrong state, no reason) or JobBusy."""
    if user.role != Role.ADMIN:
        raise PermissionDenied(_("Only an administrator can suspend or resume a site."))
    reason = " ".join((reason or "").split())[:500]
    if suspend and not reason:
        raise ValidationError({"reason": _("Say why, for the site's owner.")}, code="reason")
    with transaction.atomic():
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.status != SiteStatus.ACTIVE:
            raise ValidationError(
                {"__all__": _("Only an active site can be suspended or resumed.")}, code="status"
            )
        if suspend == (site.suspended_at is not None):
            message = (
                _("This site is already suspended.")
                if suspend
                else _("This site is not suspended.")
            )
            raise ValidationError({"__all__": message}, code="unchanged")
        ensure_site_idle(site.pk)
        action = "site.suspend" if suspend else "site.resume"
        job = job_create(
            type=action,
            payload={"domain": site.domain, "reason": reason},
            user=user,
            site_id=site.pk,
            exclusive=False,  # checked above, under the same row lock
        )
        audit_record(
            actor=user,
            action=action,
            target=site,
            metadata={"domain": site.domain, "reason": reason, "job_id": str(job.pk)},
        )
    return job


def site_delete(*, user: User, site: Site) -> Job:
    """Mark the site `deleting` and queue the `site.delete` job that removes it from disk,
    from nginx and finally from the database. Raises JobBusy while another job is active, and
    ValidationError when its owner tries to delete a suspended site (only an admin may)."""
    if user.role != Role.ADMIN and site.created_by_id != user.pk:
        raise PermissionDenied
    with transaction.atomic():
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.suspended_at is not None and user.role != Role.ADMIN:
            # Deleting and re-creating it would undo the suspension behind the admin's back.
            message = _(
                "An administrator suspended this site; only an administrator can delete it."
            )
            raise ValidationError({"__all__": ValidationError(message, code="suspended")})
        job = job_create(
            type="site.delete",
            payload={"domain": site.domain},
            user=user,
            site_id=site.pk,
        )
        site.status = SiteStatus.DELETING
        site.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=user,
            action="site.delete",
            target=site,
            metadata={"domain": site.domain, "job_id": str(job.pk)},
        )
    return job
