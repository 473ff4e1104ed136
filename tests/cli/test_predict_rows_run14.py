"""`netform predict` refuses a model whose rows are a statistic of their batch that a reordered batch keeps.

``out = x * 0 + max(x, axis=0, keepdims=True)`` gives every row its batch's maximum. The probe predicted the
first batch again reordered, one sample left out and one given twice; when the batch's maximum is given by
two samples (or by one that is kept), the reordered batch has the same maximum, every row "followed its
sample", and predict wrote rows none of which is its sample's prediction (exit 0). Now a few samples of the
first batch (the last, the largest and the smallest by their sum, the first) are also predicted each alone,
as a batch of one, and each row must be its sample's row in the batch: a data error (exit 4), nothing
written. A model that keeps the batch axis writes the same rows as before.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.cli._predict_rows import alone_indices

_MAX = "  m: {op: max, in: x, axis: 0, keepdims: true}\n"
_MIN = "  m: {op: min, in: x, axis: 0, keepdims: true}\n"
_SORT = "  m: {op: sort, in: x, axis: 0}\n"
_TOPK = "  t: {op: transpose, in: x}\n  k: {op: top_k, in: t, k: 1}\n  m: {op: transpose, in: k.0}\n"
_MIX = "  z: {op: multiply, in: [x, 0.0]}\n  o: {op: add, in: [z, m]}\n"


def _model(tmp_path: Path, nodes: str) -> Path:
    spec = tmp_path / "m.yaml"
    spec.write_text(f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n{nodes}outputs: [o]\n")
    model = tmp_path / "m.keras"
    assert main(["build", str(spec), "-o", str(model)]) == 0
    return model


def _data(tmp_path: Path, extreme: float) -> Path:
    """Random values in [0, 1), but the first two samples are the batch's extreme (given twice)."""
    x = np.random.default_rng(0).random((100, 4)).astype("float32")
    x[:2] = extreme
    path = tmp_path / "x.npz"
    np.savez(path, x=x)
    return path


def _predict(model: Path, data: Path, out: Path, *extra: str) -> int:
    return main(["predict", str(model), "--data", str(data), "-o", str(out), *extra])


@pytest.mark.parametrize(
    ("nodes", "extreme"),
    [(_MAX, 10.0), (_MIN, -10.0), (_SORT, 10.0), (_TOPK, 10.0)],
    ids=["max", "min", "sort", "top_k"],
)
@pytest.mark.parametrize("extra", [(), ("--batch-size", "8")])
def test_rows_holding_a_batch_extreme_are_refused(tmp_path: Path, capsys, nodes: str, extreme: float, extra) -> None:
    model = _model(tmp_path, nodes + _MIX)
    out = tmp_path / "out.npy"
    out.write_bytes(b"old")
    capsys.readouterr()
    code = _predict(model, _data(tmp_path, extreme), out, *extra)
    err = capsys.readouterr().err
    assert code == 4, err
    # A sorted batch moves rows the reordered batch tells already; a batch extreme, only a sample alone.
    said = "rows did not follow their samples" if nodes == _SORT else "predicted alone, has another row than in"
    assert said in err and "nothing was written" in err
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.yaml", "out.npy", "x.npz"]


@pytest.mark.parametrize("n", [1, 2, 5, 70])
def test_a_model_keeping_the_batch_axis_writes_the_same_rows(tmp_path: Path, capsys, n: int) -> None:
    model = _model(tmp_path, "  d: {op: multiply, in: [x, x]}\n  o: {op: subtract, in: [d, 0.5]}\n")
    x = np.random.default_rng(1).normal(size=(n, 4)).astype("float32")
    x[:2] = 10.0  # the extremes the probe looks for are a model's own rows here
    data = tmp_path / "x.npz"
    np.savez(data, x=x)
    out = tmp_path / "out.npy"
    assert _predict(model, data, out, "--batch-size", "32") == 0, capsys.readouterr().err
    np.testing.assert_array_equal(np.load(out), x * x - np.float32(0.5))
    assert f"wrote {n} prediction(s)" in capsys.readouterr().out


def test_a_fixed_batch_size_model_is_probed_at_its_batch_size(tmp_path: Path, capsys) -> None:
    import keras

    i = keras.Input(batch_shape=(8, 4), name="x")
    model = keras.Model(i, keras.layers.Dense(3, name="d")(i))
    path = tmp_path / "fb.keras"
    model.save(path)
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    data = tmp_path / "x.npz"
    np.savez(data, x=x)
    out = tmp_path / "out.npy"
    assert _predict(path, data, out, "--batch-size", "8") == 0, capsys.readouterr().err
    np.testing.assert_allclose(np.load(out), model.predict(x, batch_size=8, verbose=0), rtol=1e-6, atol=1e-6)


def test_the_samples_predicted_alone_include_the_extremes_and_the_left_out_one() -> None:
    scores = np.array([3.0, 9.0, -4.0, 1.0, 0.0, 2.0])
    assert alone_indices(6, scores) == [5, 1, 2, 0]
    assert alone_indices(6, None) == [5, 0, 1, 2]
    assert alone_indices(2, np.array([1.0, 1.0])) == [1, 0]
    assert alone_indices(3, np.array([0.0, 0.0, 5.0])) == [2, 0, 1]
    for k in (2, 3, 4, 32):
        got = alone_indices(k, np.arange(k, dtype=float))
        assert len(got) == min(4, k) == len(set(got)) and k - 1 in got and 0 in got


def test_a_fixed_batch_size_model_mixing_its_batch_is_refused(tmp_path: Path, capsys) -> None:
    import keras

    i = keras.Input(batch_shape=(8, 4), name="x")
    model = keras.Model(i, i * 0.0 + keras.ops.max(i, axis=0, keepdims=True))
    path = tmp_path / "fb.keras"
    model.save(path)
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    x[:2] = 10.0
    data = tmp_path / "x.npz"
    np.savez(data, x=x)
    out = tmp_path / "out.npy"
    capsys.readouterr()
    assert _predict(path, data, out, "--batch-size", "8") == 4
    assert "predicted alone, has another row than in its batch" in capsys.readouterr().err and not out.exists()
