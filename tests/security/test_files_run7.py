"""Nothing lost, nothing run: files a save must not replace, links a reader must not follow.

Every hostile file is made here from a real save (no committed binaries):

* a file named ``x.onnx`` that is not an ONNX model (a TensorFlow
  ``saved_model.pb``, a user's 35-byte protobuf note, ONNX models with a field
  too many, a byte too many or a field missing) is refused by a save with a
  SaveError naming what is there, while netform's own export is replaced;
* a ``.keras`` archive whose weights file holds a layer group that no layer of
  its config has (a user's array under ``layers/zzz``) is refused;
* the shard of sharded weights that is a link out of its folder is refused by
  ``load_weights`` and ``netform inspect`` (UnsafeFileError);
* ``-o`` naming the command's own input (the same file, through a link, or a
  file inside an input folder) is a usage error (exit 2) and the input is kept;
  ``convert m.keras m.keras`` rewrites the same model in place;
* Ctrl-C during ``netform train`` with a user's file at ``out.interrupted.keras``
  keeps that file, saves the model under the first free numbered name, says
  where, and exits 130 (before: exit 5, the model saved nowhere).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import SaveError, UnsafeFileError
from netform.saving._onnx_layout import onnx_problem

from ._helpers import inner_h5, rezip

NOTE = b"\x08\x01\x1a\x1fmy very important research data"


def _dense() -> keras.Model:
    inputs = keras.Input((4,), name="x")
    return keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs), name="m")


def _refused(model: keras.Model, path: Path, pattern: str) -> None:
    before = path.read_bytes()
    with pytest.raises(SaveError, match=pattern):
        nf.save(model, str(path))
    assert path.read_bytes() == before


# --- 1. A file named .onnx is replaced only when it is laid out as an ONNX model -------------------


def test_onnx_save_keeps_a_savedmodel_graph_and_a_user_protobuf(tmp_path: Path) -> None:
    model = _dense()
    nf.save(model, str(tmp_path / "sm"), format="savedmodel")
    graph = tmp_path / "graph.onnx"
    graph.write_bytes((tmp_path / "sm" / "saved_model.pb").read_bytes())
    _refused(model, graph, r"graph\.onnx: is a TensorFlow SavedModel graph \(saved_model\.pb\).*not an ONNX model")
    notes = tmp_path / "notes.onnx"
    notes.write_bytes(NOTE)
    _refused(model, notes, r"notes\.onnx: is a 35-byte file .*IR version 1 .*not an ONNX model")


def test_an_onnx_export_is_replaced_and_passes_the_walk(tmp_path: Path) -> None:
    pytest.importorskip("tf2onnx")
    model, path = _dense(), tmp_path / "m.onnx"
    nf.save(model, str(path))
    first = path.read_bytes()
    assert onnx_problem(first) is None
    model.layers[-1].kernel.assign(np.ones((4, 2), "float32"))
    nf.save(model, str(path))  # the earlier export is replaced
    assert path.read_bytes() != first and onnx_problem(path.read_bytes()) is None


def _model_bytes(**changes: object) -> bytes:
    """An ONNX model made with ``onnx.helper`` (an If with two subgraphs), checked by ONNX's checker."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    then = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "then", [], [out])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "else", [], [out])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="if")
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
        ],
        [out],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])],
    )
    model = helper.make_model(graph, producer_name="t", opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    for name, value in changes.items():
        if name == "no_nodes":
            del model.graph.node[:]
        elif name == "no_outputs":
            del model.graph.output[:]
        elif name == "no_opset":
            del model.opset_import[:]
        elif name == "ir_version":
            model.ir_version = int(value)  # type: ignore[call-overload]
    return bytes(model.SerializeToString())


def test_onnx_walk_accepts_subgraphs_and_refuses_broken_layouts() -> None:
    good = _model_bytes()
    assert onnx_problem(good) is None
    cases = {
        "IR version 1 ": _model_bytes(ir_version=1),
        "IR version 99 ": _model_bytes(ir_version=99),
        "no opset_import": _model_bytes(no_opset=True),
        "graph has no nodes": _model_bytes(no_nodes=True),
        "graph has no outputs": _model_bytes(no_outputs=True),
        "field 9 is no field": good + b"\x4a\x00",  # one more field (9, empty)
        "runs past": good + b"\x72\x05ab",  # metadata_props cut short
        "appears twice": good + b"\x08\x08",  # ir_version again
    }
    for expected, data in cases.items():
        problem = onnx_problem(data)
        assert problem is not None and expected in problem, (expected, problem)
    assert "producer_name is not UTF-8" in str(onnx_problem(good.replace(b"\x12\x01t", b"\x12\x01\xff", 1)))
    assert onnx_problem(NOTE) == "IR version 1 (an ONNX model declares 3 to 64)"


# --- 2. A weights group that matches no layer of the config is someone's data ----------------------------------


@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_keras_archive_with_a_group_of_no_layer_is_not_replaced(tmp_path: Path, writer: str) -> None:
    model = _dense()
    source = tmp_path / "a.keras"
    nf.save(model, str(source)) if writer == "netform" else model.save(str(source))
    nf.save(model, str(source))  # an earlier save (by netform or by plain Keras) is replaced

    def add(f: h5py.File) -> None:
        f["layers/zzz/vars/0"] = np.arange(12.0)  # a user's array, in Keras's layout, under no layer's name

    def add_nth(f: h5py.File) -> None:
        f["layers/dense_3/vars/0"] = np.arange(4.0)  # a fourth Dense where the model has one

    for name, edit in (("b", add), ("c", add_nth)):
        target = Path(rezip(str(source), str(tmp_path / f"{name}.keras"), inner_h5(edit)))
        _refused(
            model, target, r"holding data Keras never writes \(layers/(zzz|dense_3) \(no layer of the model config"
        )


def test_legacy_h5_with_a_group_of_no_layer_is_not_replaced(tmp_path: Path) -> None:
    model, target = _dense(), tmp_path / "a.h5"
    nf.save(model, str(target))
    nf.save(model, str(target))
    with h5py.File(target, "a") as f:
        f["model_weights/zzz/zzz/notes"] = np.arange(12.0)
        f["model_weights/zzz"].attrs["weight_names"] = [b"zzz/notes"]
    _refused(model, target, r"model_weights/zzz \(no layer of the model config is named so\)")


# --- 3. A shard of sharded weights that links out of its folder is never read ----------------------------------


def test_a_weights_shard_linking_out_of_its_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _dense()
    (tmp_path / "idx").mkdir()
    (tmp_path / "outside").mkdir()
    index = tmp_path / "idx" / "sh.weights.json"
    nf.save_weights(model, str(index), max_shard_size=0.00001)
    shards = sorted(p.name for p in (tmp_path / "idx").iterdir() if p.name.endswith(".weights.h5"))
    nf.load_weights(_dense(), str(index))  # the save itself loads
    assert main(["inspect", str(index)]) == 0
    secret = tmp_path / "outside" / "secret.weights.h5"
    shutil.move(str(tmp_path / "idx" / shards[0]), secret)
    os.symlink(secret, tmp_path / "idx" / shards[0])
    with pytest.raises(UnsafeFileError, match=r"a weights shard is a link pointing outside its index's folder"):
        nf.load_weights(_dense(), str(index))
    capsys.readouterr()
    assert main(["inspect", str(index)]) == 6
    assert "link pointing outside" in capsys.readouterr().err
    os.unlink(tmp_path / "idx" / shards[0])  # a link inside the folder is followed, as in a SavedModel folder
    shutil.move(str(secret), tmp_path / "idx" / "real.h5")
    os.symlink("real.h5", tmp_path / "idx" / shards[0])
    nf.load_weights(_dense(), str(index))


# --- 5. -o never names the command's own input ------------------------------------------------------------------


@pytest.fixture
def cli_files(tmp_path: Path) -> Path:
    _dense().save(str(tmp_path / "plain.keras"))
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((16, 4)).astype("float32"), y=np.arange(16) % 2)
    (tmp_path / "spec.yaml").write_text(
        "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n  - {type: Dense, units: 2}\n"
        "training:\n  loss: sparse_categorical_crossentropy\n  epochs: 1\n"
    )
    os.symlink("d.npz", tmp_path / "link.npz")
    os.link(tmp_path / "plain.keras", tmp_path / "hard.keras")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "argv, kept",
    [
        (["predict", "plain.keras", "--data", "d.npz", "-o", "d.npz"], "d.npz"),
        (["predict", "plain.keras", "--data", "d.npz", "-o", "link.npz"], "d.npz"),  # through a link
        (["predict", "plain.keras", "--data", "./sub/../d.npz", "-o", "d.npz"], "d.npz"),  # another spelling
        (["export-spec", "plain.keras", "-o", "plain.keras"], "plain.keras"),
        (["export-spec", "plain.keras", "-o", "hard.keras"], "plain.keras"),  # a hard link: the same file
        (["export-spec", "folder", "-o", "folder/spec.yaml"], "spec.yaml"),  # inside an input folder
        (["train", "spec.yaml", "--data", "d.npz", "-o", "spec.yaml"], "spec.yaml"),
    ],
)
def test_output_naming_an_input_is_a_usage_error(
    cli_files: Path, argv: list[str], kept: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(cli_files)
    (cli_files / "sub").mkdir()
    before = {p.name: p.read_bytes() for p in cli_files.iterdir() if p.is_file()}
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "the command's own input" in err and "Name " in err
    assert {p.name: p.read_bytes() for p in cli_files.iterdir() if p.is_file()} == before
    assert (cli_files / kept).exists()


def test_convert_onto_itself_rewrites_the_same_model(cli_files: Path) -> None:
    path = cli_files / "plain.keras"
    weights = [w.copy() for w in keras.saving.load_model(str(path)).get_weights()]
    assert main(["convert", str(path), str(path)]) == 0
    assert all(np.array_equal(a, b) for a, b in zip(weights, nf.load(str(path)).get_weights()))
    assert sorted(p.name for p in cli_files.iterdir()) == [
        "d.npz",
        "folder",
        "hard.keras",
        "link.npz",
        "plain.keras",
        "spec.yaml",
    ]


# --- 6. Ctrl-C exits 130 and saves the model under a free name ---------------------------------------------------


def test_ctrl_c_keeps_a_user_file_at_the_interrupted_name_and_exits_130(
    cli_files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netform.cli import _train_cmds

    enter = _train_cmds._Interrupt.__enter__

    def ctrl_c_at_once(self: _train_cmds._Interrupt) -> _train_cmds._Interrupt:
        enter(self)
        self.requested = True  # as the SIGINT handler does: training stops after its first step
        return self

    monkeypatch.setattr(_train_cmds._Interrupt, "__enter__", ctrl_c_at_once)
    monkeypatch.chdir(cli_files)
    (cli_files / "out.interrupted.keras").write_text("my notes")
    (cli_files / "out.interrupted-1.keras").write_text("more notes")
    argv = ["train", "spec.yaml", "--data", "d.npz", "--verbose", "0", "-o", "out.keras", "training.batch_size=4"]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert "saved the interrupted model → out.interrupted-2.keras [keras]" in captured.out
    assert "out.interrupted.keras is kept" in captured.err and "Traceback" not in captured.err
    assert (cli_files / "out.interrupted.keras").read_text() == "my notes"
    assert (cli_files / "out.interrupted-1.keras").read_text() == "more notes"
    assert not (cli_files / "out.keras").exists()
    assert nf.load("out.interrupted-2.keras").output_shape == (None, 2)
    assert main(argv) == 130  # an earlier interrupted model of netform's is replaced; the user's files stay
    assert "saved the interrupted model → out.interrupted-2.keras [keras]" in capsys.readouterr().out
    assert (cli_files / "out.interrupted.keras").read_text() == "my notes"
