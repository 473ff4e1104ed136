"""A config naming a function Keras does not have is refused by every reader, as ``nf.load`` refuses it.

Keras reads ``{"module": "keras.activations", "class_name": "function", "config": NAME}`` as the object it
exports as ``keras.activations.NAME``, and fails the load on any other name. Before: ``nf.load`` refused the
file (an ``IncompatibleFileError`` from Keras's failure), while ``netform inspect``, ``summary``,
``export-spec`` and ``render`` described it and exited 0. Now the config check all of them run refuses it
first, with the same error and exit code. A function of the ``compile_config`` is refused where the load
compiles (``nf.load(path, compile=False)`` reads the model, as Keras does).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import IncompatibleFileError
from netform.saving import _config_bounds

MISSING = [
    {"module": "keras.activations", "class_name": "function", "config": "no_such_fn", "registered_name": "no_such_fn"},
    {"module": "keras.activations", "class_name": "function", "config": "no_such_fn", "registered_name": "function"},
    {"module": "keras.activations", "class_name": "function", "config": "no_such_fn"},
    {"module": "keras.no_such_module", "class_name": "function", "config": "relu", "registered_name": "relu"},
    # exported under a second name only: Keras resolves a function by its first (keras.activations.silu)
    {"module": "keras.activations", "class_name": "function", "config": "swish", "registered_name": "swish"},
]


def _edited(tmp_path: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu", name="d")])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    plain = tmp_path / "plain.keras"
    model.save(plain)
    with zipfile.ZipFile(plain) as z:
        items = {n: z.read(n) for n in z.namelist()}
    config = json.loads(items["config.json"])
    edit(config)
    items["config.json"] = json.dumps(config).encode()
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for n, data in items.items():
            z.writestr(n, data)
    return path


def _activation(activation: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["config"]["layers"][1]["config"]["activation"] = activation

    return edit


def _codes(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[int, str]]:
    runs = {
        "convert": ["convert", str(path), str(tmp_path / "out.h5")],  # loads the model
        "inspect": ["inspect", str(path)],
        "summary": ["summary", str(path)],
        "export-spec": ["export-spec", str(path)],
        "render": ["render", str(path), "-o", str(tmp_path / "out.dot")],
    }
    codes = {}
    for name, argv in runs.items():
        code = main(argv)
        codes[name] = (code, capsys.readouterr().err)
    return codes


@pytest.mark.parametrize("activation", MISSING, ids=[f"{a['module']}.{a['config']}" for a in MISSING])
def test_every_reader_refuses_a_function_keras_does_not_have_as_load_does(
    tmp_path: Path, activation: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edited(tmp_path, "fn.keras", _activation(activation))
    with pytest.raises(IncompatibleFileError, match=r"config\.layers\[1\]\.config\.activation"):
        nf.load(path)
    with pytest.raises(Exception):  # Keras's own error, whatever its class
        keras.saving.load_model(path)
    codes = _codes(path, tmp_path, capsys)
    for name, (code, err) in codes.items():
        assert code == 5, (name, code, err)
        assert f"names the function '{activation['module']}.{activation['config']}'" in err, (name, err)
    assert not (tmp_path / "out.h5").exists() and not (tmp_path / "out.dot").exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [("keras.activations", "relu"), ("keras.activations", "silu"), ("keras.ops", "relu")],
)
def test_a_function_keras_has_still_reads(
    tmp_path: Path, module: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    activation = {"module": module, "class_name": "function", "config": name, "registered_name": name}
    path = _edited(tmp_path, "ok.keras", _activation(activation))
    keras.saving.load_model(path)
    nf.load(path)
    codes = _codes(path, tmp_path, capsys)
    assert {name: code for name, (code, _) in codes.items()} == dict.fromkeys(codes, 0), codes


def test_a_compile_function_keras_does_not_have_is_refused_where_the_load_compiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["compile_config"]["loss"] = {
            "module": "keras.losses",
            "class_name": "function",
            "config": "no_such_loss",
            "registered_name": "no_such_loss",
        }

    path = _edited(tmp_path, "loss.keras", edit)
    with pytest.raises(IncompatibleFileError, match=r"compile_config\.loss.*'keras\.losses\.no_such_loss'"):
        nf.load(path)
    nf.load(path, compile=False)  # as Keras, which compiles only when asked
    keras.saving.load_model(path, compile=False)
    codes = _codes(path, tmp_path, capsys)
    for name, (code, err) in codes.items():
        assert code == 5 and "'keras.losses.no_such_loss'" in err, (name, code, err)


def test_the_table_is_the_installed_keras() -> None:
    """The names a reader accepts without Keras are those Keras resolves: its first export names, and the
    serializable classes its public modules hold."""
    import importlib
    import pkgutil
    import sys

    if keras.__version__ != _config_bounds._KERAS_PUBLIC_NAMES_VERSION:
        pytest.skip(f"the table lists Keras {_config_bounds._KERAS_PUBLIC_NAMES_VERSION}; {keras.__version__} is here")
    lib = sys.modules[keras.saving.deserialize_keras_object.__module__]  # Keras exports no name for these

    def public(module: str) -> bool:
        return not any(part.startswith("_") or part == "src" for part in module.split(".")[1:])

    expected: dict[str, set[str]] = {}
    for full in lib.api_export.REGISTERED_NAMES_TO_OBJS:
        module, name = full.rsplit(".", 1)
        if public(module) and not name.startswith("_"):
            expected.setdefault(module, set()).add(name)
    modules = {"keras"} | {i.name for i in pkgutil.walk_packages(keras.__path__, "keras.") if public(i.name)}
    for module in sorted(modules):
        for name, value in vars(importlib.import_module(module)).items():
            if not name.startswith("_") and isinstance(value, type) and issubclass(value, lib.KerasSaveable):
                expected.setdefault(module, set()).add(name)
    table = _config_bounds._keras_public_names()
    assert {m: set(n) for m, n in table.items()} == expected
