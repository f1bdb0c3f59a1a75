"""The client IP behind trusted proxies (NUSANTARA_TRUSTED_PROXIES): login throttling and the
audit see the real client, and a client cannot choose its own address with X-Forwarded-For."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

from panel.audit.models import AuditLog
from panel.client_ip import client_ip
from tests.factories import PASSWORD

from .conftest import login

NGINX = "127.0.0.1"


def ip_of(remote_addr: str, forwarded: str | None = None) -> str:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


@pytest.fixture
def behind_nginx(settings):
    settings.NUSANTARA_TRUSTED_PROXIES = ["127.0.0.1", "::1", "10.1.0.0/16"]


def test_without_trusted_proxies_the_header_is_ignored(settings) -> None:
    settings.NUSANTARA_TRUSTED_PROXIES = []
    assert ip_of(NGINX, "203.0.113.9") == NGINX
    assert ip_of("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_spoofed_header_from_an_untrusted_peer_is_ignored(behind_nginx) -> None:
    # A client that reaches gunicorn directly (not through nginx) picks its own header: ignored.
    assert ip_of("198.51.100.7", "203.0.113.9") == "198.51.100.7"
    assert ip_of("198.51.100.7", "127.0.0.1") == "198.51.100.7"


def test_trusted_peer_gives_the_address_it_appended(behind_nginx) -> None:
    assert ip_of(NGINX, "203.0.113.9") == "203.0.113.9"
    assert ip_of("::1", "2001:db8::7") == "2001:db8::7"
    assert ip_of(NGINX, "[2001:db8::7]:4711") == "2001:db8::7"


def test_a_client_cannot_prepend_its_way_to_another_address(behind_nginx) -> None:
    # The client sent "X-Forwarded-For: 192.0.2.1"; nginx ($proxy_add_x_forwarded_for) appended
    # the address it really saw. The rightmost untrusted hop wins.
    assert ip_of(NGINX, "192.0.2.1, 203.0.113.9") == "203.0.113.9"
    # Pretending to be one of our proxies does not help either.
    assert ip_of(NGINX, "192.0.2.1, 10.1.2.3, 203.0.113.9") == "203.0.113.9"


def test_rightmost_untrusted_hop_through_several_trusted_proxies(behind_nginx) -> None:
    # client -> load balancer 10.1.0.5 -> nginx 127.0.0.1 -> gunicorn
    assert ip_of(NGINX, "192.0.2.1, 203.0.113.9, 10.1.0.5") == "203.0.113.9"
    assert ip_of(NGINX, "203.0.113.9, 10.1.0.5, 10.1.7.7") == "203.0.113.9"


def test_garbled_hops_never_hide_the_appended_address(behind_nginx) -> None:
    assert ip_of(NGINX, "not-an-ip, 203.0.113.9") == "203.0.113.9"
    assert ip_of(NGINX, "203.0.113.9, <script>") == NGINX  # written by no proxy of ours
    assert ip_of(NGINX, "") == NGINX
    assert ip_of(NGINX, "x" * 10_000) == NGINX
    assert ip_of(NGINX, "\x00, 203.0.113.9") == "203.0.113.9"


def test_all_hops_trusted_gives_the_leftmost(behind_nginx) -> None:
    assert ip_of(NGINX, "10.1.0.9, 10.1.0.5") == "10.1.0.9"


def test_no_remote_addr_is_an_empty_answer(behind_nginx) -> None:
    request = RequestFactory().get("/")
    request.META.pop("REMOTE_ADDR", None)
    assert client_ip(request) == ""


@pytest.mark.django_db
def test_lockout_keys_on_the_real_client_not_on_nginx(behind_nginx, owner) -> None:
    attacker, victim = Client(), Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(attacker, "owner", "wrong", REMOTE_ADDR=NGINX, HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert (
        login(
            attacker, "owner", PASSWORD, REMOTE_ADDR=NGINX, HTTP_X_FORWARDED_FOR="203.0.113.66"
        ).status_code
        == 429
    )
    # The owner, from their own address through the same nginx, still signs in.
    response = login(
        victim, "owner", PASSWORD, REMOTE_ADDR=NGINX, HTTP_X_FORWARDED_FOR="198.51.100.20"
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_spoofed_header_does_not_escape_the_lockout(behind_nginx, owner) -> None:
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        # A fresh made-up address each time, but nginx appends the real one after it.
        login(
            client,
            "owner",
            "wrong",
            REMOTE_ADDR=NGINX,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.66",
        )
    chain = "192.0.2.99, 203.0.113.66"
    response = login(client, "owner", PASSWORD, REMOTE_ADDR=NGINX, HTTP_X_FORWARDED_FOR=chain)
    assert response.status_code == 429


@pytest.mark.django_db
def test_audit_records_the_real_ip_of_login_and_failed_login(behind_nginx, owner) -> None:
    client = Client()
    login(client, "owner", "wrong", REMOTE_ADDR=NGINX, HTTP_X_FORWARDED_FOR="203.0.113.5")
    login(client, "owner", PASSWORD, REMOTE_ADDR=NGINX, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.6")
    failed = AuditLog.objects.get(action="auth.login_failed")
    assert failed.metadata["ip"] == "203.0.113.5"
    assert failed.metadata["username"] == "owner"
    assert AuditLog.objects.get(action="auth.login").metadata["ip"] == "203.0.113.6"


@pytest.mark.django_db
def test_audit_ignores_the_header_from_an_untrusted_peer(settings, owner) -> None:
    settings.NUSANTARA_TRUSTED_PROXIES = []
    login(Client(), "owner", PASSWORD, REMOTE_ADDR="198.51.100.3", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert AuditLog.objects.get(action="auth.login").metadata["ip"] == "198.51.100.3"
