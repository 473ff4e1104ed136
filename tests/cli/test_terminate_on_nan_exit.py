"""``TerminateOnNaN(raise_error: true)`` stopping ``netform train`` is a training error (exit 4), not exit 70.

Keras's callback raises a ``RuntimeError`` when the loss becomes NaN; the CLI printed "unexpected
RuntimeError ... This is a bug in netform" and exited 70, on data holding one NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netform.cli._main import main

SPEC = """\
netform: 1
name: nan
kind: sequential
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  epochs: 2
  callbacks:
    - {type: TerminateOnNaN, raise_error: true}
"""


def test_a_nan_loss_stopping_training_is_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    x[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(64) % 3)
    (tmp_path / "s.yaml").write_text(SPEC)
    code = main(
        [
            "train",
            str(tmp_path / "s.yaml"),
            "--data",
            str(tmp_path / "nan.npz"),
            "--verbose",
            "0",
            "--out-dir",
            str(tmp_path),
            "-o",
            str(tmp_path / "n.keras"),
        ]
    )
    assert code == 4
    err = capsys.readouterr().err
    assert "TerminateOnNaN" in err and "NaN" in err and "bug" not in err
