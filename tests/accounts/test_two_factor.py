"""TOTP enrolment, the OTP step after the password, recovery codes and switching 2FA off."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from panel.audit.models import AuditLog
from tests.factories import PASSWORD

from .conftest import login, totp_code

pytestmark = pytest.mark.django_db


def test_enrolment_shows_qr_and_secret_then_ten_recovery_codes_once(owner_client, owner):
    assert owner_client.get("/accounts/2fa/setup/").status_code == 405
    response = owner_client.post("/accounts/2fa/setup/")
    assert response["Location"] == "/accounts/2fa/confirm/"
    device = TOTPDevice.objects.get(user=owner, confirmed=False)

    page = owner_client.get("/accounts/2fa/confirm/").content.decode()
    assert 'src="data:image/svg+xml;base64,' in page
    assert "<script" not in page.split("</head>")[1]  # no inline script in the body
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1)
    assert len(secret.replace(" ", "")) == 32

    bad = owner_client.post("/accounts/2fa/confirm/", {"otp_token": "000000"})
    assert bad.status_code == 200
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    time.sleep(1.1)  # django-otp throttles the next attempt for 1 s after a failure

    response = owner_client.post("/accounts/2fa/confirm/", {"otp_token": totp_code(device)})
    assert response["Location"] == "/accounts/2fa/recovery/"
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    codes_page = owner_client.get("/accounts/2fa/recovery/")
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", codes_page.content.decode())
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.values_list("token", flat=True))
    # Shown once only.
    assert owner_client.get("/accounts/2fa/recovery/")["Location"] == "/accounts/2fa/"
    assert AuditLog.objects.filter(action="auth.2fa_enable", actor=owner).count() == 1


def test_login_asks_for_the_code_after_the_password(client: Client, enrolled_admin):
    admin, device = enrolled_admin
    response = login(client, "admin", PASSWORD)
    assert response.status_code == 302
    response = client.get("/users/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/otp/?next=%2Fusers%2F"
    assert client.get("/audit/")["Location"].startswith("/accounts/otp/")
    assert client.get("/admin/")["Location"].startswith("/accounts/otp/")

    response = client.post("/accounts/otp/", {"otp_token": totp_code(device), "next": "/users/"})
    assert response["Location"] == "/users/"
    assert client.get("/users/").status_code == 200
    assert AuditLog.objects.filter(action="auth.otp_verified", actor=admin).exists()


def test_wrong_code_keeps_the_gate_closed_and_is_audited(client: Client, enrolled_admin):
    login(client, "admin", PASSWORD)
    response = client.post("/accounts/otp/", {"otp_token": "123456"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert client.get("/users/").status_code == 302
    assert AuditLog.objects.filter(action="auth.otp_failed").exists()


@pytest.mark.parametrize("steps", [-1, 1])
def test_code_one_period_off_is_accepted_for_clock_drift(client, enrolled_admin, steps):
    _, device = enrolled_admin
    login(client, "admin", PASSWORD)
    client.post("/accounts/otp/", {"otp_token": totp_code(device, steps)})
    assert client.get("/users/").status_code == 200


def test_code_two_periods_off_is_refused(client: Client, enrolled_admin):
    _, device = enrolled_admin
    login(client, "admin", PASSWORD)
    client.post("/accounts/otp/", {"otp_token": totp_code(device, -3)})
    assert client.get("/users/").status_code == 302


def test_a_totp_code_cannot_be_replayed(enrolled_admin):
    _, device = enrolled_admin
    code = totp_code(device)
    first, second = Client(), Client()
    login(first, "admin", PASSWORD)
    first.post("/accounts/otp/", {"otp_token": code})
    assert first.get("/users/").status_code == 200
    login(second, "admin", PASSWORD)
    second.post("/accounts/otp/", {"otp_token": code})
    assert second.get("/users/").status_code == 302


def test_recovery_code_works_once(enrolled_admin):
    admin, _ = enrolled_admin
    first, second = Client(), Client()
    login(first, "admin", PASSWORD)
    response = first.post("/accounts/otp/", {"otp_token": "AAAA 2222"})
    assert response.status_code == 302
    assert first.get("/users/").status_code == 200
    assert StaticToken.objects.filter(device__user=admin).count() == 1
    assert AuditLog.objects.filter(action="auth.otp_recovery_used").exists()

    login(second, "admin", PASSWORD)
    second.post("/accounts/otp/", {"otp_token": "aaaa2222"})
    assert second.get("/users/").status_code == 302


def test_users_without_a_device_are_not_asked(client: Client, admin_user):
    login(client, "admin", PASSWORD)
    assert client.get("/users/").status_code == 200
    assert client.get("/accounts/otp/")["Location"] == "/"


def test_logout_and_language_switch_work_before_the_code(client: Client, enrolled_admin):
    login(client, "admin", PASSWORD)
    assert client.post("/i18n/setlang/", {"language": "id"}).status_code == 302
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"


def test_disable_needs_the_password_and_removes_all_devices(client: Client, enrolled_admin):
    admin, device = enrolled_admin
    login(client, "admin", PASSWORD)
    client.post("/accounts/otp/", {"otp_token": totp_code(device)})

    response = client.post("/accounts/2fa/disable/", {"password": "nope"})
    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=admin).exists()

    response = client.post("/accounts/2fa/disable/", {"password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/"
    assert not TOTPDevice.objects.filter(user=admin).exists()
    assert not StaticDevice.objects.filter(user=admin).exists()
    assert AuditLog.objects.filter(action="auth.2fa_disable", actor=admin).exists()


def test_regenerating_recovery_codes_replaces_the_old_ones(client: Client, enrolled_admin):
    admin, device = enrolled_admin
    login(client, "admin", PASSWORD)
    client.post("/accounts/otp/", {"otp_token": totp_code(device)})
    assert client.post("/accounts/2fa/recovery/")["Location"] == "/accounts/2fa/recovery/"
    tokens = set(StaticToken.objects.filter(device__user=admin).values_list("token", flat=True))
    assert len(tokens) == 10
    assert "aaaa2222" not in tokens


def test_admin_can_remove_another_users_lost_device(admin_client, owner):
    TOTPDevice.objects.create(user=owner, name="authenticator", confirmed=True)
    response = admin_client.post(f"/users/{owner.pk}/", {"action": "reset_2fa"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=owner).exists()
    entry = AuditLog.objects.get(action="auth.2fa_disable")
    assert entry.target_id == str(owner.pk)


def test_repeated_wrong_codes_are_throttled(client: Client, enrolled_admin):
    _, device = enrolled_admin
    login(client, "admin", PASSWORD)
    client.post("/accounts/otp/", {"otp_token": "111111"})
    # Right away, even the right code is refused while the device waits out the failure.
    response = client.post("/accounts/otp/", {"otp_token": totp_code(device)})
    assert "Too many wrong codes" in response.content.decode()
    assert client.get("/users/").status_code == 302
    time.sleep(1.1)
    client.post("/accounts/otp/", {"otp_token": totp_code(device, 1)})
    assert client.get("/users/").status_code == 200
