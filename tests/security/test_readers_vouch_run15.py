"""The readers that describe a ``.keras`` file without Keras give ``load``'s verdict on argument values (2).

A value the vouching took without knowing that Keras takes it as described let ``inspect``, ``summary``,
``export-spec`` and ``render`` describe a file ``load`` refuses: an initializer's seed past int64, a ``Constant``
of ``"abc"``, an ``Orthogonal`` gain of ``"x"``, a ``VarianceScaling`` scale of -1 or mode ``"bogus"``, an
``int8`` layer dtype or a dtype policy with an extra key, a layer renamed to another's name, a ``build_config``
shape that is null, a bare number or nested, a loss's ``reduction`` Keras does not have, a schedule's
``decay_steps`` of ``"x"``, ``gradient_accumulation_steps: "2"``, ``steps_per_execution: "2"`` (some readers
refused, others described). A flag given as a number (``use_bias: 1``), which Keras reads by its truth, was
refused by every reader while ``load`` takes it. Now each value is checked against the kind and range Keras's
constructor reads; one outside them is loaded with Keras, as ``load`` loads it. ``steps_per_execution`` that
the model's ``compile`` refuses is refused by every reader and by ``load`` as a corrupt file naming the file
(``load`` raised an engine error without the file's name).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError

from ._helpers import json_member, rezip

COMMANDS = ["inspect", "summary", "export-spec", "render"]

Edit = Callable[[dict[str, Any]], None]


def _dense(config: dict[str, Any]) -> dict[str, Any]:
    layer: dict[str, Any] = config["config"]["layers"][1]
    return layer


def _set(key: str, value: Any) -> Edit:
    return lambda c: _dense(c)["config"].__setitem__(key, value)


def _init(class_name: str, config: dict[str, Any]) -> Edit:
    obj = {"module": "keras.initializers", "class_name": class_name, "config": config, "registered_name": None}
    return _set("kernel_initializer", obj)


def _optimizer(key: str, value: Any) -> Edit:
    return lambda c: c["compile_config"]["optimizer"]["config"].__setitem__(key, value)


def _build(shape: Any) -> Edit:
    return lambda c: _dense(c).__setitem__("build_config", {"input_shape": shape})


def _policy(config: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": config, "registered_name": None}


#: Edits ``load`` refuses, each of which some reader described before.
REFUSED: dict[str, Edit] = {
    "initializer seed past int64": _init("GlorotUniform", {"seed": 2**70}),
    "Constant value a string": _init("Constant", {"value": "abc"}),
    "Orthogonal gain a string": _init("Orthogonal", {"gain": "x", "seed": None}),
    "VarianceScaling scale negative": _init(
        "VarianceScaling", {"scale": -1.0, "mode": "fan_in", "distribution": "normal", "seed": None}
    ),
    "VarianceScaling mode unknown": _init(
        "VarianceScaling", {"scale": 1.0, "mode": "bogus", "distribution": "normal", "seed": None}
    ),
    "a layer named as the input": _set("name", "x"),
    "layer dtype int8": _set("dtype", "int8"),
    "dtype policy with an extra key": _set("dtype", _policy({"name": "float32", "x": 1})),
    "loss reduction unknown": lambda c: c["compile_config"].__setitem__(
        "loss",
        {
            "module": "keras.losses",
            "class_name": "MeanSquaredError",
            "config": {"name": "mse", "reduction": "bogus", "dtype": None},
            "registered_name": None,
        },
    ),
    "schedule decay_steps a string": _optimizer(
        "learning_rate",
        {
            "module": "keras.optimizers.schedules",
            "class_name": "ExponentialDecay",
            "config": {"initial_learning_rate": 0.1, "decay_steps": "x", "decay_rate": 0.9},
            "registered_name": None,
        },
    ),
    "gradient_accumulation_steps a string": _optimizer("gradient_accumulation_steps", "2"),
    "build_config input_shape null": _build(None),
    "build_config input_shape a number": _build(4),
    "build_config input_shape nested": _build([[None, 4]]),
    "steps_per_execution a string": lambda c: c["compile_config"].__setitem__("steps_per_execution", "2"),
    "steps_per_execution negative": lambda c: c["compile_config"].__setitem__("steps_per_execution", -1),
}

#: Edits ``load`` takes: the readers describe them too.
TAKEN: dict[str, Edit] = {
    "use_bias a number": _set("use_bias", 1),
    "a bfloat16 policy": _set("dtype", _policy({"name": "bfloat16"})),
    "a negative seed": _init("GlorotUniform", {"seed": -1}),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("vouch15")
    spec = nf.load_spec(
        "netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"
        "  - {type: Dense, units: 3, activation: relu}\n  - {type: Dense, units: 2}\n"
        "training:\n  optimizer: {type: Adam, learning_rate: 0.001}\n  loss: mse\n"
    )
    model = nf.build(spec)
    assert spec.training is not None
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="mse")
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
            args += ["-o", str(out / ("o.dot" if command == "render" else "o.yaml"))]
        codes.append(main(args))
        capsys.readouterr()
    return loaded, [min(code, 5) for code in codes]  # 5 and 6: refused, as load refuses


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_value_load_refuses_is_refused_by_every_reader(
    name: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(rezip(str(saved), str(tmp_path / "e.keras"), json_member("config.json", REFUSED[name])))
    assert _verdicts(path, tmp_path, capsys) == (5, [5, 5, 5, 5]), name


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_a_value_load_takes_is_described_by_every_reader(
    name: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(rezip(str(saved), str(tmp_path / "e.keras"), json_member("config.json", TAKEN[name])))
    assert _verdicts(path, tmp_path, capsys) == (0, [0, 0, 0, 0]), name


def test_steps_per_execution_load_refuses_names_the_file(saved: Path, tmp_path: Path) -> None:
    edit = REFUSED["steps_per_execution a string"]
    path = rezip(str(saved), str(tmp_path / "spe.keras"), json_member("config.json", edit))
    with pytest.raises(FormatError, match=r"spe\.keras.*steps_per_execution '2'"):
        nf.load(path)


def test_inspect_of_a_saved_model_does_not_import_keras(saved: Path) -> None:
    code = (
        "import sys, netform as nf\n"
        f"nf.inspect({str(saved)!r})\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
