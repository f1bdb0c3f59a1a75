"""Admin for users: passwords set and reset through Django's own forms; role and active flag
change only through the actions, which call the accounts services (last-admin check, audit,
sessions ended), never by editing the row.

Django's stock UserAdmin is kept for its password views and add flow, with every field list
replaced, because it expects columns (email, groups, permissions, ...) the seed's `users` lacks.
Users are never deleted here: deactivate them instead (sites reference their owner).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from panel.audit.admin import AuditedAdminMixin, run_per_object

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
    readonly_fields = ("role", "is_active", "created_at", "updated_at")
    list_display = ("username", "role", "is_active", "site_count", "created_at", "updated_at")
    list_filter = ("role", "is_active")
    search_fields = ("username",)
    ordering = ("username",)
    filter_horizontal = ()
    actions = ["deactivate", "activate", "make_admin", "make_user"]

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
        from .services import user_set_active

        # Never lock yourself out by ticking your own row with the others.
        others = queryset.exclude(pk=request.user.pk)
        if others.count() != queryset.count():
            self.message_user(request, _("You cannot deactivate yourself here."), messages.ERROR)
        run_per_object(
            self,
            request,
            others,
            lambda user: user_set_active(actor=request.user, user=user, is_active=False),
            gettext("%(count)s user(s) deactivated."),
        )

    @admin.action(description=_("Activate selected users"))
    def activate(self, request: HttpRequest, queryset: Any) -> None:
        from .services import user_set_active

        run_per_object(
            self,
            request,
            queryset,
            lambda user: user_set_active(actor=request.user, user=user, is_active=True),
            gettext("%(count)s user(s) activated."),
        )

    @admin.action(description=_("Make selected users admins"))
    def make_admin(self, request: HttpRequest, queryset: Any) -> None:
        from .services import user_set_role

        run_per_object(
            self,
            request,
            queryset,
            lambda user: user_set_role(actor=request.user, user=user, role=Role.ADMIN),
            gettext("%(count)s user(s) are admins now."),
        )

    @admin.action(description=_("Make selected users regular users"))
    def make_user(self, request: HttpRequest, queryset: Any) -> None:
        from .services import user_set_role

        run_per_object(
            self,
            request,
            queryset,
            lambda user: user_set_role(actor=request.user, user=user, role=Role.USER),
            gettext("%(count)s user(s) are regular users now."),
        )

    def audit_metadata(self, obj: User) -> dict[str, Any]:  # type: ignore[override]
        return {"role": obj.role, "is_active": obj.is_active}


admin.site.site_header = _("Nusantara Panel administration")
admin.site.site_title = _("Nusantara Panel")
admin.site.index_title = _("Raw records")

# Access follows the role; groups and permissions are not used by the panel.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)
