"""A site's other names: add or remove an alias, choose the redirect mode (`site.aliases` jobs).

Every name, primary or alias, is unique over `sites.domain` and `site_domains.domain` together,
in every spelling (both are stored normalised, panel.sites.domains). The check here runs under
a transaction-level advisory lock on the name, the same lock the database trigger of migration
sites.0006 takes, so two requests for one name, in either table, cannot both pass; the trigger
and the unique indexes are the guarantee, this is the friendly message.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from panel.accounts.models import Role, User
from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.limits import rate_check_form
from panel.jobs.models import Job
from panel.jobs.services import ensure_site_idle, job_create
from panel.jobs.types import JobType

from .domains import ensure_not_panel_host, normalize_domain, to_unicode, www_name
from .models import RedirectMode, Site, SiteDomain, SiteStatus

JOB_TYPE = JobType.SITE_ALIASES


def name_lock(domain: str) -> None:
    """Serialise every transaction that adds `domain` (as a site or an alias) until commit.
    The key is the trigger's (migration sites.0006). SQLite has one writer anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"site-name:{domain}"])


def name_taken_error(domain: str) -> ValidationError:
    return ValidationError(
        _("%(domain)s is already used by a site on this server.") % {"domain": to_unicode(domain)},
        code="exists",
    )


def www_pairs(domain: str) -> list[str]:
    """The names that go with `domain` as its www. pair: www.<domain>, and for www.<name> the
    name itself. Nearly every domain's DNS sends both to the same server."""
    pairs = [www_name(domain)]
    if domain.startswith("www."):
        pairs.append(domain[len("www.") :])
    return pairs


def _owner_of(domain: str) -> int | None:
    """The user whose site has `domain` as its primary or as an alias, if any."""
    owner = Site.objects.filter(domain=domain).values_list("created_by_id", flat=True).first()
    if owner is None:
        owner = (
            SiteDomain.objects.filter(domain=domain)
            .values_list("site__created_by_id", flat=True)
            .first()
        )
    return owner


def ensure_name_free(domain: str, owner_id: Any = None) -> None:
    """Take the name's lock and raise ValidationError when a site or an alias has it. Call
    inside the transaction that inserts the name.

    With `owner_id` (the user whose site gets the name), also refuse a name whose www. pair
    (www_pairs) another user's site has: www.<Alice's name> is Alice's, whoever asks first.
    The pairs' locks are taken too (in one order, so two requests cannot deadlock), so the
    name and its pair cannot be taken by two users at once."""
    pairs = www_pairs(domain) if owner_id is not None else []
    for name in sorted({domain, *pairs}):
        name_lock(name)
    if (
        Site.objects.filter(domain=domain).exists()
        or SiteDomain.objects.filter(domain=domain).exists()
    ):
        raise name_taken_error(domain)
    for pair in pairs:
        owner = _owner_of(pair)
        if owner is not None and owner != owner_id:
            raise ValidationError(
                _(
                    "%(domain)s goes with %(pair)s, which another customer's site uses: only "
                    "that customer can add it."
                )
                % {"domain": to_unicode(domain), "pair": to_unicode(pair)},
                code="foreign_pair",
            )


def check_name(value: str) -> str:
    """The stored form of a name a customer typed, under the primary's rules (ValidationError)."""
    domain = normalize_domain(value)
    ensure_not_panel_host(domain)
    return domain


def _may_change(user: User, site: Site) -> None:
    if user.role != Role.ADMIN and site.created_by_id != user.pk:
        raise PermissionDenied


def _lock_active(site: Site) -> Site:
    site = Site.objects.select_for_update().get(pk=site.pk)
    if site.status != SiteStatus.ACTIVE:
        raise ValidationError(
            {"__all__": _("The site's names can be changed once it is active.")}, code="status"
        )
    ensure_site_idle(site.pk)
    return site


def _job(*, user: User, site: Site, payload: dict[str, Any], action: AuditAction) -> Job:
    rate_check_form(JOB_TYPE, user=user, site_id=site.pk)
    job = job_create(
        type=JOB_TYPE,
        payload={"domain": site.domain, **payload},
        user=user,
        site_id=site.pk,
        exclusive=False,  # checked under the site's row lock (_lock_active)
    )
    audit_record(
        actor=user,
        action=action,
        target=site,
        metadata={"domain": site.domain, **payload, "job_id": str(job.pk)},
    )
    return job


