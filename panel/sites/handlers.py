"""Job handlers for sites: `site.provision`, `site.update`, `site.hsts`, `site.suspend`,
`site.resume`, `site.aliases` and `site.delete`, run by the django-q2 worker.

Group commit: the worker that runs a site job takes the nginx writer lock and, while holding it,
claims every other queued site job, so a burst of N sites costs one `nginx -t` and one reload
instead of N of each (nginx -t on 5,000 vhosts takes ~260 ms). Each job still ends on its own:
a site nginx rejects fails alone, with nginx's message, and the rest of the batch goes live.
Everything here is idempotent: a re-run after a crash converges to the same files and rows.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.models import Job
from panel.jobs.runner import (
    JobFailed,
    claim_batch,
    complete_job,
    fail_internal,
    fail_job,
    job_log,
    register,
)
from panel.jobs.types import JobType
from panel.tenancy import homes, pools, probe
from panel.tenancy.rootcmd import HelperError

from . import extensions, nginx
from .domains import www_name
from .models import RedirectMode, Runtime, Site, SiteDomain, SiteStatus

logger = logging.getLogger(__name__)

SITE_JOB_TYPES = (
    JobType.SITE_PROVISION,
    JobType.SITE_UPDATE,
    JobType.SITE_HSTS,
    JobType.SITE_SUSPEND,
    JobType.SITE_RESUME,
    JobType.SITE_DELETE,
    JobType.SITE_ALIASES,
)
SUSPENSION: dict[str, bool] = {JobType.SITE_SUSPEND: True, JobType.SITE_RESUME: False}
BATCH_LIMIT = 1000
# How long one worker keeps taking new batches before it returns to the queue.
DRAIN_SECONDS = 60


@dataclass
class _Plan:
    job: Job
    domain: str = ""
    content: str | None = None
    site: Site | None = None
    error: str | None = None
    note: str = ""
    # php-fpm: the site user whose pool this job adds (before nginx) or removes (after nginx).
    pool_add: str | None = None
    pool_remove: bool = False
    target: Site | None = None  # the site as the job wants it (what the probe must see)


def _audit(job: Job, action: AuditAction, domain: str | None, **extra: object) -> None:
    """The worker's audit entry for a site job's outcome (actor: the system)."""
    audit_record(
        actor=None,
        action=action,
        target_type="site",
        target_id=job.site_id,
        metadata={"domain": domain, "job_id": str(job.pk), **extra},
    )


def _site_failed(job: Job, message: str) -> None:
    Site.objects.of_job(job).update(status=SiteStatus.FAILED)
    action = (
        AuditAction.SITE_PROVISION_FAILED
        if job.type == JobType.SITE_PROVISION
        else AuditAction.SITE_DELETE_FAILED
    )
    _audit(job, action, job.payload.get("domain"), error=message)


def _update_failed(job: Job, message: str) -> None:
    """A refused change leaves the site as it was: nginx kept the previous vhost, and the row
    still holds the previous runtime. Only a site that was not served before stays failed."""
    previous = job.payload.get("previous") or {}
    if previous.get("status") != SiteStatus.ACTIVE:
        Site.objects.of_job(job).update(status=SiteStatus.FAILED)
    _audit(job, AuditAction.SITE_UPDATE_FAILED, job.payload.get("domain"), error=message)


def _update_retried(job: Job) -> None:
    if (job.payload.get("previous") or {}).get("status") != SiteStatus.ACTIVE:
        Site.objects.of_job(job).update(status=SiteStatus.PROVISIONING)


def _suspension_failed(job: Job, message: str) -> None:
    """nginx kept the previous vhost, so the site is exactly as it was: only say so (also for
    `site.hsts`: `site.hsts_failed`)."""
    action = {
        JobType.SITE_HSTS: AuditAction.SITE_HSTS_FAILED,
        JobType.SITE_SUSPEND: AuditAction.SITE_SUSPEND_FAILED,
        JobType.SITE_RESUME: AuditAction.SITE_RESUME_FAILED,
    }[JobType(job.type)]
    _audit(job, action, job.payload.get("domain"), error=message)


def _with_new_settings(job: Job, site: Site) -> Site:
    """The site as an update or (un)suspension job wants it (the row changes only once nginx
    accepted it)."""
    target = copy.copy(site)
    if job.type in SUSPENSION:
        target.suspended_at = job.created_at if SUSPENSION[job.type] else None
    elif job.type == JobType.SITE_HSTS:
        target.hsts = bool(job.payload.get("enabled"))
    elif job.type == JobType.SITE_ALIASES:
        names = sorted(a.domain for a in site.aliases.all())
        if removed := job.payload.get("remove"):
            names = [n for n in names if n != removed]
        if (added := job.payload.get("add")) and added not in names:
            raise JobFailed(
                f"The name {added} is no longer reserved for this site (it was taken "
                "meanwhile, or the site's names changed): add it again."
            )
        target.alias_override = names  # type: ignore[attr-defined]
        if "redirect_mode" in job.payload:
            mode, redirect_to = job.payload["redirect_mode"], job.payload.get("redirect_to")
            # Checked when the job was asked for; checked again here, since a retried job can
            # run long after its names changed (the target may be another customer's now).
            needed = www_name(site.domain) if mode == RedirectMode.TO_WWW else redirect_to
            if needed is not None and needed not in names:
                raise JobFailed(
                    f"{needed} is no longer one of this site's names, so nothing can redirect "
                    "to it: choose the redirect again."
                )
            target.redirect_mode = mode
            target.redirect_to = redirect_to
    else:
        target.runtime = job.payload.get("runtime", "")
        target.upstream = job.payload.get("upstream")
    return target


def _back_to(status: str) -> Callable[[Job], None]:
    def on_retry(job: Job) -> None:
        Site.objects.of_job(job).update(status=status)

    return on_retry


def _root_on_this_node(site: Site) -> None:
    """The document root is derived under the web root of the node that serves the site (the
    web process derived it under its own, which another node may not share). Sites made before
    tenancy (no system user yet) keep theirs until `site.migrate_home`."""
    root = str(homes.public_path(site.domain))
    if site.system_user and site.root_path != root:
        Site.objects.filter(pk=site.pk).update(root_path=root)
        site.root_path = root


def _prepare(job: Job, site: Site | None) -> _Plan:
    """Everything before nginx: create the document root, render the vhost."""
    plan = _Plan(job=job, domain=job.payload.get("domain", ""), site=site)
    try:
        if job.type == JobType.SITE_PROVISION:
            if site is None:
                raise JobFailed("The site no longer exists.")
            plan.domain = site.domain
            _root_on_this_node(site)
            homes.prepare(site)
            plan.content = nginx.render_site(site)
            plan.target = site
            if site.runtime == Runtime.PHP and homes.isolated(site):
                plan.pool_add = site.system_user
            plan.note = (
                f"home and document root {site.root_path} ready; vhost rendered ({site.runtime})"
            )
        elif job.type == JobType.SITE_UPDATE:
            if site is None:
                raise JobFailed("The site no longer exists.")
            plan.domain = site.domain
            target = _with_new_settings(job, site)
            homes.prepare(target)
            plan.content = nginx.render_site(target)
            plan.target = target
            if homes.isolated(site):
                if target.runtime == Runtime.PHP:
                    plan.pool_add = site.system_user
                elif site.runtime == Runtime.PHP:
                    plan.pool_remove = True
            plan.note = f"vhost rendered for {site.runtime} -> {target.runtime}" + (
                f" ({target.upstream})" if target.upstream else ""
            )
        elif job.type == JobType.SITE_HSTS:
            if site is None:
                raise JobFailed("The site no longer exists.")
            plan.domain = site.domain
            plan.content = nginx.render_site(_with_new_settings(job, site))
            plan.note = "vhost rendered: HSTS " + ("on" if job.payload.get("enabled") else "off")
        elif job.type == JobType.SITE_ALIASES:
            if site is None:
                raise JobFailed("The site no longer exists.")
            plan.domain = site.domain
            target = _with_new_settings(job, site)
            plan.content = nginx.render_site(target)
            names = nginx.site_names(target)
            plan.note = f"vhost rendered: names {', '.join(names)}; {target.redirect_mode}"
        elif job.type in SUSPENSION:
            if site is None:
                raise JobFailed("The site no longer exists.")
            plan.domain = site.domain
            plan.content = nginx.render_site(_with_new_settings(job, site))
            state = "suspended (503)" if SUSPENSION[job.type] else "served again"
            plan.note = f"vhost rendered: {state}"
        else:
            plan.domain = site.domain if site else plan.domain
            if not plan.domain:
                raise JobFailed("The job does not say which domain to delete.")
            plan.pool_remove = bool(site and site.runtime == Runtime.PHP and homes.isolated(site))
            if site is not None:
                # Databases first (panel.databases): if MariaDB cannot drop them, nothing else
                # is touched yet.
                notes = [step(site) for step in extensions.before_site_delete]
                plan.note = "; ".join(note for note in notes if note)
    except (JobFailed, nginx.NginxError, HelperError, OSError) as exc:
        plan.error = str(exc)
    except ValidationError as exc:  # a stored upstream that no longer passes the rules
        plan.error = " ".join(exc.messages)
    return plan


def _finish(plan: _Plan) -> None:
    """The database side of a job whose nginx change went through."""
    job = plan.job
    if job.type == JobType.SITE_PROVISION:
        with transaction.atomic():
            Site.objects.of_job(job).update(status=SiteStatus.ACTIVE)
            _audit(job, AuditAction.SITE_PROVISIONED, plan.domain)
        return
    if job.type == JobType.SITE_UPDATE:
        runtime, upstream = job.payload.get("runtime"), job.payload.get("upstream")
        with transaction.atomic():
            Site.objects.of_job(job).update(
                runtime=runtime, upstream=upstream, status=SiteStatus.ACTIVE
            )
            _audit(job, AuditAction.SITE_UPDATED, plan.domain, runtime=runtime, upstream=upstream)
        return
    if job.type == JobType.SITE_HSTS:
        enabled = bool(job.payload.get("enabled"))
        with transaction.atomic():
            Site.objects.of_job(job).update(hsts=enabled)
            _audit(job, AuditAction.SITE_HSTS_CHANGED, plan.domain, enabled=enabled)
        return
    if job.type == JobType.SITE_ALIASES:
        _finish_aliases(plan)
        return
    if job.type in SUSPENSION:
        suspended_at = job.created_at if SUSPENSION[job.type] else None
        with transaction.atomic():
            Site.objects.of_job(job).update(suspended_at=suspended_at)
            action = (
                AuditAction.SITE_SUSPENDED if SUSPENSION[job.type] else AuditAction.SITE_RESUMED
            )
            _audit(job, action, plan.domain, reason=job.payload.get("reason", ""))
        return
    site = plan.site
    if site is not None:
        homes.remove(site.domain, site.system_user)
    # An old-style site (files directly in <web root>/<domain>) is purged by its root_path.
    root_path = site.root_path if site and not homes.has_home_layout(site) else None
    nginx.purge_site_files(plan.domain, root_path)
    job_log(job, "home, logs, system user and certificate files removed")
    with transaction.atomic():
        # ssl_certificates rows go with it (ON DELETE CASCADE in the database).
        Site.objects.of_job(job).delete()
        _audit(job, AuditAction.SITE_DELETED, plan.domain)


def _finish_aliases(plan: _Plan) -> None:
    job = plan.job
    payload = job.payload
    site_id = job.site_id
    if site_id is None:
        raise JobFailed("The job does not say which site it is for.")
    with transaction.atomic():
        if added := payload.get("add"):
            _audit(job, AuditAction.SITE_ALIAS_ADDED, plan.domain, alias=added)
        if removed := payload.get("remove"):
            SiteDomain.objects.filter(site_id=site_id, domain=removed).delete()
            _audit(job, AuditAction.SITE_ALIAS_REMOVED, plan.domain, alias=removed)
        if mode := payload.get("redirect_mode"):
            target = payload.get("redirect_to")
            Site.objects.of_job(job).update(redirect_mode=mode, redirect_to=target)
            _audit(
                job,
                AuditAction.SITE_REDIRECT_CHANGED,
                plan.domain,
                redirect_mode=mode,
                redirect_to=target,
            )


def _aliases_failed(job: Job, message: str) -> None:
    """nginx kept the previous vhost: a name being added is given up (its row reserved it),
    a name being removed stays, the redirect mode stays. A job can also fail after nginx took
    the change (a lost worker, a database error): then the vhost answers for the added name,
    and its row stays, or another customer could add the name while this vhost still serves
    it (nginx only warns about a conflicting server name; the first vhost loaded wins)."""
    if (added := job.payload.get("add")) and job.site_id is not None:
        domain = Site.objects.filter(pk=job.site_id).values_list("domain", flat=True).first()
        if domain and added in nginx.served_names(domain):
            job_log(job, f"{added} stays reserved: nginx already serves it for this site")
        else:
            SiteDomain.objects.filter(site_id=job.site_id, domain=added).delete()
    _audit(job, AuditAction.SITE_ALIASES_FAILED, job.payload.get("domain"), error=message)


def _aliases_retried(job: Job) -> None:
    """An admin's retry of a failed addition reserves the name again, if it is still free."""
    from .aliases import ensure_name_free

    added = job.payload.get("add")
    if not added or job.site_id is None:
        return
    owner = Site.objects.filter(pk=job.site_id).values_list("created_by_id", flat=True).first()
    try:
        with transaction.atomic():
            ensure_name_free(added, owner_id=owner)
            SiteDomain.objects.create(site_id=job.site_id, domain=added)
    except (ValidationError, IntegrityError):
        pass  # the job then fails saying the name was taken meanwhile


