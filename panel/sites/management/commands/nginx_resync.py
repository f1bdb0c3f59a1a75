"""Re-render every active site's vhost from the database and put right what differs on disk.

For after an upgrade (new template) or when someone edited nginx by hand. The correction is a job
(`nginx.resync`, audited) that the worker runs: one nginx transaction, one test, one reload, a
change nginx refuses reported and rolled back. `--dry-run` only reports, here, changing nothing;
`--now` runs the job in this process, for recovery when no worker runs (it needs the rights the
worker has over nginx).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from panel.jobs.models import JobStatus
from panel.jobs.runner import run_job
from panel.sites import resync


class Command(BaseCommand):
    help = (
        "Re-render and re-check every active site's nginx vhost; report differences and queue "
        "an nginx.resync job that fixes them (--now: run it here)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only report what differs; change nothing."
        )
        parser.add_argument(
            "--now",
            action="store_true",
            help="Run the job in this process instead of the worker (when no worker runs).",
        )

    def handle(self, *args: object, dry_run: bool = False, now: bool = False, **opts: object):
        if dry_run and now:
            raise CommandError("--dry-run and --now exclude each other")
        found = resync.plan()
        for line in found.lines:
            self.stdout.write(line)
        if dry_run:
            return
        job = resync.nginx_resync(user=None, deliver=not now)
        if not now:
            self.stdout.write(f"queued nginx.resync job {job.pk}; the worker applies it")
            return
        status = run_job(str(job.pk))
        job.refresh_from_db()
        for entry in job.log:
            if entry["msg"].startswith(("HOME", "REJECTED", "corrected")):
                self.stdout.write(entry["msg"])
        if status != JobStatus.SUCCESS:
            raise CommandError(job.error_message or "the resync failed; see the job's log")