def alias_add(*, user: User, site: Site, domain: str) -> Job:
    """Add `domain` as another name of the site: the row is written now (it reserves the name)
    and a `site.aliases` job puts it into the vhost; if nginx refuses, the job fails and the row
    goes. A site with a certificate from the CA gets a new one covering the name once it is
    served (panel.sites.handlers). Raises ValidationError keyed "domain" or "__all__", JobBusy."""
    _may_change(user, site)
    try:
        name = check_name(domain)
    except ValidationError as exc:
        raise ValidationError({"domain": exc.messages}, code="invalid")
    try:
        with transaction.atomic():
            site = _lock_active(site)
            count = SiteDomain.objects.filter(site=site).count()
            limit = settings.NUSANTARA_SITE_ALIAS_LIMIT
            if count >= limit:
                raise ValidationError(
                    {
                        "__all__": _("A site can have at most %(limit)d other names.")
                        % {"limit": limit}
                    },
                    code="limit",
                )
            try:
                ensure_name_free(name, owner_id=site.created_by_id)
            except ValidationError as exc:
                raise ValidationError({"domain": exc.messages}, code="exists")
            SiteDomain.objects.create(site=site, domain=name)
            return _job(
                user=user, site=site, payload={"add": name}, action=AuditAction.SITE_ALIAS_ADD
            )
    except IntegrityError as exc:
        if "domain" in str(exc):  # the trigger or a unique index: a parallel request won
            raise ValidationError({"domain": name_taken_error(name).messages}, code="exists")
        raise


def alias_remove(*, user: User, site: Site, domain: str) -> Job:
    """Queue a `site.aliases` job that takes the name out of the vhost; the row goes once nginx
    serves without it. The certificate keeps the name until it is renewed or requested again."""
    _may_change(user, site)
    with transaction.atomic():
        site = _lock_active(site)
        alias = SiteDomain.objects.filter(site=site, domain=domain).first()
        if alias is None:
            raise ValidationError({"__all__": _("This site has no such name.")}, code="missing")
        if (
            site.redirect_mode == RedirectMode.TO_WWW and alias.domain == www_name(site.domain)
        ) or (site.redirect_mode == RedirectMode.TO_ALIAS and alias.domain == site.redirect_to):
            raise ValidationError(
                {
                    "__all__": _(
                        "Every name redirects to %(www)s: choose another redirect mode before "
                        "removing it."
                    )
                    % {"www": alias.display_domain}
                },
                code="in_use",
            )
        return _job(
            user=user,
            site=site,
            payload={"remove": alias.domain},
            action=AuditAction.SITE_ALIAS_REMOVE,
        )


def site_set_redirect_mode(
    *, user: User, site: Site, mode: str, redirect_to: str | None = None
) -> Job:
    """Queue a `site.aliases` job that serves every name, or redirects (301, path and query
    kept) the other names to the primary, to www. of it, or to one of its aliases
    (`redirect_to`, e.g. the site's new name); the row changes once nginx serves it. Raises
    ValidationError (unknown or unchanged mode, a target that is not one of the site's
    aliases), JobBusy."""
    _may_change(user, site)
    if mode not in RedirectMode.values:
        raise ValidationError(
            {"redirect_mode": _("Choose one of the offered redirect modes.")}, code="invalid"
        )
    target: str | None = None
    if mode == RedirectMode.TO_ALIAS:
        try:
            target = normalize_domain(redirect_to or "")
        except ValidationError as exc:
            raise ValidationError({"redirect_to": exc.messages}, code="invalid")
    with transaction.atomic():
        site = _lock_active(site)
        if (site.redirect_mode, site.redirect_to) == (mode, target):
            raise ValidationError(
                {"__all__": _("The site already works like this.")}, code="unchanged"
            )
        www = www_name(site.domain)
        if (
            mode == RedirectMode.TO_WWW
            and not SiteDomain.objects.filter(site=site, domain=www).exists()
        ):
            raise ValidationError(
                {
                    "redirect_mode": _("Add %(www)s as a name of the site first.")
                    % {"www": to_unicode(www)}
                },
                code="no_www",
            )
        if target and not SiteDomain.objects.filter(site=site, domain=target).exists():
            raise ValidationError(
                {
                    "redirect_to": _("%(name)s is not one of this site's other names.")
                    % {"name": to_unicode(target)}
                },
                code="not_alias",
            )
        return _job(
            user=user,
            site=site,
            payload={
                "redirect_mode": mode,
                "redirect_to": target,
                "previous_mode": site.redirect_mode,
                "previous_to": site.redirect_to,
            },
            action=AuditAction.SITE_REDIRECT,
        )
