"""Compiled translation catalogs for the test session.

The .mo files are build output (not in git). bin/test and the image run
`manage.py compile_translations`; this session fixture does it too when a catalog is missing or
older than its .po, so a plain `pytest` after editing a translation tests the new text.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command


def stale_catalogs() -> list[Path]:
    stale = []
    for locale_dir in settings.LOCALE_PATHS:
        for po in Path(locale_dir).glob("*/LC_MESSAGES/*.po"):
            mo = po.with_suffix(".mo")
            if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
                stale.append(po)
    return stale


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    stale = stale_catalogs()
    if not stale:
        return
    call_command("compile_translations", stdout=StringIO(), verbosity=0)
    # Catalogs loaded before the build (e.g. at import) would hide the new translations.
    from django.utils.translation import trans_real

    trans_real._translations = {}
    trans_real._default = None
