"""The V0 JSON store format (`NUSANTARA_DB_PATH`) and the validation of every row in it.

One JSON object, one list per seed table, each row an object with the seed's column names.
The panel's export adds its extra columns (docs/schema.md) as optional keys, so export -> import
loses nothing; any other key is an error. `validate()` checks every row and returns either the
cleaned rows (model attribute -> value) or the list of problems, never a partial result.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.contrib.auth.hashers import identify_hasher
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from panel.accounts.models import Role, User
from panel.audit.models import AuditLog
from panel.certificates.models import CertStatus, Provider, SslCertificate
from panel.databases.models import Database, DatabaseStatus
from panel.jobs.models import Job, JobStatus
from panel.sites.domains import normalize_domain
from panel.sites.models import Runtime, Site, SiteDomain, SiteStatus

# "site_domains" and "databases" are the panel's own (not in V0 files; exported and imported
# back like the rest).
TABLES = ("users", "sites", "site_domains", "ssl_certificates", "databases", "jobs", "audit_logs")
V0_BCRYPT_PREFIX = "bcrypt_v0$"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_BCRYPT = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")


class Invalid(Exception):
    """One reason why a value is not acceptable."""


@dataclass(frozen=True)
class Col:
    name: str  # key in the JSON row == database column
    kind: str  # uuid, text, choice, bool, ts, object, list, int, fk, domain, password, textid
    required: bool = False  # must be present (NOT NULL and no default in the seed)
    nullable: bool = False
    default: Any = None  # used when the key is absent; a callable is called
    choices: tuple[str, ...] = ()
    ref: str = ""  # referenced table for kind "fk"
    extra: bool = False  # a panel column beyond the seed (optional in V0 files)


_NOW: Callable[[], datetime] = timezone.now

SEED_SPEC: dict[str, tuple[Col, ...]] = {
    "users": (
        Col("id", "uuid", required=True),
        Col("username", "text", required=True),
        Col("password_hash", "password", required=True),
        Col("role", "choice", required=True, choices=tuple(Role.values)),
        Col("is_active", "bool", default=True),
        Col("created_at", "ts", default=_NOW),
        Col("updated_at", "ts", default=_NOW),
    ),
    "sites": (
        Col("id", "uuid", required=True),
        Col("domain", "domain", required=True),
        Col("root_path", "text", required=True),
        Col("runtime", "choice", required=True, choices=tuple(Runtime.values)),
        Col(
            "status",
            "choice",
            required=True,
            choices=tuple(SiteStatus.values),
        ),
        Col("created_by", "fk", required=True, ref="users"),
        Col("created_at", "ts", default=_NOW),
        Col("updated_at", "ts", default=_NOW),
    ),
    "ssl_certificates": (
        Col("id", "uuid", required=True),
        Col("site_id", "fk", required=True, ref="sites"),
        Col("provider", "choice", default="letsencrypt", choices=tuple(Provider.values)),
        Col("status", "choice", required=True, choices=tuple(CertStatus.values)),
        Col("expires_at", "ts", nullable=True),
        Col("created_at", "ts", default=_NOW),
        Col("updated_at", "ts", default=_NOW),
    ),
    "site_domains": (
        Col("id", "uuid", required=True),
        Col("site_id", "fk", required=True, ref="sites"),
        Col("domain", "domain", required=True),
        Col("created_at", "ts", default=_NOW),
    ),
    "databases": (
        Col("id", "uuid", required=True),
        Col("site_id", "fk", required=True, ref="sites"),
        Col("name", "text", required=True),
        Col("db_user", "text", required=True),
        Col("status", "choice", required=True, choices=tuple(DatabaseStatus.values)),
        Col("created_at", "ts", default=_NOW),
        Col("updated_at", "ts", default=_NOW),
    ),
    "jobs": (
        Col("id", "uuid", required=True),
        Col("type", "text", required=True),
        Col("status", "choice", required=True, choices=tuple(JobStatus.values)),
        Col("payload", "object", default=dict),
        Col("error_message", "text", nullable=True),
        Col("started_at", "ts", nullable=True),
        Col("finished_at", "ts", nullable=True),
        Col("created_at", "ts", default=_NOW),
    ),
    "audit_logs": (
        Col("id", "int", required=True),
        Col("actor_user_id", "fk", nullable=True, ref="users"),
        Col("action", "text", required=True),
        Col("target_type", "text", required=True),
        Col("target_id", "textid", nullable=True),
        Col("metadata", "object", default=dict),
        Col("created_at", "ts", default=_NOW),
    ),
}


MODELS: dict[str, type[models.Model]] = {
    "users": User,
    "sites": Site,
    "ssl_certificates": SslCertificate,
    "site_domains": SiteDomain,
    "databases": Database,
    "jobs": Job,
    "audit_logs": AuditLog,
}


def _extra_col(f: models.Field) -> Col | None:
    """A panel column beyond the seed, described from the model field (docs/schema.md)."""
    if f.is_relation:
        ref = next((t for t, m in MODELS.items() if m is f.related_model), "")
        kind = "fk" if ref else ""
    elif isinstance(f, models.UUIDField):
        kind, ref = "uuid", ""
    elif isinstance(f, models.DateTimeField):
        kind, ref = "ts", ""
    elif isinstance(f, models.BooleanField):
        kind, ref = "bool", ""
    elif isinstance(f, models.IntegerField):
        kind, ref = "int", ""
    elif isinstance(f, models.JSONField):
        kind, ref = "json", ""
    elif isinstance(f, models.CharField | models.TextField):
        kind, ref = "text", ""
    else:
        kind = ""
    if not kind:
        return None
    default = f.default if f.has_default() else None
    return Col(str(f.column), kind, nullable=f.null, default=default, ref=ref, extra=True)


@cache
def spec(table: str) -> tuple[Col, ...]:
    """The seed's columns, then every extra column the panel's model has."""
    seed = SEED_SPEC[table]
    names = {col.name for col in seed}
    extras = [
        col
        for f in MODELS[table]._meta.concrete_fields
        if f.column not in names and (col := _extra_col(f)) is not None
    ]
    return (*seed, *extras)


@dataclass
class Problem:
    table: str
    index: int | None  # None: the file or the table as a whole
    row_id: Any
    reason: str

    def __str__(self) -> str:
        where = self.table if self.index is None else f"{self.table}[{self.index}]"
        ident = f" (id {self.row_id})" if self.row_id not in (None, "") else ""
        return f"{where}{ident}: {self.reason}"


@dataclass
class Parsed:
    """Cleaned rows per table, keyed by database column."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Invalid(f"must be an ISO 8601 timestamp string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value!r} is not an ISO 8601 timestamp")
    if "T" not in value and " " not in value:
        raise Invalid(f"{value!r} has no time of day")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Invalid(f"{value!r} has no UTC offset")
    return parsed


