"""Fixtures for the tenancy tests: the SFTP tests run their sites' homes under the private
sshd's /srv/np-test-* web root (a chroot cannot live under /tmp)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _sftp_settings(request, settings):
    # Before the worker fixture reads the settings into its environment.
    if "sshd" in request.fixturenames:
        if "nginx" in request.fixturenames:
            for name, value in request.getfixturevalue("nginx").settings.items():
                setattr(settings, name, value)
        for name, value in request.getfixturevalue("sshd").settings.items():
            setattr(settings, name, value)
