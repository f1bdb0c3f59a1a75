"""Compile locale/*/LC_MESSAGES/*.po into .mo with polib: no GNU gettext needed on the machine.

Run by bin/run, bin/test, .ci/run and the Dockerfile; .mo files are build output, never committed.
"""

from __future__ import annotations

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile the translation catalogs (.po -> .mo)."

    def handle(self, *args: object, **options: object) -> None:
        count = 0
        for locale_dir in settings.LOCALE_PATHS:
            for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
                mo_path = po_path.with_suffix(".mo")
                if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                    continue
                polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
                count += 1
        self.stdout.write(f"compiled {count} catalog(s)")
