"""`netform validate` on a 200-node spec, as a whole process (goal: under 0.5 s).

The limit here is the Python interpreter itself: we also time `python -c pass`
and report netform's time over it.

    python bench/bench_validate.py [--json PATH] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_spec(n: int = 200) -> str:
    """A functional spec of ``n`` Dense/merge nodes with skip connections."""
    lines = ["netform: 1", "name: wide_graph", "kind: functional", "inputs:", "  x: {shape: [32]}", "nodes:"]
    prev = "x"
    for i in range(n):
        if i % 10 == 9:
            lines.append(f"  n{i}: {{type: Add, in: [{prev}, n{i - 5}]}}")
        else:
            lines.append(f"  n{i}: {{type: Dense, units: 32, activation: relu, in: {prev}}}")
        prev = f"n{i}"
    lines.append(f"outputs: [{prev}]")
    return "\n".join(lines) + "\n"


def _time(cmd: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the rows as JSON here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec200.yaml"
        path.write_text(make_spec(200))
        netform_s = _time([sys.executable, "-m", "netform.cli._main", "validate", str(path)], repeat)
        python_s = _time([sys.executable, "-c", "pass"], repeat)
    rows = [{"figure": "`netform validate` 200-node spec, whole process (s); comparison: bare `python -c pass`", "netform": round(netform_s, 3),
             "reference": round(python_s, 3), "reference_name": "python -c pass (start-up)", "ratio": round(netform_s / python_s, 2),
             "goal": "< 0.5 s", "met": netform_s < 0.5}]
    print("| figure | netform | python start-up | ratio | goal |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['netform']} | {r['reference']} | {r['ratio']}× | {r['goal']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
