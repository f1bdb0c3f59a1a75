"""Import a V0 JSON store into the database: all rows or none, ids and timestamps kept.

Safe to run twice: a row whose id is already in the database is skipped (the panel's copy wins,
so changes made in the panel since the first run survive). A row that collides with a
*different* existing row (same username, domain, or audit id) is a problem, and nothing is
imported. `dry_run` runs the whole import, database constraints included, and rolls it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.color import no_style
from django.db import connection, models, transaction

from panel.audit.models import AuditLog
from panel.sites.domains import ensure_not_panel_host, normalize_domain
from panel.sites.grammar import normalize_upstream
from panel.sites.models import Runtime
from panel.sites.upstreams import check_upstream

from .v0_format import MODELS, TABLES, Parsed, Problem, validate


@dataclass
class ImportResult:
    problems: list[Problem] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def column_to_attname(model: type[models.Model]) -> dict[str, str]:
    return {str(f.column): f.attname for f in model._meta.concrete_fields}


@contextmanager
def _keep_updated_at() -> Iterator[None]:
    """auto_now would overwrite the imported updated_at on insert; switch it off meanwhile.
    (Inserting fires no BEFORE UPDATE trigger, so PostgreSQL keeps the value too.)"""
    fields: list[Any] = [
        f
        for model in MODELS.values()
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now", False)
    ]
    for f in fields:
        f.auto_now = False
    try:
        yield
    finally:
        for f in fields:
            f.auto_now = True


def _existing_ids(data: Any) -> dict[str, set[Any]]:
    """Ids of rows the file references that already exist (a second run, or rows made in the
    panel), so references to them are not dangling."""
    wanted: dict[str, set[str]] = {"users": set(), "sites": set()}
    if isinstance(data, dict):
        for table, key, target in (
            ("sites", "created_by", "users"),
            ("ssl_certificates", "site_id", "sites"),
            ("jobs", "created_by", "users"),
            ("audit_logs", "actor_user_id", "users"),
        ):
            rows = data.get(table)
            if isinstance(rows, list):
                wanted[target] |= {
                    str(r[key]).lower()
                    for r in rows
                    if isinstance(r, dict) and isinstance(r.get(key), str)
                }
    found: dict[str, set[Any]] = {}
    for table, ids in wanted.items():
        valid = [i for i in ids if _is_uuid(i)]
        manager = MODELS[table]._default_manager
        found[table] = {str(pk) for pk in manager.filter(pk__in=valid).values_list("pk", flat=True)}
    return found


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _against_database(parsed: Parsed, result: ImportResult) -> dict[str, list[dict[str, Any]]]:
    """Split valid rows into new ones and ones already imported; report collisions."""
    new: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        model = MODELS[table]
        rows = parsed.rows.get(table, [])
        present = {
            str(o.pk) if table != "audit_logs" else o.pk: o
            for o in model._default_manager.filter(pk__in=[r["id"] for r in rows])
        }
        unique_key = {"users": "username", "sites": "domain"}.get(table)
        owners: dict[str, str] = {}
        if unique_key:
            values = [r[unique_key] for r in rows]
            owners = {
                v: str(pk)
                for v, pk in model._default_manager.filter(
                    **{f"{unique_key}__in": values}
                ).values_list(unique_key, "pk")
            }
        new[table] = []
        result.skipped[table] = 0
        for row in rows:
            existing = present.get(row["id"])
            if existing is not None:
                if table == "audit_logs" and not _same_audit(existing, row):
                    result.problems.append(
                        Problem(
                            table,
                            row["_index"],
                            row["id"],
                            "this id is already used by a different audit entry in the database "
                            "(import into a fresh database, before the first login)",
                        )
                    )
                    continue
                result.skipped[table] += 1
                continue
            if unique_key and owners.get(row[unique_key], row["id"]) != row["id"]:
                result.problems.append(
                    Problem(
                        table,
                        row["_index"],
                        row["id"],
                        f"{unique_key} {row[unique_key]!r} already belongs to another row in the "
                        f"database (id {owners[row[unique_key]]})",
                    )
                )
                continue
            new[table].append(row)
    return new


def _same_audit(existing: Any, row: dict[str, Any]) -> bool:
    return (
        existing.action == row["action"]
        and existing.target_type == row["target_type"]
        and existing.target_id == row["target_id"]
        and existing.created_at == row["created_at"]
    )


def _fill_proxy_upstreams(parsed: Parsed) -> None:
    """V0 kept a proxy site's upstream only in its jobs' payloads; the panel has a column for it.
    Take it from the newest job that names the site and an upstream."""
    upstreams: dict[str, tuple[Any, str]] = {}
    for job in parsed.rows.get("jobs", []):
        payload = job["payload"]
        site_id, upstream = payload.get("site_id"), payload.get("upstream")
        if isinstance(site_id, str) and isinstance(upstream, str) and upstream:
            current = upstreams.get(site_id.lower())
            if current is None or job["created_at"] > current[0]:
                upstreams[site_id.lower()] = (job["created_at"], upstream)
    for site in parsed.rows.get("sites", []):
        if site["runtime"] == "proxy" and not site.get("upstream") and site["id"] in upstreams:
            site["upstream"] = upstreams[site["id"]][1]


def _check_sites(parsed: Parsed, result: ImportResult) -> None:
    """The rules the panel applies to a site it creates, applied to every imported one
    (docs/security.md): these values reach nginx. root_path must be the one the panel derives,
    `<NUSANTARA_WEB_ROOT>/<domain>` (V0 may have spelled the domain in Unicode there), the
    domain must not be one of the panel's own names, and a proxy upstream must pass the
    upstream grammar and policy."""
    web_root = PurePosixPath(str(settings.NUSANTARA_WEB_ROOT))
    keep = []
    for site in parsed.rows.get("sites", []):
        reasons = []
        derived = web_root / site["domain"]
        given = PurePosixPath(site["root_path"]) if site["root_path"].startswith("/") else None
        if given is None or given.parent != web_root or not _same_domain(given.name, site):
            reasons.append(
                f"root_path {site['root_path'][:200]!r} is not {str(derived)!r}: the panel keeps "
                f"every site at <NUSANTARA_WEB_ROOT>/<domain> (NUSANTARA_WEB_ROOT is {web_root}); "
                "set NUSANTARA_WEB_ROOT to V0's web root, or move the files there first "
                "(docs/operations.md, 'V0')"
            )
        elif str(given) != str(derived):
            result.warnings.append(
                f"{site['domain']}: root_path {site['root_path']} is stored as {derived} (the "
                "panel's spelling of the same domain); move the files there."
            )
        site["root_path"] = str(derived)
        try:
            ensure_not_panel_host(site["domain"])
        except ValidationError as exc:
            reasons.append(" ".join(exc.messages))
        upstream = site.get("upstream")
        if site["runtime"] == Runtime.PROXY:
            try:
                site["upstream"] = normalize_upstream(upstream)
                check_upstream(site["upstream"])
            except ValidationError as exc:
                reasons.append(f"upstream {str(upstream)[:100]!r}: {' '.join(exc.messages)}")
        elif upstream is not None:
            reasons.append(f"upstream {str(upstream)[:100]!r} is only for the proxy runtime")
        for reason in reasons:
            result.problems.append(Problem("sites", site["_index"], site["id"], reason))
        if not reasons:
            keep.append(site)
    parsed.rows["sites"] = keep


def _same_domain(name: str, site: dict[str, Any]) -> bool:
    try:
        return normalize_domain(name) == site["domain"]
    except ValidationError:
        return False


def import_data(data: Any, *, dry_run: bool = False) -> ImportResult:
    result = ImportResult()
    parsed = validate(data, _existing_ids(data))
    result.problems.extend(parsed.problems)
    if parsed.problems:
        return result
    _fill_proxy_upstreams(parsed)
    _check_sites(parsed, result)
    if result.problems:
        return result
    with transaction.atomic():
        new = _against_database(parsed, result)
        if result.problems:
            return result
        with _keep_updated_at():
            for table in TABLES:
                model = MODELS[table]
                attnames = column_to_attname(model)
                objs = [
                    model(**{attnames[k]: v for k, v in row.items() if k != "_index"})
                    for row in new[table]
                ]
                model._default_manager.bulk_create(objs, batch_size=500)
                result.created[table] = len(objs)
        if connection.vendor == "postgresql":
            # Keeping V0's integer ids leaves the identity sequence behind them.
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [AuditLog]):
                    cursor.execute(sql)
        stuck = [row["id"] for row in new["jobs"] if row["status"] in ("queued", "running")]
        if stuck:
            result.warnings.append(
                f"{len(stuck)} job(s) were queued or running in V0. They are imported as they "
                "were; the job reaper picks them up within a few minutes and runs them again "
                "(handlers are idempotent) or fails them with a reason."
            )
        if dry_run:
            transaction.set_rollback(True)
    return result
