"""Every action the audit log records: `audit_logs.action` holds one of these values (the strings
are the stored values; audit_record refuses anything else, so a typo is an error)."""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    # Signing in (panel.accounts)
    AUTH_LOGIN = "auth.login"
    AUTH_LOGOUT = "auth.logout"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_OTP_VERIFIED = "auth.otp_verified"
    AUTH_OTP_RECOVERY_USED = "auth.otp_recovery_used"
    AUTH_OTP_FAILED = "auth.otp_failed"
    AUTH_2FA_ENABLE = "auth.2fa_enable"
    AUTH_2FA_DISABLE = "auth.2fa_disable"
    AUTH_RECOVERY_REGENERATE = "auth.recovery_regenerate"
    # Users (panel.accounts)
    USER_CREATE = "user.create"
    USER_ACTIVATE = "user.activate"
    USER_DEACTIVATE = "user.deactivate"
    USER_ROLE_CHANGE = "user.role_change"
    USER_QUOTA_CHANGE = "user.quota_change"
    USER_PASSWORD_CHANGE = "user.password_change"
    USER_PASSWORD_RESET = "user.password_reset"
    USER_UNLOCK = "user.unlock"
    # Django admin adds and changes (panel.audit.admin: "admin.<model>.<verb>")
    ADMIN_USER_ADD = "admin.user.add"
    ADMIN_USER_CHANGE = "admin.user.change"
    # Sites: asked for (panel.sites.services) and done by the worker (panel.sites.handlers)
    SITE_CREATE = "site.create"
    SITE_QUOTA_OVERRIDE = "site.quota_override"
    SITE_UPDATE = "site.update"
    SITE_HSTS = "site.hsts"
    SITE_SUSPEND = "site.suspend"
    SITE_RESUME = "site.resume"
    SITE_DELETE = "site.delete"
    SITE_PROVISIONED = "site.provisioned"
    SITE_PROVISION_FAILED = "site.provision_failed"
    SITE_UPDATED = "site.updated"
    SITE_UPDATE_FAILED = "site.update_failed"
    SITE_HSTS_CHANGED = "site.hsts_changed"
    SITE_HSTS_FAILED = "site.hsts_failed"
    SITE_SUSPENDED = "site.suspended"
    SITE_RESUMED = "site.resumed"
    SITE_SUSPEND_FAILED = "site.suspend_failed"
    SITE_RESUME_FAILED = "site.resume_failed"
    SITE_DELETED = "site.deleted"
    SITE_DELETE_FAILED = "site.delete_failed"
    SITE_HOME_MIGRATED = "site.home_migrated"
    SITE_UPLOAD = "site.upload"
    SITE_UPLOADED = "site.uploaded"
    SITE_UPLOAD_FAILED = "site.upload_failed"
    # Certificates (panel.certificates)
    SSL_REQUEST = "ssl.request"
    SSL_ISSUED = "ssl.issued"
    SSL_FAILED = "ssl.failed"
    SSL_EXPIRED = "ssl.expired"
    SSL_RENEWAL_RUN = "ssl.renewal_run"
    SSL_UPLOAD = "ssl.upload"
    SSL_UPLOADED = "ssl.uploaded"
    SSL_UPLOAD_FAILED = "ssl.upload_failed"
    # nginx as a whole (panel.sites.resync)
    NGINX_RESYNC = "nginx.resync"
    NGINX_RESYNCED = "nginx.resynced"
    # SFTP (panel.tenancy.sftp)
    SFTP_KEY_ADD = "sftp.key_add"
    SFTP_KEY_REMOVE = "sftp.key_remove"
    SFTP_PASSWORD_SET = "sftp.password_set"
    SFTP_PASSWORD_CLEAR = "sftp.password_clear"
    # Databases (panel.databases)
    DB_CREATE = "db.create"
    DB_CREATED = "db.created"
    DB_CREATE_FAILED = "db.create_failed"
    DB_PASSWORD = "db.password"
    DB_PASSWORD_CHANGED = "db.password_changed"
    DB_PASSWORD_FAILED = "db.password_failed"
    DB_DELETE = "db.delete"
    DB_DELETED = "db.deleted"
    DB_DELETE_FAILED = "db.delete_failed"
    # Jobs (panel.jobs)
    JOB_SUCCESS = "job.success"
    JOB_FAILED = "job.failed"
    JOB_RETRY = "job.retry"
    JOB_REQUEUED = "job.requeued"
