"""Admin for users: role and active flag, passwords set and reset through Django's own forms.

Django's stock UserAdmin is kept for its password views and add flow, with every field list
replaced, because it expects columns (email, groups, permissions, ...) the seed's `users` lacks.
Users are never deleted here: deactivate them instead (sites reference their owner).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from panel.audit.admin import AuditedAdminMixin

from .models import Role, User


class UserCreationForm(auth_forms.AdminUserCreationForm):
    """username, role, active, and password1/password2 (or no usable password)."""

    class Meta:
        model = User
        fields = ("username", "role", "is_active")
        field_classes = {"username": auth_forms.UsernameField}


class UserChangeForm(auth_forms.UserChangeForm):
    """The password is shown as its hash summary with a link to the set/reset form."""

    class Meta:
        model = User
        fields = ("username", "password", "role", "is_active")
        field_classes = {"username": auth_forms.UsernameField}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        keeps_admin = cleaned.get("role") == Role.ADMIN and cleaned.get("is_active")
        if not keeps_admin and _is_last_active_admin(self.instance):
            # Nobody could reach the admin (or promote anyone) again.
            raise ValidationError(
                _("This is the last active admin: make another user admin first."),
                code="last_admin",
            )
        return cleaned


def _is_last_active_admin(user: User) -> bool:
    if user.pk is None:
        return False
    admins = User.objects.filter(role=Role.ADMIN, is_active=True)
    return admins.filter(pk=user.pk).exists() and not admins.exclude(pk=user.pk).exists()


@admin.register(User)
class UserAdmin(AuditedAdminMixin, auth_admin.UserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = auth_forms.AdminPasswordChangeForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Access"), {"fields": ("role", "is_active")}),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "role",
                    "is_active",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("created_at", "updated_at")
    list_display = ("username", "role", "is_active", "site_count", "created_at", "updated_at")
    list_filter = ("role", "is_active")
    search_fields = ("username",)
    ordering = ("username",)
    filter_horizontal = ()
    actions = ["deactivate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj else ()

    def get_queryset(self, request: HttpRequest) -> Any:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_site_count=Count("sites"))

    @admin.display(description=_("sites"), ordering="_site_count")
    def site_count(self, obj: User) -> int:
        return obj._site_count  # type: ignore[attr-defined]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Sites, jobs and audit entries reference their user; deactivate instead.
        return False

    @admin.action(description=_("Deactivate selected users"))
    def deactivate(self, request: HttpRequest, queryset: Any) -> None:
        for user in queryset.filter(is_active=True):
            if user.pk == request.user.pk:
                continue  # never lock yourself out
            user.is_active = False
            user.save(update_fields=["is_active", "updated_at"])
            self.log_change(request, user, [{"changed": {"fields": ["is_active"]}}])

    def audit_metadata(self, obj: User) -> dict[str, Any]:  # type: ignore[override]
        return {"role": obj.role, "is_active": obj.is_active}


admin.site.site_header = _("Nusantara Panel administration")
admin.site.site_title = _("Nusantara Panel")
admin.site.index_title = _("Raw records")

# Access follows the role; groups and permissions are not used by the panel.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)
