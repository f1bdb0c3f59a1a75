"""manage.py export_json [PATH]: write the database in the V0 JSON store format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from panel.ops.v0_export import export_data, write_json


class Command(BaseCommand):
    help = (
        "Export users, sites, certificates, jobs and the audit log as one JSON file in the V0 "
        "format (file mode 0600: it contains password hashes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", nargs="?", help="output file (default: settings.NUSANTARA_DB_PATH)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"] or settings.NUSANTARA_DB_PATH)
        data = export_data()
        write_json(data, path)
        counts = ", ".join(f"{table} {len(rows)}" for table, rows in data.items())
        self.stdout.write(self.style.SUCCESS(f"Wrote {path}: {counts}."))
