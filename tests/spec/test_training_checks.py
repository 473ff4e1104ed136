"""The ``training:`` section against the graph: output names, silent-failure warnings, defaults."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from netform.errors import SpecError
from netform.spec import load_spec

TWO_HEADS = textwrap.dedent("""\
    netform: 1
    name: heads
    kind: functional
    inputs:
      x: {shape: [4]}
    nodes:
      h: {type: Dense, units: 8, activation: relu, in: x}
      cls: {type: Dense, units: 3, activation: softmax, in: h}
      reg: {type: Dense, units: 1, in: h}
    outputs: [cls, reg]
    training:
    """)


def test_a_spec_without_optimizer_trains_with_adam() -> None:
    import keras

    from netform.builder import build
    from netform.engine import fit_from_training_config

    spec = load_spec(textwrap.dedent("""\
        netform: 1
        kind: sequential
        inputs: {x: {shape: [3]}}
        layers: [{type: Dense, units: 1}]
        training: {loss: mse, epochs: 1}
        """))
    x, y = np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32")
    model = build(spec)
    fit_from_training_config(model, spec.training.to_dict(), x, y, verbose=0)
    assert type(model.optimizer) is keras.optimizers.Adam


def test_model_compile_keeps_the_keras_default_optimizer() -> None:
    import keras

    import netform as nf

    inp = keras.Input((3,))
    ours = nf.Model(inp, keras.layers.Dense(1)(inp))
    theirs = keras.Model(inp, keras.layers.Dense(1)(inp))
    ours.compile(loss="mse")
    theirs.compile(loss="mse")
    assert type(ours.optimizer) is type(theirs.optimizer) is keras.optimizers.RMSprop
