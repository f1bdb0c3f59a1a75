"""Login, logout and failed login go to the audit log, with IP and user agent."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record, request_meta


@receiver(user_logged_in)
def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(
        actor=user, action=AuditAction.AUTH_LOGIN, target=user, metadata=request_meta(request)
    )


@receiver(user_logged_out)
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(
            actor=user, action=AuditAction.AUTH_LOGOUT, target=user, metadata=request_meta(request)
        )


@receiver(user_login_failed)
def _on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    meta = request_meta(request)
    meta["username"] = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None, action=AuditAction.AUTH_LOGIN_FAILED, target_type="user", metadata=meta
    )
