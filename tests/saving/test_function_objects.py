"""A function Keras serialized as an object (``{"class_name": "function", "config": "relu"}``) reads as Keras
reads it; an object whose config is no mapping is a corrupt file, refused with netform's error."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError


def _with_activation(tmp_path: Path, name: str, activation: Any) -> Path:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu", name="d")])
    plain = tmp_path / "plain.keras"
    model.save(plain)
    with zipfile.ZipFile(plain) as z:
        items = {n: z.read(n) for n in z.namelist()}
    config = json.loads(items["config.json"])
    config["config"]["layers"][1]["config"]["activation"] = activation
    items["config.json"] = json.dumps(config).encode()
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for n, data in items.items():
            z.writestr(n, data)
    return path


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("module", "name"),
    [("builtins", "relu"), ("builtins", "tanh"), ("keras.activations", "sigmoid")],
)
def test_a_function_object_reads_as_keras_reads_it(
    tmp_path: Path, module: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: export-spec exit 70 (AttributeError: 'str' object has no attribute 'items'), nf.load a FormatError,
    for a file plain Keras loads."""
    activation = {"module": module, "class_name": "function", "config": name, "registered_name": "function"}
    path = _with_activation(tmp_path, "fn.keras", activation)
    x = np.linspace(-2, 2, 12, dtype="float32").reshape(4, 3)
    ours, theirs = nf.load(path), keras.saving.load_model(path)
    assert ours.layers[0].activation.__name__ == theirs.layers[0].activation.__name__ == name
    np.testing.assert_array_equal(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    code, out, err = _cli(["export-spec", str(path)], capsys)
    assert code == 0, err
    assert f"activation: {name}" in out


def test_a_function_object_naming_no_keras_function_is_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    activation = {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "function"}
    path = _with_activation(tmp_path, "eval.keras", activation)
    code, _, err = _cli(["export-spec", str(path)], capsys)
    assert code == 6 and "'eval' is neither a Keras built-in nor registered" in err


def test_an_object_whose_config_is_no_mapping_is_a_corrupt_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: export-spec exit 70 (AttributeError)."""
    path = _with_activation(tmp_path, "str.keras", {"module": "keras.layers", "class_name": "Dense", "config": "x"})
    code, _, err = _cli(["export-spec", str(path)], capsys)
    assert code == 5, err
    assert str(path) in err and "an object whose config is 'x', not a mapping" in err
    with pytest.raises(FormatError):
        nf.load(path)
