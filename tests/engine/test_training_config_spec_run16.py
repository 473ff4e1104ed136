"""fit_from_training_config takes a spec's training section as the spec holds it (``spec.training``).

It took only a mapping: a ``TrainingSpec`` was iterated as (key, value) pairs and gave a raw AttributeError.
"""

from __future__ import annotations

import numpy as np
import pytest

import netform as nf
from netform.engine import fit_from_training_config
from netform.errors import EngineError

pytestmark = pytest.mark.tf

SPEC = (
    "netform: 1\nname: m\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 2}\n"
    "training:\n  optimizer: {type: SGD, learning_rate: 0.5}\n  loss: mse\n  epochs: 3\n  batch_size: 4\n"
)
X = np.linspace(0, 1, 32, dtype="float32").reshape(8, 4)
Y = np.ones((8, 2), "float32")


def test_spec_training_is_taken_as_its_mapping() -> None:
    spec = nf.load_spec(SPEC)
    a = fit_from_training_config(nf.build(spec), spec.training, X, Y, verbose=0)
    b = fit_from_training_config(nf.build(spec), spec.training.to_dict(), X, Y, verbose=0)
    assert len(a.history["loss"]) == 3  # the section's epochs
    assert a.history["loss"][-1] < a.history["loss"][0]  # its optimizer trains
    assert len(b.history["loss"]) == 3


@pytest.mark.parametrize("training", [[("loss", "mse")], "loss: mse", 3])
def test_anything_else_is_an_engine_error(training: object) -> None:
    spec = nf.load_spec(SPEC)
    with pytest.raises(EngineError, match="training must be a mapping"):
        fit_from_training_config(nf.build(spec), training, X, Y, verbose=0)  # type: ignore[arg-type]
