"""Export the five V0 tables and the panel's `site_domains` and `databases` in the V0 JSON store
format (plus the panel's extra columns), so that export -> import_v0 into an empty database loses
nothing."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from .v0_format import MODELS, TABLES, export_password, spec
from .v0_import import column_to_attname

ORDER = {
    "users": ("created_at", "id"),
    "sites": ("created_at", "id"),
    "site_domains": ("created_at", "id"),
    "ssl_certificates": ("created_at", "id"),
    "databases": ("created_at", "id"),
    "jobs": ("created_at", "id"),
    "audit_logs": ("id",),
}


def _value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        # In the panel's TIME_ZONE with its offset, as V0 wrote them; the instant is unchanged.
        return timezone.localtime(value).isoformat()
    return value


def export_data() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        model = MODELS[table]
        attnames = column_to_attname(model)
        rows = []
        for obj in model._default_manager.order_by(*ORDER[table]).iterator(chunk_size=1000):
            row = {}
            for col in spec(table):
                value = _value(getattr(obj, attnames[col.name]))
                if col.kind == "password":
                    value = export_password(value)
                row[col.name] = value
            rows.append(row)
        data[table] = rows
    return data


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write atomically and 0600: the file holds every user's password hash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
