"""Fast password hashing for the sites/jobs tests: the users here never log in with a password,
and PBKDF2 costs about a second per user on this machine."""

import pytest


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
