"""Plain Keras layer classes registered with Keras are spec types: ``{type: "package>Name", ...}``."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402

import netform as nf  # noqa: E402
from netform.cli._main import main  # noqa: E402

from ._roundtrip import round_trip  # noqa: E402


@keras.saving.register_keras_serializable(package="nftest")
class ScaledSum(keras.layers.Layer):
    """a + factor * b, on two inputs."""

    def __init__(self, factor, bias=0.0, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.bias = factor, bias

    def call(self, inputs):
        a, b = inputs
        return a + self.factor * b + self.bias

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "bias": self.bias}


@keras.saving.register_keras_serializable(package="nftest")
class Gain(keras.layers.Layer):
    """Multiplies by a learnt vector."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(self.units,), initializer="ones")

    def call(self, x):
        return x * self.gain

    def get_config(self):
        return {**super().get_config(), "units": self.units}


SPEC = """
netform: 1
name: registered
kind: functional
inputs: {x: {shape: [4]}}
nodes:
  a: {type: Dense, units: 3, in: x}
  b: {type: Dense, units: 3, in: x}
  mix: {type: "nftest>ScaledSum", factor: 0.5, in: [a, b]}
  gain: {type: "nftest>Gain", units: 3, in: mix}
outputs: [gain]
"""


def _x() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (2, 4)).astype("float32")


def test_spec_uses_registered_keras_classes_like_keras_does():
    model = nf.build(nf.load_spec(SPEC))
    assert type(model.get_layer("mix")) is ScaledSum and model.get_layer("mix").factor == 0.5
    assert type(model.get_layer("gain")) is Gain
    # the same graph in plain Keras, with the same weights, gives the same numbers
    x = keras.Input((4,))
    a, b = keras.layers.Dense(3, name="a"), keras.layers.Dense(3, name="b")
    reference = keras.Model(x, Gain(3, name="gain")(ScaledSum(0.5, name="mix")([a(x), b(x)])))
    for layer in reference.layers[1:]:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    np.testing.assert_allclose(np.asarray(model(_x())), np.asarray(reference(_x())), atol=1e-6)


def test_summary_says_the_counts_of_a_registered_class_come_at_build():
    text = nf.summary(nf.load_spec(SPEC)).to_text()
    assert "mix (nftest>ScaledSum)" in text and "? (at build)" in text
    assert "Total params: ? (layers without a static rule are counted at build time)" in text


def test_fields_are_checked_against_the_constructor():
    with pytest.raises(nf.SpecError, match=r"nodes\.mix.*factr"):
        nf.load_spec(SPEC.replace("factor: 0.5", "factr: 0.5"))
    with pytest.raises(nf.SpecError, match=r"nodes\.mix\.factor: missing required field 'factor'"):
        nf.load_spec(SPEC.replace("factor: 0.5, ", ""))


def test_an_unregistered_name_is_refused_and_nothing_is_imported():
    assert "antigravity" not in sys.modules
    with pytest.raises(nf.SpecError, match=r"unknown layer type 'antigravity>Fly': no Keras layer class is "
                                           r"registered under that name.*register_keras_serializable\(package="
                                           r"\"antigravity\"\).*never imports"):
        nf.load_spec(SPEC.replace("nftest>Gain", "antigravity>Fly"))
    assert "antigravity" not in sys.modules


def test_from_keras_writes_the_registered_name_and_round_trips():
    x = keras.Input((4,))
    a, b = keras.layers.Dense(3)(x), keras.layers.Dense(3)(x)
    model = keras.Model(x, Gain(3)(ScaledSum(2.0, bias=1.0)([a, b])))
    model.layers[-1].set_weights([np.array([1.0, 2.0, 3.0], "float32")])
    spec, rebuilt = round_trip(model, _x(), static_params=False)
    text = spec.to_yaml()
    assert "type: nftest>ScaledSum" in text and "factor: 2.0" in text and "bias: 1.0" in text


class _Unlisted(keras.layers.Layer):
    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "size": self.size, "computed": self.size * 2}


