"""SavedModel and ONNX files are described without TensorFlow, as loading them with TensorFlow describes them.

A SavedModel netform wrote carries the whole model as a ``.keras`` archive
in ``assets.extra``: ``inspect``, ``render`` and the config walk read that
archive, after the directory checks ``load`` runs. A SavedModel another
tool wrote is described from ``saved_model.pb``, decoded by netform's own
wire-format reader: its signatures and variables, and in safe mode the same
allow-list of graph operations, so a file ``load`` refuses is refused the
same way. Each answer is compared with TensorFlow's: ``inspect(...,
with_keras=True)``, ``tf.saved_model.load`` and TensorFlow's own parse of
the graph. ONNX files report the element count of their initializers,
checked against the ``onnx`` package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import netform as nf
import netform.saving as nfs
from netform.errors import FormatError, UnsafeFileError
from netform.saving._graph_ops import refused_ops
from netform.saving._savedmodel_reader import describe_foreign, read_saved_graph
from netform.saving._static_reader import read_config, read_model

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[2]


class _Module(tf.Module):
    def __init__(self) -> None:
        self.w = tf.Variable(tf.ones((3, 4)))
        self.b = tf.Variable(tf.zeros((4,)), trainable=False)

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="x")])
    def __call__(self, x: Any) -> dict[str, Any]:
        return {"y": tf.matmul(x, self.w) + self.b, "n": tf.shape(x)[0]}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sm_onnx")
    model = nf.build(str(ROOT / "models" / "ticket_router.yaml"))  # two inputs, two outputs, a Dropout
    netform_sm = out / "router_savedmodel"
    nfs.save(model, netform_sm)
    plain = out / "plain_savedmodel"  # Keras's own export: no embedded model, a foreign SavedModel
    shutil.copytree(netform_sm, plain)
    shutil.rmtree(plain / "assets.extra")
    module = _Module()
    tf.saved_model.save(module, str(out / "module"), signatures={"serving_default": module.__call__})
    found = {"model": model, "module": module, "netform": netform_sm, "plain": plain, "tf_module": out / "module",
             "out": out}
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        return found  # netform[onnx] is not installed: the ONNX tests skip
    nfs.save(model, out / "router.onnx")
    found["onnx"] = out / "router.onnx"
    return found


def _error(call: Any) -> tuple[type[BaseException], str] | None:
    try:
        call()
    except Exception as err:  # noqa: BLE001 - the class and message are what is compared
        return type(err), str(err)
    return None


# --- a SavedModel netform wrote --------------------------------------------------------------------


def test_netform_savedmodel_is_read_from_its_embedded_model(files: dict[str, Any]) -> None:
    path = str(files["netform"])
    assert read_model(path, "savedmodel") is not None  # answered from the files alone
    info = nfs.inspect(path)
    assert info == nfs.inspect(path, with_keras=True)
    model = files["model"]
    assert info["parameters"] == model.count_params() and not info["inference_only"]
    assert [layer["name"] for layer in info["layers"]] == [layer.name for layer in model.layers]


def test_netform_savedmodel_diagram_and_config_are_the_loaded_models(files: dict[str, Any]) -> None:
    from netform.builder import from_keras
    from netform.render import to_dot_source
    from netform.render._dot import DotOptions, to_dot
    from netform.render._from_keras import diagram_from_keras
    from netform.saving._config_walk import spec_from_config

    path = str(files["netform"])
    loaded = nfs.load(path, compile=False)
    assert to_dot_source(path, details=True) == to_dot(diagram_from_keras(loaded),
                                                       DotOptions("TB", True, True, details=True))
    config = read_config(path, "savedmodel")
    assert config is not None
    assert spec_from_config(config).to_yaml() == from_keras(loaded).to_yaml()


def _hostile_netform_savedmodels(files: dict[str, Any], out: Path) -> dict[str, Path]:
    """The netform SavedModel with its embedded model swapped for each hostile ``.keras`` file, and tree attacks."""
    from tests.saving import hostile

    made: dict[str, Path] = {}
    for name, source in hostile.build_all(out / "hostile", out / "MARKER").items():
        if source.suffix != ".keras":
            continue
        target = out / f"{name}_savedmodel"
        shutil.copytree(files["netform"], target)
        shutil.copyfile(source, target / "assets.extra" / "netform.keras")
        made[name] = target
    truncated = out / "truncated_savedmodel"
    shutil.copytree(files["netform"], truncated)
    archive = truncated / "assets.extra" / "netform.keras"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    made["truncated_archive"] = truncated
    fifo = out / "fifo_savedmodel"
    shutil.copytree(files["netform"], fifo)
    os.mkfifo(fifo / "assets" / "pipe")
    made["fifo"] = fifo
    link = out / "link_savedmodel"
    shutil.copytree(files["netform"], link)
    (link / "assets" / "out").symlink_to(out / "hostile")
    made["link_out"] = link
    lying = out / "lying_meta_savedmodel"
    shutil.copytree(files["netform"], lying)
    (lying / "assets.extra" / "netform.json").write_text(json.dumps({"netform_version": 3}))
    made["lying_meta"] = lying
    return made


def test_hostile_netform_savedmodels_are_refused_as_load_refuses_them(files: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    from netform.render import to_dot_source

    made = _hostile_netform_savedmodels(files, tmp_path)
    lying = made.pop("lying_meta")  # loading does not read the metadata; inspect refuses it both ways
    assert _error(lambda: nfs.inspect(lying)) == _error(lambda: nfs.inspect(lying, with_keras=True))
    assert _error(lambda: nfs.inspect(lying))[0] is FormatError  # type: ignore[index]
    assert len(made) >= 8
    for name, path in made.items():
        on_load = _error(lambda: nfs.load(path))  # noqa: B023
        assert on_load is not None, name
        assert _error(lambda: read_model(str(path), "savedmodel")) == on_load, name  # noqa: B023
        assert _error(lambda: read_config(str(path), "savedmodel")) == on_load, name  # noqa: B023
        assert _error(lambda: nfs.inspect(path)) == on_load, name  # noqa: B023
        assert _error(lambda: to_dot_source(path)) == on_load, name  # noqa: B023
    assert not (tmp_path / "MARKER").exists()


# --- a SavedModel another tool wrote --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "tf_module"])
def test_foreign_savedmodel_is_described_as_tensorflow_loads_it(files: dict[str, Any], kind: str) -> None:
    path = str(files[kind])
    assert read_model(path, "savedmodel") is None  # no embedded model
    with pytest.warns(UserWarning, match="inference-only"):
        with_tf = nfs.inspect(path, with_keras=True)
    info = nfs.inspect(path)
    assert info == with_tf
    loaded = tf.saved_model.load(path)
    variables = getattr(loaded, "variables", None) or files["module"].variables
    assert info["parameters"] == sum(int(v.numpy().size) for v in variables)
    assert info["inference_only"] and info["endpoint"] == "serving_default"
    fn = loaded.signatures["serving_default"]
    inputs = fn.structured_input_signature[1]
    assert [(r["name"], r["dtype"], r["shape"]) for r in info["signatures"]["serving_default"]["inputs"]] == [
        (k, inputs[k].dtype.name, inputs[k].shape.as_list()) for k in sorted(inputs)]
    if kind == "plain":  # Keras's export keeps the model's two inputs and its 174,790 + 2 seed scalars
        assert info["parameters"] == files["model"].count_params() + 2
        assert sorted(info["signatures"]) == ["serve", "serving_default"]
    else:
        assert info["signatures"]["serving_default"]["outputs"] == [
            {"name": "n", "dtype": "int32", "shape": []}, {"name": "y", "dtype": "float32", "shape": [None, 4]}]


def test_graph_ops_decoded_without_tensorflow_are_tensorflows(files: dict[str, Any], tmp_path: Path) -> None:
    """The allow-list sees the same operations in the same places, and refuses with load's own message."""
    from netform.saving._savedmodel import read_graph
    from tests.security import make_model_corpus as corpus

    marker = tmp_path / "MARKER"
    attacks = corpus.savedmodel_attacks(tmp_path, marker)
    v1 = str(tmp_path / "v1")
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:  # the saver in the main graph
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        y = tf.matmul(x, tf.compat.v1.get_variable("w", [3, 2]), name="y")
        session.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.Builder(v1)
        signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
        builder.save()
    paths = [*attacks.values(), files["plain"], files["tf_module"], v1]
    for path in paths:
        ours = [found for meta in read_saved_graph(str(path)) for found in refused_ops(meta)]
        theirs = [found for meta in read_graph(str(path)).meta_graphs for found in refused_ops(meta)]
        assert ours == theirs, path
    for name, path in attacks.items():
        on_load = _error(lambda: nfs.load(path))  # noqa: B023
        assert on_load is not None and on_load[0] is UnsafeFileError, name
        assert _error(lambda: nfs.inspect(path)) == on_load, name  # noqa: B023
    info = nfs.inspect(v1)
    with pytest.warns(UserWarning, match="inference-only"):
        assert info == nfs.inspect(v1, with_keras=True)
    assert info["parameters"] == 6 and info["signatures"]["serving_default"]["outputs"][0]["shape"] == [None, 2]
    assert describe_foreign(str(attacks["savedmodel_print_to_file"]), safe_mode=False) is not None
    assert not marker.exists()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _deep_attr(depth: int) -> bytes:
    """A ``NodeDef`` whose attribute nests ``func { attr { value { func ... } } }`` ``depth`` times."""
    value = b""
    for _ in range(depth):
        value = _field(10, _field(1, b"f") + _field(2, _field(1, b"k") + _field(2, value)))
    return _field(1, b"n") + _field(2, b"NoOp") + _field(5, _field(1, b"a") + _field(2, value))


