"""The name an audit entry's target goes by (a site's domain, a user's name, a certificate's
domain) instead of its UUID: one query per target type on the page, whatever its length."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def _lookups() -> dict[str, tuple[Any, str]]:
    from panel.accounts.models import User
    from panel.certificates.models import SslCertificate
    from panel.sites.models import Site

    return {
        "site": (Site, "domain"),
        "user": (User, "username"),
        "sslcertificate": (SslCertificate, "site__domain"),
    }


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _shown(target_type: str, name: str) -> str:
    if target_type in ("site", "sslcertificate"):
        from panel.sites.domains import to_unicode

        return to_unicode(name)
    return name


def attach_target_names(entries: Iterable[Any]) -> None:
    """Set `entry.target_name` on each entry: the live name of its target, else (the target was
    deleted) the `domain` or `username` its metadata recorded, else ""."""
    entries = list(entries)
    lookups = _lookups()
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for entry in entries:
        key = _as_uuid(entry.target_id)
        if entry.target_type in lookups and key is not None:
            wanted[entry.target_type].add(key)
    names: dict[tuple[str, str], str] = {}
    for target_type, ids in wanted.items():
        model, field = lookups[target_type]
        for pk, name in model.objects.filter(pk__in=ids).values_list("pk", field):
            if name:
                names[(target_type, str(pk))] = _shown(target_type, name)
    for entry in entries:
        key = _as_uuid(entry.target_id)
        name = names.get((entry.target_type, str(key))) if key is not None else None
        if name is None:
            meta = entry.metadata if isinstance(entry.metadata, dict) else {}
            recorded = meta.get("domain") or meta.get("username") or ""
            name = _shown(entry.target_type, recorded) if isinstance(recorded, str) else ""
        entry.target_name = name