def import_password(value: Any) -> str:
    """V0 bcrypt text -> `bcrypt_v0$<text>`; a Django hash (from export_json) is kept as it is."""
    if not isinstance(value, str) or not value:
        raise Invalid("must be a non-empty string")
    if value.startswith("$2"):
        if not _BCRYPT.fullmatch(value):
            raise Invalid("is not a well-formed bcrypt hash")
        return V0_BCRYPT_PREFIX + value
    if value.startswith("!"):
        return value  # Django's unusable password: the user cannot log in, as before
    try:
        identify_hasher(value)
    except ValueError:
        raise Invalid("is neither a bcrypt hash nor a password hash this panel knows")
    return value


def export_password(value: str) -> str:
    if value.startswith(V0_BCRYPT_PREFIX):
        return value[len(V0_BCRYPT_PREFIX) :]
    return value


def _clean(col: Col, value: Any) -> Any:
    if value is None:
        if col.nullable:
            return None
        raise Invalid("must not be null")
    kind = col.kind
    if kind in ("uuid", "fk"):
        if not isinstance(value, str) or not _UUID.fullmatch(value):
            raise Invalid(f"{value!r} is not a UUID")
        return str(uuid.UUID(value))
    if kind == "text":
        if not isinstance(value, str):
            raise Invalid(f"must be a string, got {type(value).__name__}")
        if col.required and col.name != "target_type" and not value.strip():
            raise Invalid("must not be empty")
        return value
    if kind == "textid":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise Invalid(f"must be a string, got {type(value).__name__}")
        return str(value)
    if kind == "choice":
        if value not in col.choices:
            raise Invalid(f"{value!r} is not one of {', '.join(col.choices)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise Invalid(f"must be true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be an integer, got {value!r}")
        return value
    if kind == "json":
        return value
    if kind == "ts":
        return parse_timestamp(value)
    if kind == "object":
        if not isinstance(value, dict):
            raise Invalid(f"must be a JSON object, got {type(value).__name__}")
        return value
    if kind == "list":
        if not isinstance(value, list):
            raise Invalid(f"must be a JSON list, got {type(value).__name__}")
        return value
    if kind == "domain":
        try:
            return normalize_domain(value)
        except ValidationError as exc:
            raise Invalid(f"{str(value)[:100]!r} is not a valid domain: {' '.join(exc.messages)}")
    if kind == "password":
        return import_password(value)
    raise AssertionError(kind)  # pragma: no cover


def _clean_row(table: str, index: int, row: Any, parsed: Parsed) -> dict[str, Any] | None:
    if not isinstance(row, dict):
        parsed.problems.append(
            Problem(table, index, None, f"must be a JSON object, got {type(row).__name__}")
        )
        return None
    row_id = row.get("id")
    spec_ = spec(table)
    known = {col.name for col in spec_}
    reasons = [f"unknown key {key!r}" for key in row if key not in known]
    cleaned: dict[str, Any] = {}
    for col in spec_:
        if col.name not in row:
            if col.required:
                reasons.append(f"missing required column {col.name!r}")
            else:
                cleaned[col.name] = col.default() if callable(col.default) else col.default
            continue
        try:
            cleaned[col.name] = _clean(col, row[col.name])
        except Invalid as exc:
            reasons.append(f"{col.name}: {exc}")
    if table == "jobs" and "site_id" not in row:
        # The panel indexes a job by its site; V0 kept that only in the payload.
        site_id = cleaned.get("payload", {}).get("site_id")
        cleaned["site_id"] = (
            str(uuid.UUID(site_id))
            if isinstance(site_id, str) and _UUID.fullmatch(site_id)
            else None
        )
    for reason in reasons:
        parsed.problems.append(Problem(table, index, row_id, reason))
    return None if reasons else cleaned


def validate(data: Any, existing_ids: dict[str, set[Any]] | None = None) -> Parsed:
    """Check every row; references may point into the file or to rows already in the database
    (`existing_ids[table]`)."""
    parsed = Parsed()
    existing_ids = existing_ids or {}
    if not isinstance(data, dict):
        parsed.problems.append(Problem("file", None, None, "must be a JSON object of tables"))
        return parsed
    for key in data:
        if key not in TABLES:
            parsed.problems.append(Problem("file", None, None, f"unknown table {key!r}"))
    present: dict[str, set[Any]] = {}
    for table in TABLES:
        rows = data.get(table, [])
        if not isinstance(rows, list):
            parsed.problems.append(Problem(table, None, None, "must be a JSON list of rows"))
            parsed.rows[table] = []
            continue
        # Every id the file names, even on a bad row: a reference to a bad row is reported once,
        # at that row, not again at every row that points to it.
        present[table] = {
            str(row["id"]).lower() if table != "audit_logs" else row["id"]
            for row in rows
            if isinstance(row, dict) and isinstance(row.get("id"), str | int)
        }
        cleaned_rows: list[dict[str, Any]] = []
        seen: dict[str, dict[Any, int]] = {"id": {}, "username": {}, "domain": {}}
        for index, row in enumerate(rows):
            cleaned = _clean_row(table, index, row, parsed)
            if cleaned is None:
                continue
            duplicate = False
            for key in ("id", "username", "domain"):
                if key not in cleaned:
                    continue
                first = seen[key].setdefault(cleaned[key], index)
                if first != index:
                    duplicate = True
                    parsed.problems.append(
                        Problem(
                            table,
                            index,
                            row.get("id"),
                            f"duplicate {key} {cleaned[key]!r} (also {table}[{first}])",
                        )
                    )
            if not duplicate:
                cleaned["_index"] = index
                cleaned_rows.append(cleaned)
        parsed.rows[table] = cleaned_rows
    _check_references(parsed, present, existing_ids)
    return parsed


def _check_references(
    parsed: Parsed, present: dict[str, set[Any]], existing_ids: dict[str, set[Any]]
) -> None:
    known = {
        table: present.get(table, set()) | {str(i) for i in existing_ids.get(table, ())}
        for table in TABLES
    }
    for table in TABLES:
        refs = [col for col in spec(table) if col.kind == "fk"]
        keep = []
        for row in parsed.rows.get(table, []):
            bad = [
                f"{col.name}: {row[col.name]} does not exist in {col.ref}"
                for col in refs
                if row.get(col.name) is not None and row[col.name] not in known[col.ref]
            ]
            for reason in bad:
                parsed.problems.append(Problem(table, row["_index"], row["id"], reason))
            if not bad:
                keep.append(row)
        parsed.rows[table] = keep
