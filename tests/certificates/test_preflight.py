"""Pre-flight checks that spare an attempt at the CA."""

from __future__ import annotations

import pytest

from panel.certificates.preflight import (
    PreflightError,
    check_challenge_path,
    check_dns,
    local_http_address,
    preflight_names,
)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("80", ("127.0.0.1", 80)),
        ("127.0.0.1:18080", ("127.0.0.1", 18080)),
        ("0.0.0.0:8080", ("127.0.0.1", 8080)),
        ("[::]:80", ("::1", 80)),
        ("[::1]:8081", ("::1", 8081)),
        ("80 default_server", ("127.0.0.1", 80)),
    ],
)
def test_local_address_from_listen(listen, expected):
    assert local_http_address(listen) == expected


def test_dns_check_is_off_without_public_addresses(settings):
    settings.NUSANTARA_PUBLIC_ADDRESSES = []
    check_dns("name-that-does-not-exist.invalid")


def test_domain_pointing_elsewhere_is_explained(settings):
    settings.NUSANTARA_PUBLIC_ADDRESSES = ["203.0.113.7"]
    with pytest.raises(PreflightError) as info:
        check_dns("localhost")
    assert "127.0.0.1" in str(info.value) and "203.0.113.7" in str(info.value)


def test_domain_pointing_here_passes(settings):
    settings.NUSANTARA_PUBLIC_ADDRESSES = ["127.0.0.1"]
    check_dns("localhost")


def test_unresolvable_domain_is_explained(settings):
    settings.NUSANTARA_PUBLIC_ADDRESSES = ["203.0.113.7"]
    with pytest.raises(PreflightError) as info:
        check_dns("name-that-does-not-exist.invalid")
    assert "does not resolve" in str(info.value)


@pytest.mark.services
@pytest.mark.django_db
def test_challenge_path_served_by_nginx_passes(nginx, live_site):
    check_challenge_path(live_site("pre").domain)


@pytest.mark.services
def test_name_without_vhost_fails_with_the_status_seen(nginx, unique_domain):
    with pytest.raises(PreflightError) as info:
        check_challenge_path(unique_domain("none"), settle=0.2)
    assert "404" in str(info.value)


@pytest.mark.services
@pytest.mark.django_db
def test_each_name_is_checked_on_its_own(nginx, live_site, settings):
    """A site's names go through the checks one by one: the ones that pass are kept, each
    failing one is named with its own reason."""
    settings.NUSANTARA_PUBLIC_ADDRESSES = []
    served = live_site("names").domain
    passing, failing = preflight_names([served, "not-served.invalid"])
    assert passing == [served]
    assert list(failing) == ["not-served.invalid"] and "404" in failing["not-served.invalid"]

    settings.NUSANTARA_PUBLIC_ADDRESSES = ["127.0.0.1"]
    passing, failing = preflight_names(["localhost", "name-that-does-not-exist.invalid"])
    assert passing == []
    assert "does not resolve" in failing["name-that-does-not-exist.invalid"]
    assert "localhost" in failing["localhost"] and "404" in failing["localhost"]
