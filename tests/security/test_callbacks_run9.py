"""A spec's callback files, found by a blind attack: a CSVLogger never replaces a user's table, and a refused
callback file is a located SpecError (exit 1) at ``validate`` and at ``train``, before anything is written.

A CSVLogger replaced a CSV whose header was ``epoch,x1,x2,x3,y`` (even the run's own ``--data``): a log is
replaced only when each of its columns is a value this training logs, and a file the run reads never is.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from netform.cli import main
from netform.errors import EngineError

SPEC = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 2, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
      epochs: 1
      batch_size: 8
    """)

# A user's table whose header starts with `epoch` and whose rows are numbers.
TABLE = "epoch,x1,x2,x3,y\n" + "".join(f"{i},0.{i + 1},0.{i + 2},0.{i + 3},{i % 2}\n" for i in range(16))
LOCATED = re.compile(r"s\.yaml:\d+:\d+: training\.callbacks\[0\]\.(filename|backup_dir|log_dir): ")


def _spec(folder: Path, callback: str) -> Path:
    path = folder / "s.yaml"
    path.write_text(SPEC + f"  callbacks: [{callback}]\n")
    return path


def _train(spec: Path, data: Path, out: Path, *more: str) -> int:
    return main(
        ["train", str(spec), "--data", str(data), "--x", "epoch,x1,x2,x3", "--y", "y", "--out-dir", str(out), *more]
    )


# --- F09: a CSVLogger replaces only a log of this training ---------------------------------------------------


def test_csvlogger_never_replaces_the_runs_own_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.csv"
    data.write_text(TABLE)
    spec = _spec(tmp_path, "{type: CSVLogger, filename: data.csv}")
    assert _train(spec, data, tmp_path) == 1
    err = capsys.readouterr().err
    assert LOCATED.search(err) and "the --data file, which this run reads" in err, err
    assert data.read_text() == TABLE


