"""Job handlers for databases: `db.create`, `db.password`, `db.delete`, run by the django-q2
worker on the node's MariaDB (panel.databases.server), and the part of a site's deletion that
drops its databases (`before_site_delete`, run by panel.sites.handlers through
panel.sites.extensions).

All idempotent: `db.create` and `db.password` converge on "database, user with this password,
ALL on that database only"; `db.delete` drops what exists. The encrypted password is wiped from
the payload whatever the outcome (panel.jobs.secrets).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs import secrets
from panel.jobs.models import Job
from panel.jobs.runner import JobFailed, job_log, register
from panel.sites.models import Site

from . import server
from .models import Database, DatabaseStatus
from .services import CREATE_JOB, DELETE_JOB, PASSWORD_JOB, PASSWORD_PURPOSE


def _audit(job: Job, action: AuditAction, **extra: object) -> None:
    audit_record(
        actor=None,
        action=action,
        target_type="site",
        target_id=job.site_id,
        metadata={
            "domain": job.payload.get("domain"),
            "database": job.payload.get("database"),
            "job_id": str(job.pk),
            **extra,
        },
    )


def _password(job: Job) -> str:
    token = job.payload.get(secrets.FIELD)
    if not token:
        raise JobFailed(
            "The password was not kept after a first attempt (the panel never stores it): "
            "set a new password for the database on the site page, which also finishes "
            "creating it."
        )
    try:
        return secrets.decrypt(token, purpose=PASSWORD_PURPOSE)
    except ValueError:
        raise JobFailed(
            "The password could no longer be read (it waited too long, or the secret key "
            "changed): set a new password for the database on the site page."
        )


def _ensure(job: Job) -> None:
    """db.create and db.password: the database, the user, the password, the grant."""
    try:
        database = Database.objects.filter(pk=job.payload.get("database_id")).first()
        if database is None or database.status == DatabaseStatus.DELETING:
            job_log(job, "the database is gone or being deleted: nothing to do")
            return
        name, user = database.name, database.db_user
        password = _password(job)
        try:
            server.ensure(name, user, password, user_host=settings.NUSANTARA_MARIADB_USER_HOST)
        except server.MariaDBError as exc:
            raise JobFailed(f"The database {name} could not be set up: {exc}")
        del password
        job_log(job, f"database {name} and user {user} ready, ALL on {name} only")
        with transaction.atomic():
            Database.objects.filter(pk=database.pk).update(status=DatabaseStatus.ACTIVE)
            action = (
                AuditAction.DB_CREATED
                if job.type == CREATE_JOB
                else AuditAction.DB_PASSWORD_CHANGED
            )
            _audit(job, action, db_user=user)
    finally:
        secrets.wipe_secret(job)


def _ensure_failed(job: Job, message: str) -> None:
    secrets.wipe_secret(job)
    if job.type == CREATE_JOB:
        Database.objects.filter(
            pk=job.payload.get("database_id"), status=DatabaseStatus.CREATING
        ).update(status=DatabaseStatus.FAILED)
    failed = (
        AuditAction.DB_CREATE_FAILED if job.type == CREATE_JOB else AuditAction.DB_PASSWORD_FAILED
    )
    _audit(job, failed, error=message)


def _create_retried(job: Job) -> None:
    Database.objects.filter(pk=job.payload.get("database_id"), status=DatabaseStatus.FAILED).update(
        status=DatabaseStatus.CREATING
    )


def _delete(job: Job) -> None:
    name, user = job.payload.get("database", ""), job.payload.get("db_user", "")
    try:
        server.drop(name, user, user_host=settings.NUSANTARA_MARIADB_USER_HOST)
    except server.MariaDBError as exc:
        raise JobFailed(f"The database {name} could not be dropped: {exc}")
    job_log(job, f"user {user} and database {name} dropped")
    with transaction.atomic():
        Database.objects.filter(pk=job.payload.get("database_id")).delete()
        _audit(job, AuditAction.DB_DELETED)


def _delete_failed(job: Job, message: str) -> None:
    Database.objects.filter(pk=job.payload.get("database_id")).update(status=DatabaseStatus.FAILED)
    _audit(job, AuditAction.DB_DELETE_FAILED, error=message)


def _delete_retried(job: Job) -> None:
    Database.objects.filter(pk=job.payload.get("database_id")).update(
        status=DatabaseStatus.DELETING
    )


def drop_site_databases(site: Site) -> str:
    """A site's deletion: drop every database and account of its site user on MariaDB (the rows
    go with the site, by cascade). A site that never had a database does not need MariaDB.
    Raises server.MariaDBError."""
    if not site.system_user or not Database.objects.filter(site=site).exists():
        return ""
    dropped = server.drop_owned_by(site.system_user)
    return "MariaDB: dropped " + (", ".join(dropped) if dropped else "nothing (already gone)")


def before_site_delete(site: Site) -> str:
    """A `site.delete` job's first step (panel.sites.extensions): the databases, before nginx
    or the disk are touched, so that a MariaDB that does not answer leaves everything as it was."""
    try:
        return drop_site_databases(site)
    except server.MariaDBError as exc:
        raise JobFailed(
            f"The site's databases could not be dropped, so nothing was deleted: {exc} "
            "Retry the job once MariaDB answers."
        ) from exc


register(CREATE_JOB, on_failure=_ensure_failed, on_retry=_create_retried)(_ensure)
register(PASSWORD_JOB, on_failure=_ensure_failed)(_ensure)
register(DELETE_JOB, on_failure=_delete_failed, on_retry=_delete_retried)(_delete)
