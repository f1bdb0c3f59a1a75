"""User management for admins: list, create, change role, (de)activate, reset password."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, Min, OuterRef, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from panel.audit.services import request_meta

from . import services, two_factor
from .access import AuthedRequest, admin_required
from .forms import RoleForm, SiteQuotaForm, UserCreateForm
from .models import Role, User

PAGE_SIZE = 50


@admin_required
def user_list(request: AuthedRequest) -> HttpResponse:
    # PostgreSQL text cannot hold NUL (a 500), and no username has one.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:150]
    users = User.objects.annotate(
        has_2fa=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
    ).order_by("username")
    if query:
        users = users.filter(username__icontains=query)
    page = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "users/list.html", {"page": page, "q": query})


@admin_required
def user_new(request: AuthedRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                actor=request.user,
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
                password=form.cleaned_data["password1"],
                meta=request_meta(request),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("User %(name)s created.") % {"name": user.username})
            return redirect("user_detail", pk=user.pk)
    return render(request, "users/new.html", {"form": form})


def _quota_form(request: AuthedRequest, user: User) -> SiteQuotaForm:
    posted = request.method == "POST" and request.POST.get("action") == "quota"
    return SiteQuotaForm(
        request.POST if posted else None,
        initial={"max_sites": user.max_sites},
        default=settings.NUSANTARA_MAX_SITES_PER_USER,
    )


def _apply(request: AuthedRequest, user: User) -> tuple[bool, SetPasswordForm | None, RoleForm]:
    """Run the action the detail page posted; returns (done, password form, role form)."""
    action = request.POST.get("action")
    meta = request_meta(request)
    role_form = RoleForm(request.POST if action == "role" else None, initial={"role": user.role})
    password_form = None
    try:
        if action == "quota":
            quota_form = _quota_form(request, user)
            if not quota_form.is_valid():
                return False, None, role_form
            services.user_set_max_sites(
                actor=request.user,
                user=user,
                max_sites=quota_form.cleaned_data["max_sites"],
                meta=meta,
            )
            messages.success(request, _("Site quota changed."))
            return True, None, role_form
        if action == "role" and role_form.is_valid():
            services.user_set_role(
                actor=request.user, user=user, role=role_form.cleaned_data["role"], meta=meta
            )
            messages.success(request, _("Role changed."))
            return True, None, role_form
        if action in ("activate", "deactivate"):
            services.user_set_active(
                actor=request.user, user=user, is_active=action == "activate", meta=meta
            )
            if action == "activate":
                messages.success(request, _("User activated."))
            else:
                messages.success(request, _("User deactivated; they can no longer sign in."))
            return True, None, role_form
        if action == "password":
            password_form = SetPasswordForm(user, request.POST)
            if password_form.is_valid():
                changed = services.user_set_password(
                    actor=request.user,
                    user=user,
                    password=password_form.cleaned_data["new_password1"],
                    meta=meta,
                )
                if changed.pk == request.user.pk:
                    update_session_auth_hash(request, changed)  # an admin resetting their own
                messages.success(request, _("Password reset."))
                return True, None, role_form
        if action == "unlock":
            services.user_unlock(actor=request.user, user=user, meta=meta)
            messages.success(request, _("Failed sign-ins cleared; the user can sign in again."))
            return True, None, role_form
        if action == "reset_2fa":
            two_factor.two_factor_disable(actor=request.user, user=user, meta=meta)
            messages.success(request, _("Two-factor authentication removed for this user."))
            return True, None, role_form
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return False, password_form, role_form


def _site_totals(user: User) -> dict[str, object]:
    """The user's site count and the disk use of their sites (as last measured by the
    schedule, panel/tenancy/usage.py), in one query."""
    totals = user.sites.aggregate(
        site_count=Count("pk"),
        # The schedule writes both columns together; NULLs (never measured) are left out.
        disk_total=Sum("disk_bytes"),
        disk_measured=Count("disk_bytes"),
        disk_oldest=Min("disk_measured_at"),
    )
    return {
        "site_count": totals["site_count"],
        "disk": {
            "bytes": totals["disk_total"] or 0,
            "measured": totals["disk_measured"],
            "oldest": totals["disk_oldest"],
        },
    }


@admin_required
def user_detail(request: AuthedRequest, pk: str) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    password_form: SetPasswordForm | None = None
    role_form = RoleForm(initial={"role": user.role})
    status = 200
    if request.method == "POST":
        done, password_form, role_form = _apply(request, user)
        if done:
            return redirect("user_detail", pk=user.pk)
        status = 400
    context = {
        "subject": user,
        "role_form": role_form,
        "password_form": password_form or SetPasswordForm(user),
        "has_2fa": two_factor.has_two_factor(user),
        "failed_logins": services.user_failed_logins(user),
        **_site_totals(user),
        "site_limit": user.site_limit if user.role == Role.USER else None,
        "quota_form": _quota_form(request, user),
        "is_self": user.pk == request.user.pk,
    }
    return render(request, "users/detail.html", context, status=status)
