"""The readers that describe a ``.keras`` file without Keras give ``load``'s answer on argument values too.

An edited ``config.json`` whose values only Keras judges (``units: "3"`` or ``3.0``, ``trainable: null``, an
initializer's ``seed: "x"``, a ``build_config`` shape of letters, an optimizer that does not exist, a learning
rate that is a string, ``weighted_metrics: 5``) was described by ``inspect``, ``summary`` and ``export-spec``
(exit 0) while ``load`` refused it: the static walk wrote such a layer in the generic form and did not look at
the compile config's arguments. Now a reader describes a config only where it can vouch that Keras builds it
as described; otherwise it loads the model with Keras and gives ``load``'s verdict. Files Keras writes (every
compile configuration below, a ``keras.applications`` model) are still described without Keras.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError
from netform.saving._config_walk import NeedsKeras, check_vouched
from netform.spec._layer_dict import layer_to_dict_from_config

from ._helpers import json_member, rezip

COMMANDS = ["inspect", "summary", "export-spec", "render"]

Edit = Callable[[dict[str, Any]], None]


def _dense(config: dict[str, Any]) -> dict[str, Any]:
    layer: dict[str, Any] = config["config"]["layers"][1]
    return layer


def _optimizer(config: dict[str, Any]) -> dict[str, Any]:
    optimizer: dict[str, Any] = config["compile_config"]["optimizer"]
    return optimizer


#: Edits ``load`` refuses, each of which a reader described before.
REFUSED: dict[str, Edit] = {
    "units a string": lambda c: _dense(c)["config"].__setitem__("units", "3"),
    "units a whole float": lambda c: _dense(c)["config"].__setitem__("units", 3.0),
    "trainable null": lambda c: _dense(c)["config"].__setitem__("trainable", None),
    "trainable a string": lambda c: _dense(c)["config"].__setitem__("trainable", "yes"),
    "initializer seed a string": lambda c: _dense(c)["config"]["kernel_initializer"]["config"].__setitem__("seed", "x"),
    "initializer argument unknown": lambda c: _dense(c)["config"]["kernel_initializer"]["config"].__setitem__(
        "bogus", 1
    ),
    "build_config shape a string": lambda c: _dense(c)["build_config"].__setitem__("input_shape", "abc"),
    "optimizer class unknown": lambda c: _optimizer(c).__setitem__("class_name", "Bogus"),
    "optimizer name a number": lambda c: _optimizer(c)["config"].__setitem__("name", 5),
    "learning rate a string": lambda c: _optimizer(c)["config"].__setitem__("learning_rate", "fast"),
    "weighted_metrics a number": lambda c: c["compile_config"].__setitem__("weighted_metrics", 5),
    "a registered name of another class": lambda c: _dense(c).update(module=None, registered_name="builtins>eval"),
    "a quantized dtype without its weights": lambda c: _dense(c)["config"].__setitem__(
        "dtype",
        {
            "module": "keras",
            "class_name": "QuantizedDTypePolicy",
            "config": {"name": "int8_from_float32", "source_name": "float32"},
            "registered_name": None,
        },
    ),
}

#: Edits ``load`` takes: the readers describe them too.
TAKEN: dict[str, Edit] = {
    "use_bias a string": lambda c: _dense(c)["config"].__setitem__("use_bias", "no"),
    "quantization_config a mapping": lambda c: _dense(c)["config"].__setitem__("quantization_config", {"a": 1}),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("vouch14")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="d1"), keras.layers.Dense(2, name="d2")],
        name="m",
    )
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    nf.save(model, d / "m.keras")
    return d / "m.keras"


def _verdicts(path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[int]]:
    try:
        nf.load(path)
        loaded = 0
    except FormatError:  # IncompatibleFileError and UnsafeFileError are FormatErrors
        loaded = 5
    codes = []
    for command in COMMANDS:
        args = [command, str(path)]
        if command in ("render", "export-spec"):
            args += ["-o", str(out / ("o.svg" if command == "render" else "o.yaml"))]
        codes.append(main(args))
        capsys.readouterr()
    return loaded, [min(code, 5) for code in codes]  # 5 and 6: refused, as load refuses


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_value_load_refuses_is_refused_by_every_reader(
    name: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(rezip(str(saved), str(tmp_path / "e.keras"), json_member("config.json", REFUSED[name])))
    loaded, codes = _verdicts(path, tmp_path, capsys)
    assert loaded == 5
    assert codes == [5, 5, 5, 5], name


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_a_value_load_takes_is_described_by_every_reader(
    name: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(rezip(str(saved), str(tmp_path / "e.keras"), json_member("config.json", TAKEN[name])))
    assert _verdicts(path, tmp_path, capsys) == (0, [0, 0, 0, 0])


def _compiled_config(**compile_args: Any) -> dict[str, Any]:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="m")
    model.compile(**compile_args)
    config: dict[str, Any] = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    return config


COMPILED: dict[str, dict[str, Any]] = {
    "adam, mse": {"optimizer": "adam", "loss": "mse", "metrics": ["mae"]},
    "sgd with momentum": {
        "optimizer": keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    },
    "adamw with a schedule": {
        "optimizer": keras.optimizers.AdamW(keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.9)),
        "loss": keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        "metrics": [keras.metrics.TopKCategoricalAccuracy(k=2)],
    },
    "rmsprop, weighted metrics": {
        "optimizer": keras.optimizers.RMSprop(clipnorm=1.0),
        "loss": "huber",
        "weighted_metrics": ["mse"],
        "loss_weights": [0.5],
    },
    "auc and precision by name": {"optimizer": "adam", "loss": "binary_crossentropy", "metrics": ["auc", "precision"]},
    "lion with ema": {"optimizer": keras.optimizers.Lion(use_ema=True), "loss": "mae", "steps_per_execution": 4},
}


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_what_keras_writes_is_vouched_for(name: str) -> None:
    check_vouched(_compiled_config(**COMPILED[name]))


def test_an_application_is_vouched_for() -> None:
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(96, 96, 3))
    check_vouched(json.loads(json.dumps(keras.saving.serialize_keras_object(model))))


def test_a_shape_of_letters_is_left_to_keras() -> None:
    config = _compiled_config(optimizer="adam", loss="mse")
    config["config"]["layers"][1]["build_config"] = {"input_shape": [None, "4"]}
    with pytest.raises(NeedsKeras):
        check_vouched(config)


def test_a_whole_float_for_a_count_keeps_the_layer_as_keras_has_it() -> None:
    """A spec may write ``units: 3.0``; a layer's config holding it is kept in the generic form (Keras's Dense
    refuses a float), where before it was written ``units: 3``."""
    assert layer_to_dict_from_config("Dense", {"units": 3})["type"] == "Dense"
    generic = layer_to_dict_from_config("Dense", {"units": 3.0})
    assert generic["type"] == "KerasLayer" and generic["config"]["units"] == 3.0
    assert layer_to_dict_from_config("Conv2D", {"filters": 4, "kernel_size": [3.0, 3.0]})["type"] == "KerasLayer"
    assert layer_to_dict_from_config("Dropout", {"rate": 1.0 / 2})["type"] == "Dropout"


@pytest.mark.parametrize("metric", ["auc", "precision", "recall", "f1_score", "r2_score", "true_positives"])
def test_a_metric_name_keras_reads_is_a_spec_metric(metric: str, tmp_path: Path) -> None:
    """``metrics: [auc]`` compiles in Keras (``keras.metrics.get`` reads a class's snake_case name); a spec
    refused it as an unknown metric."""
    spec = nf.load_spec(
        "netform: 1\nname: m\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n  y: {type: Dense, units: 1, activation: sigmoid, in: x}\n"
        f"outputs: [y]\ntraining: {{optimizer: adam, loss: binary_crossentropy, metrics: [{metric}]}}\n"
    )
    assert spec.training is not None
    model = nf.build(spec)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=list(spec.training.metrics))
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    y = (x[:, :1] > 0.5).astype("float32")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert len(logs) == 2 and all(np.isfinite(v) for v in logs.values())


def test_an_unknown_metric_name_is_still_refused() -> None:
    with pytest.raises(nf.SpecError, match="unknown metric 'aucc'"):
        nf.load_spec(
            "netform: 1\nname: m\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n  y: {type: Dense, units: 1, in: x}\n"
            "outputs: [y]\ntraining: {optimizer: adam, loss: mse, metrics: [aucc]}\n"
        )
