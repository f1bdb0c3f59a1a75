"""Admin for the audit log (read-only), and the mixin that writes admin edits to the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest

from .actions import AuditAction
from .models import AuditLog
from .services import audit_record


def _changed_fields(message: Any) -> list[str]:
    """Field labels from an admin change message (never values, so no secret can leak)."""
    if not isinstance(message, list):
        return []
    fields: list[str] = []
    for item in message:
        for details in item.values() if isinstance(item, dict) else ():
            fields.extend(str(f) for f in details.get("fields", []))
    return fields


class AuditedAdminMixin:
    """Admin adds and changes also land in `audit_logs`, the panel's one audit trail (Django's
    own LogEntry is not something operators query)."""

    def audit_metadata(self, obj: models.Model) -> dict[str, Any]:
        return {}

    def _audit(self, request: HttpRequest, obj: models.Model, verb: str, message: Any) -> None:
        metadata = {"via": "admin", "fields": _changed_fields(message), **self.audit_metadata(obj)}
        audit_record(
            actor=request.user,
            action=AuditAction(f"admin.{obj._meta.model_name}.{verb}"),  # e.g. ADMIN_USER_CHANGE
            target=obj,
            metadata=metadata,
        )

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        self._audit(request, obj, "add", message)
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        self._audit(request, obj, "change", message)
        return super().log_change(request, obj, message)  # type: ignore[misc]


def run_per_object(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Any,
    call: Any,
    done: str,
    refusals: tuple[type[Exception], ...] = (),
) -> None:
    """Admin actions call the panel's services: one call per object, each refusal (a
    ValidationError, PermissionDenied, or one of `refusals` such as JobBusy) reported with the
    object's name and the service's words, the number done at the end."""
    refused: tuple[type[Exception], ...] = (ValidationError, PermissionDenied, *refusals)
    queued = 0
    for obj in objects:
        try:
            call(obj)
        except refused as exc:
            reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            modeladmin.message_user(request, f"{obj}: {reason}", messages.ERROR)
        else:
            queued += 1
    if queued:
        modeladmin.message_user(request, done % {"count": queued}, messages.SUCCESS)


class ReadOnlyAdminMixin:
    """Records that only the panel writes: visible in the admin, never edited there."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id")
    list_filter = ("action", "target_type", "created_at")
    search_fields = ("action", "target_type", "target_id", "actor__username")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    fields = ("id", "created_at", "actor", "action", "target_type", "target_id", "metadata")
    show_full_result_count = False  # the table only grows; skip the COUNT(*) of everything
