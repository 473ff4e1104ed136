"""`netform predict` writes one row per input sample, or nothing.

An op the spec reference allows across the batch axis (``mean`` over axis 0 with ``keepdims``, ``max``
of the whole tensor, ``concatenate`` on axis 0) gives a batch of predictions whose row count is not
the batch's sample count. The writer announced one row per sample in the ``.npy`` header and padded the
rows the model did not give with zeros: 2,000 rows of which 1,992 were zeros, "wrote 8 prediction(s)",
exit 0. Now such a batch is a data error (exit 4) naming the output, both counts and the cause, and no
file is written (an existing one is left as it was, no temporary file is left beside it).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

_SPECS = {
    "mean0": ("[4, 6]", "{op: mean, in: x, axis: 0, keepdims: true}"),
    "max_all": ("[4, 6]", "{op: max, in: x, axis: null}"),
    "cat0": ("[3]", "{op: concatenate, in: [x, x], axis: 0}"),
    "plain": ("[3]", "{op: multiply, in: [x, x]}"),
}


def _model(tmp_path: Path, kind: str) -> Path:
    shape, node = _SPECS[kind]
    spec = tmp_path / f"{kind}.yaml"
    spec.write_text(f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}}}\nnodes:\n  n: {node}\noutputs: [n]\n")
    model = tmp_path / f"{kind}.keras"
    assert main(["build", str(spec), "-o", str(model)]) == 0
    return model


def _data(tmp_path: Path, kind: str, n: int) -> Path:
    shape = (n, 4, 6) if kind in ("mean0", "max_all") else (n, 3)
    path = tmp_path / f"d_{kind}.npz"
    np.savez(path, x=np.arange(np.prod(shape), dtype="float32").reshape(shape) + 1.0)
    return path


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize(
    ("kind", "suffix", "said"),
    [
        ("mean0", ".npy", "has 1 row for a batch of 32 samples"),
        ("mean0", ".npz", "has 1 row for a batch of 32 samples"),
        ("max_all", ".npy", "has one value of shape () for a batch of 32 samples"),
        ("cat0", ".npz", "has 64 rows for a batch of 32 samples"),
    ],
)
def test_a_batch_with_other_rows_than_samples_writes_nothing(
    tmp_path: Path, capsys, kind: str, suffix: str, said: str
) -> None:
    model, data = _model(tmp_path, kind), _data(tmp_path, kind, 200)
    out = tmp_path / "out" / f"p{suffix}"
    out.parent.mkdir()
    out.write_bytes(b"old predictions")
    capsys.readouterr()
    code = main(["predict", str(model), "--data", str(data), "-o", str(out), "--batch-size", "32"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert said in err and "batch axis (axis 0)" in err and "no prediction per sample" in err
    assert "'" in err and str(out) in err and "nothing was written" in err
    assert out.read_bytes() == b"old predictions"  # the file at -o is untouched
    assert _leftovers(out.parent, {out.name}) == []  # the atomic writer's temporary file is gone


def test_a_model_giving_one_row_per_sample_still_writes_them_all(tmp_path: Path, capsys) -> None:
    model, data = _model(tmp_path, "plain"), _data(tmp_path, "plain", 70)
    out = tmp_path / "p.npy"
    assert main(["predict", str(model), "--data", str(data), "-o", str(out), "--batch-size", "32"]) == 0
    x = np.load(data)["x"]
    np.testing.assert_array_equal(np.load(out), x * x)
    assert "wrote 70 prediction(s)" in capsys.readouterr().out


def test_the_writer_refuses_fewer_rows_than_announced_instead_of_zeros(tmp_path: Path) -> None:
    # A model without netform's predict_iter (a SavedModel signature) gives one array for all the data:
    # the writer checks its rows against the samples and pads nothing.
    from netform.cli._npy_stream import write_predictions
    from netform.errors import DataError

    out = tmp_path / "p.npy"
    with pytest.raises(DataError, match=r"has 1 row for 10 samples.*nothing was written"):
        write_predictions(out, iter([np.ones((1, 3), "float32")]), 10, ["y"], ["y"])
    assert not out.exists() and _leftovers(tmp_path, set()) == []
    with pytest.raises(DataError, match=r"'y' has 2 rows for 10 samples"):
        write_predictions(tmp_path / "p.npz", iter([np.ones((2, 3), "float32")]), 10, ["y"], ["y"])
    assert _leftovers(tmp_path, set()) == []


def test_predict_iter_tells_the_samples_of_each_batch_and_predict_stays_keras(tmp_path: Path) -> None:
    import keras

    from netform.saving import load

    model = load(_model(tmp_path, "mean0"), compile=False)
    x = np.load(_data(tmp_path, "mean0", 70))["x"]
    batches = model.predict_iter(x, batch_size=32)
    assert batches.samples is None
    seen = []
    for batch in batches:
        seen.append((len(batch), batches.samples))
    # One row per call of up to 1024 samples' worth of steps: the model's own output, not padded.
    assert sum(s for _, s in seen) == 70 and all(rows < samples for rows, samples in seen)
    # The in-memory predict joins the batches' outputs as Keras's does (3 batches: 3 rows).
    plain = keras.Model(model.inputs, model.outputs)
    np.testing.assert_allclose(
        model.predict(x, batch_size=32, verbose=0), plain.predict(x, batch_size=32, verbose=0), rtol=1e-6
    )
