"""manage.py import_v0 [PATH] [--dry-run]: bring the V0 JSON store into the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from panel.ops.v0_format import TABLES
from panel.ops.v0_import import import_data


class Command(BaseCommand):
    help = (
        "Validate every row of a V0 JSON store and import it in one transaction (all or nothing), "
        "keeping ids and timestamps. Rows already imported are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", nargs="?", help="V0 JSON file (default: settings.NUSANTARA_DB_PATH)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and run the import, then roll it back.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"] or settings.NUSANTARA_DB_PATH)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"{path}: not a JSON file ({exc})")
        result = import_data(data, dry_run=options["dry_run"])
        if not result.ok:
            by_table: dict[str, list[str]] = {}
            for problem in result.problems:
                by_table.setdefault(problem.table, []).append(str(problem))
            for table, lines in by_table.items():
                self.stderr.write(f"{table}: {len(lines)} problem(s)")
                for line in lines:
                    self.stderr.write(f"  {line}")
            raise CommandError(
                f"{len(result.problems)} problem(s) in {path}; nothing was imported."
            )
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        verb = "would import" if options["dry_run"] else "imported"
        for table in TABLES:
            self.stdout.write(
                f"{table}: {verb} {result.created.get(table, 0)}, "
                f"already present {result.skipped.get(table, 0)}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Dry run: nothing was written." if options["dry_run"] else "Import complete."
            )
        )