def _pools(plans: list[_Plan], changes: dict[str, str | None]) -> None:
    if not changes:
        return
    result = pools.apply(changes)
    for plan in plans:
        if plan.error is None and plan.domain in result["rejected"]:
            plan.error = f"php-fpm: {result['rejected'][plan.domain]}"
        elif plan.domain in changes and plan.error is None:
            plan.note += "; php-fpm pool " + ("written" if changes[plan.domain] else "removed")


PROBE_THREADS = 8


def _probe(plan: _Plan) -> tuple[str, Exception | None]:
    assert plan.target is not None
    try:
        return probe.prove(plan.target), None
    except (probe.ProbeFailed, HelperError, OSError) as exc:
        return "", exc


def _prove(plans: list[_Plan]) -> None:
    """The proof before `active` (panel.tenancy.probe), for the batch's sites side by side: each
    probe mostly waits for nginx and a new PHP process (a 500-site burst spent 4.5 s probing one
    after another). Threads only probe (no database, no nginx writer lock); a refused update
    then goes back to the previous vhost (and pool) here, so the site keeps serving as it did."""
    todo = [p for p in plans if p.error is None and p.target is not None]
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=min(PROBE_THREADS, len(todo))) as threads:
        outcomes = list(threads.map(_probe, todo))
    for plan, (note, exc) in zip(todo, outcomes, strict=True):
        if exc is None:
            plan.note += "; " + note
            continue
        plan.error = f"The site is not served as it should be: {exc}"
        if plan.job.type == JobType.SITE_UPDATE and plan.site is not None:
            _roll_back_update(plan)


