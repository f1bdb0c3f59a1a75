"""manage.py backup PATH.tar.gz: archive what pg_dump does not cover (keys, certs, vhosts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from panel.ops.backup import components, create_backup


class Command(BaseCommand):
    help = (
        "Write a .tar.gz (mode 0600) of the ACME accounts, certificates, nginx vhosts and the "
        "embedded secret key; back up the database separately with pg_dump."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="archive to write, e.g. /var/backups/panel.tar.gz")
        parser.add_argument(
            "--include-web-root",
            action="store_true",
            help="Also archive every site's files under NUSANTARA_WEB_ROOT (can be large).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        report = create_backup(path, include_web_root=options["include_web_root"])
        for item in report.skipped:
            self.stderr.write(self.style.WARNING(f"skipped {item}"))
        present = [
            name
            for name, where in components(options["include_web_root"]).items()
            if where.exists()
        ]
        parts = ", ".join(present) or "nothing"
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {path} (mode 0600): {report.files} file(s) from {parts}.")
        )
