"""Scale: a generated 5,002-node spec validates, summarises and builds in bounded time.

The graph has skip connections, merges and a block with `repeat`, so every
resolver path (block expansion, references into earlier scopes, topological
order) runs at size. Cheap layers (Dense(4), Add, ReLU, Concatenate) keep
the Keras build itself affordable.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any  # noqa: E402

import pytest  # noqa: E402

import netform  # noqa: E402
from netform.spec import graph_of  # noqa: E402
from tests._budget import assert_cpu_under

LANES = 50
SEGMENTS = 2  # per lane
REPEAT = 15  # the residual block has 3 nodes: 45 nodes a segment from the block, 5 more around it
NODES = LANES * SEGMENTS * (3 * REPEAT + 5) + 2  # and the merge of the lanes and the head
SPEC_BUDGET_S = 5.0
# CPU seconds: 16 s on a quiet machine, 32 s at a load average of 9 on 2 cores (where the wall clock took 230 s);
# the budget catches a quadratic build, not a slow or busy machine.
BUILD_BUDGET_S = 120.0


def make_large_spec(lanes: int = LANES, segments: int = SEGMENTS, repeat: int = REPEAT) -> str:
    """A functional spec of ``lanes * segments * (3 * repeat + 5) + 2`` nodes with skips and merges.

    The lanes run side by side from the input and are merged at the end: the
    graph is wide (about 100 layers deep) rather than 5,000 deep: Keras maps a
    functional graph recursively (``keras/src/ops/function.py``), and a chain
    of 1,000 layers already exceeds Python's recursion limit inside
    ``keras.Model`` (700 builds). The spec layer itself handles a 5,000-deep chain
    (``test_fuzz_regressions.test_long_chain_written_consumers_first``).
    """
    lines = [
        "netform: 1",
        "name: large_graph",
        "kind: functional",
        "inputs:",
        "  x: {shape: [4]}",
        "blocks:",
        "  res:",
        "    inputs: [x]",
        "    nodes:",
        "      d: {type: Dense, units: 4, in: x}",
        "      r: {type: ReLU, in: d}",
        "      add: {type: Add, in: [x, r]}",
        "    outputs: [add]",
        "nodes:",
    ]
    ends = []
    first_segment_out: list[str] = []
    for lane in range(lanes):
        prev = "x"
        for seg in range(segments):
            n = f"l{lane}_{seg}"
            # the skip reaches across lanes: the previous lane's first segment (or this segment's input)
            skip = first_segment_out[lane - 1] if seg == 1 and lane > 0 else prev
            lines += [
                f"  s{n}: {{block: res, repeat: {repeat}, in: {prev}}}",
                f"  d{n}: {{type: Dense, units: 4, in: s{n}}}",
                f"  a{n}: {{type: Add, in: [d{n}, {skip}]}}",
                f"  r{n}: {{type: ReLU, in: a{n}}}",
                f"  c{n}: {{type: Concatenate, in: [r{n}, s{n}]}}",
                f"  p{n}: {{type: Dense, units: 4, in: c{n}}}",
            ]
            if seg == 0:
                first_segment_out.append(f"p{n}")
            prev = f"p{n}"
        ends.append(prev)
    lines += [f"  merge: {{type: Add, in: [{', '.join(ends)}]}}", "  head: {type: Dense, units: 2, in: merge}",
              "outputs: [head]"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def large_spec() -> netform.ModelSpec:
    return netform.load_spec(make_large_spec())


def test_5000_node_spec_validates_and_summarises_in_time() -> None:
    text = make_large_spec()
    made: list[tuple[netform.ModelSpec, netform.Summary, str]] = []

    def load_and_summarise() -> None:
        spec = netform.load_spec(text)
        summary = netform.summary(spec)
        made.append((spec, summary, str(summary)))

    seconds = assert_cpu_under(load_and_summarise, SPEC_BUDGET_S, f"load_spec and summary of the {NODES}-node spec")
    print(f"\n{NODES}-node spec: load_spec and summary {seconds:.2f} s of CPU")
    spec, summary, table = made[-1]
    assert len(graph_of(spec).nodes) == NODES
    assert len(summary.rows) == NODES + 1  # and the input
    dense_4_to_4, dense_8_to_4, head = 4 * 4 + 4, 8 * 4 + 4, 4 * 2 + 2
    assert summary.trainable_params == LANES * SEGMENTS * ((REPEAT + 1) * dense_4_to_4 + dense_8_to_4) + head
    assert "large_graph" in table


def test_5000_node_spec_round_trips(large_spec: netform.ModelSpec) -> None:
    assert netform.load_spec(large_spec.to_yaml()) == large_spec


@pytest.mark.slow
@pytest.mark.tf
def test_5000_node_spec_builds(large_spec: netform.ModelSpec) -> None:
    import netform.builder  # noqa: F401 - TensorFlow's import is not part of the build time

    models: list[Any] = []
    # No untimed build first: importing TensorFlow (above) is what a first call adds, and a build takes 16 s.
    seconds = assert_cpu_under(lambda: models.append(netform.build(large_spec)), BUILD_BUDGET_S,
                               f"netform.build of the {NODES}-node spec", warm=False)
    print(f"\n{NODES}-node spec: netform.build {seconds:.1f} s of CPU")
    model = models[-1]
    keras_layers = [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]
    assert len(keras_layers) == NODES
    assert model.count_params() == netform.summary(large_spec).trainable_params
