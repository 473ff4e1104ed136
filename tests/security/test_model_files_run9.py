"""Model files whose config Keras refuses to build are refused by the readers that do not load them (run 9).

* A built-in layer given an argument its constructor does not take (a ``Dense`` with ``"junk": 1``, here or
  inside a wrapper) is refused by ``summary``, ``inspect``, ``export-spec`` and ``render`` with a FormatError
  naming the file, the layer and the argument, before anything is built and without TensorFlow, as ``nf.load``
  refuses it (Keras raises).
* ``render`` of a config with a ``Dense`` called on a list of 1,000 tensors refuses it without TensorFlow, as
  ``summary`` and ``export-spec`` do.
* A ``Dense`` called with 1,000 positional tensors (its ``call`` takes two) is refused by the config's bound
  check, without TensorFlow, instead of being left to Keras.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError

COMMANDS = ["summary", "export-spec", "inspect", "render"]


def _edit(src: Path, dst: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the ``.keras`` archive ``src`` whose config.json ``change`` edits."""
    with zipfile.ZipFile(src) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    config = json.loads(entries["config.json"])
    change(config)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            out.writestr(name, json.dumps(config).encode() if name == "config.json" else data)
    return dst


def _layer(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == name)


def _junk(config: dict[str, Any]) -> None:
    _layer(config, "d2")["config"]["junk"] = 1


def _inner_junk(config: dict[str, Any]) -> None:
    _layer(config, "bi")["config"]["layer"]["config"]["recurrent_junk"] = True


def _wide_list(config: dict[str, Any]) -> None:
    node = _layer(config, "d2")["inbound_nodes"][0]
    node["args"] = [[node["args"][0]] * 1000]


def _wide_args(config: dict[str, Any]) -> None:
    node = _layer(config, "d2")["inbound_nodes"][0]
    node["args"] = [node["args"][0]] * 1000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("run9")
    x = keras.Input((4,), name="x")
    keras.Model(x, keras.layers.Dense(2, name="d2")(keras.layers.Dense(3, name="d1")(x)), name="fm").save(
        d / "plain.keras"
    )
    s = keras.Input((5, 3), name="s")
    bi = keras.layers.Bidirectional(keras.layers.LSTM(2, name="lstm"), name="bi")
    keras.Model(s, keras.layers.Dense(1, name="out")(bi(s)), name="rnn").save(d / "rnn.keras")
    return {
        "plain": d / "plain.keras",
        "rnn": d / "rnn.keras",
        "junk": _edit(d / "plain.keras", d / "junk.keras", _junk),
        "inner_junk": _edit(d / "rnn.keras", d / "inner_junk.keras", _inner_junk),
        "wide_list": _edit(d / "plain.keras", d / "wide_list.keras", _wide_list),
        "wide_args": _edit(d / "plain.keras", d / "wide_args.keras", _wide_args),
    }


def _args(command: str, path: Path, tmp_path: Path) -> list[str]:
    return [command, str(path), "-o", str(tmp_path / "out.dot")] if command == "render" else [command, str(path)]


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


_NO_TF = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print("\\nMODULES " + json.dumps(loaded))
sys.exit(code)
"""


def _run_without_tf(*args: str) -> tuple[int, str, list[str]]:
    """``netform *args`` in a fresh interpreter: exit code, stderr, and the TensorFlow/Keras modules it imported."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in ("NETFORM_INSPECT_WITH_KERAS", "NETFORM_RENDER_WITH_KERAS", "NETFORM_EXPORT_WITH_KERAS"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", _NO_TF, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    _, _, modules = done.stdout.rpartition("\nMODULES ")
    return done.returncode, done.stderr, json.loads(modules)


# --- 1. An argument a built-in layer's constructor does not take -------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_layer_argument_is_a_format_error(
    files: dict[str, Path], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(_args(command, files["junk"], tmp_path), capsys)
    assert code == 5, err
    assert re.search(
        re.escape(str(files["junk"])) + r": layer 'd2' \(keras\.layers\.Dense\) of model 'fm' in the config has "
        r"argument 'junk', which Dense does not take",
        err,
    ), err
    assert not (tmp_path / "out.dot").exists()


