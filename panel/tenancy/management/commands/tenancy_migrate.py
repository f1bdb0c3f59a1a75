"""After upgrading to tenancy: give every existing site its own system user and home."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from panel.tenancy.migrate import pending_sites, queue_migrations


class Command(BaseCommand):
    help = "Queue a site.migrate_home job for every site without a system user or home yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only list the sites.")

    def handle(self, *args: object, dry_run: bool = False, **options: object) -> None:
        if dry_run:
            for site in pending_sites():
                self.stdout.write(f"PENDING  {site.domain} ({site.root_path})")
            return
        queued, busy = queue_migrations()
        for job in queued:
            self.stdout.write(f"QUEUED   {job.payload['domain']}: job {job.pk}")
        for domain in busy:
            self.stdout.write(f"BUSY     {domain}: another job runs; run this command again later")
        self.stdout.write(f"{len(queued)} site(s) queued for their own user and home")
