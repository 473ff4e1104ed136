"""The README's benchmark table holds every row of bench/RESULTS.md, word for word."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| benchmark |")]


def test_readme_benchmark_table_lists_every_result() -> None:
    results = _rows((ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Benchmarks\n", 1)[1].split("\n## ", 1)[0]
    assert results, "bench/RESULTS.md has no rows"
    assert _rows(section) == results
