"""The readers that do not load a model file (``inspect``, ``summary``, ``export-spec``, ``render``) refuse what
loading refuses (run 9).

* A config holding a string that is not text (a layer named ``"\\ud800"``, JSON's escape for half of a UTF-16
  surrogate pair) is refused by the config's bound check with a FormatError naming the file and the place,
  exit 5, by every reader and by ``nf.load``; ``render`` used to end in a UnicodeEncodeError (exit 70).
* A built-in ``Dense`` whose ``units`` is NaN, Infinity, 3.5, true or -3 is refused by ``summary``,
  ``export-spec`` and ``render``, naming the file, the layer and the field, as loading refuses it, instead of
  being described as a generic ``KerasLayer`` (``inspect`` builds no layer schema and leaves numbers to load).
* An ONNX initializer with a negative dimension, or more elements than int64 counts, is a FormatError naming
  the tensor, not a parameter count of 5.5e19.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError
from netform.saving._config_bounds import check_graph_bounds

COMMANDS = ["inspect", "summary", "export-spec", "render"]


def _edit_text(src: Path, dst: Path, old: str, new: str) -> Path:
    """A copy of the ``.keras`` archive ``src`` with ``old`` replaced by ``new`` in its config.json text."""
    with zipfile.ZipFile(src) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    text = entries["config.json"].decode()
    assert old in text
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            out.writestr(name, text.replace(old, new, 1).encode() if name == "config.json" else data)
    return dst


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run9b")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="d2")(keras.layers.Dense(3, name="d1")(x)), name="fm")
    model.save(d / "plain.keras")
    return d / "plain.keras"


def _args(command: str, path: Path, tmp_path: Path, ext: str = "dot") -> list[str]:
    return [command, str(path), "-o", str(tmp_path / f"out.{ext}")] if command == "render" else [command, str(path)]


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- F02: a string in the config that is not text ----------------------------------------------------------------


@pytest.mark.parametrize(("command", "ext"), [(command, "dot") for command in COMMANDS] + [("render", "svg")])
def test_a_lone_surrogate_in_a_layer_name_is_a_format_error(
    plain: Path, command: str, ext: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edit_text(plain, tmp_path / "sur.keras", '"name": "d1"', '"name": "\\ud800"')
    code, _, err = _cli(_args(command, path, tmp_path, ext), capsys)
    assert code == 5, err
    assert "UnicodeEncodeError" not in err
    assert re.search(
        re.escape(str(path)) + r": the model config's value at 'config\.layers\[1\]\.config\.name' holds \\ud800, "
        r"half of a UTF-16 surrogate pair on its own",
        err,
    ), err
    assert not (tmp_path / f"out.{ext}").exists()


def test_a_lone_surrogate_is_refused_by_load_with_the_same_error(plain: Path, tmp_path: Path) -> None:
    path = _edit_text(plain, tmp_path / "sur.keras", '"name": "d1"', '"name": "\\udfff"')
    with pytest.raises(FormatError, match=r"config\.layers\[1\]\.config\.name' holds \\udfff"):
        nf.load(str(path))


def test_a_lone_surrogate_in_a_key_is_refused() -> None:
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [], "\udc80x": 1}}
    with pytest.raises(FormatError, match=r"f\.keras: the model config's key at 'config\.\\udc80x' holds \\udc80"):
        check_graph_bounds(config, "f.keras")


def test_text_outside_the_basic_plane_is_still_text(plain: Path, tmp_path: Path) -> None:
    """A surrogate pair escaped in JSON is one character (an emoji): a name Keras saves and loads."""
    path = _edit_text(plain, tmp_path / "emoji.keras", '"name": "fm"', '"name": "fm\\ud83d\\ude00"')
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert config["config"]["name"] == "fm\U0001f600"
    check_graph_bounds(config, str(path))
    assert nf.load(str(path)).name == "fm\U0001f600"


# --- F07: a built-in layer's number its schema refuses ----------------------------------------------------------

UNITS = {"nan": "NaN", "inf": "Infinity", "float": "3.5", "bool": "true", "negative": "-3"}


@pytest.mark.parametrize("command", [command for command in COMMANDS if command != "inspect"])
@pytest.mark.parametrize("case", sorted(UNITS))
def test_a_dense_whose_units_keras_refuses_is_a_format_error(
    plain: Path, case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edit_text(plain, tmp_path / f"{case}.keras", '"units": 3', f'"units": {UNITS[case]}')
    code, out, err = _cli(_args(command, path, tmp_path), capsys)
    assert code == 5, (out, err)
    shown = {"nan": "nan", "inf": "inf", "float": "3.5", "bool": "True", "negative": "-3"}[case]
    assert re.search(
        re.escape(str(path))
        + r": layer 'd1' \(keras\.layers\.Dense\) of model 'fm' in the config has units "
        + re.escape(shown)
        + r", which Dense does not take \(",
        err,
    ), err
    assert "KerasLayer" not in out
    assert not (tmp_path / "out.dot").exists()


def test_inspect_refuses_the_number_as_the_other_readers_do(
    plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect checks each layer's arguments with netform's schemas, as load and the other readers do (so that it
    gives load's answer on an edited value): units -3 is refused by the number, with the same message."""
    path = _edit_text(plain, tmp_path / "negative.keras", '"units": 3', '"units": -3')
    code, out, err = _cli(["inspect", str(path)], capsys)
    assert code == 5, err
    assert "has units -3, which Dense does not take" in err, err


