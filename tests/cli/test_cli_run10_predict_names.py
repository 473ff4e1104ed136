"""`netform predict` writes no archive member named by a path, and shows warnings as one line.

A foreign SavedModel's output names come from its signature, so from the file: an output named
``../../x`` was written as the ``.npz`` member ``../../x.npy``, a name netform refuses in archives it reads
(a tool that unpacks the archive writes outside its folder). The load warning was printed by Python with
netform's source file and line.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from netform.cli import main


def _saved_model(path: Path, output: str) -> Path:
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {output: x * 2.0}

    module = Module()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


@pytest.mark.parametrize("output", ["../../escaped", "/abs/escaped", "a\\b", ".."])
def test_an_output_named_by_a_path_is_not_written_to_an_npz(tmp_path: Path, output: str, capsys) -> None:
    model = _saved_model(tmp_path / "sm", output)
    np.savez(tmp_path / "d.npz", x=np.ones((4, 3), "float32"))
    code = main(["predict", str(model), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "p.npz")])
    err = capsys.readouterr().err
    assert code == 5 and "cannot name an array of an .npz archive" in err
    assert not (tmp_path / "p.npz").exists() and not list(tmp_path.rglob("escaped*"))
    # the warning is one netform line, not Python's file:line display
    assert "warning: " in err and "UserWarning" not in err and ".py:" not in err
    # to an .npy file it is written under the name the user gives
    code = main(["predict", str(model), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "p.npy")])
    assert code == 0 and np.load(tmp_path / "p.npy").tolist() == [[2.0, 2.0, 2.0]] * 4
