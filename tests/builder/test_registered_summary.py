"""``summary`` of a spec with plain Keras layers registered with Keras: what is known only at build, and after it."""

from __future__ import annotations

import json
import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netform as nf  # noqa: E402
from netform.cli._main import main  # noqa: E402


@keras.saving.register_keras_serializable(package="nftest_sum")
class Mix(keras.layers.Layer):
    """a + factor * b: no compute_output_shape of its own (Keras's traces call)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs[0] + self.factor * inputs[1]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="nftest_sum")
class Widen(keras.layers.Layer):
    """x @ w then dropout, declaring its output shape; its __init__ makes a Dropout (a name and a seed)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.drop = keras.layers.Dropout(0.5)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units))
        self.b = self.add_weight(shape=(self.units,), trainable=False)

    def call(self, x, training=None):
        return self.drop(x @ self.w + self.b, training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="nftest_sum")
class Broken(Widen):
    """Its compute_output_shape reads a weight, which exists only once the layer is built."""

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.w.shape[-1])


SPEC = """
netform: 1
name: regsum
kind: functional
inputs: {x: {shape: [6, 4]}}
nodes:
  a: {type: Dense, units: 3, in: x}
  b: {type: Dense, units: 3, in: x}
  mix: {type: "nftest_sum>Mix", factor: 0.5, in: [a, b]}
  wide: {type: "nftest_sum>Widen", units: 7, in: mix}
  out: {type: Dense, units: 2, in: wide}
outputs: [out]
"""


def _flat(text: str) -> str:
    """The text with each run of spaces and line breaks as one space (the table's column widths vary)."""
    return " ".join(text.split())


def _assert_like_keras(info: nf.Summary, model: keras.Model) -> None:
    for name in ("a", "b", "mix", "wide", "out"):
        layer, row = model.get_layer(name), info.row(name)
        assert row.output_shape == tuple(layer.output.shape), name
        assert row.params == layer.count_params(), name
    assert info.total_params == model.count_params()
    assert info.trainable_params == sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_summary_marks_the_layer_without_a_static_rule_and_says_how_to_get_its_numbers():
    info = nf.summary(nf.load_spec(SPEC))
    assert info.at_build == ("mix",)
    assert info.row("mix").output_shape is None and info.row("wide").output_shape is None
    assert info.total_params is None
    text = _flat(info.to_text())
    assert "mix (nftest_sum>Mix) * ? (at build) ? (at build) a, b" in text
    assert "wide (nftest_sum>Widen) ? (at build) ? mix" in text  # unknown because of mix, not marked itself
    assert ("Note: some shapes are inferred at build time: * marks mix (nftest_sum>Mix), a layer without a static "
            "rule (a custom layer, a Keras layer netform has no schema for, a quantized dtype): the '? (at build)' values, and the unknowns of the rows after, are known once "
            "the model is built; netform summary --build, or Summary.with_model(netform.build(spec)), shows them"
            ) in text
    assert info.to_dict()["at_build"] == ["mix"]


def test_with_model_reads_the_built_numbers_as_keras_has_them():
    spec = nf.load_spec(SPEC)
    model = nf.build(spec)
    info = nf.summary(spec).with_model(model)
    _assert_like_keras(info, model)
    rows = info.to_text().split("Total params")[0]
    assert info.at_build == () and "?" not in rows and " *" not in rows
    assert info.notes == ("the shapes and parameters of mix (marked * before the build) and the rows after them "
                          "are read from the built model",)


ADDED = SPEC.replace('{type: "nftest_sum>Mix", factor: 0.5, in: [a, b]}', "{type: Add, in: [a, b]}")


def _number(name: str) -> int:
    """The count Keras appended to an automatic layer name (``dropout_3`` → 3, ``dropout`` → 0)."""
    return int(name.rsplit("_", 1)[1]) if "_" in name else 0


def test_a_declared_compute_output_shape_gives_the_static_shape_and_leaves_no_trace():
    number = _number(keras.layers.Dropout(0.1).name)
    before = (random.getstate(), np.random.get_state()[1].tolist())
    spec = nf.load_spec(ADDED)  # its shapes are checked, so the probe runs here
    info = nf.summary(spec)
    # the probe's Dropout drew no seed from the global RNGs and took no automatic name
    assert (random.getstate(), np.random.get_state()[1].tolist()) == before
    assert _number(keras.layers.Dropout(0.1).name) == number + 1
    model = nf.build(spec)
    assert info.row("wide").output_shape == tuple(model.get_layer("wide").output.shape) == (None, 6, 7)
    assert info.row("wide").params is None and info.at_build == ("wide",)
    assert info.row("out").params == model.get_layer("out").count_params() == 7 * 2 + 2  # known from wide's shape
    assert "wide (nftest_sum>Widen) * (None, 6, 7) ? (at build) mix" in _flat(info.to_text())
    _assert_like_keras(info.with_model(model), model)


def test_a_failing_compute_output_shape_leaves_the_shape_to_the_build():
    spec = nf.load_spec(ADDED.replace("nftest_sum>Widen", "nftest_sum>Broken"))
    info = nf.summary(spec)
    assert info.row("wide").output_shape is None and info.at_build == ("wide",)
    model = nf.build(spec)
    _assert_like_keras(info.with_model(model), model)


def test_cli_summary_build_prints_the_built_numbers(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_sum_layers.py").write_text(
        "import keras\n\n"
        "@keras.saving.register_keras_serializable(package='plugsum')\n"
        "class Twice(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return keras.ops.concatenate([x, x], axis=-1)\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("netform: 1\nname: p\nkind: functional\ninputs: {x: {shape: [4]}}\n"
                    "nodes:\n  t: {type: 'plug" "sum>Twice', in: x}\n  d: {type: Dense, units: 2, in: t}\noutputs: [d]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["summary", str(spec), "--plugin", "my_sum_layers"]) == 0
    static = _flat(capsys.readouterr().out)
    assert "t (plugsum>Twice) * ? (at build) ? (at build) x" in static and "Total params: ? (" in static
    assert main(["summary", str(spec), "--plugin", "my_sum_layers", "--build"]) == 0
    built = _flat(capsys.readouterr().out)
    assert "t (plugsum>Twice) (None, 8) 0 x d (Dense) (None, 2) 18 t" in built
    assert "Total params: 18" in built
    assert main(["summary", str(spec), "--plugin", "my_sum_layers", "--build", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 18 and data["at_build"] == []
