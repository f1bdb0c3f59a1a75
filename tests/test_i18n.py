"""Translations: complete catalogs, the language follows the browser and the switch."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from tests.conftest import require

BASE_DIR = Path(settings.BASE_DIR)
CATALOGS = {lang: BASE_DIR / "locale" / lang / "LC_MESSAGES" / "django.po" for lang in ("en", "id")}
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdif]|\{(\w*)\}")


def _entries(lang: str) -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(CATALOGS[lang])) if not e.obsolete]


def _translations(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


@pytest.mark.parametrize("lang", ["en", "id"])
def test_catalog_has_no_untranslated_or_fuzzy_entries(lang: str) -> None:
    entries = _entries(lang)
    assert len(entries) > 100
    untranslated = [e.msgid for e in entries if not all(_translations(e))]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert untranslated == [], f"untranslated in {lang}: {untranslated}"
    assert fuzzy == [], f"fuzzy in {lang}: {fuzzy}"


def test_indonesian_keeps_every_placeholder() -> None:
    wrong = []
    for entry in _entries("id"):
        wanted = set(PLACEHOLDER.findall(entry.msgid))
        for text in _translations(entry):
            if set(PLACEHOLDER.findall(text)) != wanted:
                wrong.append((entry.msgid, text))
    assert wrong == []


@pytest.mark.django_db
def test_pages_follow_the_browser_language(client: Client) -> None:
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="id-ID,id;q=0.9,en;q=0.5")
    html = page.content.decode()
    assert '<html lang="id">' in html
    assert "Masuk" in html and "Nama pengguna" in html and "Kata sandi" in html
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "Sign in" in page.content.decode()


@pytest.mark.django_db
def test_the_language_switch_wins_over_the_browser(owner_client: Client) -> None:
    response = owner_client.post("/i18n/setlang/", {"language": "id", "next": "/"})
    assert response.status_code == 302
    html = owner_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for label in ("Dasbor", "Situs", "Sertifikat", "Pekerjaan", "Keluar"):
        assert label in html
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Dashboard" in owner_client.get("/", HTTP_ACCEPT_LANGUAGE="id").content.decode()


@pytest.mark.django_db
def test_indonesian_messages_and_form_errors(admin_client: Client) -> None:
    admin_client.post("/i18n/setlang/", {"language": "id"})
    response = admin_client.post(
        "/users/new/", {"username": "", "role": "user", "password1": "a", "password2": "b"}
    )
    html = response.content.decode()
    assert "Pengguna baru" in html
    assert "Kedua kata sandi tidak sama." in html


def test_compile_translations_builds_every_catalog(tmp_path, settings) -> None:
    locale = tmp_path / "locale"
    for lang, po in CATALOGS.items():
        target = locale / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        shutil.copy(po, target / "django.po")
    settings.LOCALE_PATHS = [locale]
    call_command("compile_translations", stdout=StringIO())
    with (locale / "id/LC_MESSAGES/django.mo").open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)
    assert catalog.gettext("Sign in") == "Masuk"
    assert catalog.ngettext("%(n)d minute", "%(n)d minutes", 5) == "%(n)d menit"
    assert (locale / "en/LC_MESSAGES/django.mo").exists()


def _key(entry: polib.POEntry) -> tuple[str | None, str, str]:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural)


def test_catalogs_cover_every_string_in_the_source(tmp_path) -> None:
    """A string marked for translation but missing from a catalog would show in English to an
    Indonesian user: extract afresh with `makemessages` (GNU xgettext) from a copy of the
    sources and compare with the committed catalogs, both ways."""
    require(
        shutil.which("xgettext") is not None, "xgettext is not installed (apt-get install gettext)"
    )
    for name in ("manage.py", "nusantara", "panel", "templates", "locale"):
        src = BASE_DIR / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp_path / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--no-obsolete", "-l", "en", "-l", "id"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    for lang, committed in CATALOGS.items():
        fresh = polib.pofile(str(tmp_path / "locale" / lang / "LC_MESSAGES" / "django.po"))
        in_source = {_key(e) for e in fresh if not e.obsolete}
        in_catalog = {_key(e) for e in _entries(lang)}
        assert len(in_source) > 100
        assert sorted(in_source - in_catalog, key=str) == [], f"{lang}: run makemessages"
        assert sorted(in_catalog - in_source, key=str) == [], f"{lang}: stale entries"
