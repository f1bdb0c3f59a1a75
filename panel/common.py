"""Column helpers shared by the models so that every table matches the seed DDL the same way."""

from __future__ import annotations

import uuid
from typing import Any, Self

from django.db import models


def uuid_pk() -> models.UUIDField:
    # The seed's ids have no database default; the ORM generates them.
    return models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


class DbNow(models.Func):
    """A literal now(), exactly as the seed's DDL says (Django's Now() compiles to
    statement_timestamp() on PostgreSQL); CURRENT_TIMESTAMP on the embedded SQLite default."""

    template = "NOW()"
    output_field = models.DateTimeField()

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        return "CURRENT_TIMESTAMP", ()


def _now() -> DbNow:
    return DbNow()


def created_at() -> models.DateTimeField:
    return models.DateTimeField(db_default=_now(), editable=False)


def updated_at() -> models.DateTimeField:
    # Maintained by the BEFORE UPDATE trigger on PostgreSQL; auto_now keeps SQLite right too.
    return models.DateTimeField(db_default=_now(), auto_now=True, editable=False)


def sees_everything(user: Any) -> bool:
    """An active admin sees every row; anyone else only their own."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_admin)


class OwnedQuerySet(models.QuerySet):
    """The one way to ask "may this user see this": `Model.objects.visible_to(user)`. Admins see
    everything, an owner their own rows (`owner_field` is the path to the owning user's id), anyone
    else nothing, so that another user's object is a 404 (never a 403 confirming it exists)."""

    owner_field = "created_by_id"

    def visible_to(self, user: Any) -> Self:
        if sees_everything(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(**{self.owner_field: user.pk})
