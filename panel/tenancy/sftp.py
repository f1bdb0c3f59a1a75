"""SFTP access to a site (DESIGN.md "Tenancy"): its SSH keys and its password.

Each verb checks who asks (owner or admin), locks the site row, writes its change, the audit
entry and a job in one transaction; the worker then applies the change through the root helper
(panel.tenancy.sftp_handlers): `sftp.keys` rewrites the site user's whole authorized_keys file
from the table, `sftp.password` sets or locks the site user's password.

The password never rests in clear text: the job's payload holds it encrypted, and the worker
wipes it as soon as the job ends (panel.jobs.secrets, shared with the database passwords).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from panel.accounts.models import Role, User
from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs import secrets
from panel.jobs.limits import rate_check_form
from panel.jobs.models import ACTIVE_STATUSES, Job, JobStatus
from panel.jobs.services import JobBusy, job_create
from panel.jobs.types import JobType
from panel.sites.models import Site, SiteStatus

from . import sshkeys
from .models import SiteSshKey

__all__ = [
    "JobBusy",
    "decrypt_password",
    "encrypt_password",
    "sftp_key_add",
    "sftp_key_remove",
    "sftp_password_set",
]

KEYS_JOB = JobType.SFTP_KEYS
PASSWORD_JOB = JobType.SFTP_PASSWORD
PASSWORD_MAX_LENGTH = 128
# The key derivation's purpose (unchanged from before panel.jobs.secrets was shared).
PASSWORD_PURPOSE = "sftp password"


def _key_message(exc: sshkeys.KeyRefused) -> str:
    """The parser's refusal, translated (the parser itself has no Django)."""
    p = exc.params
    messages = {
        "empty": _("Paste a public key."),
        "too_long": _("The key is longer than %(limit)d bytes."),
        "multiple_lines": _("Paste exactly one key, on one line."),
        "bad_characters": _(
            "The key contains a control or non-ASCII character; paste it exactly as in your "
            ".pub file."
        ),
        "options": _(
            "Options before the key type (such as command=, from= or restrict) are not "
            "allowed: paste the key alone, starting with its type."
        ),
        "weak_type": _("DSA keys (ssh-dss) are too weak: use an Ed25519 or RSA key."),
        "certificate": _("SSH certificates are not accepted: paste a public key."),
        "unsupported_type": _(
            "Unsupported key type %(type)s: use ssh-ed25519, ecdsa-sha2-nistp256/384/521, "
            "ssh-rsa (2048 bits or more) or sk-ssh-ed25519@openssh.com."
        ),
        "malformed": _("The key data is damaged or incomplete: copy the whole line again."),
        "type_mismatch": _("The key data does not match its type %(type)s."),
        "rsa_size": _("This RSA key has %(bits)d bits: RSA keys must have 2048 to 16384 bits."),
        "comment": _(
            "The key's comment may have at most 100 characters: letters, digits, spaces and "
            ". _ @ + = : , / ( ) -"
        ),
    }
    message = messages.get(exc.code, _("This key is not accepted."))
    return message % p if p else message


def _check_user(user: User, site: Site) -> None:
    if user.role != Role.ADMIN and site.created_by_id != user.pk:
        raise PermissionDenied


def _locked_site(site: Site, *, statuses: tuple[str, ...] = (SiteStatus.ACTIVE,)) -> Site:
    """The site row, locked, once it can take SFTP changes (raises ValidationError otherwise)."""
    site = Site.objects.select_for_update().get(pk=site.pk)
    if site.status not in statuses:
        raise ValidationError(
            {"__all__": _("SFTP access can be changed once the site is active.")}, code="status"
        )
    if not site.system_user:
        raise ValidationError(
            {"__all__": _("This site has no system user yet, so it has no SFTP access.")},
            code="no_system_user",
        )
    return site


def _queue_keys(user: User, site: Site) -> Job:
    # Not exclusive: the job rewrites the whole file from the table under the site row lock,
    # so any number of them converge; a site.delete still waits for it (it is exclusive).
    # One still queued will read the table when it runs: it carries this change too, so a burst
    # of key changes costs one root-helper run, not one each.
    queued = Job.objects.filter(site_id=site.pk, type=KEYS_JOB, status=JobStatus.QUEUED).first()
    if queued is not None:
        return queued
    rate_check_form("sftp.change", user=user, site_id=site.pk)
    return job_create(
        type=KEYS_JOB,
        payload={"domain": site.domain, "user": site.system_user},
        user=user,
        site_id=site.pk,
        exclusive=False,
    )


