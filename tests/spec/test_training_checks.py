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


def _warnings(text: str) -> list[str]:
    from netform.spec._load import graph_of
    from netform.spec._training_checks import training_warnings

    spec = load_spec(text)
    return [str(d) for d in training_warnings(spec, graph_of(spec), spec._smap)]


@pytest.mark.parametrize(("training", "message"), [
    ("  loss: {classification: sparse_categorical_crossentropy, reg: mse}\n",
     "<string>:12:10: training.loss.classification: 'classification' is not an output of the model "
     "(Did you mean 'cls'?); the keys of `loss` are output names: cls, reg"),
    ("  loss: {cls: sparse_categorical_crossentropy, reg: mse}\n  loss_weights: {cls: 1.0, regg: 0.5}\n",
     "<string>:13:28: training.loss_weights.regg: 'regg' is not an output of the model (Did you mean 'reg'?)"),
    ("  loss: {cls: sparse_categorical_crossentropy, reg: mse}\n  loss_weights: {cls: 1.0}\n",
     "<string>:13:3: training.loss_weights: `loss_weights` has no entry for output 'reg'; give one per output"),
    ("  loss: {cls: sparse_categorical_crossentropy}\n",
     "<string>:12:3: training.loss: `loss` has no entry for output 'reg'; give one per output (cls, reg)"),
    ("  loss: mse\n  loss_weights: [1.0]\n",
     "<string>:13:3: training.loss_weights: 1 loss weight(s) for 2 output(s) (cls, reg)"),
    ("  loss: mse\n  metrics: {clss: [accuracy]}\n",
     "<string>:13:13: training.metrics.clss: 'clss' is not an output of the model (Did you mean 'cls'?)"),
    ("  loss: mse\n  weighted_metrics: {cls: [accuracy], out: [mae]}\n",
     "<string>:13:39: training.weighted_metrics.out: 'out' is not an output of the model (Did you mean 'reg'?)"),
])
def test_per_output_keys_must_name_outputs(training: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(TWO_HEADS + training)
    assert message in str(info.value)


def test_the_checked_output_names_are_the_ones_keras_uses() -> None:
    """A loss dict keyed by the names netform checks is what keras.Model.compile/fit accept."""
    from netform.builder import build

    spec = load_spec(TWO_HEADS + "  loss: {cls: sparse_categorical_crossentropy, reg: mse}\n"
                     "  loss_weights: {reg: 0.5, cls: 1.0}\n  metrics: {cls: [accuracy]}\n")
    model = build(spec)
    assert list(model.output_names) == ["cls", "reg"]
    model.compile("adam", loss=dict(spec.training.loss), loss_weights=dict(spec.training.loss_weights),
                  metrics={"cls": ["accuracy"]})
    x = np.zeros((4, 4), "float32")
    history = model.fit(x, [np.zeros(4, "int64"), np.zeros((4, 1), "float32")], verbose=0)
    assert {"cls_accuracy", "cls_loss", "reg_loss", "loss"} <= set(history.history)


def test_a_sequential_spec_takes_one_loss_as_keras_sequential_does() -> None:
    import keras

    text = ("netform: 1\nkind: sequential\ninputs: {x: {shape: [3]}}\n"
            "layers: [{type: Dense, units: 1, name: out}]\ntraining: {loss: {out: mse}, metrics: {outt: [mae]}}\n")
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert str(info.value).splitlines()[:2] == [
        "<string>:5:12: training.loss: a sequential model takes one loss, not one per output name; write the loss "
        "itself (e.g. `loss: mse`), or use kind: functional for several outputs",
        "<string>:5:40: training.metrics.outt: 'outt' is not an output of the model (Did you mean 'out'?); the "
        "keys of `metrics` are output names: out"]
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")])
    plain.compile("adam", loss={"out": "mse"})
    with pytest.raises(TypeError):  # what Keras does with the same loss
        plain.fit(np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"), verbose=0)


def test_softmax_output_with_from_logits_and_linear_output_with_crossentropy_warn() -> None:
    found = _warnings(TWO_HEADS + "  loss: {cls: {type: SparseCategoricalCrossentropy, from_logits: true}, "
                                  "reg: binary_crossentropy}\n")
    assert found == [
        "<string>:12:10: training.loss.cls: output 'cls' already applies softmax, and its loss "
        "SparseCategoricalCrossentropy has from_logits: true, so softmax is applied twice and training barely "
        "moves; remove the output's activation, or set from_logits: false",
        "<string>:12:73: training.loss.reg: output 'reg' is linear (no activation), but its loss "
        "binary_crossentropy reads probabilities (from_logits: false); write the loss as "
        "{type: BinaryCrossentropy, from_logits: true}, or give the output activation: softmax (or sigmoid)",
    ]
    assert _warnings(TWO_HEADS + "  loss: {cls: sparse_categorical_crossentropy, "
                                 "reg: {type: BinaryCrossentropy, from_logits: true}}\n") == []


def test_callback_warnings() -> None:
    found = _warnings(TWO_HEADS + "  loss: {cls: sparse_categorical_crossentropy, reg: mse}\n"
                                  "  metrics: {cls: [accuracy]}\n"
                                  "  callbacks:\n"
                                  "    - {type: EarlyStopping, patience: 3, restore_best_weights: true}\n"
                                  "    - {type: ReduceLROnPlateau, patience: 5, monitor: loss}\n"
                                  "    - {type: ModelCheckpoint, filepath: m.keras, save_best_only: true, "
                                  "monitor: cls_acc, mode: max}\n")
    assert [f.split(": ", 2)[1] for f in found] == [
        "training.callbacks[0]", "training.callbacks[0].restore_best_weights",
        "training.callbacks[2].monitor"]
    assert "EarlyStopping watches 'val_loss', but training holds out no validation data" in found[0]
    assert "(Did you mean 'cls_accuracy'?)" in found[2]
    assert "training logs: cls_accuracy, cls_loss, loss, reg_loss" in found[2]
    patience = _warnings(TWO_HEADS + "  loss: mse\n  validation_split: 0.2\n  callbacks:\n"
                                     "    - {type: EarlyStopping, patience: 5}\n"
                                     "    - {type: ReduceLROnPlateau, patience: 5}\n")
    assert len(patience) == 1 and "EarlyStopping's patience (5) is not longer than ReduceLROnPlateau's (5)" \
        in patience[0] and patience[0].startswith("<string>:15:29: training.callbacks[0].patience:")
    clean = _warnings(TWO_HEADS + "  loss: mse\n  metrics: [mae]\n  validation_split: 0.2\n  callbacks:\n"
                                  "    - {type: EarlyStopping, patience: 8, monitor: val_reg_mae, mode: min, "
                                  "restore_best_weights: true}\n"
                                  "    - {type: ReduceLROnPlateau, patience: 3}\n")
    assert clean == []
