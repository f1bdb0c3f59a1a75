"""The panel's user: table `users` of the seed, with the admin/user role."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from panel.common import created_at, updated_at, uuid_pk


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    USER = "user", _("User")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra: Any) -> User:
        if not username:
            raise ValueError("username is required")
        extra.setdefault("role", Role.USER)
        user = self.model(username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> User:
        extra["role"] = Role.ADMIN
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser):
    id = uuid_pk()
    username = models.TextField(_("username"), unique=True)
    password = models.TextField(_("password"), db_column="password_hash")
    role = models.TextField(_("role"), choices=Role.choices, default=Role.USER)
    is_active = models.BooleanField(_("active"), default=True, db_default=True)
    created_at = created_at()
    updated_at = updated_at()
    # Extra column (docs/schema.md): this user's site quota; NULL = NUSANTARA_MAX_SITES_PER_USER.
    max_sites = models.IntegerField(_("maximum number of sites"), null=True, blank=True)

    # The seed has no last_login column; Django then skips update_last_login.
    last_login = None

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = []

    class Meta:
        db_table = "users"
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["admin", "user"]), name="users_role_check"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def site_limit(self) -> int:
        """How many sites this user may own: their own quota, else the panel's default."""
        from django.conf import settings

        if self.max_sites is not None:
            return self.max_sites
        return settings.NUSANTARA_MAX_SITES_PER_USER

    # Django admin access follows the role.
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.is_admin

    @property
    def is_superuser(self) -> bool:
        return self.is_active and self.is_admin

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_superuser

    def has_perms(self, perm_list: Any, obj: object = None) -> bool:
        return self.is_superuser

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_superuser
