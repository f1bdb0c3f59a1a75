"""Helpers for the account tests: TOTP codes computed like an authenticator app would."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 at Django's production cost takes seconds per hash on two busy cores; these tests
    hash with MD5 first (the production hashers stay listed, so their hashes still verify)."""
    settings.PASSWORD_HASHERS = [FAST_HASHER, *settings.PASSWORD_HASHERS]


def totp_code(device: TOTPDevice, steps: int = 0) -> str:
    """The code the app shows now, or `steps` periods of 30 s later/earlier (clock drift)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = time.time() + steps * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def enrolled_admin(admin_user):
    """An admin with a confirmed TOTP device and two recovery codes."""
    device = TOTPDevice.objects.create(user=admin_user, name="authenticator", confirmed=True)
    static = StaticDevice.objects.create(user=admin_user, name="recovery", confirmed=True)
    StaticToken.objects.bulk_create(
        [StaticToken(device=static, token="aaaa2222"), StaticToken(device=static, token="bbbb3333")]
    )
    return admin_user, device


def login(client: Client, username: str, password: str, **extra: str):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)
