"""A library call leaves the process as it found it: GC, recursion limit, warning filters, global RNGs.

Checked after the calls and while they run (a thread polls the state while
eight others load, build, save and load models).
"""

from __future__ import annotations

import gc

import netform as nf
from netform.spec import graph_of

from .test_spec_scale import make_large_spec


def test_load_spec_leaves_the_garbage_collector_running() -> None:
    """Checking a large spec does not pause the collector: collections still happen during the call."""
    text = make_large_spec(lanes=10)  # about 1,000 nodes
    seen: list[bool] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(gc.isenabled())

    gc.callbacks.append(watch)
    try:
        spec = nf.load_spec(text)
    finally:
        gc.callbacks.remove(watch)
    assert len(graph_of(spec).nodes) > 1000
    assert seen and all(seen), "no automatic collection ran while the spec was checked"
