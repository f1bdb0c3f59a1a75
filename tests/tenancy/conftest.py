"""Fixtures for the sites/jobs tests."""

import pytest


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # The users here never log in with a password; PBKDF2 costs about a second per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _nginx_settings(request, settings):
    # Another area's session fixture may have pointed the data dir elsewhere meanwhile: tests
    # that use the suite's nginx get exactly its settings back (restored after the test).
    if "nginx" in request.fixturenames:
        for name, value in request.getfixturevalue("nginx").settings.items():
            setattr(settings, name, value)
