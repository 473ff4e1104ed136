"""The generic ``KerasLayer`` form leaves out what a default instance of the layer's class writes.

A Keras built-in layer netform has no schema for (RandomFlip, AutoContrast,
SpectralNormalization, RMSNormalization, an RNN of a GRUCell, …) is written
as ``{type: KerasLayer, class_name: …, config: …}``; its config keeps only the
values that differ from Keras's defaults (``trainable: true``, the ``floatx``
dtype, the ``image_data_format``, ``seed: null`` … are left out), also in the
serialized layers it holds (a wrapper's layer, an RNN's cell). The rebuilt
model is the same model, and the TensorFlow-free walk of a saved file
(``netform export-spec``) writes the same YAML.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
import netform.saving as nfs  # noqa: E402
from netform.builder._from_keras import layer_to_dict  # noqa: E402
from netform.builder._layers import to_keras_layer  # noqa: E402
from netform.spec import get_layer_spec  # noqa: E402
from netform.spec._layer_dict import layer_to_dict_from_config  # noqa: E402

from ._roundtrip import round_trip  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

#: keys every Keras layer writes, at their default values in the models below
_BASE_DEFAULTS = ("trainable", "dtype")


def _image_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.RandomFlip("horizontal", name="flip"),
            keras.layers.RandomRotation(0.1, fill_mode="nearest", name="rot"),
            keras.layers.AutoContrast(name="contrast"),
            keras.layers.Flatten(name="flat"),
            keras.layers.SpectralNormalization(keras.layers.Dense(4, name="inner_dense"), name="sn"),
            keras.layers.RMSNormalization(epsilon=1e-5, name="rms"),
        ],
        name="image",
    )


def _pooled_model() -> keras.Model:
    # no image preprocessing layer: Keras records their calls with `training`, which the file walk leaves to Keras
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.AdaptiveAveragePooling2D(2, name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.SpectralNormalization(keras.layers.Dense(4), power_iterations=2, name="sn"),
            keras.layers.RMSNormalization(name="rms"),
        ],
        name="pooled",
    )


def _sequence_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.Masking(name="mask"),
            keras.layers.RNN(keras.layers.GRUCell(4), return_sequences=True, name="rnn"),
            keras.layers.TimeDistributed(keras.layers.RMSNormalization(), name="td"),
            keras.layers.Bidirectional(keras.layers.RNN(keras.layers.SimpleRNNCell(3)), name="bi"),
        ],
        name="sequence",
    )


_MODELS = {
    "image": (_image_model, (2, 8, 8, 3)),
    "pooled": (_pooled_model, (2, 8, 8, 3)),
    "sequence": (_sequence_model, (2, 5, 3)),
}


def _generic_layers(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every generic layer of an exported spec, and every serialized Keras layer inside one, with its config."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(value, dict):
        if value.get("type") == "KerasLayer":
            found.append((value["class_name"], value.get("config", {})))
        elif value.get("module") == "keras.layers" and isinstance(value.get("config"), dict):
            found.append((value["class_name"], value["config"]))
        for item in value.values():
            found += _generic_layers(item)
    elif isinstance(value, list):
        for item in value:
            found += _generic_layers(item)
    return found


def _by_name(spec: dict[str, Any]) -> dict[str, Any]:
    """An exported spec's layers by name (a Sequential's list, or a functional model's nodes)."""
    if "layers" in spec:
        return {layer["name"]: layer for layer in spec["layers"]}
    return dict(spec["nodes"])


def test_generic_layers_are_written_without_keras_defaults() -> None:
    image = nf.from_keras(_image_model()).to_dict()
    nodes = _by_name(image)
    assert nodes["flip"]["config"] == {"mode": "horizontal"}
    assert nodes["rot"]["config"] == {"factor": [-0.1, 0.1], "fill_mode": "nearest"}
    assert "config" not in nodes["contrast"]  # every value a default one
    assert nodes["sn"]["config"]["layer"]["config"] == {"name": "inner_dense", "units": 4}
    assert nodes["rms"]["config"]["epsilon"] == 1e-5

    sequence = nf.from_keras(_sequence_model()).to_dict()
    nodes = _by_name(sequence)
    assert "config" not in nodes["mask"]
    assert nodes["rnn"]["config"]["return_sequences"] is True
    assert set(nodes["rnn"]["config"]["cell"]["config"]) == {"name", "units"}
    assert nodes["td"]["layer"]["type"] == "KerasLayer"  # a wrapper's generic layer: the same form
    assert "backward_layer" not in nodes["bi"]["config"]  # the one Keras makes from the layer by itself
    assert set(nodes["bi"]["config"]["layer"]["config"]) == {"name", "cell"}

    layers = _generic_layers(image) + _generic_layers(sequence)
    assert len(layers) >= 12
    for class_name, config in layers:
        written = [key for key in (*_BASE_DEFAULTS, "data_format", "seed") if key in config]
        assert not written, f"{class_name}: Keras defaults written: {written}"


