"""A compiled model's training section: written by ``from_keras`` and by ``export-spec`` (without Keras) alike.

Both write the optimizer, loss(es) and metrics a model was compiled with as
``{type: Name, …}`` with only the arguments that differ from Keras's
defaults (a generated table), and the two give the same YAML.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import netform as nf
import netform.saving as nfs
from netform.saving._config_walk import spec_from_file
from netform.spec._training_export import short_float, training_section
from tests.conftest import ROOT

keras = pytest.importorskip("keras")


def _no_registered(kind: str, name: str) -> None:
    raise LookupError(name)


def test_keras_defaults_table_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_keras_defaults", ROOT / "scripts" / "gen_keras_defaults.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "netform" / "spec" / "_keras_defaults.py").read_text()
    assert current == module.render(), "run `python scripts/gen_keras_defaults.py` to regenerate the table"


@pytest.mark.parametrize(
    ("value", "written"),
    [(0.009999999776482582, 0.01), (0.0010000000474974513, 0.001), (0.9, 0.9), (1e-07, 1e-07),
     (0.99999999, 0.99999999),  # a float64 Keras kept as given: not rounded to float32's 1.0
     (3, 3), (True, True), (float("inf"), float("inf")), (1e300, 1e300), ("x", "x")],
)
def test_float32_values_are_written_short_and_others_as_they_are(value: object, written: object) -> None:
    assert short_float(value) == written
    assert type(short_float(value)) is type(written)


def _compiled(**compile_args: object) -> keras.Model:
    x = keras.Input((3,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, activation="sigmoid", name="d")(x), name="m")
    model.compile(**compile_args)
    return model


def test_only_arguments_that_differ_from_keras_defaults_are_written() -> None:
    model = _compiled(optimizer=keras.optimizers.Adam(0.01, beta_2=0.99), loss=keras.losses.Huber(),
                      metrics=["mae", keras.metrics.AUC(num_thresholds=50), keras.metrics.AUC(name="roc")])
    section = training_section(model.get_compile_config(), _no_registered)
    assert section == {
        "optimizer": {"type": "Adam", "learning_rate": 0.01, "beta_2": 0.99},
        "loss": {"type": "Huber"},
        "metrics": ["mae", {"type": "AUC", "num_thresholds": 50}, {"type": "AUC", "name": "roc"}],
    }


def test_a_registered_class_needs_its_defaults() -> None:
    config = {"optimizer": "adam", "loss": {"module": None, "class_name": "ScaledMSE",
                                            "config": {"name": "scaled_mse", "scale": 2.0},
                                            "registered_name": "demo>ScaledMSE"}}
    with pytest.raises(LookupError):
        training_section(config, _no_registered)
    section = training_section(config, lambda kind, name: {"name": "scaled_mse", "scale": 1.0})
    assert section == {"optimizer": "adam", "loss": {"type": "demo>ScaledMSE", "scale": 2.0}}


def test_from_keras_keeps_the_training_section_and_it_validates() -> None:
    model = _compiled(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="binary_crossentropy",
                      metrics=[keras.metrics.AUC(num_thresholds=50), "accuracy"])
    spec = nf.from_keras(model)
    training = spec.to_dict()["training"]
    assert training["optimizer"] == {"type": "SGD", "learning_rate": 0.05, "momentum": 0.9}
    assert training["loss"] == "binary_crossentropy"
    assert training["metrics"] == [{"type": "AUC", "num_thresholds": 50}, "accuracy"]
    optimizer = nf.load_spec(spec.to_yaml()).training.optimizer
    assert optimizer.type == "SGD" and optimizer.arguments == {"learning_rate": 0.05, "momentum": 0.9}


def test_a_loss_with_no_arguments_is_one_loss_not_one_per_output() -> None:
    spec = nf.from_keras(_compiled(optimizer="adam", loss=keras.losses.Huber()))
    assert spec.to_dict()["training"]["loss"] == {"type": "Huber"}
    assert nf.load_spec(spec.to_yaml()).training.loss.type == "Huber"


_NO_TF = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print("\\nMODULES " + json.dumps(loaded))
sys.exit(code)
"""


def _export_spec(path: Path) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", _NO_TF, "export-spec", str(path)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    text, _, modules = done.stdout.rpartition("\nMODULES ")
    return text, json.loads(modules)


@pytest.mark.parametrize("writer", ["keras", "netform.keras", "netform.h5"])
def test_export_spec_keeps_the_training_section_without_tensorflow(tmp_path: Path, writer: str) -> None:
    model = _compiled(optimizer=keras.optimizers.RMSprop(0.002), loss="binary_crossentropy",
                      metrics=[keras.metrics.AUC(num_thresholds=50)])
    if writer == "keras":
        path = tmp_path / "m.keras"
        model.save(path)
    else:
        path = tmp_path / f"m.{writer.split('.')[1]}"
        nfs.save(model, path)
    text, modules = _export_spec(path)
    assert modules == []
    assert text == nf.from_keras(nfs.load(path)).to_yaml()
    assert spec_from_file(path).to_dict()["training"] == {
        "optimizer": {"type": "RMSprop", "learning_rate": 0.002},
        "loss": "binary_crossentropy",
        "metrics": [{"type": "AUC", "num_thresholds": 50}],
    }
