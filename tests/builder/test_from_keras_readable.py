"""``from_keras`` and ``export-spec`` write what a person would write.

Layers keep their names (a shared layer's later calls are ``name_2``,
``name_3``, never ``name_call1``), nested models become blocks whose layers
carry their own names (not the ``block.`` prefix netform's builder gives
them), and a value equal to the layer's Keras default is left out. The
rebuilt model is still the original one (same predictions, same parameter
count), and the TensorFlow-free walk of a saved file writes the same YAML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
import netform.saving as nfs  # noqa: E402
from netform._compat._applications import application_layer_classes  # noqa: E402
from netform.builder._from_keras import layer_to_dict  # noqa: E402
from netform.builder._layers import to_keras_layer  # noqa: E402
from netform.saving._config_walk import spec_from_file  # noqa: E402
from netform.spec._layer_base import get_layer_spec, layer_specs  # noqa: E402
from netform.spec._layer_dict import _SNAKE, INITIALIZER_DEFAULTS  # noqa: E402

from ._roundtrip import round_trip  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

#: a value for each argument some layer requires
_REQUIRED = {
    "activation": "relu",
    "rate": 0.5,
    "pool_size": 2,
    "height": 4,
    "width": 4,
    "kernel_size": 3,
    "filters": 4,
    "scale": 0.5,
    "units": 3,
    "axes": 1,
    "equation": "ab,bc->ac",
    "input_dim": 10,
    "output_dim": 4,
    "stddev": 0.1,
    "init_values": 0.1,
    "projection_dim": 4,
    "num_heads": 2,
    "key_dim": 4,
    "dims": (2, 1),
    "n": 2,
    "target_shape": (4,),
    "drop_path_rate": 0.1,
}
#: the generic form, and layers whose Keras class has another name or holds adapted state
_NOT_DEFAULTS = {"KerasLayer", "GroupQueryAttention", "StringLookup"}


def _required_args(layer_type: str) -> dict[str, Any]:
    schema = get_layer_spec(layer_type)
    args: dict[str, Any] = {}
    for field, info in schema.model_fields.items():
        if field == "type" or not info.is_required():
            continue
        if field == "layer":
            args["layer"] = keras.layers.LSTM(3)
        elif field == "partial_output_shape":
            args["output_shape"] = 5
        else:
            args[field] = _REQUIRED[field]
    return args


def _without_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


# netform's own schemas: classes other test modules register at import come and go with their tests
_OWN_SCHEMAS = {name for name, schema in layer_specs().items() if schema.__module__.startswith("netform.spec.layers.")}


@pytest.mark.parametrize("layer_type", sorted(_OWN_SCHEMAS - _NOT_DEFAULTS))
def test_keras_defaults_are_left_out(layer_type: str) -> None:
    """A layer made with only its required arguments is written with only those; it rebuilds the same layer."""
    args = _required_args(layer_type)
    cls = getattr(keras.layers, layer_type, None) or application_layer_classes()[layer_type]
    layer = cls(**args)
    written = layer_to_dict(layer)
    assert written["type"] == layer_type
    extra = set(written) - {"type"} - set(args)
    assert not extra, f"{layer_type}: Keras defaults written: { {k: written[k] for k in extra} }"
    rebuilt = to_keras_layer(get_layer_spec(layer_type).model_validate(written))
    assert _without_names(rebuilt.get_config()) == _without_names(layer.get_config())


def test_initializer_defaults_are_keras_defaults() -> None:
    """The table of default arguments is Keras's (a spec writes an object's config without its None values)."""
    for name, args in INITIALIZER_DEFAULTS.items():
        config = getattr(keras.initializers, name)().get_config()
        assert {k: v for k, v in config.items() if v is not None} == args, name
    for name, snake in _SNAKE.items():  # the name a spec writes makes the same initializer
        assert keras.initializers.get(snake).get_config() == getattr(keras.initializers, name)().get_config()


def test_set_values_are_kept_and_widened_ones_are_written_once() -> None:
    """Only defaults go: a value the user chose stays, and a per-axis value equal on every axis is one number."""
    conv = keras.layers.Conv2D(8, (3, 3), strides=(2, 1), kernel_initializer=keras.initializers.Orthogonal(gain=2.0))
    assert layer_to_dict(conv) == {
        "type": "Conv2D",
        "kernel_size": 3,
        "strides": [2, 1],
        "filters": 8,
        "kernel_initializer": {"type": "Orthogonal", "gain": 2.0},
    }
    pool = keras.layers.MaxPooling2D(pool_size=3, strides=2)
    assert layer_to_dict(pool) == {"type": "MaxPooling2D", "pool_size": 3, "strides": 2}
    backward = keras.layers.Bidirectional(keras.layers.GRU(3), backward_layer=keras.layers.GRU(4, go_backwards=True))
    assert layer_to_dict(backward)["backward_layer"] == {"type": "GRU", "units": 4, "go_backwards": True}


def _shared_and_nested() -> keras.Model:
    """A shared layer called three times beside a layer named like its second call; a nested model called twice."""
    a, b, c = (keras.Input((6,), name=n) for n in ("a", "b", "c"))
    shared = keras.layers.Dense(4, name="shared")
    other = keras.layers.Dense(4, name="shared_2")  # takes the name a second call of `shared` would get
    tower = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, activation="relu", name="t_dense"),
            keras.layers.Dense(2, name="t_out"),
        ],
        name="tower",
    )
    left, right = tower(shared(a)), tower(other(shared(b)))
    merged = keras.layers.Concatenate(name="merged")([left, right, shared(c)])
    return keras.Model([a, b, c], keras.layers.Dense(1, name="head")(merged), name="shared_and_nested")


def test_nodes_are_named_after_their_layers(tmp_path: Path) -> None:
    model = _shared_and_nested()
    xs = [np.random.default_rng(i).normal(size=(2, 6)).astype("float32") for i in range(3)]
    spec, _ = round_trip(model, xs)
    data = spec.to_dict()
    assert list(data["nodes"]) == ["shared", "shared_2_1", "shared_2", "shared_3", "tower", "tower_2", "merged", "head"]
    assert data["nodes"]["shared_2_1"] == {"shares": "shared", "in": "b"}
    assert data["nodes"]["tower"] == {"block": "tower", "in": "shared"}
    assert data["nodes"]["tower_2"] == {"shares": "tower", "in": "shared_2"}
    assert data["blocks"] == {
        "tower": {
            "nested": True,
            "layers": [
                {"type": "Dense", "units": 5, "activation": "relu", "name": "t_dense"},
                {"type": "Dense", "units": 2, "name": "t_out"},
            ],
        }
    }
    path = tmp_path / "shared.keras"
    model.save(path)
    walked = spec_from_file(path)
    assert walked is not None and walked.to_yaml() == nf.from_keras(nfs.load(path, compile=False)).to_yaml()


@pytest.mark.parametrize("zoo", ["conv_autoencoder", "siamese"])
def test_blocks_of_a_netform_model_keep_their_layer_names(zoo: str) -> None:
    """The layers of a nested model netform built (``code.conv2d``) are ``conv2d`` in its block; rebuilt, the same."""

    def nested_names(m: keras.Model) -> list[list[str]]:
        return [[x.name for x in layer.layers] for layer in m.layers if isinstance(layer, keras.Model)]

    model = nf.build(str(ROOT / "models" / f"{zoo}.yaml"))
    spec = nf.from_keras(model)
    for block in spec.to_dict()["blocks"].values():
        assert all("." not in item["name"] and not item["name"].startswith(zoo) for item in block["layers"])
        assert not any(set(item) & {"trainable", "kernel_regularizer", "use_bias"} for item in block["layers"])
    again = nf.build(nf.load_spec(spec.to_yaml()))
    assert nested_names(again) == nested_names(model)
    assert again.count_params() == model.count_params()
    assert nf.from_keras(again).to_yaml() == spec.to_yaml()


_TWO_TOWERS = """\
netform: 1
name: two_towers
kind: functional
inputs: {a: {shape: [6]}, b: {shape: [6]}}
blocks:
  tower:
    nested: true
    layers:
      - {type: Dense, units: 5, activation: relu}
      - {type: Dense, units: 2}
