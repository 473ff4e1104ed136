"""Benchmark: diagrams of large specs (issue 6: a 1,000-node graph renders to SVG in under 5 s).

Prints a markdown table ``figure | netform | limit | ratio | goal``; ``--json PATH``
also writes the figures as JSON. Nothing here imports TensorFlow.

Usage::

    python bench/bench_render.py [--nodes 1000] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time  # noqa: E402

from netform.render import render, to_dot_source  # noqa: E402
from netform.spec import ModelSpec, load_spec  # noqa: E402

LIMIT_SVG_S = 5.0


def resnet_spec(n_nodes: int) -> ModelSpec:
    """A ResNet-like functional spec of about ``n_nodes`` layers: residual blocks as clusters."""
    per_block = 7
    repeat = max(1, (n_nodes - 4) // per_block)
    text = f"""
netform: 1
name: resnet_{n_nodes}
kind: functional
inputs:
  image: {{shape: [32, 32, 3]}}
blocks:
  res:
    params: {{filters: 16}}
    inputs: [x]
    nodes:
      c1: {{type: Conv2D, filters: $filters, kernel_size: 3, padding: same, in: x}}
      b1: {{type: BatchNormalization, in: c1}}
      r1: {{type: ReLU, in: b1}}
      c2: {{type: Conv2D, filters: $filters, kernel_size: 3, padding: same, in: r1}}
      b2: {{type: BatchNormalization, in: c2}}
      add: {{type: Add, in: [b2, x]}}
      out: {{type: ReLU, in: add}}
    outputs: [out]
nodes:
  stem: {{type: Conv2D, filters: 16, kernel_size: 3, padding: same, in: image}}
  body: {{block: res, repeat: {repeat}, in: stem}}
  pool: {{type: GlobalAveragePooling2D, in: body}}
  head: {{type: Dense, units: 10, activation: softmax, in: pool}}
outputs: [head]
"""
    return load_spec(text)


def chain_spec(n_nodes: int) -> ModelSpec:
    """A plain sequential spec of ``n_nodes`` Dense layers (no clusters)."""
    layers = "\n".join("  - {type: Dense, units: 8}" for _ in range(n_nodes))
    return load_spec(f"netform: 1\nname: chain_{n_nodes}\nkind: sequential\ninputs:\n  x: {{shape: [8]}}\n"
                     f"layers:\n{layers}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000, help="graph size (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure; the best is kept")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    resnet, chain = resnet_spec(args.nodes), chain_spec(args.nodes)
    n_res = len(resnet._cache["graph"].nodes) + 1
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        figures: list[tuple[str, Callable[[], object], float, str]] = [
            (f"resnet {n_res} nodes: spec → DOT text (s)", lambda: to_dot_source(resnet), LIMIT_SVG_S,
             "well under the SVG limit"),
            (f"resnet {n_res} nodes, clusters: spec → SVG (s)", lambda: render(resnet, out / "r.svg"), LIMIT_SVG_S,
             "< 5 s"),
            (f"resnet {n_res} nodes, collapsed: spec → SVG (s)",
             lambda: render(resnet, out / "rc.svg", expand_nested=False), LIMIT_SVG_S, "< 5 s"),
            (f"chain {args.nodes + 1} nodes: spec → SVG (s)", lambda: render(chain, out / "c.svg"), LIMIT_SVG_S,
             "< 5 s"),
            (f"resnet {n_res} nodes: spec → PNG (s)", lambda: render(resnet, out / "r.png"), LIMIT_SVG_S,
             "informative"),
        ]
        for name, fn, limit, goal in figures:
            seconds = best_time(fn, args.repeats)
            rows.append({"figure": name, "netform": round(seconds, 3), "limit": limit,
                         "ratio": round(seconds / limit, 3), "goal": goal})
    print("| figure | netform | limit | ratio | goal |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['netform']:.3f} | {r['limit']:.1f} | {r['ratio']:.3f} | {r['goal']} |")
    print(f"\nratio = netform / limit (lower is better; ≤ 1 meets the goal). 'tensorflow' imported: "
          f"{'tensorflow' in sys.modules}")
    if args.json:
        Path(args.json).write_text(json.dumps({"benchmark": "render", "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
