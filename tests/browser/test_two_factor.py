"""Two-factor enrolment and sign-in in a real browser, under the real Content Security Policy."""

from __future__ import annotations

import base64
import re

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from panel.accounts.models import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser


def code_for(secret: str, steps: int = 0) -> str:
    """What an authenticator app shows for the secret the page displayed."""
    import time

    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    totp = TOTP(key)
    totp.time = time.time() + steps * 30
    return f"{totp.token():06d}"


def test_admin_enrols_then_needs_the_code_to_sign_in(page: Page, plain_server, shoot) -> None:
    base = plain_server.url
    UserFactory(username="admin", role=Role.ADMIN)
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )

    page.goto(f"{base}/accounts/login/")
    page.locator("#id_username").fill("admin")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/accounts/2fa/")
    page.get_by_role("button", name="Set up two-factor authentication").click()

    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "QR image did not load"
    secret = page.locator("code.secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7 ]+", secret)
    shoot(page, "two-factor-setup")
    page.locator("#id_otp_token").fill(code_for(secret))
    page.get_by_role("button", name="Confirm").click()

    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_text("Two-factor authentication is on.").first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    # Password alone is not enough any more.
    page.locator("#id_username").fill("admin")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/users/")
    expect(page).to_have_url(re.compile(r"/accounts/otp/\?next=%2Fusers%2F$"))
    page.locator("#id_otp_token").fill(code_for(secret, steps=1))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{base}/users/")
    expect(page.locator("h1")).to_have_text("Users")
    assert violations == []
