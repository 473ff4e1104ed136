"""Run every benchmark under bench/ and write bench/RESULTS.md.

Each benchmark measures netform and its comparison (Keras, or the physical
limit) in the same run and writes its rows as JSON; this script collects them
into one table with the date and the machine.

    python bench/run_all.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        data = data.get("rows", [])
    return list(data)


def _cell(row: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if key in row and row[key] is not None:
            value = row[key]
            if isinstance(value, float) and key.endswith("_s"):
                return f"{value * 1000:.2f} ms" if value < 1 else f"{value:.2f} s"
            if isinstance(value, float):
                return f"{value:.4g}"
            return str(value)
    return "—"


def _goal(row: dict[str, Any]) -> str:
    goal = row.get("goal")
    if isinstance(goal, (int, float)) and not isinstance(goal, bool):
        return f"≤{goal}×"
    return _cell(row, "goal")


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to benchmarks that take it")
    parser.add_argument("--only", nargs="*", help="benchmark file stems to run (default: all)")
    args = parser.parse_args()
    benches = sorted(p for p in HERE.glob("bench_*.py") if not args.only or p.stem in args.only)
    sections = []
    failed = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    for bench in benches:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            cmd = [sys.executable, str(bench), "--json", str(out)]
            if args.quick and "--quick" in bench.read_text():
                cmd.append("--quick")
            print(f"== {bench.name}", flush=True)
            start = time.perf_counter()
            result = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True)
            print(result.stdout[-4000:])
            if result.returncode != 0 or not out.exists():
                failed.append(bench.name)
                print(result.stderr[-4000:], file=sys.stderr)
                continue
            sections.append((bench.stem, _rows(json.loads(out.read_text())), time.perf_counter() - start))
    lines = [
        "# Benchmark results",
        "",
        f"Measured {_dt.date.today().isoformat()} on {_machine()} by `make bench` (`python bench/run_all.py`).",
        "Every comparison figure was measured in the same run as the netform figure beside it.",
        "",
        "| benchmark | figure | netform | comparison | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    for stem, rows, _ in sections:
        for row in rows:
            lines.append(
                f"| {stem.removeprefix('bench_')} | {_cell(row, 'figure', 'name')} "
                f"| {_cell(row, 'netform', 'netform_s', 'netform_value')} "
                f"| {_cell(row, 'keras', 'keras_s', 'baseline', 'reference', 'limit', 'limit_s', 'keras_value')} "
                f"| {_cell(row, 'ratio')} | {_goal(row)} |"
            )
    if failed:
        lines += ["", f"Benchmarks that failed to run: {', '.join(failed)}."]
    lines += ["", "Units are those of the figure's name (seconds, ms, samples/s or MB)."]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