def sftp_key_add(*, user: User, site: Site, public_key: str) -> SiteSshKey:
    """Add one SSH public key to the site's SFTP user. Raises ValidationError keyed
    `public_key` (a refused key, a duplicate, the per-site limit) or `__all__` (site state)."""
    _check_user(user, site)
    try:
        parsed = sshkeys.parse(public_key)
    except sshkeys.KeyRefused as exc:
        raise ValidationError({"public_key": _key_message(exc)}, code=exc.code)
    duplicate = ValidationError(
        {"public_key": _("This key is already on this site.")}, code="duplicate"
    )
    try:
        with transaction.atomic():
            site = _locked_site(site)
            keys = SiteSshKey.objects.filter(site=site)
            limit = settings.NUSANTARA_SFTP_MAX_KEYS
            if keys.count() >= limit:
                raise ValidationError(
                    {
                        "public_key": _(
                            "This site already has %(limit)d keys, the most allowed: remove "
                            "one first."
                        )
                        % {"limit": limit}
                    },
                    code="limit",
                )
            if keys.filter(fingerprint=parsed.fingerprint).exists():
                raise duplicate
            key = SiteSshKey.objects.create(
                site=site,
                public_key=parsed.line,
                fingerprint=parsed.fingerprint,
                comment=parsed.comment,
            )
            job = _queue_keys(user, site)
            audit_record(
                actor=user,
                action=AuditAction.SFTP_KEY_ADD,
                target=site,
                metadata={
                    "domain": site.domain,
                    "fingerprint": parsed.fingerprint,
                    "type": parsed.type,
                    "comment": parsed.comment,
                    "job_id": str(job.pk),
                },
            )
    except IntegrityError as exc:  # the unique (site, fingerprint) index, in a race
        if "site_ssh_keys_site_fp_uniq" in str(exc):
            raise duplicate
        raise
    return key


def sftp_key_remove(*, user: User, site: Site, key: SiteSshKey) -> Job:
    """Remove a key; the job rewrites the file without it. Also allowed on a failed site: taking
    access away must always be possible."""
    _check_user(user, site)
    with transaction.atomic():
        site = _locked_site(site, statuses=(SiteStatus.ACTIVE, SiteStatus.FAILED))
        deleted, _rows = SiteSshKey.objects.filter(pk=key.pk, site=site).delete()
        if not deleted:
            raise ValidationError({"__all__": _("This key was already removed.")}, code="gone")
        job = _queue_keys(user, site)
        audit_record(
            actor=user,
            action=AuditAction.SFTP_KEY_REMOVE,
            target=site,
            metadata={
                "domain": site.domain,
                "fingerprint": key.fingerprint,
                "comment": key.comment,
                "job_id": str(job.pk),
            },
        )
    return job


# --- the password ---------------------------------------------------------------------------


def encrypt_password(password: str) -> str:
    return secrets.encrypt(password, purpose=PASSWORD_PURPOSE)


def decrypt_password(token: str) -> str:
    """The password, or ValueError when the token cannot be read (panel.jobs.secrets)."""
    return secrets.decrypt(token, purpose=PASSWORD_PURPOSE)


def _validate_password(password: str, owner: User) -> None:
    errors: list[str] = []
    minimum = settings.NUSANTARA_SFTP_PASSWORD_MIN_LENGTH
    if len(password) < minimum:
        errors.append(
            _("The SFTP password must have at least %(min)d characters.") % {"min": minimum}
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        errors.append(
            _("The SFTP password may have at most %(max)d characters.")
            % {"max": PASSWORD_MAX_LENGTH}
        )
    # chpasswd reads "user:password" lines: a line break would start another line.
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        errors.append(_("The SFTP password cannot contain line breaks or control characters."))
    if not errors:
        try:
            validate_password(password, user=owner)
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError({"password": errors}, code="password")


def sftp_password_set(*, user: User, site: Site, password: str) -> Job:
    """Set the site user's SFTP password, or with an empty one remove it (lock the account's
    password; keys keep working). Raises ValidationError (`password`, `__all__`) or JobBusy
    while a previous password change is still queued or running (so changes apply in order)."""
    _check_user(user, site)
    password = password or ""
    if password:
        _validate_password(password, site.created_by)
    with transaction.atomic():
        statuses = (SiteStatus.ACTIVE,) if password else (SiteStatus.ACTIVE, SiteStatus.FAILED)
        site = _locked_site(site, statuses=statuses)
        pending = Job.objects.filter(site_id=site.pk, type=PASSWORD_JOB, status__in=ACTIVE_STATUSES)
        if pending.exists():
            raise JobBusy(
                _("The previous password change is still being applied. Try again in a moment.")
            )
        payload: dict[str, Any] = {"domain": site.domain, "user": site.system_user}
        if password:
            payload["action"] = "set"
            payload["secret"] = encrypt_password(password)
        else:
            payload["action"] = "clear"
        rate_check_form("sftp.change", user=user, site_id=site.pk)
        job = job_create(
            type=PASSWORD_JOB, payload=payload, user=user, site_id=site.pk, exclusive=False
        )
        audit_record(
            actor=user,
            action=AuditAction.SFTP_PASSWORD_SET if password else AuditAction.SFTP_PASSWORD_CLEAR,
            target=site,
            metadata={"domain": site.domain, "job_id": str(job.pk)},
        )
    return job
