"""bench/pages.py rewrites only its own section of docs/benchmarks.md and flags slow pages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pages.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_pages", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_section_is_replaced_and_other_sections_kept(tmp_path):
    bench = _bench()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Certificates\n\nfast\n\n## Pages\n\nold\n\n## Jobs\n\nok\n")
    bench.write_section("## Pages\n\nnew\n", doc)
    text = doc.read_text()
    assert "old" not in text and "new" in text
    assert "## Certificates\n\nfast" in text and "## Jobs\n\nok" in text


def test_section_is_appended_to_a_new_file(tmp_path):
    bench = _bench()
    doc = tmp_path / "benchmarks.md"
    bench.write_section("## Pages\n\nnew\n", doc)
    assert doc.read_text().startswith("# Benchmarks\n\n## Pages")


def test_report_flags_slow_and_ratio():
    bench = _bench()
    text = bench.report(
        {"a": (10.0, 3), "b": (10.0, 3), "c": (None, 404)},
        {"a": (12.0, 3), "b": (20.0, 3), "c": (None, 404)},
        bench.LARGE,
        30.0,
        {"small": (1_000, 0.025, 0.9), "large": (1_000_000, 25.0, 3.6)},
    )
    assert "| a | 10.0 ms | 12.0 ms | 1.20x | 3 | ok |" in text
    assert "| b | 10.0 ms | 20.0 ms | 2.00x | 3 | SLOW |" in text
    assert "not measured" in text
    assert "| 1,000,000 | 25,000 ms | 40,000 | 3.6 MB |" in text
    assert "Time per row at full size is 1.00x that at 1,000 rows" in text


# Sentences that were once written into the report by hand, not measured by the run.
HARD_CODED = ("2-core", "PostgreSQL 15", "nginx 1.22", "load 5-8", "6-10", "2026-", "a few MB")


def test_report_states_debug_and_database_and_no_fixed_claims():
    bench = _bench()
    facts = bench.run_facts(debug=False, database="PostgreSQL 16.2 (np_bench)")
    text = bench.report(
        {"a": (10.0, 3)},
        {"a": (12.0, 3)},
        bench.LARGE,
        30.0,
        {"small": (1_000, 0.025, 0.9), "large": (1_000_000, 25.0, 3.6)},
        facts,
    )
    assert "DEBUG: False." in text and "Database: PostgreSQL 16.2 (np_bench)." in text
    assert not [claim for claim in HARD_CODED if claim in text]


def test_other_bench_sections_have_no_fixed_claims():
    root = BENCH.parent
    for name in ("provision.py", "load_runner.py", "certificates.py"):
        source = (root / name).read_text()
        assert "DEBUG: " in source and "Database: " in source or "run_facts(" in source, name
        assert not [claim for claim in HARD_CODED if claim in source], name
