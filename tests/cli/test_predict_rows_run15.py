"""`netform predict` probes the first batch whose samples differ, not only the first batch.

The probe that refuses a model mixing the samples of a batch (``x * 0 + max(x, axis=0)``) predicted the first
batch again reordered and a few of its samples alone. When the first batch's samples are all alike (a data
file beginning with repeated rows), every probe of it passes: a statistic of equal samples is each sample's
own row. The later batches were then predicted mixed and written (exit 0). Every batch is predicted before
anything is written, so the probe now takes the first batch whose samples are not all alike.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from netform.cli._predict_rows import _probe_start

from .test_predict_rows_run14 import _MAX, _MIX, _model, _predict


def _data(tmp_path: Path, alike: int, n: int = 100) -> Path:
    x = np.random.default_rng(0).random((n, 4)).astype("float32")
    x[:alike] = 0.5
    path = tmp_path / "x.npz"
    np.savez(path, x=x)
    return path


@pytest.mark.parametrize(
    ("alike", "size"), [(32, "32"), (64, "32"), (16, "8"), (96, "32"), (5, "2")], ids=["32", "64", "16", "96", "5"]
)
def test_a_first_batch_of_equal_samples_no_longer_hides_a_mixing_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alike: int, size: str
) -> None:
    model = _model(tmp_path, _MAX + _MIX)
    out = tmp_path / "out.npy"
    capsys.readouterr()
    code = _predict(model, _data(tmp_path, alike), out, "--batch-size", size)
    err = capsys.readouterr().err
    assert code == 4, err
    start = alike - alike % int(size)
    assert f"from sample {start} on (the first batch whose samples differ)" in err and "nothing was written" in err
    assert not out.exists()


def test_data_of_equal_samples_only_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Where every batch holds equal samples, a batch maximum is each sample's own row: nothing to refuse."""
    model = _model(tmp_path, _MAX + _MIX)
    out = tmp_path / "out.npy"
    assert _predict(model, _data(tmp_path, 100), out, "--batch-size", "32") == 0, capsys.readouterr().err
    np.testing.assert_array_equal(np.load(out), np.full((100, 4), 0.5, np.float32))


def test_a_model_keeping_the_batch_axis_is_written_after_equal_samples(tmp_path: Path, capsys) -> None:
    model = _model(tmp_path, "  d: {op: multiply, in: [x, x]}\n  o: {op: subtract, in: [d, 0.5]}\n")
    data = _data(tmp_path, 40)
    out = tmp_path / "out.npy"
    assert _predict(model, data, out, "--batch-size", "32") == 0, capsys.readouterr().err
    x = np.load(data)["x"]
    np.testing.assert_array_equal(np.load(out), x * x - np.float32(0.5))


def test_the_probe_starts_at_the_first_batch_whose_samples_differ() -> None:
    x = np.zeros((10, 2), np.float32)
    assert _probe_start(x, 10, 4) == 0  # all alike: the first
    x[9] = 1
    assert _probe_start(x, 10, 4) == 8
    assert _probe_start(x, 10, 3) == 0  # the batch [9:10] holds one sample: alike
    x[5] = 2
    assert _probe_start(x, 10, 4) == 4
    two = [np.zeros((6, 1)), np.array(["a"] * 5 + ["b"], dtype=object)]
    assert _probe_start(two, 6, 2) == 4


_SIZED = (
    "  ones: {op: ones_like, in: x}\n  n: {op: sum, in: ones, axis: 0, keepdims: true}\n"
    "  a: {op: subtract, in: [n, 1.0]}\n  b: {op: subtract, in: [n, 32.0]}\n  c: {op: multiply, in: [a, b]}\n"
    "  d: {op: add, in: [c, 1.0]}\n  o: {op: multiply, in: [x, d]}\n"
)


@pytest.mark.parametrize(("n", "refused"), [(70, True), (64, False), (33, False)])
def test_rows_depending_on_the_batch_size_alone_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], n: int, refused: bool
) -> None:
    """Each row x * f(size) with f(1) = f(32) = 1: the probe's batch of 32 and its samples alone agree, the last
    batch of 70 samples (6) was scaled by f(6) = -129 and written. 64 samples make no short batch (nothing to
    refuse: every batch is of 32); 33 leave one sample, a batch of one, which the probe tries already."""
    model = _model(tmp_path, _SIZED)
    out = tmp_path / "out.npy"
    capsys.readouterr()
    code = _predict(model, _data(tmp_path, 0, n=n), out, "--batch-size", "32")
    err = capsys.readouterr().err
    if refused:
        assert code == 4 and "predicted as a batch of 6 (the size of the data's last batch)" in err, err
        assert not out.exists()
    else:
        assert code == 0, err
