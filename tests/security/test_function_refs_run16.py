"""A config may name functions of Keras's modelling modules only: not keras.datasets, keras.config, keras.utils.

Keras resolves ``{class_name: function, module: keras.X, config: name}`` as ``keras.X.name`` and its safe
mode refuses only a short list of non-modelling APIs: ``keras.datasets.mnist.load_data`` (which downloads
into ``~/.keras/datasets``), ``keras.config.set_epsilon`` (process-wide state) and others passed, in a spec's
KerasLayer config and in a model file, and ran when the model ran. Keras itself writes every function as
``{module: builtins, config: name}``. Bytecode and a lookup layer's vocabulary file are refused at any depth
of a spec's KerasLayer config too (IndexLookup by its private module, a FeatureSpace's preprocessors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import netform as nf
from netform.errors import SpecError, UnsafeFileError

from ._helpers import json_member, rezip

REFUSED = [
    ("keras.datasets.mnist", "load_data"),
    ("keras.datasets.imdb", "load_data"),
    ("keras.config", "set_epsilon"),
    ("keras.config", "set_floatx"),
    ("keras.utils", "set_random_seed"),
    ("keras.distribution", "set_distribution"),
    ("keras.utils", "plot_model"),
    ("keras", "version"),
]
ALLOWED = [("keras.activations", "relu"), ("keras.ops", "tanh"), ("keras.ops", "gelu")]
# keras.ops.nn.gelu is not one: Keras cannot resolve it ("not a KerasSaveable subclass"), and validate says so
# (tests/spec/test_keras_functions_run21.py)


def _spec(config: dict[str, Any], shape: list[int] | None = None) -> str:
    return yaml.safe_dump(
        {
            "netform": 1,
            "name": "t",
            "kind": "sequential",
            "inputs": {"x": {"shape": shape or [4]}},
            "layers": [{"type": "KerasLayer", **config}],
        }
    )


def _dense(module: str, name: str) -> dict[str, Any]:
    activation = {"class_name": "function", "module": module, "config": name}
    return {"class_name": "Dense", "config": {"units": 3, "activation": activation}}


@pytest.mark.parametrize("module,name", REFUSED)
def test_a_non_modelling_function_in_a_spec_is_refused(module: str, name: str) -> None:
    with pytest.raises(
        SpecError, match=rf"config\.activation: the function {module}\.{name}, which is not a modelling"
    ):
        nf.load_spec(_spec(_dense(module, name)))


@pytest.mark.parametrize("module,name", ALLOWED)
def test_a_modelling_function_in_a_spec_validates(module: str, name: str) -> None:
    nf.load_spec(_spec(_dense(module, name)))


def test_bytecode_at_any_depth_is_refused() -> None:
    layer = {"class_name": "Dense", "config": {"units": 2, "activation": {"class_name": "__lambda__", "config": {}}}}
    with pytest.raises(SpecError, match="Python bytecode"):
        nf.load_spec(_spec({"class_name": "TimeDistributed", "config": {"layer": layer}}, [3, 4]))


@pytest.mark.parametrize(
    "config",
    [
        {
            "class_name": "TimeDistributed",
            "config": {
                "layer": {
                    "class_name": "IndexLookup",
                    "module": "keras.src.layers.preprocessing.index_lookup",
                    "config": {"vocabulary": "/etc/passwd", "max_tokens": None, "num_oov_indices": 1},
                }
            },
        },
        {
            "class_name": "Pipeline",
            "config": {"layers": [{"class_name": "StringLookup", "config": {"vocabulary": "/etc/passwd"}}]},
        },
    ],
)
def test_a_vocabulary_file_at_any_depth_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match="vocabulary is the string '/etc/passwd', which Keras would open as a file"):
        nf.load_spec(_spec(config, [3, 4]))


@pytest.mark.tf
@pytest.mark.parametrize("module,name", [("keras.datasets.mnist", "load_data"), ("keras.config", "set_epsilon")])
def test_a_model_file_naming_one_is_refused(tmp_path: Path, module: str, name: str) -> None:
    model = nf.build(nf.load_spec(_spec({"class_name": "Dense", "config": {"units": 3}})))
    good = str(tmp_path / "m.keras")
    nf.save(model, good)

    def edit(config: dict[str, Any]) -> None:
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Dense":
                layer["config"]["activation"] = {"class_name": "function", "module": module, "config": name}

    bad = rezip(good, str(tmp_path / "bad.keras"), json_member("config.json", edit))
    for read in (nf.load, nf.inspect):
        with pytest.raises(UnsafeFileError, match=rf"{module}\.{name}.*not a modelling function"):
            read(bad)
