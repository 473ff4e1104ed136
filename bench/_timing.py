"""What the benchmarks share: timing loops (best or median, interleaved), tables, a run in a fresh interpreter."""

from __future__ import annotations

import json
import os
import statistics
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


def median_time(fn: Callable[[], Any], repeats: int, *, warm_up: bool = True) -> float:
    """The median of ``repeats`` runs of ``fn`` (seconds), after one untimed run unless ``warm_up`` is false."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_times_interleaved(fns: list[Callable[[], Any]], repeats: int,
                             before: Callable[[], Any] | None = None) -> list[float]:
    """Median time of each of ``fns``, run in turn ``repeats`` times; the order rotates every round
    (a, b / b, a / …), so load changes on a shared machine hit every side alike. ``before`` (untimed)
    runs before each timed call."""
    times: list[list[float]] = [[] for _ in fns]
    for i in range(repeats):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            if before is not None:
                before()
            t0 = time.perf_counter()
            fns[j]()
            times[j].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


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