def _roll_back_update(plan: _Plan) -> None:
    site, target = plan.site, plan.target
    assert site is not None and target is not None
    try:
        if site.runtime == Runtime.PHP and homes.isolated(site):
            pools.apply({site.domain: site.system_user})
        nginx.apply({site.domain: nginx.render_site(site)})
        if target.runtime == Runtime.PHP and site.runtime != Runtime.PHP and homes.isolated(site):
            pools.apply({site.domain: None})
        plan.error = f"{plan.error} The previous configuration is back in place."
    except Exception as exc:  # the job fails either way; say that the rollback did not work
        logger.exception("rolling back %s failed", plan.domain)
        plan.error = f"{plan.error} Going back to the previous configuration failed too: {exc}"


def _finish_in_batch(plan: _Plan, summary: str) -> None:
    """End one job of a batch (its own savepoint): success with its site change, or failure."""
    try:
        with transaction.atomic():
            job_log(plan.job, f"{plan.note}; {summary}" if plan.note else summary)
            if plan.error:
                fail_job(plan.job, plan.error)
                return
            _finish(plan)
            complete_job(plan.job)
            if plan.job.type == JobType.SITE_PROVISION:
                for step in extensions.after_site_provisioned:  # e.g. the certificate asked for
                    step(plan.job)
            if plan.job.type == JobType.SITE_ALIASES:
                for step in extensions.after_site_names_changed:  # e.g. a certificate for them
                    step(plan.job)
    except (HelperError, nginx.FilesNotRemoved) as exc:
        # The root helper refused or failed (e.g. removing a home), or files stayed on disk:
        # the job fails naming them, and the site row stays (a retry finishes the removal).
        fail_job(plan.job, str(exc)[:1000])
    except Exception as exc:  # one broken job must not strand the rest of the batch
        logger.exception("site job %s errored in a batch", plan.job.pk)
        fail_internal(plan.job, exc)


