"""Compile the panel's own catalogs (LOCALE_PATHS) into .mo files, in pure Python.

Unlike a bare `compilemessages`, it never walks .venv (whose packages ship their own .mo files)
and needs no GNU gettext on the host or in the image. Fuzzy entries are left out, as msgfmt does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def catalogs() -> list[Path]:
    return sorted(
        po for base in settings.LOCALE_PATHS for po in Path(base).glob("*/LC_MESSAGES/*.po")
    )


def compile_catalog(po_path: Path) -> Path:
    """Write <name>.mo next to <name>.po atomically (a running server may be reading it)."""
    mo_path = po_path.with_suffix(".mo")
    tmp = mo_path.with_suffix(".mo.tmp")
    polib.pofile(str(po_path)).save_as_mofile(str(tmp))
    tmp.replace(mo_path)
    return mo_path


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po into .mo files (no gettext needed)."

    def handle(self, *args: Any, **options: Any) -> None:
        found = catalogs()
        if not found:
            raise CommandError("No catalogs under LOCALE_PATHS.")
        for po in found:
            mo = compile_catalog(po)
            if options["verbosity"] >= 1:
                self.stdout.write(f"compiled {mo}")
