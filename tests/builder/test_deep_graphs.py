"""Deep graphs build: the recursion Keras needs is granted for the build only."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys

import pytest

import netform as nf
import netform.builder  # noqa: F401  (imported before the recursion limit is lowered)


@pytest.mark.parametrize("api", ["functional", "sequential"])
def test_deep_chain_builds_under_a_low_recursion_limit(api: str) -> None:
    lines = ["netform: 1", "kind: sequential", "inputs: {x: {shape: [2]}}", "layers:"]
    lines += ["  - {type: Dense, units: 2}"] * 300
    spec = nf.load_spec("\n".join(lines) + "\n")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(350)  # far less than Keras needs for 300 layers
    try:
        model = nf.build(spec, api=api)
        assert sys.getrecursionlimit() == 350
    finally:
        sys.setrecursionlimit(old)
    assert model.count_params() == 300 * 6


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
