"""Database verbs: create, change the password, delete (DESIGN.md "Databases").

Each checks who asks (owner or admin), locks the site row, writes the row, the audit entry and a
job in one transaction; the worker then acts on the node's MariaDB (panel.databases.handlers).
A password, given or generated, travels to the worker encrypted in the job's payload and is
wiped when the job ends (panel.jobs.secrets); the panel never stores it, and the caller shows a
generated one once.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from panel.accounts.models import Role, User
from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs import secrets
from panel.jobs.limits import rate_check
from panel.jobs.models import ACTIVE_STATUSES, Job
from panel.jobs.services import JobBusy, job_create
from panel.jobs.types import JobType
from panel.sites.models import Site, SiteStatus

from . import names
from .models import Database, DatabaseStatus

__all__ = ["JobBusy", "database_create", "database_delete", "database_set_password"]

CREATE_JOB, PASSWORD_JOB, DELETE_JOB = JobType.DB_CREATE, JobType.DB_PASSWORD, JobType.DB_DELETE
JOB_TYPES = (CREATE_JOB, PASSWORD_JOB, DELETE_JOB)
PASSWORD_PURPOSE = "database password"
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128


def generate_password() -> str:
    # 24 URL-safe characters (144 bits): nothing in it needs quoting in a PHP string or .env.
    return pysecrets.token_urlsafe(18)


def _check_user(user: User, site: Site) -> None:
    if user.role != Role.ADMIN and site.created_by_id != user.pk:
        raise PermissionDenied


def _locked_site(site: Site) -> Site:
    site = Site.objects.select_for_update().get(pk=site.pk)
    if site.status != SiteStatus.ACTIVE:
        raise ValidationError(
            {"__all__": _("Databases can be changed once the site is active.")}, code="status"
        )
    if not site.system_user:
        raise ValidationError(
            {"__all__": _("This site has no system user yet, so it cannot have databases.")},
            code="no_system_user",
        )
    return site


def _name_message(exc: names.NameRefused) -> str:
    messages = {
        "empty": _("Give the database a name."),
        "too_long": _("The name may have at most %(limit)d characters."),
        "characters": _(
            "Use lower-case letters, digits and _ only, starting with a letter (e.g. shop)."
        ),
        "no_site_user": _("This site has no system user yet, so it cannot have databases."),
    }
    return (
        messages[exc.code] % {"limit": exc.limit} if exc.code == "too_long" else messages[exc.code]
    )


def _validate_password(password: str) -> None:
    errors: list[str] = []
    if len(password) < PASSWORD_MIN_LENGTH:
        errors.append(
            _("The password must have at least %(min)d characters.") % {"min": PASSWORD_MIN_LENGTH}
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        errors.append(
            _("The password may have at most %(max)d characters.") % {"max": PASSWORD_MAX_LENGTH}
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        errors.append(_("The password cannot contain line breaks or control characters."))
    if errors:
        raise ValidationError({"password": errors}, code="password")


def _ensure_server() -> None:
    if not settings.NUSANTARA_MARIADB_URL:
        raise ValidationError(
            {"__all__": _("Databases are off on this server (no MariaDB is configured).")},
            code="off",
        )


def _busy(database: Database) -> None:
    """One job at a time per database, so a password change and a deletion apply in order."""
    pending = Job.objects.filter(
        site_id=database.site_id,
        type__in=JOB_TYPES,
        status__in=ACTIVE_STATUSES,
        payload__database_id=str(database.pk),
    )
    if pending.exists():
        raise JobBusy(
            _("The last change to this database is still being applied. Try again in a moment.")
        )


def _payload(site: Site, database: Database, password: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "domain": site.domain,
        "database_id": str(database.pk),
        "database": database.name,
        "db_user": database.db_user,
    }
    if password is not None:
        payload[secrets.FIELD] = secrets.encrypt(password, purpose=PASSWORD_PURPOSE)
    return payload


def database_create(
    *, user: User, site: Site, name: str, password: str = ""
) -> tuple[Database, str]:
    """Create `<site user>_<name>` and its user. Returns the row and the password (the one
    given, or a generated one for the caller to show once). Raises ValidationError keyed
    `name`, `password` or `__all__` (site state, quota, rate limit)."""
    _check_user(user, site)
    _ensure_server()
    try:
        full = names.full_name(site.system_user or "", name)
    except names.NameRefused as exc:
        raise ValidationError({"name": _name_message(exc)}, code=exc.code)
    if password:
        _validate_password(password)
    else:
        password = generate_password()
    exists = ValidationError(
        {"name": _("This site already has a database with this name.")}, code="exists"
    )
    try:
        with transaction.atomic():
            site = _locked_site(site)
            owner = site.created_by
            if user.role != Role.ADMIN:
                # Locking the owner's row serialises their creations (as for sites).
                User.objects.select_for_update().filter(pk=owner.pk).first()
                limit = settings.NUSANTARA_MAX_DATABASES_PER_USER
                if Database.objects.filter(site__created_by=owner).count() >= limit:
                    raise ValidationError(
                        {
                            "__all__": _(
                                "You have reached your limit of %(limit)d databases. Delete one "
                                "or ask an administrator to raise the limit."
                            )
                            % {"limit": limit}
                        },
                        code="quota",
                    )
            rate_check("db.create", user=user)
            if Database.objects.filter(name=full).exists():
                raise exists
            database = Database.objects.create(
                site=site, name=full, db_user=full, status=DatabaseStatus.CREATING
            )
            job = job_create(
                type=CREATE_JOB,
                payload=_payload(site, database, password),
                user=user,
                site_id=site.pk,
                exclusive=False,  # a site.delete still waits for it (it is exclusive)
            )
            audit_record(
                actor=user,
                action=AuditAction.DB_CREATE,
                target=site,
                metadata={
                    "domain": site.domain,
                    "site_id": str(site.pk),
                    "database": full,
                    "db_user": full,
                    "job_id": str(job.pk),
                },
            )
    except IntegrityError as exc:  # the unique index on name, in a race
        if "name" in str(exc):
            raise exists
        raise
    return database, password


def database_set_password(*, user: User, database: Database, password: str = "") -> tuple[Job, str]:
    """A new password for the database's user (given, or generated and returned to show once).
    On a failed database this also finishes its creation."""
    site = database.site
    _check_user(user, site)
    _ensure_server()
    if password:
        _validate_password(password)
    else:
        password = generate_password()
    with transaction.atomic():
        site, database = _locked_for_change(user, site, database)
        job = job_create(
            type=PASSWORD_JOB,
            payload=_payload(site, database, password),
            user=user,
            site_id=site.pk,
            exclusive=False,
        )
        audit_record(
            actor=user,
            action=AuditAction.DB_PASSWORD,
            target=site,
            metadata={"domain": site.domain, "database": database.name, "job_id": str(job.pk)},
        )
    return job, password


def _locked_for_change(user: User, site: Site, database: Database) -> tuple[Site, Database]:
    """Lock the site and the database row for a password change or a deletion: only a ready
    (or failed) database with no job in flight, within the account's job limit."""
    site = _locked_site(site)
    database = Database.objects.select_for_update().get(pk=database.pk, site=site)
    if database.status not in (DatabaseStatus.ACTIVE, DatabaseStatus.FAILED):
        raise ValidationError({"__all__": _("Wait until the database is ready.")}, code="status")
    _busy(database)
    rate_check("db.change", user=user)
    return site, database


def database_delete(*, user: User, database: Database) -> Job:
    """Drop the database and its user (the row goes when the job succeeded)."""
    site = database.site
    _check_user(user, site)
    _ensure_server()
    with transaction.atomic():
        site, database = _locked_for_change(user, site, database)
        job = job_create(
            type=DELETE_JOB,
            payload=_payload(site, database),
            user=user,
            site_id=site.pk,
            exclusive=False,
        )
        database.status = DatabaseStatus.DELETING
        database.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=user,
            action=AuditAction.DB_DELETE,
            target=site,
            metadata={"domain": site.domain, "database": database.name, "job_id": str(job.pk)},
        )
    return job
