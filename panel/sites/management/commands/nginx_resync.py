"""Re-render every active site's vhost from the database and put right what differs on disk.

For after an upgrade (new template) or when someone edited nginx by hand. All corrections go in
as one nginx transaction: one test, one reload, a change nginx refuses is reported and rolled back.
"""

from __future__ import annotations

import difflib

from django.core.management.base import BaseCommand, CommandError, CommandParser

from panel.sites import nginx
from panel.sites.models import Site, SiteStatus


class Command(BaseCommand):
    help = "Re-render and re-check every active site's nginx vhost; report and fix differences."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only report what differs; change nothing."
        )

    def handle(self, *args: object, dry_run: bool = False, **options: object) -> None:
        changes: dict[str, str] = {}
        sites = Site.objects.filter(status=SiteStatus.ACTIVE).order_by("domain")
        known = set()
        for site in sites.iterator():
            known.add(site.domain)
            try:
                wanted = nginx.render_site(site)
            except Exception as exc:
                self.stdout.write(f"ERROR    {site.domain}: cannot render: {exc}")
                continue
            path = nginx.conf_path(site.domain)
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current == wanted:
                continue
            changes[site.domain] = wanted
            if current is None:
                self.stdout.write(f"MISSING  {site.domain}: {path} does not exist")
                continue
            self.stdout.write(f"DIFFERS  {site.domain}: {path}")
            diff = difflib.unified_diff(
                current.splitlines(), wanted.splitlines(), "on disk", "from the database", n=1
            )
            for line in list(diff)[2:40]:
                self.stdout.write(f"    {line}")
        conf_dir = nginx.conf_path("x").parent
        for path in sorted(conf_dir.glob("*.conf")) if conf_dir.exists() else []:
            if path.name[: -len(".conf")] not in known:
                self.stdout.write(f"UNKNOWN  {path}: no active site has this vhost (left alone)")
        self.stdout.write(f"{len(known)} active site(s), {len(changes)} vhost(s) to correct")
        if not dry_run:
            from panel.tenancy.migrate import queue_migrations

            queued, _busy = queue_migrations()
            for job in queued:
                self.stdout.write(f"HOME     {job.payload['domain']}: site.migrate_home {job.pk}")
        if dry_run or not changes:
            return
        result = nginx.apply(changes)
        for domain, message in sorted(result.rejected.items()):
            self.stdout.write(f"REJECTED {domain}: {message}")
        self.stdout.write(
            f"corrected {len(result.applied)}, rejected {len(result.rejected)}, "
            f"{result.tests} nginx test run(s), {'reloaded' if result.reloaded else 'no reload'}"
        )
        if result.rejected:
            raise CommandError("some vhosts could not be corrected; see above")