def _run_batch(jobs: list[Job]) -> None:
    """Prepare, apply with one nginx transaction, and end every job of the batch."""
    started = time.monotonic()
    sites = Site.objects.prefetch_related("aliases").in_bulk([j.site_id for j in jobs if j.site_id])
    plans = [_prepare(j, sites.get(j.site_id)) for j in jobs]
    prepared = time.monotonic()
    # New pools first, so that the socket exists when nginx starts passing PHP to it.
    _pools(plans, {p.domain: p.pool_add for p in plans if p.error is None and p.pool_add})
    changes = {p.domain: p.content for p in plans if p.error is None}
    result = nginx.apply(changes)
    summary = (
        f"nginx: {len(changes)} change(s) in this batch, {result.tests} test run(s), "
        f"{'reloaded' if result.reloaded else 'not reloaded'} "
        f"(prepared in {(prepared - started) * 1000:.0f} ms, "
        f"nginx {(time.monotonic() - prepared) * 1000:.0f} ms, by {jobs[0].worker})"
    )
    for plan in plans:
        if plan.error is None and plan.domain in result.rejected:
            # Already worded for a person (not installed, not running, refused at file:line...).
            plan.error = result.rejected[plan.domain]
    # Pools no longer used (PHP -> static, deleted sites) go once nginx stopped using them.
    _pools(plans, {p.domain: None for p in plans if p.error is None and p.pool_remove})
    _prove(plans)
    # One transaction for the whole batch (a savepoint per job): hundreds of jobs finish with one
    # commit, and one job's error still rolls back only that job's part.
    with transaction.atomic():
        for plan in plans:
            _finish_in_batch(plan, summary)


