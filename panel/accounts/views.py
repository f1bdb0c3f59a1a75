"""Own account pages: change password, the OTP step after login, and two-factor settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record, request_meta

from . import two_factor
from .access import AuthedRequest
from .forms import ConfirmDeviceForm, OTPTokenForm, PasswordConfirmForm
from .services import user_set_password

_RECOVERY_SESSION_KEY = "np_recovery_codes"


def _safe_next(request: HttpRequest, fallback: str = "/") -> str:
    """`next` when it is a URL on this host, else the fallback. A URL, never a view name: callers
    use HttpResponseRedirect, since redirect("-1") would try to reverse it and crash."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
def password_change(request: AuthedRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_set_password(
            actor=request.user,
            user=request.user,
            password=form.cleaned_data["new_password1"],
            meta=request_meta(request),
        )
        # Keep this session; other sessions end because the password hash changed.
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password has been changed."))
        return redirect("password_change")
    return render(request, "accounts/password_change.html", {"form": form})


@login_required
def otp_verify(request: AuthedRequest) -> HttpResponse:
    """Second step of the login for users with two-factor enabled."""
    next_url = _safe_next(request)
    verified = request.user.is_verified()  # type: ignore[attr-defined]  # django_otp adds it
    if verified or not two_factor.has_two_factor(request.user):
        return HttpResponseRedirect(next_url)
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, throttled = two_factor.verify_any(request.user, form.cleaned_data["otp_token"])
        meta = request_meta(request)
        if device is not None:
            # A new session key for the fully signed-in session: a key seen while only the
            # password was known is worth nothing afterwards.
            request.session.cycle_key()
            otp_login(request, device)
            recovery = isinstance(device, StaticDevice)
            audit_record(
                actor=request.user,
                action=AuditAction.AUTH_OTP_RECOVERY_USED
                if recovery
                else AuditAction.AUTH_OTP_VERIFIED,
                target=request.user,
                metadata=meta,
            )
            if recovery:
                messages.warning(
                    request,
                    _("You signed in with a recovery code. %(count)s codes are left.")
                    % {"count": two_factor.recovery_remaining(request.user)},
                )
            return HttpResponseRedirect(next_url)
        audit_record(
            actor=request.user,
            action=AuditAction.AUTH_OTP_FAILED,
            target=request.user,
            metadata=meta,
        )
        if throttled:
            form.add_error(
                "otp_token", _("Too many wrong codes. Wait a few seconds, then try again.")
            )
        else:
            form.add_error("otp_token", _("That code is not valid. Try the current one."))
    return render(request, "accounts/otp_verify.html", {"form": form, "next": next_url})


@login_required
def two_factor_status(request: AuthedRequest) -> HttpResponse:
    enabled = two_factor.has_two_factor(request.user)
    context = {
        "enabled": enabled,
        "remaining": two_factor.recovery_remaining(request.user) if enabled else 0,
        "disable_form": PasswordConfirmForm(request.user),
    }
    return render(request, "accounts/two_factor.html", context)


@login_required
@require_POST
def two_factor_setup(request: AuthedRequest) -> HttpResponse:
    two_factor.totp_start(request.user)
    return redirect("two_factor_confirm")


@login_required
def two_factor_confirm(request: AuthedRequest) -> HttpResponse:
    device = two_factor.pending_device(request.user)
    if device is None:
        return redirect("two_factor")
    form = ConfirmDeviceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.totp_confirm(
            user=request.user,
            device=device,
            token=form.cleaned_data["otp_token"],
            meta=request_meta(request),
        )
        if codes is not None:
            otp_login(request, device)
            request.session[_RECOVERY_SESSION_KEY] = codes
            messages.success(request, _("Two-factor authentication is on."))
            return redirect("two_factor_recovery")
        form.add_error("otp_token", _("That code is not valid. Check the time on your phone."))
    context = {
        "form": form,
        "qr": two_factor.qr_data_uri(device),
        "secret": two_factor.secret_b32(device),
    }
    return render(request, "accounts/two_factor_confirm.html", context)


@login_required
def two_factor_recovery(request: AuthedRequest) -> HttpResponse:
    """GET shows freshly made recovery codes exactly once; POST makes a new set."""
    if request.method == "POST":
        if not two_factor.has_two_factor(request.user):
            return redirect("two_factor")
        codes = two_factor.recovery_regenerate(user=request.user, meta=request_meta(request))
        request.session[_RECOVERY_SESSION_KEY] = codes
        return redirect("two_factor_recovery")
    codes = request.session.pop(_RECOVERY_SESSION_KEY, None)
    if not codes:
        return redirect("two_factor")
    response = render(request, "accounts/two_factor_recovery.html", {"codes": codes})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def two_factor_disable(request: AuthedRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.user, request.POST)
    if not form.is_valid():
        context = {
            "enabled": True,
            "remaining": two_factor.recovery_remaining(request.user),
            "disable_form": form,
        }
        return render(request, "accounts/two_factor.html", context, status=400)
    two_factor.two_factor_disable(actor=request.user, user=request.user, meta=request_meta(request))
    messages.success(request, _("Two-factor authentication is off."))
    return redirect("two_factor")
