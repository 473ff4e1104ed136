"""Model files whose parts disagree, whose metadata is not text, or whose config names code (run 10).

* A full-model ``.h5`` file holds the model twice: netform's ``netform_model_config`` (what every netform reader
  takes) and Keras's ``model_config`` (what Keras's own loader takes). A file whose two copies describe different
  models is refused with a FormatError naming both attributes, by ``nf.load`` and by every reader; so is metadata
  (``netform.json``, ``netform_metadata``) naming another model class or name than the config, which ``inspect``
  would report.
* A lone UTF-16 surrogate (JSON's ``"\\ud800"``) in any metadata netform reads (``netform.json``,
  ``metadata.json``, the HDF5 ``netform_metadata``, ``netform_compile_config`` and ``training_config``, the
  ``keras_version`` attribute, a SavedModel's ``assets.extra/netform.json``) ends in a FormatError naming the file
  and the field (exit 5) or in a clean result: never a traceback or exit 70.
* A config naming code (``builtins.eval`` as an activation, ``os.system`` as an initializer, a regularizer or
  constraint object of a foreign module) is refused by ``inspect``, ``summary``, ``export-spec`` and ``render``
  without importing Keras or TensorFlow, with the message ``nf.load`` gives (exit 6).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import h5py
import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError, UnsafeFileError
from netform.saving._h5 import _write_attr_checksums

from ._helpers import json_member, rezip

COMMANDS = ["inspect", "summary", "export-spec", "render"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("run10")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="d2")(keras.layers.Dense(3, name="d1")(x)), name="fm")
    out = {"keras": d / "m.keras", "h5": d / "m.h5", "plain_keras": d / "plain.keras", "plain_h5": d / "plain.h5"}
    nf.save(model, out["keras"])
    nf.save(model, out["h5"])
    model.save(out["plain_keras"])
    model.save(out["plain_h5"])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    out["compiled_h5"] = d / "c.h5"
    nf.save(model, out["compiled_h5"])
    return out


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _args(command: str, path: Path, tmp_path: Path) -> list[str]:
    return [command, str(path), "-o", str(tmp_path / "out.dot")] if command == "render" else [command, str(path)]


def _edit_h5(src: Path, dst: Path, edit: Callable[[h5py.File], None]) -> Path:
    """A copy of ``src`` changed by ``edit``, its attribute checksums written again (as an attacker would)."""
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        edit(f)
        if "netform_attr_checksums" in f.attrs:
            del f.attrs["netform_attr_checksums"]
            _write_attr_checksums(f)
    return dst


def _json_attr(key: str, change: Callable[[Any], None]) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        value = json.loads(f.attrs[key])
        change(value)
        f.attrs[key] = json.dumps(value)

    return edit


def _set(*keys: Any, value: Any) -> Callable[[Any], None]:
    def change(node: Any) -> None:
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


# --- 1. two copies of the model that disagree -------------------------------------------------------------------

TWO_CONFIGS = re.escape("the HDF5 attributes 'netform_model_config' (the model netform loads) and 'model_config' (the")


@pytest.mark.parametrize("key", ["model_config", "netform_model_config"])
def test_an_h5_file_whose_two_configs_differ_is_refused_everywhere(
    files: dict[str, Path], key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: ``inspect`` and ``nf.load`` showed a Dense of 3 units, Keras's own loader built one of 7."""
    path = _edit_h5(
        files["h5"], tmp_path / "two.h5", _json_attr(key, _set("config", "layers", 1, "config", "units", value=7))
    )
    with pytest.raises(FormatError, match=TWO_CONFIGS + r".*differ at 'config\.layers\[1\]\.config\.units'"):
        nf.load(path)
    for command in COMMANDS:
        code, _, err = _cli(_args(command, path, tmp_path), capsys)
        assert code == 5, (command, err)
        assert str(path) in err and "'model_config'" in err and "'netform_model_config'" in err, (command, err)


