"""Tables generated from Keras stay in sync with the installed Keras."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import warnings
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_keras_args", ROOT / "scripts" / "gen_keras_args.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keras_args_table_is_up_to_date() -> None:
    current = (ROOT / "netform" / "spec" / "_keras_args.py").read_text()
    assert current == _generator().render(), "run `python scripts/gen_keras_args.py` to regenerate the table"


def test_keras_layer_tables_are_up_to_date() -> None:
    current = (ROOT / "netform" / "spec" / "_keras_layer_args.py").read_text()
    assert current == _generator().render_layers(), "run `python scripts/gen_keras_args.py` to regenerate the tables"


def test_the_layer_table_lists_every_public_layer_and_the_base_layers_arguments() -> None:
    import keras

    from netform.spec._keras_layer_args import KERAS_LAYER_ARGS, KERAS_LAYER_CALLS

    public = {n for n in dir(keras.layers) if isinstance(getattr(keras.layers, n), type)
              and issubclass(getattr(keras.layers, n), keras.layers.Layer)}
    assert set(KERAS_LAYER_ARGS) == set(KERAS_LAYER_CALLS) == public
    assert {"name", "dtype", "trainable", "activity_regularizer", "autocast", "input_shape"} <= set(
        KERAS_LAYER_ARGS["Dense"]
    )
    assert {"units", "quantization_config", "lora_rank"} <= set(KERAS_LAYER_ARGS["Dense"])
    assert KERAS_LAYER_CALLS["Dense"] == 2  # call(inputs, training=None)
    assert "cell" in KERAS_LAYER_ARGS["RNN"] and "cells" in KERAS_LAYER_ARGS["StackedRNNCells"]


#: Arguments to make each layer class with (those without a default), where the class takes them.
_SAMPLES: dict[str, Any] = {
    "units": 2, "filters": 2, "kernel_size": 1, "rate": 0.5, "num_heads": 2, "key_dim": 2, "input_dim": 3,
    "output_dim": 2, "target_shape": (2,), "dims": (1,), "n": 2, "axes": 1, "height": 2, "width": 2, "scale": 1.0,
    "num_bins": 3, "stddev": 0.1, "size": 2, "equation": "ab,bc->ac", "output_shape": 2, "groups": 1,
    "num_query_heads": 2, "num_key_value_heads": 1, "head_dim": 2, "factor": 0.1, "max_tokens": None,
    "num_tokens": 3, "output_size": 2, "depth_multiplier": 1, "activation": "relu", "pool_size": 2,
    "height_factor": 0.1, "width_factor": 0.1, "shape": (3,), "max_number": 2,
}


def _make(cls: type) -> Any:
    import keras

    params = inspect.signature(cls.__init__).parameters
    required = [p for p, v in params.items() if p != "self" and v.default is v.empty
                and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
    special = {"layer": keras.layers.LSTM(2) if cls.__name__ == "Bidirectional" else keras.layers.Dense(2),
               "cell": keras.layers.LSTMCell(2), "cells": [keras.layers.LSTMCell(2)]}
    return cls(**{p: special[p] if p in special else _SAMPLES[p] for p in required})


def test_keras_builds_its_layers_from_the_arguments_the_table_lists() -> None:
    """Each layer Keras can make from sample arguments: its config's keys are in the table, and the config with one
    key more is refused by Keras exactly where the table does not take any key (``kwargs``)."""
    import keras

    from netform.spec._keras_layer_args import KERAS_LAYER_ARGS

    checked = []
    for name, takes in sorted(KERAS_LAYER_ARGS.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                layer = _make(getattr(keras.layers, name))
            except (KeyError, TypeError, ValueError, ImportError):
                continue  # needs an argument no sample gives (a file, a function, a module)
            config = keras.saving.serialize_keras_object(layer)
            if config.get("module") != "keras.layers":
                continue
            assert set(config["config"]) <= set(takes) or "kwargs" in takes, name
            keras.saving.deserialize_keras_object(copy.deepcopy(config))  # from_config may take keys out
            config["config"]["not_an_argument"] = 1
            if "kwargs" in takes:
                keras.saving.deserialize_keras_object(config)
            else:
                with pytest.raises((TypeError, ValueError), match="not_an_argument"):
                    keras.saving.deserialize_keras_object(config)
        checked.append(name)
    assert len(checked) >= 140, checked


def test_keras_layer_defaults_table_is_up_to_date() -> None:
    current = (ROOT / "netform" / "spec" / "_keras_layer_defaults.py").read_text()
    assert current == _generator().render_layer_defaults(), "run `python scripts/gen_keras_args.py` to regenerate it"


def test_the_defaults_table_leaves_out_what_other_arguments_decide() -> None:
    """A value Keras works out from other arguments or draws at random is no default; Keras makes each listed
    class's layer again from a config without the listed values."""
    import keras

    from netform.spec._keras_layer_defaults import KERAS_LAYER_DEFAULTS

    assert len(KERAS_LAYER_DEFAULTS) >= 140
    assert KERAS_LAYER_DEFAULTS["RandomFlip"]["mode"] == "horizontal_and_vertical"
    assert KERAS_LAYER_DEFAULTS["Dense"]["activation"] == "linear"
    assert "strides" not in KERAS_LAYER_DEFAULTS["MaxPooling2D"]  # the pool size's
    assert "value_dim" not in KERAS_LAYER_DEFAULTS["MultiHeadAttention"]  # the key_dim's
    assert "seed" not in KERAS_LAYER_DEFAULTS["RandomCrop"]  # drawn for each instance
    assert "backward_layer" not in KERAS_LAYER_DEFAULTS["Bidirectional"]
    assert "offset" not in KERAS_LAYER_DEFAULTS["Rescaling"]  # from_config reads it
    assert not any("name" in defaults or "units" in defaults for defaults in KERAS_LAYER_DEFAULTS.values())
    generator = _generator()
    for name, defaults in sorted(KERAS_LAYER_DEFAULTS.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            serialized = keras.saving.serialize_keras_object(generator.make_layer(getattr(keras.layers, name), 1))
            full = generator._saved_config(keras.saving.deserialize_keras_object(copy.deepcopy(serialized)))
            reduced = {k: v for k, v in serialized["config"].items() if k not in defaults}
            again = generator._saved_config(keras.saving.deserialize_keras_object({**serialized, "config": reduced}))
        assert {k: v for k, v in again.items() if k != "name"} == {k: v for k, v in full.items() if k != "name"}, name