@pytest.mark.parametrize("case", ["nan", "negative", "float"])
def test_load_refuses_the_same_units(plain: Path, case: str, tmp_path: Path) -> None:
    path = _edit_text(plain, tmp_path / f"{case}.keras", '"units": 3', f'"units": {UNITS[case]}')
    with pytest.raises(FormatError):
        nf.load(str(path))


def test_a_wrapped_layers_number_is_refused_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = keras.Input((5, 3), name="s")
    bi = keras.layers.Bidirectional(keras.layers.LSTM(2, name="lstm"), name="bi")
    keras.Model(s, keras.layers.Dense(1, name="out")(bi(s)), name="rnn").save(tmp_path / "rnn.keras")
    path = _edit_text(tmp_path / "rnn.keras", tmp_path / "bad.keras", '"units": 2', '"units": -2')
    code, _, err = _cli(["summary", str(path)], capsys)
    assert code == 5, err
    assert "layer 'bi.layer' (keras.layers.LSTM) of model 'rnn' in the config has units -2" in err, err


def test_values_netform_does_not_know_still_give_the_generic_form() -> None:
    """Only numbers are refused: a name or object the schema does not take may be one Keras knows."""
    from netform.spec._layer_dict import RefusedValue, layer_to_dict_from_config

    entry = layer_to_dict_from_config("Dense", {"name": "d", "units": 3, "activation": "not_in_netform"}, strict=True)
    assert entry["type"] == "KerasLayer"
    with pytest.raises(RefusedValue) as info:
        layer_to_dict_from_config("Dense", {"name": "d", "units": -1}, strict=True)
    assert (info.value.key, info.value.value) == ("units", -1)
    # a bound of netform's stricter than Keras's (Dropout: rate under 1; Keras takes 1.0): not refused
    assert layer_to_dict_from_config("Dropout", {"name": "d", "rate": 1.0}, strict=True)["type"] == "KerasLayer"
    for rate in (-0.5, float("nan")):
        with pytest.raises(RefusedValue, match="rate"):
            layer_to_dict_from_config("Dropout", {"name": "d", "rate": rate}, strict=True)
    # without strict (a live layer's config, from_keras), the generic form as before
    assert layer_to_dict_from_config("Dense", {"name": "d", "units": -1})["type"] == "KerasLayer"


def test_the_unedited_model_still_reads(plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        code, _, err = _cli(_args(command, plain, tmp_path), capsys)
        assert code == 0, (command, err)


# --- F08: ONNX initializers with impossible dims -----------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value % (1 << 64))  # int64: a negative number as 10 bytes


def _onnx(path: Path, dims: list[int], *, packed: bool = False) -> Path:
    """An ONNX model (x -> Identity -> y) whose graph also holds a float initializer 'w' with ``dims``, written
    as the protobuf wire holds them (one varint each, or packed as a proto3 writer packs them)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if packed:
        tensor = _len_field(1, b"".join(_varint(d % (1 << 64)) for d in dims))
    else:
        tensor = b"".join(_int_field(1, d) for d in dims)
    tensor += _int_field(2, TensorProto.FLOAT) + _len_field(8, b"w")
    count = 1
    for d in dims:
        count *= d
    if all(d >= 0 for d in dims) and count <= 1 << 20:
        tensor += _len_field(9, bytes(4 * count))  # raw_data: the floats a tensor of these dims holds
    graph_bytes = model.graph.SerializeToString() + _len_field(5, tensor)  # fields of a message may come in any order
    opsets = b"".join(_len_field(8, opset.SerializeToString()) for opset in model.opset_import)
    path.write_bytes(_int_field(1, model.ir_version) + _len_field(7, graph_bytes) + opsets)  # in field order
    if not packed and all(d >= 0 for d in dims):
        assert list(onnx.load(str(path)).graph.initializer[0].dims) == dims
    return path


@pytest.mark.parametrize(
    ("dims", "why"),
    [
        ([-5, 3], r"\[-5, 3\], a negative dimension"),
        ([2**62] * 3, r"\[4611686018427387904, 4611686018427387904, 4611686018427387904\], more elements than int64"),
    ],
    ids=["negative", "huge"],
)
@pytest.mark.parametrize("packed", [False, True], ids=["plain", "packed"])
def test_an_onnx_initializer_with_impossible_dims_is_a_format_error(
    dims: list[int], why: str, packed: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _onnx(tmp_path / "m.onnx", dims, packed=packed)
    code, out, err = _cli(["inspect", str(path)], capsys)
    assert code == 5, (out, err)
    assert re.search(re.escape(str(path)) + r": initializer 'w' of the ONNX graph has dims " + why, err), err
    assert "parameters" not in out


def test_an_onnx_initializer_with_real_dims_is_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for packed in (False, True):
        path = _onnx(tmp_path / "m.onnx", [5, 3], packed=packed)
        code, out, err = _cli(["inspect", str(path)], capsys)
        assert code == 0, err
        assert re.search(r"^parameters: 15$", out, re.M), out
