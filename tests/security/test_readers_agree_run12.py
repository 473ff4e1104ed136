"""Every reader of a model file gives ``load``'s answer, and a security refusal is an UnsafeFileError (run 12).

* A layer activation, a kernel initializer, a compile loss or an optimizer's learning rate naming a Keras
  function that is no modelling API (``{"module": "keras.utils", "class_name": "function", "config":
  "get_file"}``, ``keras.config.enable_unsafe_deserialization``, ``keras.saving.load_model``, a private
  ``keras.src`` module's function): ``inspect``, ``summary`` and ``export-spec`` described the file (exit 0)
  and ``load`` and ``render`` refused it as corrupt (exit 5, Keras's "Non-modeling APIs are disallowed"). Each
  now refuses it as unsafe (UnsafeFileError, exit 6), in a ``.keras`` and in a plain Keras ``.h5`` file.
* A built-in Dense with ``registered_name: "builtins>exec"``: the readers described it, ``load`` refused it
  (Keras: a built-in uses no registered name); all refuse it as unsafe now.
* A layer dtype that is only ``{"shared_object_id": N}``: ``summary``, ``export-spec`` and ``render`` described
  it, ``inspect`` fell back to TensorFlow and refused it; each refuses it now without TensorFlow (exit 5).
* A ``.keras`` whose ``model.weights.h5`` is a full-model ``.h5``: the readers described it, ``load`` refused it
  ("objects could not be loaded"); each refuses it now (FormatError, exit 5).
* A foreign SavedModel whose function attributes nest deeper than TensorFlow's protobuf parser reads (100
  messages): ``inspect`` described it and ``load`` refused it ("Exceeded upb_DecodeOptions_MaxDepth"); netform's
  reader refuses what TensorFlow cannot parse, with a FormatError, and accepts what it can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import h5py
import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError, IncompatibleFileError, UnsafeFileError
from netform.saving import _safety
from netform.saving._savedmodel_reader import MAX_MESSAGE_DEPTH, read_saved_graph

from ._helpers import json_member, rewrite_member, rezip

tf = pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["inspect", "summary", "export-spec", "render"]
EXIT = {UnsafeFileError: 6, IncompatibleFileError: 5, FormatError: 5}

_PROBE = """
import contextlib, io, json, sys
from netform.cli._main import main
out = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    out.append([code, err.getvalue()])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps({"runs": out, "modules": loaded}))
"""


def _function(module: str, name: str) -> dict[str, Any]:
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


GET_FILE = _function("keras.utils", "get_file")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("agree12")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"), keras.layers.Dense(2, name="d2")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    nf.save(model, d / "nf.keras")
    keras.saving.save_model(model, d / "plain.h5")
    return {"keras": d / "nf.keras", "h5": d / "plain.h5"}


def _layer_key(key: str, value: Any) -> Callable[[Any], None]:
    def edit(config: Any) -> None:
        config["config"]["layers"][1]["config"][key] = value

    return edit


def _layer_registered(config: Any) -> None:
    # as netform writes an .h5 config too: with the module (a plain Keras .h5 has none, and Keras's legacy
    # loader, as every reader, then ignores the registered name)
    config["config"]["layers"][1].update(module="keras.layers", registered_name="builtins>exec")


def _loss(config: Any) -> None:
    config["compile_config"]["loss"] = GET_FILE


def _learning_rate(config: Any) -> None:
    config["compile_config"]["optimizer"]["config"]["learning_rate"] = GET_FILE


#: Edits of config.json, the error every reader and load raise, and a word of its message.
CASES: dict[str, tuple[Callable[[Any], None], type[Exception], str]] = {
    "activation_get_file": (_layer_key("activation", GET_FILE), UnsafeFileError, "keras.utils.get_file"),
    "activation_enable_unsafe": (
        _layer_key("activation", _function("keras.config", "enable_unsafe_deserialization")),
        UnsafeFileError,
        "enable_unsafe_deserialization",
    ),
    "activation_load_model": (
        _layer_key("activation", _function("keras.saving", "load_model")),
        UnsafeFileError,
        "keras.saving.load_model",
    ),
    "initializer_private_get_file": (
        _layer_key("kernel_initializer", _function("keras.src.utils.file_utils", "get_file")),
        UnsafeFileError,
        "get_file",
    ),
    "loss_get_file": (_loss, UnsafeFileError, "keras.utils.get_file"),
    "learning_rate_get_file": (_learning_rate, UnsafeFileError, "keras.utils.get_file"),
    "registered_exec": (_layer_registered, UnsafeFileError, "builtins>exec"),
    "dtype_shared_only": (_layer_key("dtype", {"shared_object_id": 1}), IncompatibleFileError, "dtype"),
}


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


def _args(command: str, path: Path, tmp_path: Path) -> list[str]:
    return [command, str(path), "-o", str(tmp_path / "out.svg")] if command == "render" else [command, str(path)]


def _agree(path: Path, error: type[Exception], word: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FormatError) as raised:
        nf.load(path)
    assert type(raised.value) is error, raised.value
    assert word in str(raised.value)
    for command in COMMANDS:
        code, err = _cli(_args(command, path, tmp_path), capsys)
        assert code == EXIT[error], (command, err)
        assert word in err, (command, err)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_reader_of_a_keras_file_refuses_as_load(
    case: str, sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, error, word = CASES[case]
    path = tmp_path / f"{case}.keras"
    rezip(str(sources["keras"]), str(path), json_member("config.json", edit))
    _agree(path, error, word, tmp_path, capsys)


def _h5_config(src: Path, dst: Path, edit: Callable[[Any], None]) -> None:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "a") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config)


@pytest.mark.parametrize("case", ["activation_get_file", "registered_exec", "dtype_shared_only"])
def test_every_reader_of_a_plain_h5_file_refuses_as_load(
    case: str, sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, error, word = CASES[case]
    path = tmp_path / f"{case}.h5"
    _h5_config(sources["h5"], path, edit)
    _agree(path, error, word, tmp_path, capsys)


def test_a_public_keras_modelling_function_is_still_accepted_everywhere(
    sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "relu.keras"
    rezip(str(sources["keras"]), str(path), json_member("config.json", _layer_key("activation", _function(
        "keras.activations", "relu"))))  # fmt: skip
    nf.load(path)
    for command in COMMANDS:
        code, err = _cli(_args(command, path, tmp_path), capsys)
        assert code == 0, (command, err)


def test_a_full_model_h5_as_the_archives_weights_is_refused_everywhere(
    sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "weights_is_full.keras"
    full = sources["h5"].read_bytes()
    rezip(str(sources["keras"]), str(path), rewrite_member("model.weights.h5", lambda _: full))
    _agree(path, FormatError, "model.weights.h5", tmp_path, capsys)


def test_inspect_of_a_bare_shared_object_dtype_needs_no_tensorflow(sources: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "shared.keras"
    rezip(str(sources["keras"]), str(path), json_member("config.json", _layer_key("dtype", {"shared_object_id": 1})))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("NETFORM_INSPECT_WITH_KERAS", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([["inspect", str(path)]])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["runs"][0][0] == 5, result["runs"]
    assert result["modules"] == []


def test_the_non_modelling_table_is_the_installed_keras() -> None:
    if keras.__version__ != _safety._KERAS_NAMES_VERSION:
        pytest.skip(f"tables list Keras {_safety._KERAS_NAMES_VERSION}; Keras {keras.__version__} is installed")
    # Keras exports no name for its deny list: read it from the module deserialize_keras_object lives in
    lib = sys.modules[keras.saving.deserialize_keras_object.__module__]
    assert set(_safety._KERAS_NON_MODELING_APIS) == set(lib.NON_MODELING_APIS)


# --- protobuf nesting of a foreign SavedModel --------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _saved_model(levels: int, *, in_list: bool, in_function: bool) -> bytes:
    """A SavedModel whose one node's attribute names a function whose attribute names one ... ``levels`` deep."""
    value = _ld(2, b"leaf")
    for _ in range(levels):
        named = _ld(1, b"f") + _ld(2, _ld(1, b"k") + _ld(2, value))
        value = _ld(1, _ld(9, named)) if in_list else _ld(10, named)
    node = _ld(1, b"n") + _ld(2, b"NoOp") + _ld(5, _ld(1, b"a") + _ld(2, value))
    called = _ld(1, _ld(1, _ld(1, b"f")) + _ld(3, _ld(1, b"z") + _ld(2, b"NoOp")))  # the function named: f
    holder = _ld(1, _ld(1, _ld(1, b"g")) + _ld(3, node)) if in_function else b""
    graph = (b"" if in_function else _ld(1, node)) + _ld(2, called + holder)
    signature = _ld(5, _ld(1, b"serving_default") + _ld(2, _ld(3, b"tensorflow/serving/predict")))
    meta = _ld(1, _ld(4, b"serve")) + _ld(2, graph) + signature
    return _varint(1 << 3) + _varint(1) + _ld(2, meta)


