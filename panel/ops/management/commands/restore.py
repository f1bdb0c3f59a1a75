"""manage.py restore PATH.tar.gz: put back what `manage.py backup` archived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from panel.ops.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Restore ACME accounts, certificates, vhosts (and the web root if archived) from a "
        "`manage.py backup` archive, to the paths the current settings name. Existing files with "
        "the same names are replaced; others are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="archive written by `manage.py backup`")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = restore_backup(Path(options["path"]))
        except BackupError as exc:
            raise CommandError(str(exc))
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {report.files} file(s) into {', '.join(report.restored) or 'nothing'}. "
                "Next: `manage.py nginx_resync` (or `nginx -t` and a reload) so nginx serves them."
            )
        )
