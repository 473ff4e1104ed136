"""``model.export(format="onnx"|"litert")`` writes as ``nf.save`` writes: beside the target, then renamed.

Keras's export opened the target itself: it followed a link planted at the name (a user's file became the
model) and wrote over a user's file of that name, and a failed write left a cut file. The method now refuses
anything but an earlier export of the same format and keeps the earlier file on a failed write; Keras's own
errors (a LiteRT name without ``.tflite``, a missing folder for LiteRT) are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

import netform as nf
from netform.errors import SaveError

pytestmark = pytest.mark.tf

SPEC = (
    "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: [16]}\nlayers:\n"
    "  - {type: Dense, units: 32, activation: relu}\n  - {type: Dense, units: 2}\n"
)
X = np.linspace(-1, 1, 4 * 16, dtype="float32").reshape(4, 16)
FORMATS = [("onnx", "m.onnx"), ("litert", "m.tflite")]


@pytest.fixture(scope="module")
def model() -> Any:
    m = nf.build(nf.load_spec(SPEC))
    m.predict(X, verbose=0)  # Keras's ONNX export needs a model that was called
    return m


@contextlib.contextmanager
def _file_size_limit(size: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(path: Path, fmt: str) -> np.ndarray:
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: X})[0]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], X.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], X)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_an_export_is_written_again_by_a_rename_and_serves_the_model(model, tmp_path, fmt, name, capsys) -> None:
    target = tmp_path / name
    model.export(str(target), format=fmt)
    first = os.stat(target).st_ino
    model.export(target, format=fmt)  # an earlier export of the same format is replaced
    assert os.stat(target).st_ino != first
    assert sorted(os.listdir(tmp_path)) == [name]
    np.testing.assert_allclose(_run(target, fmt), model.predict(X, verbose=0), rtol=1e-4, atol=1e-5)
    printed = capsys.readouterr().out
    assert f"Saved artifact at '{target}'" in printed and ".nf-tmp-" not in printed, printed


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_a_link_a_user_file_or_a_folder_at_the_name_is_refused_and_kept(model, tmp_path, fmt, name) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("my secret")
    (tmp_path / "link").mkdir()
    os.symlink(secret, tmp_path / "link" / name)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / name).write_text("my notes")
    (tmp_path / "folder" / name).mkdir(parents=True)
    (tmp_path / "folder" / name / "keep.txt").write_text("mine")
    for where, why in (("link", "symbolic link"), ("user", "my notes"), ("folder", "")):
        with pytest.raises(SaveError, match=why):
            model.export(str(tmp_path / where / name), format=fmt)
    assert secret.read_text() == "my secret" and os.path.islink(tmp_path / "link" / name)
    assert (tmp_path / "user" / name).read_text() == "my notes"
    assert (tmp_path / "folder" / name / "keep.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path / "user")) == [name]


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_a_failed_export_is_a_save_error_and_keeps_the_earlier_file(model, tmp_path, fmt, name) -> None:
    target = tmp_path / name
    model.export(str(target), format=fmt)
    before = _digest(target)
    with _file_size_limit(200), pytest.raises(SaveError, match=r"could not export the (ONNX|LiteRT) model"):
        model.export(str(target), format=fmt)
    assert _digest(target) == before
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left beside it


def test_keras_errors_and_folders_are_kept(model, tmp_path) -> None:
    import keras

    plain = keras.Sequential([keras.Input((16,)), keras.layers.Dense(2)])
    plain.predict(X, verbose=0)
    for exporter in (plain, model):  # the same error, in Keras's words, from both
        with pytest.raises(ValueError, match=r"requires the filepath to end with '\.tflite'"):
            exporter.export(str(tmp_path / "m.bin"), format="litert")
        with pytest.raises(FileNotFoundError):
            exporter.export(str(tmp_path / "missing" / "m.tflite"), format="litert")
    model.export(str(tmp_path / "made" / "m.onnx"), format="onnx")  # Keras's ONNX export makes the folder
    plain.export(str(tmp_path / "made_by_keras" / "m.onnx"), format="onnx")
    assert (tmp_path / "made" / "m.onnx").is_file() and (tmp_path / "made_by_keras" / "m.onnx").is_file()
    assert not os.path.exists(tmp_path / "m.bin") and not os.path.exists(tmp_path / "missing")