def _write(folder: Path, data: bytes) -> Path:
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(data)
    return folder


@pytest.mark.parametrize("in_list", [False, True])
@pytest.mark.parametrize("in_function", [False, True])
def test_the_graph_reader_parses_the_nesting_tensorflow_parses(
    tmp_path: Path, in_list: bool, in_function: bool
) -> None:
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    per_level = 4 if in_list else 3
    for levels in range(MAX_MESSAGE_DEPTH // per_level - 3, MAX_MESSAGE_DEPTH // per_level + 3):
        data = _saved_model(levels, in_list=in_list, in_function=in_function)
        try:
            saved_model_pb2.SavedModel.FromString(data)
            parsed = True
        except DecodeError:
            parsed = False
        folder = _write(tmp_path / f"sm{levels}", data)
        try:
            read_saved_graph(str(folder))
            read = True
        except FormatError as err:
            assert "nest" in str(err)
            read = False
        assert read == parsed, levels


@pytest.mark.parametrize("in_list", [False, True])
def test_a_savedmodel_nested_thousands_deep_is_refused_by_inspect_as_by_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], in_list: bool
) -> None:
    folder = _write(tmp_path / "deep_savedmodel", _saved_model(2_000, in_list=in_list, in_function=False))
    with pytest.raises(FormatError):
        nf.load(folder)
    code, err = _cli(["inspect", str(folder)], capsys)
    assert code == 5, err
    assert "function attributes nest" in err
