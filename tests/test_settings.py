"""Settings from the environment (issue 2, item 2): with DEBUG off the panel refuses to start
without SECRET_KEY or ALLOWED_HOSTS and `check --deploy` is clean; the embedded default
generates its secret key once, into a 0600 file.

Each case runs Python in a subprocess with a controlled environment, because settings are read
once at import and this test process already has them.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
SETUP = "import django; django.setup()"
STRONG_KEY = secrets.token_urlsafe(60)  # 80 characters, many unique: what check --deploy wants


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Python with only PATH/HOME, a private data dir and the given variables."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "nusantara.settings",
        "NUSANTARA_DATA_DIR": str(tmp_path / "var"),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_debug_off_without_secret_key_refuses_to_start(tmp_path):
    result = run(tmp_path, "-c", SETUP, DEBUG="False", ALLOWED_HOSTS="panel.example.com")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr
    # No silent fallback: the embedded key file must not have been created.
    assert not (tmp_path / "var" / "secret_key").exists()


def test_debug_off_without_allowed_hosts_refuses_to_start(tmp_path):
    result = run(tmp_path, "-c", SETUP, DEBUG="False", SECRET_KEY=STRONG_KEY)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_debug_off_with_both_starts(tmp_path):
    result = run(
        tmp_path,
        "-c",
        SETUP + "; from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        DEBUG="False",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="panel.example.com,10.0.0.5",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['panel.example.com', '10.0.0.5']"


def test_check_deploy_is_clean_in_production_configuration(tmp_path):
    result = run(
        tmp_path,
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="False",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="panel.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_check_deploy_does_complain_about_a_weak_key(tmp_path):
    # Shows the previous test can fail: the same command with a short key is not clean.
    result = run(
        tmp_path,
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="False",
        SECRET_KEY="too-short",
        ALLOWED_HOSTS="panel.example.com",
    )
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_embedded_default_generates_the_secret_key_once_with_mode_0600(tmp_path):
    show_key = SETUP + "; from django.conf import settings; print(settings.SECRET_KEY)"
    first = run(tmp_path, "-c", show_key, DEBUG="True")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert first.stdout.strip() == key
    assert len(key) >= 50
    second = run(tmp_path, "-c", show_key, DEBUG="True")
    assert second.stdout.strip() == key  # generated once, then reused


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(STRONG_KEY + "\n")
    result = run(
        tmp_path,
        "-c",
        SETUP + "; from django.conf import settings; print(settings.SECRET_KEY)",
        DEBUG="False",
        SECRET_KEY_FILE=str(secret),
        ALLOWED_HOSTS="panel.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == STRONG_KEY


@pytest.mark.parametrize("value", ["sqlite", "postgres"])
def test_database_url_selects_the_backend(tmp_path, value):
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "postgres": "postgres://u@127.0.0.1:5432/np",
    }[value]
    result = run(
        tmp_path,
        "-c",
        SETUP
        + "; from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        DATABASE_URL=url,
        DEBUG="True",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith({"sqlite": "sqlite3", "postgres": "postgresql"}[value])


def test_debug_is_off_when_the_variable_is_absent(tmp_path):
    # Fail closed: a production install that forgets DEBUG is not in debug mode. Without
    # SECRET_KEY it therefore refuses to start instead of generating one.
    show = SETUP + "; from django.conf import settings; print(settings.DEBUG)"
    result = run(tmp_path, "-c", show, SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="panel.example.com")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    bare = run(tmp_path, "-c", show)
    assert bare.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in bare.stderr


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path):
    show = SETUP + "; from django.conf import settings; print(settings.NUSANTARA_TRUSTED_PROXIES)"
    good = run(tmp_path, "-c", show, DEBUG="True", NUSANTARA_TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "['127.0.0.1', '10.0.0.0/8']"
    bad = run(tmp_path, "-c", show, DEBUG="True", NUSANTARA_TRUSTED_PROXIES="127.0.0.1,nginx")
    assert bad.returncode != 0
    assert "NUSANTARA_TRUSTED_PROXIES" in bad.stderr and "'nginx'" in bad.stderr
