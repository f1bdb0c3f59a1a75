"""Each benchmark owns one "## <Title>" section of docs/benchmarks.md and rewrites only that."""

from __future__ import annotations

import os
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(text: str, path: Path | None = None) -> Path:
    """Replace the section whose heading is `text`'s first line (or append it); keep the rest."""
    path = path or DOCS
    heading = text.splitlines()[0].strip()
    path.parent.mkdir(exist_ok=True)
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = current.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        new = current.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        new = (
            "".join(lines[:start])
            + text
            + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
        )
    path.write_text(new.rstrip("\n") + "\n")
    return path


def run_facts(*, debug: bool, database: str) -> str:
    """The line every section carries: what this run measured on, read at run time."""
    load = os.getloadavg()[0]
    return (
        f"DEBUG: {debug}. Database: {database}. "
        f"Machine: {os.cpu_count()} CPUs, 1-minute load average {load:.1f} at the end of the run."
    )


def database_label() -> str:
    """Vendor and server version of Django's default connection (call after django.setup())."""
    from django.db import connection

    if connection.vendor == "postgresql":
        version = connection.pg_version
        return (
            f"PostgreSQL {version // 10000}.{version % 10000} ({connection.settings_dict['NAME']})"
        )
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"