@pytest.mark.parametrize("damage", ["truncated", "huge_length", "bad_wire_type", "long_varint", "not_utf8",
                                    "deep_nesting", "no_signatures"])
def test_hostile_graph_files_give_netforms_errors(files: dict[str, Any], tmp_path: Path, damage: str) -> None:
    path = tmp_path / f"{damage}_savedmodel"
    shutil.copytree(files["tf_module"], path)
    graph = path / "saved_model.pb"
    data = graph.read_bytes()
    data = {
        "truncated": data[: len(data) // 2],
        "huge_length": data + _varint(2 << 3 | 2) + _varint(2**40),
        "bad_wire_type": data + _varint(2 << 3 | 7),
        "long_varint": data + b"\xff" * 12,
        "not_utf8": _field(2, _field(2, _field(1, _field(1, b"\xff\xfe") + _field(2, b"NoOp")))),
        "deep_nesting": _field(2, _field(2, _deep_attr(2000))),
        "no_signatures": _field(2, _field(2, _field(1, _field(1, b"n") + _field(2, b"NoOp")))),
    }[damage]
    graph.write_bytes(data)
    refused = _error(lambda: nfs.inspect(path))
    assert refused is not None and refused[0] is FormatError, refused
    assert str(path) in refused[1]
    if damage != "deep_nesting":  # TensorFlow's parser stops at 100 levels; the reader does not recurse
        on_load = _error(lambda: nfs.load(path))
        assert on_load is not None and on_load[0] is refused[0]


def test_oversized_graph_is_refused_without_reading(files: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "big_savedmodel"
    shutil.copytree(files["tf_module"], path)
    with open(path / "saved_model.pb", "r+b") as fh:
        fh.truncate(6 * 2**30)  # sparse: costs no disk
    for safe_mode in (True, False):
        with pytest.raises(UnsafeFileError, match=r"saved_model.pb: the SavedModel graph is 6,442,450,944 bytes"):
            nfs.inspect(path, safe_mode=safe_mode)


# --- ONNX ----------------------------------------------------------------------------------------


def test_onnx_parameters_are_its_initializers(files: dict[str, Any]) -> None:
    if "onnx" not in files:
        pytest.skip("the ONNX export (netform[onnx]) is not installed")
    import numpy as np
    import onnx

    path = files["onnx"]
    proto = onnx.load(str(path))
    info = nfs.inspect(path)
    assert info["parameters"] == sum(int(np.prod(t.dims)) for t in proto.graph.initializer) > 100_000
    assert info["opset"] == proto.opset_import[0].version
    assert [i["name"] for i in info["inputs"]] == [i.name for i in proto.graph.input]
    bad = files["out"] / "bad.onnx"
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], data[:300]):  # refused by format detection or by the reader
        bad.write_bytes(damaged)
        with pytest.raises(FormatError):
            nfs.inspect(bad)
    for tail in (_varint(7 << 3 | 2) + _varint(2**40), _varint(7 << 3 | 3), b"\xff" * 12,
                 _field(7, _field(5, b"\x08\xff\xff")), _field(7, _field(11, _field(2, b"\x0a\x05")))):
        bad.write_bytes(data + tail)
        with pytest.raises(FormatError, match="the ONNX file is (truncated or )?corrupt"):
            nfs.inspect(bad)