def test_from_keras_refuses_a_config_key_the_constructor_does_not_take():
    keras.saving.register_keras_serializable(package="nftest_bad")(_Unlisted)
    x = keras.Input((4,))
    model = keras.Model(x, _Unlisted(3, name="odd")(x))
    with pytest.raises(nf.BuildError, match=r"layer 'odd' \(nftest_bad>_Unlisted\): its get_config\(\) writes "
                                            r"'computed', which _Unlisted.__init__ does not take"):
        nf.from_keras(model)


def test_cli_loads_registered_classes_through_plugin(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_keras_layers.py").write_text(
        "import keras\n\n"
        "@keras.saving.register_keras_serializable(package='plug')\n"
        "class Twice(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return 2.0 * x\n")
    (tmp_path / "s.yaml").write_text(
        "netform: 1\nname: p\nkind: functional\ninputs: {x: {shape: [4]}}\n"
        "nodes:\n  t: {type: 'plug>Twice', in: x}\n  d: {type: Dense, units: 2, in: t}\noutputs: [d]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["validate", str(tmp_path / "s.yaml")]) != 0
    assert "no Keras layer class is registered" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "s.yaml"), "--plugin", "my_keras_layers"]) == 0


@keras.saving.register_keras_serializable(package="nftest")
class HalfL1(keras.regularizers.Regularizer):
    def __init__(self, rate=0.5):
        self.rate = rate

    def __call__(self, x):
        return self.rate * ops.sum(ops.abs(x))

    def get_config(self):
        return {"rate": self.rate}


@keras.saving.register_keras_serializable(package="nftest")
class Filled(keras.initializers.Initializer):
    def __init__(self, fill=0.25):
        self.fill = fill

    def __call__(self, shape, dtype=None):
        return ops.full(shape, self.fill, dtype=dtype)

    def get_config(self):
        return {"fill": self.fill}


@keras.saving.register_keras_serializable(package="nftest")
class Clip(keras.constraints.Constraint):
    def __init__(self, limit=1.0):
        self.limit = limit

    def __call__(self, w):
        return ops.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


def test_registered_regularizer_initializer_and_constraint_survive_the_round_trip():
    x = keras.Input((4,))
    dense = keras.layers.Dense(3, kernel_regularizer=HalfL1(0.1), kernel_initializer=Filled(0.5),
                               kernel_constraint=Clip(2.0), bias_initializer=keras.initializers.Constant(
                                   np.array([1.0, 2.0, 3.0])))
    model = keras.Model(x, dense(x))
    spec, rebuilt = round_trip(model, _x())
    text = spec.to_yaml()
    assert "kernel_regularizer: {type: nftest>HalfL1, rate: 0.1}" in text
    assert "KerasLayer" not in text
    layer = rebuilt.layers[-1]
    assert isinstance(layer.kernel_regularizer, HalfL1) and layer.kernel_regularizer.rate == 0.1
    assert isinstance(layer.kernel_constraint, Clip) and layer.kernel_constraint.limit == 2.0
    fresh = nf.build(spec).layers[-1]
    np.testing.assert_array_equal(np.asarray(fresh.kernel), np.full((4, 3), 0.5, "float32"))
    np.testing.assert_array_equal(np.asarray(fresh.bias), [1.0, 2.0, 3.0])
    # the regularization loss is the same as Keras's on the same weights
    rebuilt(_x())
    model(_x())
    np.testing.assert_allclose(float(sum(rebuilt.losses)), float(sum(model.losses)), rtol=1e-6)


def test_unregistered_or_misused_registered_objects_are_refused():
    spec = SPEC.replace("{type: Dense, units: 3, in: x}", "{type: Dense, units: 3, kernel_regularizer: REG, in: x}", 1)
    with pytest.raises(nf.SpecError, match=r"unknown regularizer 'nowhere>Reg': no Keras regularizer class is "
                                           r"registered under that name"):
        nf.load_spec(spec.replace("REG", '{type: "nowhere>Reg"}'))
    with pytest.raises(nf.SpecError, match=r"nftest>HalfL1 takes no argument 'rat' \(Did you mean 'rate'\?\)"):
        nf.load_spec(spec.replace("REG", '{type: "nftest>HalfL1", rat: 1.0}'))
    with pytest.raises(nf.SpecError, match=r"unknown regularizer 'nftest>Clip'"):  # a constraint, not a regularizer
        nf.load_spec(spec.replace("REG", '{type: "nftest>Clip"}'))