nodes:
  left: {block: tower, in: a}
  right: {block: tower, in: b}
  merged: {type: Concatenate, in: [left, right]}
outputs: [merged]
"""


def test_nested_models_of_one_architecture_are_uses_of_one_block(tmp_path: Path) -> None:
    """Two nested models with the same layers (each with its own weights) are two uses of one block."""
    model = nf.build(_TWO_TOWERS)
    model.set_weights([np.random.default_rng(i).normal(size=w.shape) for i, w in enumerate(model.get_weights())])
    xs = [np.random.default_rng(i).normal(size=(2, 6)).astype("float32") for i in range(2)]
    spec, _ = round_trip(model, xs)  # the weights of each use land in that use
    data = spec.to_dict()
    assert list(data["blocks"]) == ["left"]
    assert data["blocks"]["left"]["layers"] == [
        {"type": "Dense", "units": 5, "activation": "relu", "name": "dense"},
        {"type": "Dense", "units": 2, "name": "dense_1"},
    ]
    assert data["nodes"]["left"] == {"block": "left", "in": "a"}
    assert data["nodes"]["right"] == {"block": "left", "in": "b"}
    path = tmp_path / "towers.keras"
    nfs.save(model, path)
    walked = spec_from_file(path)
    assert walked is not None and walked.to_yaml() == nf.from_keras(nfs.load(path, compile=False)).to_yaml()


@keras.saving.register_keras_serializable(package="nf_readable")
class _Shift(keras.layers.Layer):
    """A plain Keras layer registered with Keras: ``x * scale + shift``."""

    def __init__(self, scale: float = 1.0, shift: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale, self.shift = scale, shift

    def call(self, x: Any) -> Any:
        return x * self.scale + self.shift

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "shift": self.shift}


def test_registered_layers_in_a_block_leave_their_defaults_out() -> None:
    """A block's layers are written as the top level's are: a registered class's default arguments left out."""
    inner = keras.Sequential([keras.Input((4,)), _Shift(scale=3.0, name="shift"), keras.layers.Dense(2)], name="inner")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, inner(x), name="with_registered")
    spec, _ = round_trip(model, np.ones((2, 4), "float32"), static_params=False)
    first = spec.to_dict()["blocks"]["inner"]["layers"][0]
    assert first == {"type": "nf_readable>_Shift", "scale": 3.0, "name": "shift"}
