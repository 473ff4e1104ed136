"""A large diagram with many merges is drawn without edge labels, which dot lays out as nodes of their own.

A 122 KB spec of a 3,000-node residual ladder (Dense, then Add of it and the previous Add) stayed under the
layout limit but took dot 27 s of CPU and ran to the 60 s timeout: each of its 1,500 merges had its edges
labelled with shapes. Without the labels dot takes about 2.4 s; the shapes stay in the tooltips.
"""

from __future__ import annotations

import netform as nf
from netform.render import to_dot_source
from netform.render._dot import EDGE_LABEL_LIMIT


def _ladder(nodes: int) -> str:
    lines = [
        "netform: 1",
        "kind: functional",
        "inputs: {x: {shape: [4]}}",
        "nodes:",
        "  a0: {type: Dense, units: 4, in: x}",
    ]
    for i in range(1, nodes // 2):
        lines += [f"  d{i}: {{type: Dense, units: 4, in: a{i - 1}}}", f"  a{i}: {{type: Add, in: [d{i}, a{i - 1}]}}"]
    lines.append(f"outputs: [a{nodes // 2 - 1}]")
    return "\n".join(lines) + "\n"


def _labels(text: str) -> int:
    return sum(1 for line in text.splitlines() if "->" in line and "label=" in line)


def test_a_large_ladder_has_no_edge_labels() -> None:
    text = to_dot_source(nf.load_spec(_ladder(3_000)))
    assert _labels(text) == 0
    assert "(None, 4)" in text  # the shapes are still there, in the nodes' tooltips


def test_small_and_sparse_diagrams_keep_their_merge_labels() -> None:
    assert _labels(to_dot_source(nf.load_spec(_ladder(200)))) > 0  # not compact: every merge labelled
    lines = [
        "netform: 1",
        "kind: functional",
        "inputs: {x: {shape: [4]}}",
        "nodes:",
        "  n0: {type: Dense, units: 4, in: x}",
    ]
    for i in range(1, 400):
        if i % 40 == 0:  # ten merges in a 400-node chain
            lines.append(f"  n{i}: {{type: Add, in: [n{i - 1}, n{i - 2}]}}")
        else:
            lines.append(f"  n{i}: {{type: Dense, units: 4, in: n{i - 1}}}")
    lines.append("outputs: [n399]")
    labelled = _labels(to_dot_source(nf.load_spec("\n".join(lines) + "\n")))
    assert 0 < labelled <= EDGE_LABEL_LIMIT


def test_a_small_graph_with_many_merges_has_no_edge_labels() -> None:
    # 299 nodes, each an Add of the one before and one up to 70 back: 588 labelled edges took dot 18 s
    import random

    pick = random.Random(1)
    lines = [
        "netform: 1",
        "kind: functional",
        "inputs: {x: {shape: [4]}}",
        "nodes:",
        "  n0: {type: Dense, units: 4, in: x}",
    ]
    lines.append("  n1: {type: Dense, units: 4, in: n0}")
    for i in range(2, 299):
        lines.append(f"  n{i}: {{type: Add, in: [n{i - 1}, n{max(0, i - pick.randint(2, 70))}]}}")
    lines.append("outputs: [n298]")
    assert _labels(to_dot_source(nf.load_spec("\n".join(lines) + "\n"))) == 0
