"""User management verbs. Each writes its audit entry in the same transaction as the change.

Passwords never reach the audit metadata; role and active changes carry the IP and user agent
of the request that made them (pass `meta=request_meta(request)`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record

from .models import Role, User


def _would_remove_last_admin(user: User, *, role: str, is_active: bool) -> bool:
    """True when `user` is an active admin, the change takes that away, and nobody else is one.

    The other admins' rows are locked so that two admins demoting each other at the same time
    cannot both succeed.
    """
    if not (user.is_active and user.role == Role.ADMIN):
        return False
    if is_active and role == Role.ADMIN:
        return False
    others = (
        User.objects.select_for_update()
        .filter(role=Role.ADMIN, is_active=True)
        .exclude(pk=user.pk)
        .values_list("pk", flat=True)
    )
    return not list(others)


def user_create(
    *, actor: Any, username: str, role: str, password: str, meta: dict[str, str] | None = None
) -> User:
    """Create an active user with a hashed password."""
    with transaction.atomic():
        user = User(username=username.strip(), role=role, is_active=True)
        user.set_password(password)
        user.full_clean()
        user.save()
        audit_record(
            actor=actor,
            action=AuditAction.USER_CREATE,
            target=user,
            metadata={"username": user.username, "role": user.role, **(meta or {})},
        )
    return user


def user_set_role(*, actor: Any, user: User, role: str, meta: dict[str, str] | None = None) -> User:
    """Change a user's role; refuses to demote the last active admin."""
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        old = user.role
        if old == role:
            return user
        if _would_remove_last_admin(user, role=role, is_active=user.is_active):
            raise ValidationError(_("The last active admin cannot be demoted."))
        user.role = role
        user.save(update_fields=["role", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.USER_ROLE_CHANGE,
            target=user,
            metadata={"username": user.username, "from": old, "to": role, **(meta or {})},
        )
    return user


MAX_SITES_CEILING = 10_000


def user_set_max_sites(
    *, actor: Any, user: User, max_sites: int | None, meta: dict[str, str] | None = None
) -> User:
    """Set a user's own site quota (None: the panel's default NUSANTARA_MAX_SITES_PER_USER).
    Sites they already have stay; only new ones are refused above the quota."""
    if max_sites is not None and not (0 <= max_sites <= MAX_SITES_CEILING):
        raise ValidationError(
            _("Enter a number of sites from 0 to %(max)d, or leave it empty for the default.")
            % {"max": MAX_SITES_CEILING},
            code="max_sites",
        )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        old = user.max_sites
        if old == max_sites:
            return user
        user.max_sites = max_sites
        user.save(update_fields=["max_sites", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.USER_QUOTA_CHANGE,
            target=user,
            metadata={"username": user.username, "from": old, "to": max_sites, **(meta or {})},
        )
    return user


def user_set_active(
    *, actor: Any, user: User, is_active: bool, meta: dict[str, str] | None = None
) -> User:
    """Activate or deactivate a user; a deactivated user cannot log in and loses their sessions."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active == is_active:
            return user
        if _would_remove_last_admin(user, role=user.role, is_active=is_active):
            raise ValidationError(_("The last active admin cannot be deactivated."))
        user.is_active = is_active
        user.save(update_fields=["is_active", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.USER_ACTIVATE if is_active else AuditAction.USER_DEACTIVATE,
            target=user,
            metadata={"username": user.username, **(meta or {})},
        )
    return user


def user_set_password(
    *, actor: Any, user: User, password: str, meta: dict[str, str] | None = None
) -> User:
    """Set a new password (own change or an admin's reset). Other sessions of the user end,
    because Django ties each session to the password hash."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.set_password(password)
        user.save(update_fields=["password", "updated_at"])
        own = getattr(actor, "pk", None) == user.pk
        audit_record(
            actor=actor,
            action=AuditAction.USER_PASSWORD_CHANGE if own else AuditAction.USER_PASSWORD_RESET,
            target=user,
            metadata={"username": user.username, **(meta or {})},
        )
    return user


def user_failed_logins(user: User) -> int:
    """Failed sign-ins django-axes currently counts against this username (from any address)."""
    from axes.models import AccessAttempt
    from django.db.models import Sum

    total = AccessAttempt.objects.filter(username=user.username).aggregate(
        n=Sum("failures_since_start")
    )["n"]
    return total or 0


def user_unlock(*, actor: Any, user: User, meta: dict[str, str] | None = None) -> int:
    """Forget the failed sign-ins of `user` so a locked-out user can try again at once."""
    from axes.utils import reset

    with transaction.atomic():
        removed: int = reset(username=user.username)  # django-axes is untyped
        audit_record(
            actor=actor,
            action=AuditAction.USER_UNLOCK,
            target=user,
            metadata={"username": user.username, "attempts_cleared": removed, **(meta or {})},
        )
    return removed
