"""Helpers for bench/bench_engine.py: timing, tables, peak memory in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``fn`` (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def best_times_interleaved(fns: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Best-of-``repeats`` wall time of each function, runs interleaved.

    Interleaving (a, b, a, b, ...) makes the comparison fair on a shared
    machine whose load changes during the benchmark.
    """
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows with figure/netform/baseline/ratio/goal keys as a markdown table."""
    lines = ["| figure | netform | keras-or-limit | ratio | goal |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['figure']} | {r['netform']} | {r['baseline']} | {r['ratio']:.2f}× | {r['goal']} |")
    return "\n".join(lines)


def run_json_subprocess(code: str, timeout: float = 600) -> dict[str, Any]:
    """Run Python ``code`` in a fresh interpreter; it must print one JSON line last."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                          timeout=timeout, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
