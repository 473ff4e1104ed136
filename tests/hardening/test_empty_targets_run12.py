"""An empty file is no earlier save, and a weights-only file is refused without TensorFlow.

* ``nf.save`` refuses a zero-byte file at a ``.keras``, ``.h5``, ``.weights.h5``, ``.onnx`` or
  ``.tflite`` target with a ``SaveError`` naming the file and the fix (it replaced all but
  ``.tflite``'s before, where the README allowed replacing an empty target only for ``.tflite``);
  the file is left as it was. An empty folder is still a place a SavedModel is saved into.
* ``netform export-spec`` of a weights-only file refuses it as before (``load``'s message, exit 5)
  without importing TensorFlow or Keras (it imported both, 6.2 s and 524 MB, to refuse it).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import netform.saving as nfs
from netform.errors import SaveError
from netform.saving._api import check_save_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    keras = pytest.importorskip("keras")
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny")


@pytest.mark.parametrize("name", ["e.keras", "e.h5", "e.weights.h5", "e.onnx", "e.tflite"])
def test_an_empty_file_is_not_replaced(tmp_path: Path, model, name: str) -> None:
    target = tmp_path / name
    target.write_bytes(b"")
    os.chmod(target, 0o600)
    with pytest.raises(SaveError) as caught:
        nfs.save(model, target)
    message = str(caught.value)
    assert message.startswith(f"{target}: is an empty file")
    assert "not an earlier save" in message and "Delete it yourself, or choose another name" in message
    assert target.read_bytes() == b"" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == [name]
    with pytest.raises(SaveError, match="is an empty file"):
        check_save_path(target)  # the check save runs, without a model


def test_an_empty_weights_file_is_not_replaced_by_save_weights(tmp_path: Path, model) -> None:
    target = tmp_path / "w.weights.h5"
    target.write_bytes(b"")
    with pytest.raises(SaveError, match="is an empty file"):
        nfs.save_weights(model, target)
    assert target.read_bytes() == b""


def test_an_empty_folder_still_takes_a_savedmodel(tmp_path: Path, model) -> None:
    (tmp_path / "sm").mkdir()
    nfs.save(model, tmp_path / "sm", format="savedmodel")
    assert nfs.detect_format(tmp_path / "sm") == "savedmodel"


def test_export_spec_refuses_a_weights_file_without_tensorflow(tmp_path: Path, model) -> None:
    weights = tmp_path / "base.weights.h5"
    nfs.save_weights(model, weights)
    code = (
        "import contextlib, io, json, sys\n"
        "from netform.cli._main import main\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err):\n"
        f"    rc = main(['export-spec', {str(weights)!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(json.dumps([rc, err.getvalue(), heavy]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=True
    )
    rc, err, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert rc == 5
    assert f"{weights}: holds only weights (weights_h5), not a model. Build the model and use load_weights" in err
    assert heavy == []