def _run_site_jobs(job: Job) -> None:
    """Handler of both site job types: run this job in a batch with every queued site job, then
    keep draining batches while more arrive (a burst keeps one worker busy, not all of them
    skipping each other's claimed tasks). The job is ended inside the batch; the runner's own
    success step then finds it already finished and does nothing."""
    # Stay well inside the task's timeout: django-q2 kills a worker that overruns it.
    deadline = time.monotonic() + min(DRAIN_SECONDS, settings.NUSANTARA_JOB_TIMEOUT / 3)
    first = True
    while True:
        with nginx.writer_lock():
            batch = claim_batch(
                types=SITE_JOB_TYPES, exclude=job.pk if first else None, limit=BATCH_LIMIT
            )
            if first:
                batch.insert(0, job)
            elif not batch:
                return
            _run_batch(batch)
        first = False
        if time.monotonic() > deadline:
            return


register(
    JobType.SITE_PROVISION, on_failure=_site_failed, on_retry=_back_to(SiteStatus.PROVISIONING)
)(_run_site_jobs)
register(JobType.SITE_UPDATE, on_failure=_update_failed, on_retry=_update_retried)(_run_site_jobs)
register(JobType.SITE_HSTS, on_failure=_suspension_failed)(_run_site_jobs)
register(JobType.SITE_SUSPEND, on_failure=_suspension_failed)(_run_site_jobs)
register(JobType.SITE_RESUME, on_failure=_suspension_failed)(_run_site_jobs)
register(JobType.SITE_ALIASES, on_failure=_aliases_failed, on_retry=_aliases_retried)(
    _run_site_jobs
)
register(JobType.SITE_DELETE, on_failure=_site_failed, on_retry=_back_to(SiteStatus.DELETING))(
    _run_site_jobs
)
