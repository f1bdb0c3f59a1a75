"""The name an audit entry's target goes by (a site's domain, a user's name, a certificate's
domain) instead of its UUID: one query per target type on the page, whatever its length. Each app
registers its target types in its AppConfig.ready() (the audit log builds on no other app)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

# target_type -> (model, the lookup of its name, how a name is shown)
TARGETS: dict[str, tuple[Any, str, Callable[[str], str]]] = {}


def register_target(
    target_type: str, model: Any, name_field: str, shown: Callable[[str], str] = str
) -> None:
    """Name the targets of this type by `name_field` of `model` (e.g. a site by its domain,
    shown in Unicode)."""
    TARGETS[target_type] = (model, name_field, shown)


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _shown(target_type: str, name: str) -> str:
    target = TARGETS.get(target_type)
    return target[2](name) if target else name


def attach_target_names(entries: Iterable[Any]) -> None:
    """Set `entry.target_name` on each entry: the live name of its target, else (the target was
    deleted) the `domain` or `username` its metadata recorded, else ""."""
    entries = list(entries)
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for entry in entries:
        key = _as_uuid(entry.target_id)
        if entry.target_type in TARGETS and key is not None:
            wanted[entry.target_type].add(key)
    names: dict[tuple[str, str], str] = {}
    for target_type, ids in wanted.items():
        model, field, _shown_as = TARGETS[target_type]
        for pk, name in model._default_manager.filter(pk__in=ids).values_list("pk", field):
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
