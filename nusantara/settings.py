"""Settings for Nusantara Panel, read from the environment (names in README "Configuration").

The embedded default keeps every piece of state under ./var/ of the checkout: a SQLite database,
the secret key, ACME data, vhosts and web roots. Production sets DATABASE_URL, SECRET_KEY,
ALLOWED_HOSTS; DEBUG is off unless set to True (bin/run does), and with DEBUG off the panel
refuses to start when SECRET_KEY or ALLOWED_HOSTS is missing.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import re
import secrets
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _file_env(name: str) -> None:
    """Support NAME_FILE (Docker/systemd secrets): read the value of NAME from that file."""
    path = os.environ.get(f"{name}_FILE")
    if path and name not in os.environ:
        os.environ[name] = Path(path).read_text().strip()


for _name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
    _file_env(_name)

# Fail closed: production is the default. The embedded quick start (bin/run) and the tests set
# DEBUG=True themselves.
DEBUG = env.bool("DEBUG", default=False)

DATA_DIR = Path(env.str("NUSANTARA_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
NUSANTARA_DATA_DIR = DATA_DIR


def _embedded_secret_key() -> str:
    """The embedded default: a key generated once into the data dir (0600), never in git."""
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


if "SECRET_KEY" in os.environ:
    SECRET_KEY = env.str("SECRET_KEY")
elif DEBUG:
    SECRET_KEY = _embedded_secret_key()
else:
    raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")

if "ALLOWED_HOSTS" in os.environ:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
elif DEBUG:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
else:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG is off.")

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "panel.accounts",
    "panel.audit",
    "panel.sites",
    "panel.certificates",
    "panel.jobs",
    "panel.web",
    "panel.ops",
    "panel.tenancy",
    "panel.databases",
    "panel.nodes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "panel.web.middleware.UserTimezoneMiddleware",
    "axes.middleware.AxesMiddleware",
    # After OTPMiddleware: users with two-factor on must pass the OTP step on every page.
    "panel.accounts.middleware.OTPRequiredMiddleware",
]

ROOT_URLCONF = "nusantara.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "nusantara.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'panel.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite cannot create its file's directory; with DEBUG off nothing else creates ./var/.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The embedded default runs web and worker side by side: WAL and a busy timeout keep them
    # from tripping over each other's writes.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a real qcluster worker started by the tests sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # V0 stored plain bcrypt ($2b$...): checked by this hasher, upgraded on first login.
    "panel.accounts.hashers.V0BcryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("id", _("Bahasa Indonesia"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Jakarta")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security: strict CSP with no inline script; secure cookies and HSTS when DEBUG is off.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# django-axes: throttle logins by IP and username together.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# --- Client IPs behind a reverse proxy (panel/client_ip.py; docs/security.md) ---
# X-Forwarded-For is believed only from these peers (IPs or CIDRs); empty: REMOTE_ADDR is the
# client. Login throttling (axes) and the audit both take the client IP from one function.
NUSANTARA_TRUSTED_PROXIES = env.list("NUSANTARA_TRUSTED_PROXIES", default=[])
for _proxy in NUSANTARA_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"NUSANTARA_TRUSTED_PROXIES: {_proxy!r} is not an IP address or CIDR network."
        ) from None
AXES_CLIENT_IP_CALLABLE = "panel.client_ip.client_ip"
# django-otp's admin would show every user's TOTP secret and QR code to any admin (and its views
# crash on a missing device); the panel resets two-factor from the user page instead.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

OTP_TOTP_ISSUER = "Nusantara Panel"
OTP_TOTP_TOLERANCE = 1

# --- Nusantara: paths and commands on the server (all overridable) ---
NUSANTARA_WEB_ROOT = Path(env.str("NUSANTARA_WEB_ROOT", default=str(DATA_DIR / "www"))).resolve()
NUSANTARA_NGINX_CONF_DIR = Path(
    env.str("NUSANTARA_NGINX_CONF_DIR", default=str(DATA_DIR / "nginx" / "sites"))
).resolve()
NUSANTARA_NGINX_TEST_CMD = env.str("NUSANTARA_NGINX_TEST_CMD", default="nginx -t")
NUSANTARA_NGINX_RELOAD_CMD = env.str("NUSANTARA_NGINX_RELOAD_CMD", default="nginx -s reload")
NUSANTARA_HTTP_LISTEN = env.str("NUSANTARA_HTTP_LISTEN", default="80")
NUSANTARA_HTTPS_LISTEN = env.str("NUSANTARA_HTTPS_LISTEN", default="443")
NUSANTARA_PHP_FPM_SOCKET = env.str("NUSANTARA_PHP_FPM_SOCKET", default="/run/php/php-fpm.sock")
# Largest request body a site accepts (nginx client_max_body_size; nginx's own default is 1m,
# too small for the media uploads of a typical CMS).
NUSANTARA_MAX_BODY_SIZE = env.str("NUSANTARA_MAX_BODY_SIZE", default="64m")
NUSANTARA_CHALLENGE_DIR = Path(
    env.str("NUSANTARA_CHALLENGE_DIR", default=str(DATA_DIR / "acme-challenge"))
).resolve()
NUSANTARA_CERT_DIR = Path(env.str("NUSANTARA_CERT_DIR", default=str(DATA_DIR / "certs"))).resolve()

_LE_PROD = "https://acme-v02.api.letsencrypt.org/directory"
_LE_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
NUSANTARA_ACME_DIRECTORY = env.str(
    "NUSANTARA_ACME_DIRECTORY", default=_LE_STAGING if DEBUG else _LE_PROD
)
NUSANTARA_ACME_CA_BUNDLE = env.str("NUSANTARA_ACME_CA_BUNDLE", default="")
NUSANTARA_ACME_EMAIL = env.str("NUSANTARA_ACME_EMAIL", default="")
NUSANTARA_ACME_KEY_TYPE = env.str("NUSANTARA_ACME_KEY_TYPE", default="ecdsa")  # or "rsa"
NUSANTARA_PUBLIC_ADDRESSES = env.list("NUSANTARA_PUBLIC_ADDRESSES", default=[])
NUSANTARA_RENEW_BEFORE_DAYS = env.int("NUSANTARA_RENEW_BEFORE_DAYS", default=30)
NUSANTARA_MAX_SITES_PER_USER = env.int("NUSANTARA_MAX_SITES_PER_USER", default=10)
# A site's other names (aliases such as www.<domain>), each one more name on its certificate:
# Let's Encrypt allows 100 per certificate.
NUSANTARA_SITE_ALIAS_LIMIT = env.int("NUSANTARA_SITE_ALIAS_LIMIT", default=20)
NUSANTARA_JOB_TIMEOUT = env.int("NUSANTARA_JOB_TIMEOUT", default=300)
NUSANTARA_DB_PATH = env.str("NUSANTARA_DB_PATH", default=str(DATA_DIR / "v0.json"))

# --- Nusantara: tenancy (each site its own system user and php-fpm pool; docs/operations.md) ---
# auto: on when the worker runs as root or reaches the root helper through sudo; off: every site
# runs as the panel's own user (development only).
NUSANTARA_ISOLATION = env.str("NUSANTARA_ISOLATION", default="auto")
if NUSANTARA_ISOLATION not in ("auto", "on", "off"):
    raise ImproperlyConfigured("NUSANTARA_ISOLATION must be auto, on or off.")
NUSANTARA_HELPER_CMD = env.str("NUSANTARA_HELPER_CMD", default="")
NUSANTARA_NGINX_GROUP = env.str("NUSANTARA_NGINX_GROUP", default="www-data")
NUSANTARA_SFTP_GROUP = env.str("NUSANTARA_SFTP_GROUP", default="nusantara-sftp")
NUSANTARA_SSH_KEYS_DIR = env.str("NUSANTARA_SSH_KEYS_DIR", default="/etc/nusantara/ssh-keys")
NUSANTARA_PHP_FPM_POOL_DIR = env.str(
    "NUSANTARA_PHP_FPM_POOL_DIR", default="/etc/php/8.2/fpm/pool.d"
)
NUSANTARA_PHP_FPM_SOCKET_DIR = env.str("NUSANTARA_PHP_FPM_SOCKET_DIR", default="/run/php")
NUSANTARA_PHP_FPM_TEST_CMD = env.str("NUSANTARA_PHP_FPM_TEST_CMD", default="php-fpm8.2 -t")
NUSANTARA_PHP_FPM_RELOAD_CMD = env.str(
    "NUSANTARA_PHP_FPM_RELOAD_CMD", default="systemctl reload php8.2-fpm"
)
NUSANTARA_PHP_MAX_CHILDREN = env.int("NUSANTARA_PHP_MAX_CHILDREN", default=5)
NUSANTARA_PHP_MEMORY_LIMIT = env.str("NUSANTARA_PHP_MEMORY_LIMIT", default="256M")
NUSANTARA_PHP_MAX_EXECUTION_TIME = env.int("NUSANTARA_PHP_MAX_EXECUTION_TIME", default=60)
# The proof before `active`: a request through nginx to this address (default: derived from
# NUSANTARA_HTTP_LISTEN, on 127.0.0.1); `off` where the panel cannot reach its own nginx.
NUSANTARA_PROBE = env.str("NUSANTARA_PROBE", default="on")
if NUSANTARA_PROBE not in ("on", "off"):
    raise ImproperlyConfigured("NUSANTARA_PROBE must be on or off.")
NUSANTARA_PROBE_ADDRESS = env.str("NUSANTARA_PROBE_ADDRESS", default="")
NUSANTARA_PROBE_TIMEOUT = env.float("NUSANTARA_PROBE_TIMEOUT", default=15.0)
# Disk use of each site's home (panel/tenancy/usage.py): a schedule every this many minutes,
# each home's walk capped at this many seconds (a bigger tree shows its last measurement).
NUSANTARA_DISK_USAGE_INTERVAL = env.int("NUSANTARA_DISK_USAGE_INTERVAL", default=60)
if not 1 <= NUSANTARA_DISK_USAGE_INTERVAL <= 10080:
    raise ImproperlyConfigured("NUSANTARA_DISK_USAGE_INTERVAL must be 1 to 10080 minutes.")
NUSANTARA_DISK_USAGE_SITE_TIMEOUT = env.int("NUSANTARA_DISK_USAGE_SITE_TIMEOUT", default=60)
if not 1 <= NUSANTARA_DISK_USAGE_SITE_TIMEOUT <= 240:
    raise ImproperlyConfigured("NUSANTARA_DISK_USAGE_SITE_TIMEOUT must be 1 to 240 seconds.")


def _size(name: str, default: str) -> int:
    """A size setting such as 64m, 512k, 1g or a plain byte count, in bytes."""
    value = env.str(name, default=default).strip().lower()
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    number, unit = (value[:-1], units[value[-1]]) if value[-1:] in units else (value, 1)
    if not number.isascii() or not number.isdigit() or int(number) == 0:
        raise ImproperlyConfigured(f"{name} must be a size such as 64m, 512k or 1g.")
    return int(number) * unit


# --- Nusantara: browser uploads into a site's public/ (docs/operations.md "Uploads") ---
NUSANTARA_UPLOAD_MAX_SIZE = _size("NUSANTARA_UPLOAD_MAX_SIZE", "64m")
NUSANTARA_UPLOAD_MAX_ENTRIES = env.int("NUSANTARA_UPLOAD_MAX_ENTRIES", default=10_000)
NUSANTARA_UPLOAD_MAX_UNPACKED = _size(
    "NUSANTARA_UPLOAD_MAX_UNPACKED", str(10 * NUSANTARA_UPLOAD_MAX_SIZE)
)
# Uploaded files above 2.5 MB stream to a temporary file instead of memory (Django's default,
# stated here because uploads depend on it); form fields without files stay small.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o600
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The group the panel's web process runs as: a site's logs/ belongs to root and this group (0750),
# so the web reads the logs without root and no site user can (docs/operations.md "Site logs").
NUSANTARA_PANEL_GROUP = (
    env.str("NUSANTARA_PANEL_GROUP", default="") or grp.getgrgid(os.getgid()).gr_name
)
# The most lines one page of /sites/<id>/logs/ shows.
NUSANTARA_LOG_PAGE_LINES = env.int("NUSANTARA_LOG_PAGE_LINES", default=100)

if NUSANTARA_ACME_KEY_TYPE not in ("ecdsa", "rsa"):
    raise ImproperlyConfigured("NUSANTARA_ACME_KEY_TYPE must be 'ecdsa' or 'rsa'.")


# --- Rate limits on actions that cost the server or the CA (docs/security.md) ---
# "COUNT/PERIOD" with PERIOD in seconds, minutes or hours (600s, 10m, 1h); "off" disables one.
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600}


def _rate(name: str, default: str) -> tuple[int, int] | None:
    raw = env.str(name, default=default).strip().lower()
    if raw == "off":
        return None
    count, _sep, period = raw.partition("/")
    unit = _RATE_UNITS.get(period[-1:]) if period else None
    if not (count.isdigit() and int(count) > 0 and unit and period[:-1].isdigit()):
        raise ImproperlyConfigured(f"{name} must look like 5/1h, 10/10m or 30/600s, or be off.")
    seconds = int(period[:-1]) * unit
    if not 0 < seconds <= 7 * 86400:
        raise ImproperlyConfigured(f"{name}: the period must be between 1s and 7 days.")
    return int(count), seconds


NUSANTARA_RATE_CERT_REQUESTS = _rate("NUSANTARA_RATE_CERT_REQUESTS", "5/1h")
NUSANTARA_RATE_CERT_FAILURES = _rate("NUSANTARA_RATE_CERT_FAILURES", "3/1h")
NUSANTARA_RATE_CERT_UPLOADS = _rate("NUSANTARA_RATE_CERT_UPLOADS", "5/10m")
NUSANTARA_RATE_SITE_CHANGES = _rate("NUSANTARA_RATE_SITE_CHANGES", "10/10m")
NUSANTARA_RATE_ACCOUNT_JOBS = _rate("NUSANTARA_RATE_ACCOUNT_JOBS", "30/10m")
NUSANTARA_RATE_ACCOUNT_SITES = _rate("NUSANTARA_RATE_ACCOUNT_SITES", "10/1h")
NUSANTARA_RATE_ADMIN_FACTOR = env.int("NUSANTARA_RATE_ADMIN_FACTOR", default=10)
if NUSANTARA_RATE_ADMIN_FACTOR < 1:
    raise ImproperlyConfigured("NUSANTARA_RATE_ADMIN_FACTOR must be 1 or more.")


# --- Nusantara: what customers may point nginx at (docs/security.md) ---
def _ports(name: str, default: list[int]) -> list[int]:
    ports = env.list(name, cast=int, default=default)
    if any(not 1 <= port <= 65535 for port in ports):
        raise ImproperlyConfigured(f"{name} must be a comma-separated list of ports 1-65535.")
    return ports


# On loopback or private addresses a proxy upstream may not use these ports (nor the panel's own
# nor nginx's listen ports).
NUSANTARA_UPSTREAM_DENY_PORTS = _ports(
    "NUSANTARA_UPSTREAM_DENY_PORTS", [22, 25, 3306, 5432, 6379, 11211]
)
NUSANTARA_PANEL_PORTS = _ports("NUSANTARA_PANEL_PORTS", [8000])  # what gunicorn binds
# Host names no site may take (ALLOWED_HOSTS always counts too; `.example.com` = and subdomains).
NUSANTARA_PANEL_HOSTS = env.list("NUSANTARA_PANEL_HOSTS", default=list(ALLOWED_HOSTS))


# --- Nusantara: SFTP (docs/operations.md "SFTP"; deploy/sshd/nusantara-sftp.conf) ---
# NUSANTARA_SFTP_GROUP and NUSANTARA_SSH_KEYS_DIR: in the tenancy block above.
# What the site page tells customers to connect to: empty = the host name the panel was
# reached at.
NUSANTARA_SFTP_HOST = env.str("NUSANTARA_SFTP_HOST", default="")
NUSANTARA_SFTP_PORT = env.int("NUSANTARA_SFTP_PORT", default=22)
NUSANTARA_SFTP_MAX_KEYS = env.int("NUSANTARA_SFTP_MAX_KEYS", default=20)
NUSANTARA_SFTP_PASSWORD_MIN_LENGTH = env.int("NUSANTARA_SFTP_PASSWORD_MIN_LENGTH", default=12)
if not 1 <= NUSANTARA_SFTP_PORT <= 65535:
    raise ImproperlyConfigured("NUSANTARA_SFTP_PORT must be a port number (1-65535).")

# --- Nusantara: databases (docs/operations.md "Databases (MariaDB)") ---
# The node's MariaDB, as an administrator: mysql://USER:PASSWORD@HOST:PORT/ (optionally
# ?unix_socket=/run/mysqld/mysqld.sock); empty = databases are off.
NUSANTARA_MARIADB_URL = env.str("NUSANTARA_MARIADB_URL", default="")
# What the site page tells customers to connect to (empty: the host of NUSANTARA_MARIADB_URL).
NUSANTARA_MARIADB_HOST_FOR_CUSTOMERS = env.str("NUSANTARA_MARIADB_HOST_FOR_CUSTOMERS", default="")
# The host part of the customers' MariaDB accounts ('%': from anywhere MariaDB listens).
NUSANTARA_MARIADB_USER_HOST = env.str("NUSANTARA_MARIADB_USER_HOST", default="%")
NUSANTARA_MAX_DATABASES_PER_USER = env.int("NUSANTARA_MAX_DATABASES_PER_USER", default=10)
if NUSANTARA_MARIADB_URL:
    from panel.databases.server import parse_url as _parse_mariadb_url

    _parse_mariadb_url(NUSANTARA_MARIADB_URL)  # ImproperlyConfigured when it is not one
if not re.fullmatch(r"%|localhost|[0-9A-Za-z.:%-]{1,60}", NUSANTARA_MARIADB_USER_HOST):
    raise ImproperlyConfigured(
        "NUSANTARA_MARIADB_USER_HOST must be %, localhost, an address or a host name."
    )

# --- Nodes (docs/operations.md "Nodes"): the web server this process serves ---
# A worker started with NUSANTARA_NODE=<name> reads only that node's queue (django-q2's cluster
# name) and runs only the jobs of that node's sites. Unset: the single local node, "local".
NODE_NAME_RE = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
NUSANTARA_NODE = env.str("NUSANTARA_NODE", default="").strip() or "local"
if not re.fullmatch(NODE_NAME_RE, NUSANTARA_NODE):
    raise ImproperlyConfigured(
        "NUSANTARA_NODE must be 1-63 lower-case letters, digits and hyphens "
        "(not starting or ending with a hyphen)."
    )
# django-q2's prefix (Q_CLUSTER["name"] below): a worker of that name is its default cluster, which
# runs the schedules of no node and reads the shared queue of the embedded default.
NODE_RESERVED_NAMES = ("nusantara",)
if NUSANTARA_NODE in NODE_RESERVED_NAMES:
    raise ImproperlyConfigured(
        f"NUSANTARA_NODE cannot be {NUSANTARA_NODE}: that name is reserved for the task queue."
    )
if os.environ.get("Q_CLUSTER_NAME", NUSANTARA_NODE) != NUSANTARA_NODE:
    raise ImproperlyConfigured(
        "Q_CLUSTER_NAME differs from NUSANTARA_NODE: set only NUSANTARA_NODE (the node's name is "
        "its queue's name)."
    )
# Seconds of heartbeat silence after which a node counts as offline (its jobs wait, said so).
NUSANTARA_NODE_OFFLINE_AFTER = env.int("NUSANTARA_NODE_OFFLINE_AFTER", default=180)

# --- django-q2 ---
REDIS_URL = env.str("REDIS_URL", default="")
# One retry layer (docs/jobs.md "Retries"): the `jobs` table and its reaper decide whether a job
# runs again. django-q2 acknowledges every task that returned or raised (ack_failures, one
# attempt) and never retries it; the only re-delivery it still makes (the ORM broker hands out a
# killed worker's task again after `retry` seconds) finds the job no longer `queued` and does
# nothing (panel/jobs/runner.py: only a queued job is claimed).
Q_CLUSTER: dict[str, Any] = {
    "name": NODE_RESERVED_NAMES[0],
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": NUSANTARA_JOB_TIMEOUT,
    "retry": NUSANTARA_JOB_TIMEOUT + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": env.float("Q_POLL", default=0.2),
    "label": "Task queue",
    # The queue this worker reads: its node's name. `name` (the signing salt and stats prefix)
    # stays the same on every node, as django-q2 requires.
    "cluster_name": NUSANTARA_NODE,
    "ALT_CLUSTERS": {},
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django_q": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
