"""`netform predict` refuses a model whose rows are not its samples' predictions, even when the counts agree.

A model that moves the batch axis (``transpose`` with ``axes: [1, 0, 2]`` on an input of 4 rows) gives 4
rows for a batch of 4 samples, each row one position of every sample; ``moments`` over axis 0 gives as
many rows as the input has positions. The writer compared only the row counts: "wrote 8 prediction(s)",
exit 0. Now an output whose first axis has a fixed size while the inputs' is the batch is refused at once,
and a probe on the first batch (the same samples reordered, one left out and one given twice) refuses a
model whose rows do not follow their samples: a data error (exit 4), nothing written.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.cli._predict_rows import probe_indices


def _model(tmp_path: Path, name: str, shape: str, node: str) -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}}}\nnodes:\n  o: {node}\noutputs: [o]\n"
    )
    model = tmp_path / f"{name}.keras"
    assert main(["build", str(spec), "-o", str(model)]) == 0
    return model


def _data(tmp_path: Path, shape: tuple[int, ...]) -> Path:
    path = tmp_path / "x.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=shape).astype("float32"))
    return path


def _predict(model: Path, data: Path, out: Path, *extra: str) -> int:
    return main(["predict", str(model), "--data", str(data), "-o", str(out), *extra])


@pytest.mark.parametrize(
    ("node", "n", "extra"),
    [
        ("{op: transpose, in: x, axes: [1, 0, 2]}", 8, ("--batch-size", "4")),
        ("{op: transpose, in: x, axes: [1, 0, 2]}", 4, ()),
        ("{op: moments, in: x, axes: [0]}", 4, ()),
    ],
)
def test_an_output_whose_first_axis_is_fixed_is_refused(tmp_path: Path, capsys, node: str, n: int, extra) -> None:
    model = _model(tmp_path, "m", "[4, 6]", node)
    out = tmp_path / "out.npy"
    capsys.readouterr()
    code = _predict(model, _data(tmp_path, (n, 4, 6)), out, *extra)
    err = capsys.readouterr().err
    assert code == 4, err
    assert "whose first axis is not the batch" in err and "(4, " in err and "nothing was written" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".npy") == []


def test_a_model_moving_the_batch_axis_of_unknown_size_is_refused_by_the_probe(tmp_path: Path, capsys) -> None:
    # The input's first axis after the batch has no fixed size: the output's static shape is (None, None, 6).
    model = _model(tmp_path, "t", "[null, 6]", "{op: transpose, in: x, axes: [1, 0, 2]}")
    out = tmp_path / "out.npz"
    out.write_bytes(b"old")
    capsys.readouterr()
    code = _predict(model, _data(tmp_path, (8, 8, 6)), out, "--batch-size", "8")
    err = capsys.readouterr().err
    assert code == 4, err
    assert "rows did not follow their samples" in err and "first 8 samples" in err and "nothing was written" in err
    assert out.read_bytes() == b"old"


def test_a_model_mixing_the_samples_of_a_batch_is_refused_by_the_probe(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "mix.yaml"
    spec.write_text(
        "netform: 1\nkind: functional\ninputs: {x: {shape: [3]}}\nnodes:\n"
        "  m: {op: mean, in: x, axis: 0, keepdims: true}\n  o: {op: subtract, in: [x, m]}\noutputs: [o]\n"
    )
    model = tmp_path / "mix.keras"
    assert main(["build", str(spec), "-o", str(model)]) == 0
    out = tmp_path / "out.npy"
    capsys.readouterr()
    code = _predict(model, _data(tmp_path, (10, 3)), out, "--batch-size", "5")
    err = capsys.readouterr().err
    assert code == 4, err
    assert "rows did not follow their samples" in err and not out.exists()


@pytest.mark.parametrize(("n", "extra"), [(70, ("--batch-size", "32")), (5, ()), (1, ()), (2, ())])
def test_a_model_keeping_the_batch_axis_still_writes_every_row(tmp_path: Path, capsys, n: int, extra) -> None:
    model = _model(tmp_path, "p", "[4, 6]", "{op: transpose, in: x, axes: [0, 2, 1]}")
    data = _data(tmp_path, (n, 4, 6))
    out = tmp_path / "p.npy"
    assert _predict(model, data, out, *extra) == 0, capsys.readouterr().err
    np.testing.assert_array_equal(np.load(out), np.load(data)["x"].transpose(0, 2, 1))
    assert f"wrote {n} prediction(s)" in capsys.readouterr().out


def test_the_probe_moves_every_row_but_one_and_changes_the_batch() -> None:
    assert probe_indices(2) == [1, 1]
    for k in (3, 4, 32):
        q = probe_indices(k)
        assert len(q) == k and len(set(q)) == k - 1 and k - 1 not in q
        assert sum(q[i] == i for i in range(k)) == 0
        rev = [k - 1 - i for i in range(k)]
        # Not a rotation's nor a reversal's reindexing: a model applying one to the batch axis is seen.
        assert [q[j] for j in rev] != [rev[j] for j in q]
        roll = [(i - 1) % k for i in range(k)]
        assert [q[j] for j in roll] != [roll[j] for j in q]
