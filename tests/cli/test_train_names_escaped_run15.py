"""``train`` and ``predict`` print the paths they were given escaped (``saved → PATH``, ``wrote … → PATH``).

A file name holding ESC, BEL or a newline reached the terminal raw in these lines (an escape sequence, or a
forged line of output), as it did in validate's, render's and build's before.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

from .test_weights_float32_run14 import SPEC


def test_train_and_predict_escape_the_names_they_print(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(8, 4)).astype("float32"), y=rng.integers(0, 2, 8))
    model = "m\x1b[2J\x07\nfake.keras"
    capsys.readouterr()
    assert main(["train", "s.yaml", "--data", "d.npz", "--x", "x", "--y", "y", "-o", model]) == 0
    out = capsys.readouterr().out
    saved = [line for line in out.splitlines() if line.startswith("saved")]  # (Keras's progress bar has its own)
    assert saved == ["saved → m\\x1b[2J\\x07\\nfake.keras [keras]"], out
    predictions = "p\x1b]0;title\x07.npy"
    assert main(["predict", model, "--data", "d.npz", "--x", "x", "-o", predictions]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].endswith("→ p\\x1b]0;title\\x07.npy"), out
