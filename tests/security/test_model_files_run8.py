"""Model files that lie about what they are, or print what they should not (security review, run 8).

* ``netform inspect`` prints the strings a file carries (an ONNX producer name,
  layer names): their control characters are escaped, so a file cannot retitle
  or clear the terminal or forge a line of the report.
* A TensorFlow ``saved_model.pb`` copied out of its folder starts as an ONNX
  model does; detection walks the whole layout (as ``nf.save`` does before it
  replaces an ``.onnx`` file), so it is not called ONNX.
* A ``.keras`` layer call with many tensors is refused the same way, without
  TensorFlow, by every command and by ``nf.load``.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import keras
import pytest

from ._helpers import rehash_embedded

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError

EVIL = "\x1b]0;PWNED\x07\x1b[2J\nformat: keras\nsafe: yes\x85\x7f\u202e"


def _onnx_bytes(producer: str) -> bytes:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["y"], name=EVIL)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [out],
    )
    model = helper.make_model(graph, producer_name=producer, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


# --- 1. inspect's text escapes what the file carries ------------------------------------------------------------


def test_inspect_text_escapes_control_characters_of_an_onnx_producer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "esc.onnx"
    path.write_bytes(_onnx_bytes(EVIL))
    code, out, _ = _cli(["inspect", str(path)], capsys)
    assert code == 0
    assert all(c.isprintable() for line in out.splitlines() for c in line), out
    lines = out.splitlines()
    assert [line for line in lines if line.startswith(("format:", "safe:"))] == ["format: onnx"]
    assert any(r"\x1b]0;PWNED\x07\x1b[2J\nformat: keras\nsafe: yes\x85\x7f\u202e" in line for line in lines), out
    # The JSON form is escaped by json.dumps and round-trips the name exactly.
    code, out, _ = _cli(["inspect", str(path), "--format", "json"], capsys)
    assert code == 0 and "\x1b" not in out and json.loads(out)["producer"] == EVIL


def test_inspect_text_escapes_layer_names_of_a_keras_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = keras.Input((4,), name="x")
    path = tmp_path / "m.keras"
    keras.Model(x, keras.layers.Dense(2, name="d\x1b[2Jz\nsafe: yes")(x), name="m\x07").save(path)
    code, out, _ = _cli(["inspect", str(path)], capsys)
    assert code == 0
    assert all(c.isprintable() for line in out.splitlines() for c in line), out
    assert "safe: yes" not in [line.strip() for line in out.splitlines()]
    assert r"d\x1b[2Jz\nsafe: yes" in out


# --- 2. A SavedModel graph under another name is not ONNX ---------------------------------------------------------


@pytest.fixture(scope="module")
def graph_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    d = tmp_path_factory.mktemp("run8_sm")
    x = keras.Input((4,), name="x")
    nf.save(keras.Model(x, keras.layers.Dense(2, name="d")(x), name="m"), str(d / "sm"), format="savedmodel")
    return (d / "sm" / "saved_model.pb").read_bytes()


@pytest.mark.parametrize("name", ["g.bin", "a.onnx"])
def test_a_savedmodel_graph_is_not_detected_as_onnx(
    tmp_path: Path, graph_bytes: bytes, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(graph_bytes)
    with pytest.raises(
        FormatError,
        match=r"not a model or weights file netform can read; found a TensorFlow SavedModel graph \(saved_model\.pb\) outside its SavedModel folder, whose layout is no ONNX model's",
    ):
        nf.detect_format(str(path))
    code, out, err = _cli(["inspect", str(path)], capsys)
    assert code == 5 and "format: onnx" not in out and "SavedModel graph" in err
    # A real ONNX model is still detected, by the same walk.
    good = tmp_path / "good.bin"
    good.write_bytes(_onnx_bytes("t"))
    assert nf.detect_format(str(good)) == "onnx"


def test_a_protobuf_that_starts_as_onnx_is_a_corrupt_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.bin"
    path.write_bytes(_onnx_bytes("t") + b"\x4a\x00")  # one field more than a ModelProto has
    with pytest.raises(
        FormatError,
        match=r"notes\.bin: the ONNX file is corrupt: it starts as an ONNX model but its layout is no ONNX model's \(.*field 9 is no field",
    ):
        nf.detect_format(str(path))


# --- 3. A layer call with more tensors than the layer takes -----------------------------------------------------


def _many_tensors(src: Path, dst: Path, n: int, *, positional: bool = False) -> Path:
    """``src`` with its last Dense called on a list of ``n`` tensors, or on ``n`` positional tensors (under the
    1,024-per-call bound)."""
    with zipfile.ZipFile(src) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    config = json.loads(entries["config.json"])
    node = config["config"]["layers"][2]["inbound_nodes"][0]
    node["args"] = [node["args"][0]] * n if positional else [[node["args"][0]] * n]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            out.writestr(name, json.dumps(config).encode() if name == "config.json" else data)
    return dst


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("run8_wide")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="d2")(keras.layers.Dense(3, name="d1")(x)), name="fm")
    model.save(d / "plain.keras")
    out = {"keras": _many_tensors(d / "plain.keras", d / "wide.keras", 1000)}
    out["args"] = _many_tensors(d / "plain.keras", d / "args.keras", 1000, positional=True)
    nf.save(model, str(d / "sm"), format="savedmodel")
    for name, src in (("sm", out["keras"]), ("sm_args", out["args"])):
        if name != "sm":
            shutil.copytree(d / "sm", d / name)
        shutil.copyfile(src, d / name / "assets.extra" / "netform.keras")
        rehash_embedded(d / name)
        out[name] = d / name
    return out


WIDE = r"does not make a model Keras can build \(.*Dense takes one input, but `in` lists 1000.*the file is corrupt"


@pytest.mark.parametrize("command", ["summary", "export-spec"])
def test_a_dense_called_on_1000_tensors_is_a_format_error(
    wide: dict[str, Path], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli([command, str(wide["keras"])], capsys)
    assert code == 5, err
    assert re.search(re.escape(str(wide["keras"])) + ": the config of model 'fm' " + WIDE, err), err
    with pytest.raises((ValueError, TypeError)):  # Keras cannot build it either
        keras.saving.load_model(wide["keras"])


def test_summary_of_a_savedmodel_reports_its_refused_model(
    wide: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(["summary", str(wide["sm"])], capsys)
    assert code == 5, err
    assert "without a Keras architecture" not in err and re.search(WIDE, err), err


def test_summary_of_a_savedmodel_reports_the_refusal_keras_gives(
    wide: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 positional tensors (a Dense's call takes two): refused by the config's check, as Keras refuses it."""
    refusal = r"layer 'd2' \(keras\.layers\.Dense\) of model 'fm' in the config is called with 1,000 positional"
    code, _, err = _cli(["summary", str(wide["sm_args"])], capsys)
    assert code == 5, err
    assert "without a Keras architecture" not in err and re.search(refusal, err), err
    code, _, load_err = _cli(["summary", str(wide["args"])], capsys)
    assert code == 5 and re.search(refusal, load_err), load_err
    with pytest.raises(TypeError, match="too many positional arguments"):
        keras.saving.load_model(wide["args"])
