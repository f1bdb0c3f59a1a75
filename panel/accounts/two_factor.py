"""TOTP two-factor devices and one-time recovery codes (django-otp), with their audit entries."""

from __future__ import annotations

import base64
from typing import Any

import qrcode
import qrcode.image.svg
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record

RECOVERY_CODE_COUNT = 10


def has_two_factor(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_start(user: Any) -> TOTPDevice:
    """A fresh unconfirmed device; any earlier unconfirmed attempt is dropped."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def pending_device(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def secret_b32(device: TOTPDevice) -> str:
    """The secret as people type it into an authenticator app (base32, in groups of four)."""
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// URL as an SVG QR code in a data: URI (CSP allows data: images only)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    svg = image.to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def _new_recovery_codes(user: Any) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def totp_confirm(*, user: Any, device: TOTPDevice, token: str, meta: dict) -> list[str] | None:
    """Confirm the device with a code from the app; returns the recovery codes, or None."""
    if not device.verify_token(token):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_recovery_codes(user)
        audit_record(actor=user, action=AuditAction.AUTH_2FA_ENABLE, target=user, metadata=meta)
    return codes


def recovery_regenerate(*, user: Any, meta: dict) -> list[str]:
    with transaction.atomic():
        codes = _new_recovery_codes(user)
        audit_record(
            actor=user, action=AuditAction.AUTH_RECOVERY_REGENERATE, target=user, metadata=meta
        )
    return codes


def recovery_remaining(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user).count()


def two_factor_disable(*, actor: Any, user: Any, meta: dict) -> None:
    """Remove every device of `user` (own choice, or an admin resetting a lost phone)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit_record(actor=actor, action=AuditAction.AUTH_2FA_DISABLE, target=user, metadata=meta)


def verify_any(user: Any, token: str) -> tuple[TOTPDevice | StaticDevice | None, bool]:
    """Check a code against the user's TOTP device, then against the recovery codes (each of
    which works once). Returns (device or None, throttled): django-otp makes each device wait
    1, 2, 4, ... seconds after consecutive failures, so guessing codes does not pay."""
    throttled = False
    for model in (TOTPDevice, StaticDevice):
        for device in model.objects.filter(user=user, confirmed=True):
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                throttled = True
                continue
            if device.verify_token(token):
                return device, False
    return None, throttled
