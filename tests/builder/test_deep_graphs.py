"""Deep graphs build without netform touching the recursion limit (process-wide state)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys
from typing import Any

import keras
import pytest

import netform as nf
from netform.errors import BuildError


def _chain(depth: int) -> Any:
    lines = ["netform: 1", "kind: sequential", "inputs: {x: {shape: [2]}}", "layers:"]
    return nf.load_spec("\n".join(lines + ["  - {type: Dense, units: 2}"] * depth) + "\n")


@pytest.mark.parametrize("api", ["functional", "sequential"])
def test_deep_chain_builds_without_changing_the_recursion_limit(api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = sys.getrecursionlimit()
    changes: list[int] = []
    seen: list[int] = []
    monkeypatch.setattr(sys, "setrecursionlimit", changes.append)
    original = keras.layers.Dense.build

    def build(self: Any, input_shape: Any) -> None:
        seen.append(sys.getrecursionlimit())  # the limit as the layers see it, during the build
        original(self, input_shape)

    monkeypatch.setattr(keras.layers.Dense, "build", build)
    model = nf.build(_chain(300), api=api)  # type: ignore[arg-type]
    assert model.count_params() == 300 * 6
    assert changes == [] and len(seen) == 300 and set(seen) == {limit}
    assert sys.getrecursionlimit() == limit


def test_a_graph_deeper_than_the_limit_allows_is_a_build_error_naming_the_fix() -> None:
    spec = _chain(200)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(150)  # the program's choice; too low for Keras's graph walk over 200 layers
    try:
        with pytest.raises(BuildError, match=r"the graph \(200 nodes\) is too deep for Keras to build under Python's "
                                             r"recursion limit \(150\).*sys\.setrecursionlimit\(1200\)"):
            nf.build(spec, api="functional")
        assert sys.getrecursionlimit() == 150
    finally:
        sys.setrecursionlimit(old)


def test_subclass_form_honours_training_and_steps_in_order() -> None:
    import numpy as np

    spec = nf.load_spec(
        "netform: 1\nkind: functional\ninputs: {x: {shape: [64]}}\n"
        "nodes:\n  drop: {type: Dropout, rate: 0.5, in: x}\n  out: {type: Dense, units: 2, in: drop}\noutputs: [out]\n"
    )
    model = nf.build(spec, api="subclass")
    assert type(model).__name__ == "SpecModel"
    assert [step[0] for step in model._steps] == ["drop", "out"]
    x = np.ones((4, 64), "float32")
    inference = np.asarray(model(x, training=False))
    np.testing.assert_allclose(inference, np.asarray(model(x, training=False)))
    assert not np.allclose(np.asarray(model(x, training=True)), inference), "Dropout must be active in training"
    assert model.get_config()["spec"] == spec.to_dict()