def test_csvlogger_never_replaces_a_users_table_starting_with_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text(TABLE)
    data = tmp_path / "data.csv"
    data.write_text(TABLE)
    spec = _spec(tmp_path, "{type: CSVLogger, filename: results.csv}")
    assert main(["validate", str(spec), "--out-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert LOCATED.search(err) and "its column 'x1' is not a value this training logs" in err, err
    assert _train(spec, data, out) == 1
    assert "its column 'x1' is not a value this training logs" in capsys.readouterr().err
    assert (out / "results.csv").read_text() == TABLE


def test_the_runs_data_is_refused_even_when_it_reads_as_a_log_and_by_another_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Columns that are all logged values (a log used as data), reached through a link to its folder."""
    table = "epoch,loss,val_loss,learning_rate,accuracy\n" + "".join(f"{i},0.5,0.6,0.001,{i % 2}\n" for i in range(16))
    (tmp_path / "logs").mkdir()
    data = tmp_path / "logs" / "data.csv"
    data.write_text(table)
    out = tmp_path / "out"
    out.mkdir()
    (out / "here").symlink_to(tmp_path / "logs")
    spec = _spec(tmp_path, "{type: CSVLogger, filename: here/data.csv}")
    code = main(
        ["train", str(spec), "--data", str(data), "--x", "epoch,loss,val_loss,learning_rate", "--y", "accuracy",
         "--out-dir", str(out), "--allow-paths"]
    )  # fmt: skip
    assert code == 1
    assert "the --data file, which this run reads" in capsys.readouterr().err
    assert data.read_text() == table
    val = tmp_path / "val.csv"
    val.write_text(table)
    spec = _spec(tmp_path, "{type: CSVLogger, filename: ../val.csv}")
    code = main(
        ["train", str(spec), "--data", str(data), "--val-data", str(val), "--x", "epoch,loss,val_loss,learning_rate",
         "--y", "accuracy", "--out-dir", str(out), "--allow-paths"]
    )  # fmt: skip
    assert code == 1
    assert "the --val-data file, which this run reads" in capsys.readouterr().err
    assert val.read_text() == table


def test_fit_from_training_config_replaces_only_a_log_of_its_own_values(tmp_path: Path) -> None:
    from netform.engine import fit_from_training_config

    def model() -> keras.Model:
        inp = keras.Input((4,), name="x")
        return keras.Model(inp, [keras.layers.Dense(2, name="a")(inp), keras.layers.Dense(1, name="b")(inp)])

    x = np.zeros((8, 4), "float32")
    y = [np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")]
    training = {
        "loss": ["mse", "mse"],
        "metrics": [[keras.metrics.MeanAbsoluteError(name="err")], [{"type": "RootMeanSquaredError"}]],
        "validation_split": 0.25,
        "callbacks": [{"type": "CSVLogger", "filename": "log.csv"}],
    }
    (tmp_path / "log.csv").write_text(TABLE)
    with pytest.raises(EngineError, match=r"training\.callbacks\[0\]: .*its column 'x1' is not a value"):
        fit_from_training_config(model(), training, x, y, verbose=0, out_dir=tmp_path)
    assert (tmp_path / "log.csv").read_text() == TABLE
    (tmp_path / "log.csv").unlink()
    for _ in range(2):  # the second run replaces the first run's log (per-output and val_ columns)
        fit_from_training_config(model(), training, x, y, verbose=0, out_dir=tmp_path)
    header = (tmp_path / "log.csv").read_text().splitlines()[0]
    assert {"a_err", "b_root_mean_squared_error", "val_b_loss"} <= set(header.split(",")), header
    # A model built later (its output names unknown): a column after any output's name is still a logged one.
    fit_from_training_config(model, training, x, y, verbose=0, out_dir=tmp_path)
    (tmp_path / "log.csv").write_text("epoch,a_loss,a_notes\n0,1.0,2.0\n")
    with pytest.raises(EngineError, match=r"its column 'a_notes' is not a value"):
        fit_from_training_config(model, training, x, y, verbose=0, out_dir=tmp_path)


# --- F10: a refused callback file is a located SpecError at validate and at train ---------------------------


def _make_notes(out: Path) -> None:
    (out / "notes.csv").write_text("USER notes\n")


def _make_backup(out: Path) -> None:
    (out / "bk").mkdir()
    (out / "bk" / "precious.txt").write_text("x\n")


def _make_tensorboard_link(out: Path) -> None:
    (out / "tb").mkdir()
    (out.parent / "elsewhere").mkdir()
    (out / "tb" / "train").symlink_to(out.parent / "elsewhere")


@pytest.mark.parametrize(
    ("callback", "make", "words"),
    [
        ("{type: CSVLogger, filename: notes.csv}", _make_notes, "which is not a CSVLogger log"),
        ("{type: BackupAndRestore, backup_dir: bk}", _make_backup, "already holds other files (precious.txt)"),
        ("{type: TensorBoard, log_dir: tb}", _make_tensorboard_link, "holds train, a symbolic link"),
    ],
)
def test_a_refused_callback_file_is_a_located_spec_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], callback: str, make: object, words: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    make(out)  # type: ignore[operator]
    spec = _spec(tmp_path, callback)
    data = tmp_path / "d.csv"
    data.write_text(TABLE)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    cwd = os.getcwd()
    os.chdir(out)  # validate resolves under the working directory by default, as train does
    try:
        assert main(["validate", str(spec)]) == 1
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert LOCATED.search(err) and words in err, err
    assert main(["validate", str(spec), "--out-dir", str(out), "--format", "json"]) == 1
    assert words in capsys.readouterr().out
    assert main(["validate", str(spec), "--out-dir", str(tmp_path / "new")]) == 0  # nothing there yet
    capsys.readouterr()
    assert _train(spec, data, out, "-o", str(tmp_path / "m.keras")) == 1
    err = capsys.readouterr().err
    assert LOCATED.search(err) and words in err, err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing written