def test_an_unknown_layer_argument_is_refused_by_load_too(files: dict[str, Path]) -> None:
    with pytest.raises(TypeError, match="Unrecognized keyword arguments passed to Dense: {'junk': 1}"):
        keras.saving.load_model(files["junk"])
    with pytest.raises(FormatError, match="junk"):
        nf.load(str(files["junk"]))


@pytest.mark.parametrize("command", ["summary", "inspect"])
def test_an_unknown_argument_of_a_wrapped_layer_is_a_format_error(
    files: dict[str, Path], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(_args(command, files["inner_junk"], tmp_path), capsys)
    assert code == 5, err
    assert re.search(r"layer 'bi\.layer' \(keras\.layers\.LSTM\) of model 'rnn' .*'recurrent_junk'", err), err
    with pytest.raises(FormatError, match="recurrent_junk"):
        nf.load(str(files["inner_junk"]))


@pytest.mark.parametrize("command", COMMANDS)
def test_the_unedited_models_still_read(
    files: dict[str, Path], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("plain", "rnn"):
        code, err = _cli(_args(command, files[name], tmp_path), capsys)
        assert code == 0, err


def test_the_unknown_argument_is_refused_without_tensorflow(files: dict[str, Path]) -> None:
    code, err, modules = _run_without_tf("summary", str(files["junk"]))
    assert code == 5 and "argument 'junk'" in err, err
    assert modules == []


# --- 2. render of a Dense called on a list of 1,000 tensors ----------------------------------------------------


def test_render_refuses_a_call_on_1000_tensors_without_tensorflow(files: dict[str, Path], tmp_path: Path) -> None:
    code, err, modules = _run_without_tf("render", str(files["wide_list"]), "-o", str(tmp_path / "out.dot"))
    assert code == 5, err
    assert re.search(
        re.escape(str(files["wide_list"])) + r": the config of model 'fm' does not make a model Keras can build "
        r"\(.*Dense takes one input, but `in` lists 1000",
        err,
    ), err
    assert modules == []
    assert not (tmp_path / "out.dot").exists()


# --- 3. A Dense called with 1,000 positional tensors -------------------------------------------------------------


POSITIONAL = (
    r"layer 'd2' \(keras\.layers\.Dense\) of model 'fm' in the config is called with 1,000 positional "
    r"arguments; its call takes at most 2"
)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_dense_called_with_1000_positional_tensors_is_a_format_error(
    files: dict[str, Path], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(_args(command, files["wide_args"], tmp_path), capsys)
    assert code == 5, err
    assert re.search(re.escape(str(files["wide_args"])) + ": " + POSITIONAL, err), err
    with pytest.raises(TypeError, match="too many positional arguments"):
        keras.saving.load_model(files["wide_args"])


@pytest.mark.parametrize("command", ["summary", "render"])
def test_1000_positional_tensors_are_refused_without_tensorflow(
    files: dict[str, Path], command: str, tmp_path: Path
) -> None:
    code, err, modules = _run_without_tf(*_args(command, files["wide_args"], tmp_path))
    assert code == 5 and re.search(POSITIONAL, err), err
    assert modules == []


# --- What Keras builds is not refused ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
ZOO = sorted(p.stem for p in (ROOT / "models").glob("*.yaml"))
APPLICATIONS = sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))
#: the smallest input side each architecture accepts, where it is not 32
_SIZES = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
_FAST = {"MobileNet", "MobileNetV3Small", "VGG16"}


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_model_file_passes_the_layer_check(name: str, tmp_path: Path) -> None:
    from netform.saving._static_reader import read_config

    path = tmp_path / f"{name}.keras"
    nf.save(nf.build(str(ROOT / "models" / f"{name}.yaml")), str(path))
    assert read_config(str(path), "keras", compile=True) is not None


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[] if n in _FAST else [pytest.mark.slow], id=n) for n in APPLICATIONS]
)
def test_every_keras_application_passes_the_layer_check(name: str) -> None:
    from netform.saving._config_bounds import check_graph_bounds, check_layer_configs

    size = _SIZES.get(name, 32)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))  # as config.json holds it
    check_graph_bounds(config, name)
    check_layer_configs(config, name)
    assert len(APPLICATIONS) == 40
