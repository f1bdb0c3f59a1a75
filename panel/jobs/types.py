"""Every kind of job the runner knows: `jobs.type` holds one of these values (the strings are
the stored values; adding a kind means adding a member here and registering its handler)."""

from __future__ import annotations

from django.db import models


class JobType(models.TextChoices):
    SITE_PROVISION = "site.provision"
    SITE_UPDATE = "site.update"
    SITE_HSTS = "site.hsts"
    SITE_SUSPEND = "site.suspend"
    SITE_RESUME = "site.resume"
    SITE_DELETE = "site.delete"
    SITE_ALIASES = "site.aliases"
    SITE_MIGRATE_HOME = "site.migrate_home"
    SITE_UPLOAD = "site.upload"
    SSL_ISSUE = "ssl.issue"
    SSL_RENEW = "ssl.renew"
    SSL_INSTALL = "ssl.install"
    NGINX_RESYNC = "nginx.resync"
    SFTP_KEYS = "sftp.keys"
    SFTP_PASSWORD = "sftp.password"
    DB_CREATE = "db.create"
    DB_PASSWORD = "db.password"
    DB_DELETE = "db.delete"