def test_a_changed_bit_in_the_second_config_is_named_as_one(files: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "bit.h5"
    shutil.copy(files["h5"], path)
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace('"units": 3', '"units": 7')
    with pytest.raises(FormatError, match="attribute 'model_config' fails its checksum"):
        nf.load(path)
    with pytest.raises(FormatError, match="attribute 'model_config' fails its checksum"):
        nf.saving.inspect(path)


def test_netforms_own_h5_files_hold_one_model_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The comparison ignores only how objects are named: nested models, wrappers, regularizers all agree."""
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="inner_dense")], name="inner")
    x = keras.Input((5, 4), name="x")
    h = keras.layers.TimeDistributed(inner, name="td")(x)
    h = keras.layers.Bidirectional(keras.layers.LSTM(3), name="bi")(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    y = keras.layers.Dense(
        2, kernel_regularizer=keras.regularizers.L2(0.1), kernel_constraint=keras.constraints.MaxNorm(2), name="out"
    )(h)
    model = keras.Model(x, y, name="big")
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "big.h5"
    nf.save(model, path)
    assert nf.load(path).count_params() == model.count_params()
    for command in COMMANDS:
        code, _, err = _cli(_args(command, path, tmp_path), capsys)
        assert code == 0, (command, err)


def test_a_netform_model_keeps_loading_from_h5(tmp_path: Path) -> None:
    """netform's own model class is written as Keras's in ``model_config``: the same model."""
    spec = nf.load_spec(
        "netform: 1\nname: s\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n  - {type: Dense, units: 3}\n"
    )
    path = tmp_path / "s.h5"
    nf.save(nf.build(spec), path)
    assert nf.load(path).name == "s"
    assert nf.saving.inspect(path)["parameters"] == 15


@pytest.mark.parametrize(
    ("fmt", "field", "value"),
    [
        ("keras", "model_class", "netform.engine._models.Sequential"),
        ("keras", "model_name", "other"),
        ("h5", "model_class", "netform.engine._models.Sequential"),
        ("h5", "model_name", "other"),
    ],
)
def test_metadata_naming_another_model_than_the_config_is_refused(
    files: dict[str, Path], fmt: str, field: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: ``inspect`` reported the metadata's class (a Sequential) for the Functional that ``load`` builds."""
    if fmt == "keras":
        path = rezip(
            str(files["keras"]), str(tmp_path / "meta.keras"), json_member("netform.json", _set(field, value=value))
        )
        where = "netform.json"
    else:
        path = str(
            _edit_h5(files["h5"], tmp_path / "meta.h5", _json_attr("netform_metadata", _set(field, value=value)))
        )
        where = "the attribute 'netform_metadata'"
    with pytest.raises(
        FormatError, match=re.escape(f"{path}: {where} names the model") + ".*" + re.escape(repr(value))
    ):
        nf.saving.inspect(path)
    code, _, err = _cli(["inspect", path], capsys)
    assert code == 5 and repr(value) in err, err


# --- 2. metadata that is not text -------------------------------------------------------------------------------

SURROGATE = "a\ud800"


def _keras_case(files: dict[str, Path], tmp_path: Path, member: str, field: str) -> tuple[Path, str]:
    src = files["keras"] if member == "netform.json" else files["plain_keras"]
    path = tmp_path / "sur.keras"
    rezip(str(src), str(path), json_member(member, _set(field, value=SURROGATE)))
    return path, f"{member}'s value at '{field}' holds \\ud800"


KERAS_CASES = [
    ("netform.json", f) for f in ("netform_version", "keras_version", "saved_at", "model_class", "model_name", "format")
] + [("metadata.json", "keras_version"), ("metadata.json", "date_saved")]


@pytest.mark.parametrize(("member", "field"), KERAS_CASES)
def test_a_lone_surrogate_in_keras_metadata_is_a_format_error(
    files: dict[str, Path], member: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, message = _keras_case(files, tmp_path, member, field)
    for command in COMMANDS:
        code, _, err = _cli(_args(command, path, tmp_path), capsys)
        assert code == 5, (command, err)
        assert f"{path}: {message}" in err, (command, err)
    with pytest.raises(FormatError, match=re.escape(message)):  # loading reads both, as the readers do
        nf.load(path)


def test_a_lone_surrogate_in_a_key_of_netform_json_is_a_format_error(files: dict[str, Path], tmp_path: Path) -> None:
    path = rezip(str(files["keras"]), str(tmp_path / "key.keras"), json_member("netform.json", _set("\udc80", value=1)))
    with pytest.raises(FormatError, match=re.escape("netform.json's key at '\\udc80' holds \\udc80")):
        nf.saving.inspect(path)


H5_CASES = {
    **{
        f"meta_{f}": (
            "h5",
            _json_attr("netform_metadata", _set(f, value=SURROGATE)),
            f"attribute 'netform_metadata''s value at '{f}' holds \\ud800",
        )
        for f in ("netform_version", "keras_version", "saved_at", "model_class", "model_name")
    },
    "compile_config": (
        "compiled_h5",
        _json_attr("netform_compile_config", _set("optimizer", "config", "name", value=SURROGATE)),
        "holds \\ud800",
    ),
    "training_config": ("compiled_h5", _json_attr("training_config", _set("loss", value=SURROGATE)), None),
    "keras_version": (
        "h5",
        lambda f: f.attrs.__setitem__("keras_version", b"3.\xed\xa0\x80"),
        "HDF5 attribute 'keras_version''s value holds \\udced",
    ),
}


@pytest.mark.parametrize("case", sorted(H5_CASES))
def test_a_lone_surrogate_in_h5_metadata_is_a_format_error_or_a_clean_result(
    files: dict[str, Path], case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, edit, message = H5_CASES[case]
    path = _edit_h5(files[source], tmp_path / "sur.h5", edit)
    codes = {}
    for command in COMMANDS:
        code, out, err = _cli(_args(command, path, tmp_path), capsys)
        codes[command] = code
        assert code in (0, 5), (command, err)
        assert "Traceback" not in err and "UnicodeEncodeError" not in err, (command, err)
        out.encode("utf-8")
        if code == 5 and message is not None:
            assert message in err, (command, err)
    if message is not None:
        assert codes["inspect"] == 5
    try:
        nf.load(path)
    except FormatError as err:
        assert "UnicodeEncodeError" not in str(err), err


def test_a_lone_surrogate_in_the_compile_config_is_named_by_load(files: dict[str, Path], tmp_path: Path) -> None:
    """Was: a FormatError wrapping a UnicodeEncodeError from deep inside Keras."""
    path = _edit_h5(
        files["compiled_h5"],
        tmp_path / "cc.h5",
        _json_attr("netform_compile_config", _set("optimizer", "config", "name", value=SURROGATE)),
    )
    with pytest.raises(
        FormatError,
        match=re.escape("HDF5 attribute 'netform_compile_config''s value at 'optimizer.config.name' holds \\ud800"),
    ):
        nf.load(path)


def test_a_lone_surrogate_in_a_savedmodels_metadata_is_a_format_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "sm"
    nf.save(nf.load(files["keras"]), saved, format="savedmodel")
    meta = saved / "assets.extra" / "netform.json"
    value = json.loads(meta.read_text())
    value["model_name"] = SURROGATE
    meta.write_text(json.dumps(value))
    code, _, err = _cli(["inspect", str(saved)], capsys)
    assert code == 5, err
    assert "netform.json's value at 'model_name' holds \\ud800" in err, err


def test_text_outside_the_basic_plane_is_still_metadata(files: dict[str, Path], tmp_path: Path) -> None:
    path = rezip(
        str(files["plain_keras"]),
        str(tmp_path / "emoji.keras"),
        json_member("metadata.json", _set("date_saved", value="\U0001f600")),
    )
    assert nf.saving.inspect(path)["saved_at"] == "\U0001f600"


# --- 3. a config naming code, refused without Keras ------------------------------------------------------------

CODE = {
    "activation": ("activation", "builtins.eval"),
    "initializer": ("kernel_initializer", "os.system"),
    "regularizer": (
        "kernel_regularizer",
        {"module": "os", "class_name": "system", "config": {}, "registered_name": "os>system"},
    ),
    "constraint": (
        "bias_constraint",
        {"module": "builtins", "class_name": "eval", "config": {}, "registered_name": None},
    ),
    "nested": (
        "kernel_initializer",
        {
            "module": "keras.initializers",
            "class_name": "GlorotUniform",
            "config": {
                "seed": {"module": "posix", "class_name": "system", "config": {}, "registered_name": "posix>system"}
            },
            "registered_name": None,
        },
    ),
}

_PROBE = """
import contextlib, io, json, sys
from netform.cli._main import main
out = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    out.append([code, err.getvalue()])
print(json.dumps({"runs": out, "keras": "keras" in sys.modules, "tensorflow": "tensorflow" in sys.modules}))
"""


def _hostile(files: dict[str, Path], fmt: str, case: str, tmp_path: Path) -> Path:
    key, value = CODE[case]
    change = _set("config", "layers", 1, "config", key, value=value)
    if fmt == "keras":
        return Path(rezip(str(files["keras"]), str(tmp_path / f"{case}.keras"), json_member("config.json", change)))

    def edit(f: h5py.File) -> None:  # both copies of the model: the same hostile model
        _json_attr("netform_model_config", change)(f)
        _json_attr("model_config", change)(f)

    return _edit_h5(files["h5"], tmp_path / f"{case}.h5", edit)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("case", sorted(CODE))
def test_a_config_naming_code_is_refused_without_importing_keras(
    files: dict[str, Path], fmt: str, case: str, tmp_path: Path
) -> None:
    path = _hostile(files, fmt, case, tmp_path)
    with pytest.raises(UnsafeFileError) as info:
        nf.load(path)
    said = str(info.value).split("; refused in safe mode")[0]
    args = [_args(command, path, tmp_path) for command in COMMANDS]
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    for command, (code, err) in zip(COMMANDS, found["runs"]):
        assert code == 6, (command, err)
        assert said in err, (command, said, err)
    assert not found["keras"] and not found["tensorflow"], found
