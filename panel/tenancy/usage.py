"""Disk use of each site's home, measured by the `tenancy.disk_usage` django-q2 schedule every
NUSANTARA_DISK_USAGE_INTERVAL minutes and stored in `sites.disk_bytes`/`disk_measured_at`;
pages only read those columns, they never walk a tree.

The walk itself is the root helper's read-only verb `home-usage` (homes belong to the sites'
users, so only root sees every file): allocated bytes as `du -sx` counts them, links never
followed, each home capped at NUSANTARA_DISK_USAGE_SITE_TIMEOUT seconds. A home that could not
be measured keeps its last measurement and its time; one that was never measured stays NULL
("not measured yet"). It is a measurement, not a change: no `jobs` row and no audit entry
(docs/jobs.md, "Disk use").
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F, QuerySet
from django.utils import timezone

from panel.sites.models import Site, SiteStatus

from . import helper, rootcmd
from .helper import HelperError

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "tenancy.disk_usage"
TASK = "panel.tenancy.usage.measure_all"
BATCH = 500  # homes per helper call (at most helper.USAGE_MAX_DOMAINS)
HELPER_SECONDS = 240  # a helper call must end well within rootcmd's 300 s program timeout
MARGIN = 30  # seconds kept free before django-q2's task timeout, for the last writes


@contextlib.contextmanager
def _run_lock() -> Iterator[bool]:
    """One measurement at a time on this machine: a run that outlasts the interval is not
    joined by the next one."""
    path = Path(settings.NUSANTARA_DATA_DIR) / "disk-usage.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _measure(domains: list[str], seconds: int, budget: int) -> dict[str, Any]:
    """{domain: result} for the homes the helper reached within `budget` (helper.measure_homes)."""
    request = json.dumps({"domains": domains, "seconds": seconds, "budget": budget})
    if rootcmd.isolation_enabled():
        out = rootcmd.run("home-usage", stdin=request)
    else:  # every file is the panel's own: no root needed, the same code and grammar
        out = helper.call(rootcmd.helper_config(), "home-usage", [], request)
    try:
        results = json.loads(out)["results"]
    except (ValueError, KeyError, TypeError) as exc:
        raise HelperError(f"home-usage answered something unexpected: {out[:200]!r}") from exc
    if not isinstance(results, dict):
        raise HelperError("home-usage answered something unexpected")
    return results


def _limits() -> tuple[int, float]:
    """(seconds per home, seconds for the whole run): the run must end before django-q2's
    task timeout kills it; homes it did not reach come first next time."""
    run = max(settings.NUSANTARA_JOB_TIMEOUT - MARGIN, 2)
    seconds = max(1, min(settings.NUSANTARA_DISK_USAGE_SITE_TIMEOUT, run // 2, HELPER_SECONDS // 2))
    return seconds, run


def _sites_here() -> QuerySet[Site]:
    """The sites whose homes are on this machine's disk: those of this worker's node
    (sites.node_id). Each node has its own schedule (like the heartbeat's), since a home can
    only be measured where it lives."""
    return Site.objects.exclude(status=SiteStatus.DELETING).filter(
        node__name=settings.NUSANTARA_NODE
    )


def measure_all() -> str:
    """The schedule's task: measure every site's home; returns a summary for the task result."""
    with _run_lock() as held:
        if not held:
            return "skipped: another disk use measurement is still running"
        return _measure_all()


def _failures_path() -> Path:
    return Path(settings.NUSANTARA_DATA_DIR) / "disk-usage-failures.json"


def _load_failures() -> dict[str, str]:
    """{domain: when its last measurement failed} from this machine's previous runs."""
    try:
        raw = json.loads(_failures_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


def _save_failures(failures: dict[str, str]) -> None:
    path = _failures_path()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(failures, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("disk use: could not record the failed homes in %s: %s", path, exc)


def _order(sites: list[tuple[Any, str]], failures: dict[str, str]) -> list[tuple[Any, str]]:
    """Stalest first (the query's order), so that a run cut short by its time limit is
    continued by the next; but homes whose last measurement failed go last, oldest failure
    first: a home that always hits its time cap (millions of files) must not starve the
    others of every run's time."""
    ok = [site for site in sites if site[1] not in failures]
    failing = sorted((site for site in sites if site[1] in failures), key=lambda s: failures[s[1]])
    return ok + failing


def _measure_all() -> str:
    seconds, run = _limits()
    deadline = time.monotonic() + run
    rows_here = list(
        _sites_here()
        .order_by(F("disk_measured_at").asc(nulls_first=True), "domain")
        .values_list("pk", "domain")
    )
    total = len(rows_here)
    known = {domain for _pk, domain in rows_here}
    failures = {d: at for d, at in _load_failures().items() if d in known}
    measured = missing = failed = 0
    problem = ""
    # The helper refuses a whole request with a name outside its grammar: such a row (an old
    # import, a hand edit) must cost its own measurement only, not everyone's.
    pending = []
    for pk, domain in _order(rows_here, failures):
        try:
            pending.append((pk, helper.ARG_TYPES["domain"](domain)))
        except HelperError as exc:
            logger.warning("disk use of %s not measured: %s", domain[:80], exc)
            failed += 1
    while pending:
        budget = int(min(deadline - time.monotonic(), HELPER_SECONDS) - seconds)
        if budget < 1:
            problem = "time limit reached"
            break
        batch = pending[:BATCH]
        try:
            results = _measure([domain for _pk, domain in batch], seconds, budget)
        except HelperError as exc:
            logger.error("disk use: the measurement failed: %s", exc)
            problem = str(exc)
            break
        done = [(pk, domain, results[domain]) for pk, domain in batch if domain in results]
        if not done:
            problem = "the helper measured nothing"
            break
        pending = [(pk, domain) for pk, domain in pending if domain not in results]
        now = timezone.now()
        rows = []
        for pk, domain, result in done:
            size = result.get("bytes") if isinstance(result, dict) else None
            failures.pop(domain, None)
            if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
                rows.append(Site(pk=pk, disk_bytes=size, disk_measured_at=now))
            elif isinstance(result, dict) and result.get("missing"):
                missing += 1  # not created yet, or deleted meanwhile: nothing to say
            else:
                failed += 1
                failures[domain] = now.isoformat()
                error = result.get("error") if isinstance(result, dict) else result
                logger.warning("disk use of %s not measured: %s", domain, error)
        try:
            Site.objects.bulk_update(rows, ["disk_bytes", "disk_measured_at"])
        except DatabaseError as exc:
            logger.error("disk use: %d measurement(s) not saved: %s", len(rows), exc)
            failed += len(rows)
            continue
        measured += len(rows)
    _save_failures(failures)
    summary = (
        f"disk use measured for {measured} of {total} site(s); {failed} failed, "
        f"{missing} without a home, {len(pending)} left for the next run"
    )
    if problem:
        summary += f" ({problem})"
    logger.info("%s", summary)
    return summary


def ensure_schedule(using: str = "default") -> None:
    """The `tenancy.disk_usage` schedule of every node, on the node's own queue, every
    NUSANTARA_DISK_USAGE_INTERVAL minutes (idempotent; panel.nodes.schedules). A schedule
    without a queue (cluster NULL) would never run: django-q2 gives those only to a worker
    whose cluster name is the prefix, and every worker here is named after its node."""
    from panel.nodes.services import ensure_node_schedules

    ensure_node_schedules(using=using)
