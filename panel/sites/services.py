"""Site verbs: create, change runtime, HSTS on/off, suspend/resume and delete. Each writes the
site, its job and the audit entry in one transaction; the job's task is enqueued only after
commit (panel.jobs.services.job_create)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from panel.accounts.models import Role, User
from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.limits import rate_check
from panel.jobs.models import Job
from panel.jobs.services import JobBusy, ensure_site_idle, job_create
from panel.jobs.types import JobType
from panel.nodes.services import node_for_new_site
from panel.tenancy.rootcmd import site_user_name

from .aliases import check_name, ensure_name_free, name_taken_error
from .domains import ensure_not_panel_host, normalize_domain, www_name
from .grammar import normalize_upstream
from .models import Runtime, Site, SiteDomain, SiteStatus
from .upstreams import check_upstream

__all__ = [
    "JobBusy",
    "normalize_upstream",
    "site_create",
    "site_delete",
    "site_set_hsts",
    "site_suspend",
    "site_update",
]


def _domain_exists_error(domain: str) -> ValidationError:
    """The name is taken (a site's or an alias, in any spelling): say which, as aliases do."""
    return ValidationError({"domain": name_taken_error(domain).messages}, code="exists")


def _validate(domain: str, runtime: str, upstream: str | None) -> tuple[str, str, str | None]:
    errors: dict[str, Any] = {}
    try:
        domain = normalize_domain(domain)
        ensure_not_panel_host(domain)  # admins too: the site would take the panel's address
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
            check_upstream(upstream)  # resolves names; the worker checks again before nginx
        except ValidationError as exc:
            errors["upstream"] = exc
    else:
        upstream = None
    if errors:
        raise ValidationError(errors)
    return runtime, upstream


def _insert_site(**fields: Any) -> Site:
    """Insert the row with its system user ("np" + 10 hex digits of the id). The unique index
    on system_user makes the name collision-free: on the (rare) clash, draw another id."""
    for attempt in range(3):
        site_id = uuid.uuid4()
        try:
            with transaction.atomic():  # a savepoint: a clash must not spoil the outer block
                return Site.objects.create(
                    id=site_id, system_user=site_user_name(site_id), **fields
                )
        except IntegrityError as exc:
            if "system_user" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _quota_override_message(owner: User, used: int, limit: int) -> str:
    return _(
        "%(username)s already has %(used)d sites and their quota is %(limit)d: creating this "
        "site overrides the user's quota. Tick “Override the user's quota” to create it anyway."
    ) % {"username": owner.username, "used": used, "limit": limit}


def site_create(
    *,
    user: User,
    domain: str,
    runtime: str,
    upstream: str | None = None,
    owner: User | None = None,
    https: bool = False,
    override_quota: bool = False,
    www: bool = False,
    node: str | None = None,
) -> Site:
    """Create a site in `provisioning` and queue its `site.provision` job. With `https`, the
    worker requests an ACME certificate as soon as the site is live (panel.sites.handlers).

    The owner's quota (User.site_limit) binds a user, and an admin creating a site for a user
    unless `override_quota` (audited as site.quota_override); an admin's own sites have none.
    With `www`, the site also answers to its www. pair (`www.` + the domain, or the domain
    without `www.`) as an alias (panel.sites.aliases).

    The site goes to the node an admin named (`node`, active nodes only), otherwise to the
    active node with the fewest sites (panel.nodes.services.node_for_new_site); its jobs then run
    on that node's worker.

    Raises ValidationError keyed by form field ("domain", "runtime", "upstream",
    "override_quota", "node", "__all__")."""
    owner = owner or user
    if owner.pk != user.pk and user.role != Role.ADMIN:
        raise PermissionDenied(_("Only an administrator can create a site for another user."))
    domain, runtime, upstream = _validate(domain, runtime, upstream)
    pair = _www_pair(domain) if www else None
    if pair and settings.NUSANTARA_SITE_ALIAS_LIMIT < 1:
        limit = settings.NUSANTARA_SITE_ALIAS_LIMIT
        raise ValidationError(
            {"www": _("A site can have at most %(limit)d other names.") % {"limit": limit}},
            code="limit",
        )
    overridden = None
    try:
        with transaction.atomic():
            if owner.role != Role.ADMIN:
                # Locking the owner's row serialises this user's creations, so two parallel
                # requests cannot both pass the quota check below. Admins have no quota.
                locked = User.objects.select_for_update().filter(pk=owner.pk).first() or owner
                limit = locked.site_limit
                used = Site.objects.filter(created_by=owner).count()
                if used >= limit and user.role == Role.ADMIN:
                    if not override_quota:
                        raise ValidationError(
                            {"override_quota": _quota_override_message(owner, used, limit)},
                            code="quota_override",
                        )
                    overridden = {"owner": owner.username, "limit": limit, "sites": used}
                elif used >= limit:
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
            rate_check("site.create", user=user)
            try:
                # A site or an alias, in every spelling; and not www. of another user's name.
                ensure_name_free(domain, owner_id=owner.pk)
            except ValidationError as exc:
                if exc.code == "foreign_pair":
                    raise ValidationError({"domain": exc.messages}, code="foreign_pair")
                raise _domain_exists_error(domain)
            if pair:
                try:
                    ensure_name_free(pair, owner_id=owner.pk)
                except ValidationError as exc:
                    raise ValidationError({"www": exc.messages}, code="exists")
            host = node_for_new_site(user=user, name=node)
            site = _insert_site(
                node=host,
                domain=domain,
                # The document root is public/ inside the site's home (panel.tenancy.homes).
                root_path=str(settings.NUSANTARA_WEB_ROOT / domain / "public"),
                runtime=runtime,
                upstream=upstream,
                status=SiteStatus.PROVISIONING,
                created_by=owner,
            )
            if pair:
                SiteDomain.objects.create(site=site, domain=pair)
            job_create(
                type=JobType.SITE_PROVISION,
                payload={"domain": domain, "runtime": runtime, "https": bool(https)},
                user=user,
                site_id=site.pk,
            )
            audit_record(
                actor=user,
                action=AuditAction.SITE_CREATE,
                target=site,
                metadata={
                    "domain": domain,
                    "runtime": runtime,
                    "upstream": upstream,
                    "owner": owner.username,
                    "https": bool(https),
                    "aliases": [pair] if pair else [],
                    "node": host.name,
                },
            )
            if overridden:
                audit_record(
                    actor=user,
                    action=AuditAction.SITE_QUOTA_OVERRIDE,
                    target=site,
                    metadata={"domain": domain, **overridden},
                )
    except IntegrityError as exc:
        # The unique index on sites.domain is the real guard against parallel requests.
        if "domain" in str(exc):
            raise _domain_exists_error(domain)
        raise
    return site


def _www_pair(domain: str) -> str | None:
    """The name the "also serve www." option adds: www.<domain>, or for www.<name> the name
    itself (when that is a name a site may have)."""
    if domain.startswith("www."):
        try:
            return check_name(domain[len("www.") :])
        except ValidationError:
            return None
    try:
        return check_name(www_name(domain))
    except ValidationError as exc:  # too long with www., or a panel name
        raise ValidationError({"www": exc.messages}, code="invalid")


def lock_site_row(site_id: Any) -> None:
    """SELECT ... FOR UPDATE of one site's row, as every service here takes it first (a job
    retry in panel.jobs takes it too, through panel.jobs.services.SITE_LOCKS)."""
    Site.objects.select_for_update().filter(pk=site_id).first()


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
        rate_check("site.update", user=user, site_id=site.pk)
        previous = {"runtime": site.runtime, "upstream": site.upstream, "status": site.status}
        job = job_create(
            type=JobType.SITE_UPDATE,
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
            action=AuditAction.SITE_UPDATE,
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
        job = job_create(
            type=JobType.SITE_SUSPEND if suspend else JobType.SITE_RESUME,
            payload={"domain": site.domain, "reason": reason},
            user=user,
            site_id=site.pk,
            exclusive=False,  # checked above, under the same row lock
        )
        audit_record(
            actor=user,
            action=AuditAction.SITE_SUSPEND if suspend else AuditAction.SITE_RESUME,
            target=site,
            metadata={"domain": site.domain, "reason": reason, "job_id": str(job.pk)},
        )
    return job


def site_set_hsts(*, user: User, site: Site, enabled: bool) -> Job:
    """Owner or admin: switch HSTS (Strict-Transport-Security: max-age=63072000) on or off for
    the site's HTTPS vhost, through a `site.hsts` job that re-renders the vhost; the row changes
    once nginx has accepted it. Only meaningful with a certificate: without one the vhost has
    no HTTPS server and the header is not sent. Raises ValidationError (not active, no change)
    or JobBusy."""
    if user.role != Role.ADMIN and site.created_by_id != user.pk:
        raise PermissionDenied
    enabled = bool(enabled)
    with transaction.atomic():
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.status != SiteStatus.ACTIVE:
            raise ValidationError(
                {"__all__": _("HSTS can be changed once the site is active.")}, code="status"
            )
        if site.hsts == enabled:
            message = (
                _("HSTS is already on for this site.")
                if enabled
                else _("HSTS is already off for this site.")
            )
            raise ValidationError({"__all__": message}, code="unchanged")
        if enabled and not site.certificates.filter(status="issued").exists():
            raise ValidationError(
                {
                    "__all__": _(
                        "HSTS needs HTTPS: get a certificate for the site first, then switch "
                        "HSTS on."
                    )
                },
                code="no_https",
            )
        ensure_site_idle(site.pk)
        job = job_create(
            type=JobType.SITE_HSTS,
            payload={"domain": site.domain, "enabled": enabled},
            user=user,
            site_id=site.pk,
            exclusive=False,  # checked above, under the same row lock
        )
        audit_record(
            actor=user,
            action=AuditAction.SITE_HSTS,
            target=site,
            metadata={"domain": site.domain, "enabled": enabled, "job_id": str(job.pk)},
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
            type=JobType.SITE_DELETE,
            payload={"domain": site.domain},
            user=user,
            site_id=site.pk,
        )
        site.status = SiteStatus.DELETING
        site.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=user,
            action=AuditAction.SITE_DELETE,
            target=site,
            metadata={"domain": site.domain, "job_id": str(job.pk)},
        )
    return job
