"""The one function that records an audit entry. Call it inside the transaction of the change."""

from __future__ import annotations

from typing import Any

from django.db import models

from panel.client_ip import client_ip

from .actions import AuditAction
from .models import AuditLog

# Keys that must never be stored, whatever a caller passes by mistake.
_SECRET_KEYS = {
    "password",
    "password1",
    "password2",
    "private_key",
    "key",
    "key_pem",
    "token",
    "secret",
    "otp",
    "otp_token",
    "csrfmiddlewaretoken",
}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("[removed]" if str(k).lower() in _SECRET_KEYS else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def audit_record(
    *,
    actor: Any,
    action: AuditAction,
    target: models.Model | None = None,
    target_type: str | None = None,
    target_id: Any = None,
    metadata: dict[str, Any] | None = None,
) -> AuditLog:
    """Insert one audit row. `target` fills target_type/target_id from a model instance.
    `action` must be an AuditAction (ValueError otherwise: a typo never reaches the log)."""
    action = AuditAction(action)
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id if target_id is not None else target.pk
    if actor is not None and not getattr(actor, "pk", None):
        actor = None  # AnonymousUser
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        target_type=target_type or "",
        target_id=None if target_id is None else str(target_id),
        metadata=_scrub(metadata or {}),
    )


def request_meta(request: Any) -> dict[str, str]:
    """IP and user agent of a request, for login/logout and role-change entries."""
    if request is None:
        return {}
    return {
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
    }
