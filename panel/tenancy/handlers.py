"""`site.migrate_home`: give a site created before tenancy its system user and home.

Queued by `manage.py tenancy_migrate` (and `nginx_resync`) for each site without a system user.
The job creates the user, moves the files into public/ (three resumable renames: nothing lost if
interrupted, see helper.home_adopt), hands them to the user, stores root_path and system_user,
then re-renders the vhost (and the PHP pool) and proves the site is served.
"""

from __future__ import annotations

from django.db import transaction

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.models import Job
from panel.jobs.runner import JobFailed, job_log, register
from panel.jobs.types import JobType
from panel.sites import nginx
from panel.sites.models import Runtime, Site

from . import homes, pools, probe, rootcmd


def _migrate_home(job: Job) -> None:
    site = Site.objects.of_job(job).first()
    if site is None:
        raise JobFailed("The site no longer exists.")
    user = site.system_user or rootcmd.site_user_name(site.pk)
    target = Site.objects.get(pk=site.pk)
    target.system_user = user
    target.root_path = str(homes.public_path(site.domain))
    try:
        if rootcmd.isolation_enabled():
            job_log(job, rootcmd.run("user-create", user, site.domain))
            if not homes.has_home_layout(site):
                job_log(job, rootcmd.run("home-adopt", user, site.domain))
            job_log(job, rootcmd.run("home-setup", user, site.domain))
            job_log(job, rootcmd.run("fix-ownership", user, site.domain))
        else:
            _adopt_as_panel_user(site)
        if target.runtime == Runtime.PHP and homes.isolated(target):
            result = pools.apply({target.domain: user})
            if target.domain in result["rejected"]:
                raise JobFailed(f"php-fpm: {result['rejected'][target.domain]}")
        with transaction.atomic():
            Site.objects.filter(pk=site.pk).update(system_user=user, root_path=target.root_path)
            audit_record(
                actor=None,
                action=AuditAction.SITE_HOME_MIGRATED,
                target_type="site",
                target_id=site.pk,
                metadata={"domain": site.domain, "system_user": user, "job_id": str(job.pk)},
            )
        if site.status == "active":
            nginx.sync_site(target)
            job_log(job, "vhost re-rendered for the new home")
            job_log(job, probe.prove(target))
    except (rootcmd.HelperError, nginx.NginxError, probe.ProbeFailed, OSError) as exc:
        raise JobFailed(str(exc)) from exc


def _adopt_as_panel_user(site: Site) -> None:
    """Isolation off: the same move, done by the panel's own user."""
    import os

    home, public = homes.home_path(site.domain), homes.public_path(site.domain)
    if not homes.has_home_layout(site) and not (home / ".nusantara-home").exists():
        staging = home.with_name(f".np-adopt-{site.domain}")
        if home.exists() and not staging.exists():
            os.rename(home, staging)
        home.mkdir(exist_ok=True)
        (home / ".nusantara-home").write_text(f"{site.domain}\n")
        if staging.exists():
            os.rename(staging, public)
    homes.prepare(site)


register(JobType.SITE_MIGRATE_HOME)(_migrate_home)