def _plain(value: Any) -> Any:
    """A config as JSON holds it (tuples as lists), the names of the layers it holds aside."""
    def strip(item: Any, top: bool) -> Any:
        if isinstance(item, dict):
            return {k: strip(v, False) for k, v in item.items() if top or k != "name"}
        if isinstance(item, list):
            return [strip(v, False) for v in item]
        return item

    return strip(json.loads(json.dumps(value)), True)


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_generic_layers_rebuild_the_same_model(name: str) -> None:
    make, shape = _MODELS[name]
    model = make()
    xs = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
    _, rebuilt = round_trip(model, xs, static_params=False)  # same YAML read back, parameters and outputs
    for layer in model.layers:
        assert _plain(rebuilt.get_layer(layer.name).get_config()) == _plain(layer.get_config()), layer.name


def test_values_other_than_the_defaults_are_kept() -> None:
    layer = keras.layers.RandomFlip(
        "vertical", seed=3, data_format="channels_first", dtype="float16", trainable=False, name="flip"
    )
    written = layer_to_dict(layer)
    assert written == {
        "type": "KerasLayer",
        "class_name": "RandomFlip",
        "config": {
            "trainable": False,
            "dtype": written["config"]["dtype"],
            "data_format": "channels_first",
            "seed": 3,
            "mode": "vertical",
        },
    }
    rebuilt = to_keras_layer(get_layer_spec("KerasLayer").model_validate(written), name="flip")
    assert _plain(rebuilt.get_config()) == _plain(layer.get_config())


def test_the_settings_in_force_decide_dtype_and_data_format() -> None:
    """``dtype`` and ``data_format`` are left out where they are the ``floatx`` and ``image_data_format`` Keras
    fills in when they are not given, whatever the table was made under."""
    config = keras.layers.AutoContrast(name="c").get_config()
    assert not layer_to_dict_from_config("AutoContrast", config, defaults=("float32", "channels_last"))["config"]
    kept = layer_to_dict_from_config("AutoContrast", config, defaults=("float16", "channels_first"))["config"]
    assert set(kept) == {"dtype", "data_format"} and kept["data_format"] == "channels_last"
    half = {**config, "dtype": "float16", "data_format": "channels_first"}
    assert not layer_to_dict_from_config("AutoContrast", half, defaults=("float16", "channels_first"))["config"]


def test_a_value_of_another_type_is_not_the_default() -> None:
    """``fill_value: 0`` is not Keras's ``0.0``, ``trainable: 1`` not ``true``: kept as written."""
    config = {**keras.layers.RandomRotation(0.1).get_config(), "fill_value": 0, "trainable": 1}
    written = layer_to_dict_from_config("RandomRotation", config, defaults=("float32", "channels_last"))
    assert _plain(written["config"]) == {"trainable": 1, "factor": [-0.1, 0.1], "fill_value": 0}


_NO_TF = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print("\\nMODULES " + json.dumps(loaded))
sys.exit(code)
"""


@pytest.mark.parametrize("name", ["pooled", "sequence"])
def test_export_spec_without_tensorflow_writes_what_from_keras_writes(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.keras"
    nfs.save(_MODELS[name][0](), path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _NO_TF, "export-spec", str(path)], capture_output=True, text=True,
                          env=env, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    text, _, modules = done.stdout.rpartition("\nMODULES ")
    assert json.loads(modules) == []  # read from the file alone
    expected = nf.from_keras(nfs.load(path)).to_yaml()
    assert text == expected
    assert "KerasLayer" in text and "trainable" not in text
