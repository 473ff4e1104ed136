"""`training.dtype_policy`: Keras's mixed precision for one spec's build and training, the global policy untouched."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform
from netform.cli import main
from netform.engine import fit_from_training_config
from tests._helpers import heads_data, heads_spec

HEADS = heads_spec("epochs: 1", "batch_size: 8")


def _fit(policy: str, tmp_path: Path) -> tuple[Any, Any]:
    (tmp_path / "s.yaml").write_text(HEADS + f"  dtype_policy: {policy}\n")
    spec = netform.load_spec(tmp_path / "s.yaml")
    built: list[Any] = []

    def make() -> Any:
        built.append(netform.build(spec))
        return built[-1]

    x, y = heads_data(32)
    history = fit_from_training_config(make, spec.training.to_dict(), x, y, verbose=0)
    return built[0], history


def _keras_optimizer(policy: str) -> Any:
    """What plain Keras compiles to under the same policy (set and put back here)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
        model.compile(optimizer="adam", loss="mse")
    finally:
        keras.config.set_dtype_policy(previous)
    return model.optimizer


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_layers_get_the_policy_outputs_stay_float32_and_the_global_policy_is_unchanged(
        policy: str, tmp_path: Path) -> None:
    before = keras.config.dtype_policy().name
    model, history = _fit(policy, tmp_path)
    assert keras.config.dtype_policy().name == before == "float32"
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers if layer.name != "x"}
    assert policies == {"h": policy, "cls": "float32", "reg": "float32"}
    assert model.get_layer("h").compute_dtype == policy.split("_")[1]
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    # Loss scaling exactly when Keras scales: its compile wraps the optimizer for mixed_float16 only.
    assert type(model.optimizer) is type(_keras_optimizer(policy))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    assert np.isfinite(history.history["loss"][-1])
    outputs = model.predict(heads_data(32)[0], verbose=0)
    assert [np.asarray(o).dtype for o in outputs] == [np.float32, np.float32]


def test_the_subclass_api_keeps_its_output_layer_float32_too() -> None:
    spec = netform.load_spec(textwrap.dedent("""\
        netform: 1
        name: seq
        kind: sequential
        inputs:
          x: {shape: [4]}
        layers:
          - {type: Dense, units: 8, activation: relu, name: h}
          - {type: Dense, units: 1, name: out}
        training: {loss: mse, dtype_policy: mixed_float16}
        """))
    built: list[Any] = []

    def make() -> Any:
        built.append(netform.build(spec, api="subclass"))
        return built[-1]

    x, y = heads_data(32)
    fit_from_training_config(make, spec.training.to_dict(), x, y["reg"], verbose=0)
    model = built[0]
    assert [layer.dtype_policy.name for layer in model.layers] == ["mixed_float16", "float32"]
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.predict(x, verbose=0).dtype == np.float32
    assert keras.config.dtype_policy().name == "float32"


def test_the_callers_own_global_policy_is_kept(tmp_path: Path) -> None:
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model, _ = _fit("float32", tmp_path)
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    finally:
        keras.config.set_dtype_policy("float32")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}


def test_a_built_model_with_a_dtype_policy_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(HEADS + "  dtype_policy: mixed_float16\n")
    spec = netform.load_spec(tmp_path / "s.yaml")
    with pytest.raises(netform.NetformError, match="dtype_policy applies while the model is built"):
        fit_from_training_config(netform.build(spec), spec.training.to_dict(), *heads_data(32), verbose=0)


def test_train_command_applies_the_policy_and_validate_refuses_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(HEADS)
    x, y = heads_data(32)
    np.savez(tmp_path / "d.npz", x=x, **y)
    assert main(["train", str(spec), "--data", str(tmp_path / "d.npz"), "--verbose", "0",
                 "training.dtype_policy=mixed_bfloat16", "-o", str(tmp_path / "m.keras")]) == 0
    assert keras.config.dtype_policy().name == "float32"
    saved = keras.saving.load_model(tmp_path / "m.keras")
    assert saved.get_layer("h").dtype_policy.name == "mixed_bfloat16"
    assert saved.get_layer("cls").dtype_policy.name == "float32"
    capsys.readouterr()
    spec.write_text(HEADS + "  dtype_policy: float64\n")
    assert main(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:15:3: training.dtype_policy: input should be 'float32', 'mixed_float16' or 'mixed_bfloat16'" \
        in err