def test_onnx_walk_is_bounded(files: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A message of more fields than MAX_ONNX_FIELDS is refused, not walked for minutes."""
    if "onnx" not in files:
        pytest.skip("the ONNX export (netform[onnx]) is not installed")
    from netform.saving import _export

    nodes = nfs.inspect(files["onnx"])  # within the bound
    monkeypatch.setattr(_export, "MAX_ONNX_FIELDS", 8)
    with pytest.raises(FormatError, match="holds more than 8 fields; a model's graph holds far fewer"):
        nfs.inspect(files["onnx"])
    assert nodes["parameters"] > 0


# --- the command line imports neither TensorFlow nor Keras ----------------------------------------

_CLI = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
heavy = ("tensorflow", "keras", "tf_keras", "onnx")
print("\\nMODULES " + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
sys.exit(code)
"""


@pytest.mark.parametrize("kind", ["netform", "plain", "onnx"])
def test_cli_inspect_imports_neither_tensorflow_nor_keras(files: dict[str, Any], kind: str) -> None:
    if kind == "onnx" and "onnx" not in files:
        pytest.skip("the ONNX export (netform[onnx]) is not installed")
    path = str(files[kind])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("NETFORM_INSPECT_WITH_KERAS", None)
    done = subprocess.run([sys.executable, "-c", _CLI, "inspect", "--format", "json", path], capture_output=True,
                          text=True, env=env, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    text, _, modules = done.stdout.rpartition("\nMODULES ")
    assert json.loads(modules) == []
    expected = nfs.inspect(path) if kind == "onnx" else nfs.inspect(path, with_keras=True)
    assert json.loads(text) == json.loads(json.dumps(expected, default=str))


def test_a_graph_of_too_many_fields_is_left_to_tensorflow(files: dict[str, Any], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding in Python is bounded: past MAX_FIELDS fields the loading path (TensorFlow's parser) answers."""
    from netform.saving import _savedmodel_reader as reader

    path = tmp_path / "many_savedmodel"
    shutil.copytree(files["tf_module"], path)
    graph = path / "saved_model.pb"
    metas = read_saved_graph(str(path))
    reader.signatures(metas[0])
    fields = reader.MAX_FIELDS - metas[0].wire.left  # what describing the file decodes
    graph.write_bytes(graph.read_bytes() + b"\x08\x01" * 5000)  # schema version, again and again: valid protobuf
    monkeypatch.setattr(reader, "MAX_FIELDS", fields + 1000)
    assert describe_foreign(str(path)) is None
    with pytest.warns(UserWarning, match="inference-only"):
        assert nfs.inspect(path) == nfs.inspect(path, with_keras=True)
    monkeypatch.setattr(reader, "MAX_FIELDS", fields + 6000)
    assert describe_foreign(str(path)) is not None


def _run_cli(*args: str) -> tuple[int, str, str, list[str]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _CLI, *args], capture_output=True, text=True, env=env, timeout=300,
                          check=False, cwd=ROOT)
    text, _, modules = done.stdout.rpartition("\nMODULES ")
    return done.returncode, text, done.stderr, json.loads(modules)


def test_cli_summary_and_export_spec_of_a_netform_savedmodel_import_no_tensorflow(files: dict[str, Any]) -> None:
    """The SavedModel's embedded model gives the same spec and summary as the model it was saved from."""
    path = str(files["netform"])
    code, text, err, modules = _run_cli("export-spec", path)
    assert code == 0, err[-2000:]
    assert modules == []
    assert nf.load_spec(text).model_dump() == nf.from_keras(files["model"]).model_dump()
    code, text, err, modules = _run_cli("summary", "--format", "json", path)
    assert code == 0, err[-2000:]
    assert modules == []
    assert json.loads(text)["total_params"] == files["model"].count_params()


@pytest.mark.parametrize("kind", ["plain", "tf_module"])
def test_cli_summary_of_a_savedmodel_without_architecture_is_a_format_error(files: dict[str, Any],
                                                                            kind: str) -> None:
    """A SavedModel with no Keras architecture has no summary: exit 5, naming `inspect`, without TensorFlow."""
    code, _text, err, modules = _run_cli("summary", str(files[kind]))
    assert code == 5, err[-2000:]
    assert "without a Keras architecture" in err and "netform inspect" in err
    assert modules == []
