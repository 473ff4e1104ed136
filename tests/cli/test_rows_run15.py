"""Inputs, targets and a ``--sample-weight`` column of another number of rows are refused before TensorFlow.

A weight column of 30 rows beside 32 samples was caught inside ``fit``, after TensorFlow was loaded and the
model built, with Keras's multi-line message (exit 4). Now ``train``, its ``--val-data`` and ``evaluate``
refuse it first, naming each part's rows (a data error, exit 4), and nothing is built.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.cli._columns import check_rows
from netform.errors import DataError

from .test_weights_float32_run14 import SPEC


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 2, 32)
    np.savez(tmp_path / "d.npz", x=x, y=y, w=np.ones(30), ok=np.ones(32))
    np.savez(tmp_path / "short_y.npz", x=x, y=y[:31])
    return tmp_path


@pytest.mark.parametrize(
    ("data", "extra", "said"),
    [
        ("d.npz", ["--sample-weight", "w"], "--x 32, --y 32, --sample-weight w 30 rows"),
        ("short_y.npz", [], "--x 32, --y 31 rows"),
    ],
)
def test_train_refuses_rows_that_disagree_before_tensorflow(
    work: Path, capsys: pytest.CaptureFixture[str], data: str, extra: list[str], said: str
) -> None:
    was_loaded = "tensorflow" in sys.modules
    capsys.readouterr()
    code = main(["train", "s.yaml", "--data", data, "--x", "x", "--y", "y", *extra, "-o", "m.keras"])
    err = capsys.readouterr().err
    assert code == 4 and said in err, err
    assert not (work / "m.keras").exists()
    if not was_loaded:
        assert "tensorflow" not in sys.modules


def test_rows_that_agree_pass() -> None:
    check_rows("d.npz", np.ones((3, 2)), [np.ones(3), np.ones((3, 1))], np.ones(3), "w")
    with pytest.raises(DataError, match="--sample-weight w 2 rows"):
        check_rows("d.npz", np.ones((3, 2)), np.ones(3), np.ones(2), "w")
