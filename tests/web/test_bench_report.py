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
