"""@netform.register_layer end to end: YAML, summary, three builds, config, schema, from_keras."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

import netform as nf  # noqa: E402
from netform.builder import copy_weights  # noqa: E402


class GatedScaleConfig(BaseModel):
    """Multiplies its input by a learned per-feature gate, times a fixed factor."""

    model_config = {"extra": "forbid", "frozen": True}

    factor: float = Field(2.0, description="Fixed multiplier.")
    learn_gate: bool = Field(True, description="Whether to learn a per-feature gate.")


@nf.register_layer(config=GatedScaleConfig)
class NfTestGatedScale(keras.layers.Layer):
    def __init__(self, config: GatedScaleConfig, **kwargs):
        super().__init__(**kwargs)
        self.netform_config = config

    def build(self, input_shape):
        if self.netform_config.learn_gate:
            self.gate = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="gate")

    def call(self, x):
        y = x * self.netform_config.factor
        return y * self.gate if self.netform_config.learn_gate else y


SPEC = """\
netform: 1
name: custom
kind: functional
inputs: {x: {shape: [6]}}
nodes:
  dense: {type: Dense, units: 4, in: x}
  scale: {type: NfTestGatedScale, factor: 3.0, in: dense}
  out:   {type: Dense, units: 2, in: scale}
outputs: [out]
"""


def _x():
    return np.random.default_rng(0).normal(size=(2, 6)).astype("float32")


def test_validates_and_rejects_bad_config():
    spec = nf.load_spec(SPEC)
    assert spec.nodes["scale"].layer.factor == 3.0
    with pytest.raises(nf.SpecError, match=r"factr"):
        nf.load_spec(SPEC.replace("factor: 3.0", "factr: 3.0"))


def test_summary_marks_it_inferred_at_build_time():
    s = nf.summary(nf.load_spec(SPEC))
    row = s.row("scale")
    assert row.type == "NfTestGatedScale"
    assert row.params is None
    assert s.total_params is None
    assert any("inferred at build time" in note for note in s.notes)
    assert "inferred at build time" in s.to_text()


def test_builds_in_functional_and_subclass_with_same_numbers():
    spec = nf.load_spec(SPEC)
    f = nf.build(spec, api="functional")
    s = nf.build(spec, api="subclass")
    layer = f.get_layer("scale")
    assert isinstance(layer, NfTestGatedScale)
    assert f.count_params() == s.count_params() == (6 * 4 + 4) + 4 + (4 * 2 + 2)
    copy_weights(f, s)
    np.testing.assert_allclose(np.asarray(s(_x(), training=False)), np.asarray(f(_x(), training=False)),
                               atol=1e-6, rtol=0)


def test_sequential_build():
    spec = nf.load_spec("""\
netform: 1
name: custom_seq
kind: sequential
inputs: {x: {shape: [3]}}
layers:
  - {type: NfTestGatedScale, factor: 0.5, learn_gate: false}
  - {type: Dense, units: 2}
""")
    m = nf.build(spec, api="sequential")
    x = np.ones((2, 3), "float32")
    w = m.layers[-1].get_weights()
    np.testing.assert_allclose(np.asarray(m(x)), 0.5 * x @ w[0] + w[1], atol=1e-6)


def test_get_config_from_config_round_trip():
    layer = NfTestGatedScale(GatedScaleConfig(factor=1.5, learn_gate=False), name="g")
    config = layer.get_config()
    assert config["factor"] == 1.5 and config["learn_gate"] is False and config["name"] == "g"
    json.dumps(config)
    again = NfTestGatedScale.from_config(config)
    assert again.netform_config == layer.netform_config
    assert again.get_config() == config


def test_functional_model_with_it_round_trips_through_keras_json():
    m = nf.build(nf.load_spec(SPEC), api="functional")
    m2 = keras.models.model_from_json(m.to_json())
    assert m2.get_layer("scale").netform_config.factor == 3.0
    assert m2.count_params() == m.count_params()


def test_json_schema_includes_the_type():
    text = json.dumps(nf.json_schema())
    assert "NfTestGatedScale" in text
    assert "Fixed multiplier." in text


def test_from_keras_exports_it():
    x = keras.Input((6,), name="x")
    h = NfTestGatedScale(GatedScaleConfig(factor=4.0), name="gs")(x)
    m = keras.Model(x, keras.layers.Dense(2, name="head")(h), name="with_custom")
    spec = nf.from_keras(m)
    text = spec.to_yaml()
    assert "type: NfTestGatedScale" in text and "factor: 4.0" in text
    m2 = nf.build(nf.load_spec(text))
    copy_weights(m, m2, name_map=spec._keras_names)
    np.testing.assert_allclose(np.asarray(m2(_x())), np.asarray(m(_x())), atol=1e-6, rtol=0)
