"""A spec's training callbacks never delete, overwrite or trip over a user's files, found by a blind attack.

BackupAndRestore's folder holds only files Keras wrote (Keras reads them to resume, then deletes the folder);
CSVLogger replaces only a log it wrote; TensorBoard's ``train``/``validation`` are folders. Settings Keras
takes and then fails on while training are located errors at validate.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from netform.cli import main
from netform.engine._config import resolve_callbacks
from netform.errors import EngineError

SPEC = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3, activation: relu}
      - {type: Dense, units: 2, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      batch_size: 4
      epochs: 1
    """)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.normal(size=(16, 4)).astype("float32"), y=rng.integers(0, 2, 16))
    return path


def _spec(tmp_path: Path, extra: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(SPEC + textwrap.indent(textwrap.dedent(extra), "  "))
    return path


def _train(spec: Path, data: Path, out: Path) -> int:
    return main(["train", str(spec), "--data", str(data), "--y", "y", "--out-dir", str(out)])


# --- BackupAndRestore: only Keras's own files ------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        '{"epoch": 0, "batch": -1, "my_data": "precious"}',  # Keras's keys and more: deleted at the end
        '{"my thesis": "chapter 1"}',  # KeyError 'epoch' in Keras
        "my diary, not json",  # JSONDecodeError in Keras
        '{"epoch": "0", "batch": -1}',
    ],
)
def test_a_users_training_metadata_is_refused(tmp_path: Path, data: Path, content: str) -> None:
    backup = tmp_path / "out" / "bkr"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text(content)
    spec = _spec(tmp_path, "callbacks: [{type: BackupAndRestore, backup_dir: bkr}]\n")
    with pytest.raises(EngineError, match=r"training_metadata.json, which is not a backup Keras wrote"):
        resolve_callbacks([{"type": "BackupAndRestore", "backup_dir": "bkr"}], out_dir=tmp_path / "out")
    assert _train(spec, data, tmp_path / "out") == 1
    assert (backup / "training_metadata.json").read_text() == content


def test_a_users_weights_file_in_the_backup_folder_is_refused(tmp_path: Path) -> None:
    backup = tmp_path / "out" / "bkr"
    backup.mkdir(parents=True)
    (backup / "latest.weights.h5.bkp").write_bytes(b"my weights, not HDF5")
    with pytest.raises(EngineError, match=r"latest.weights.h5.bkp, which is not a backup Keras wrote"):
        resolve_callbacks(
            [{"type": "BackupAndRestore", "backup_dir": "bkr", "delete_checkpoint": False}], out_dir=tmp_path / "out"
        )


def test_a_backup_keras_wrote_is_resumed_from(tmp_path: Path) -> None:
    """Keras's own files (written by Keras's BackupAndRestore, kept with delete_checkpoint=False) pass."""
    backup = tmp_path / "out" / "bkr"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(loss="mse")
    cb = keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False)
    model.fit(np.zeros((4, 4)), np.zeros((4, 2)), epochs=1, verbose=0, callbacks=[cb])
    assert set(json.loads((backup / "training_metadata.json").read_text())) == {"epoch", "batch"}
    (out,) = resolve_callbacks(
        [{"type": "BackupAndRestore", "backup_dir": "bkr", "delete_checkpoint": False}], out_dir=tmp_path / "out"
    )
    assert isinstance(out, keras.callbacks.BackupAndRestore)


# --- CSVLogger: only a log it wrote ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"epoch,accuracy,my notes\n0,0.9,experiment with lr 1e-3 on the lab GPU\n1,0.95,best run - keep!\n",
        b"epoch,loss\n\x00\x01\xff\xfe binary\n",
        b"epoch,loss\n0,1.0,extra\n",
        b"epoch,loss\n0,fine\n",
    ],
)
def test_a_users_table_starting_with_epoch_is_not_a_csv_log(tmp_path: Path, data: Path, content: bytes) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.csv").write_bytes(content)
    spec = _spec(tmp_path, "callbacks: [{type: CSVLogger, filename: notes.csv}]\n")
    with pytest.raises(EngineError, match=r"notes.csv' would replace .*which is not a CSVLogger log"):
        resolve_callbacks([{"type": "CSVLogger", "filename": "notes.csv"}], out_dir=out)
    assert _train(spec, data, out) == 1
    assert (out / "notes.csv").read_bytes() == content


def test_a_log_keras_wrote_is_replaced(tmp_path: Path) -> None:
    """A log written by Keras's CSVLogger (with validation, nan and a separator) passes."""
    log = tmp_path / "log.csv"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(loss="mse", metrics=["mae"])
    x = np.zeros((4, 4))
    y = np.array([[np.nan, 0]] * 4)
    model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(log), ";")])
    assert log.read_text().startswith("epoch;loss;mae")
    resolve_callbacks([{"type": "CSVLogger", "filename": "log.csv", "separator": ";"}], out_dir=tmp_path)


# --- TensorBoard: train/ and validation/ are folders ----------------------------------------------------


@pytest.mark.parametrize("sub", ["train", "validation"])
def test_a_users_file_where_tensorboard_writes_a_folder_is_refused(tmp_path: Path, data: Path, sub: str) -> None:
    (tmp_path / "out" / "tb").mkdir(parents=True)
    (tmp_path / "out" / "tb" / sub).write_text("user file")
    spec = _spec(tmp_path, "callbacks: [{type: TensorBoard, log_dir: tb}]\n")
    with pytest.raises(EngineError, match=rf"holds .*tb/{sub}, which is not a folder"):
        resolve_callbacks([{"type": "TensorBoard", "log_dir": "tb"}], out_dir=tmp_path / "out")
    assert _train(spec, data, tmp_path / "out") == 1
    assert (tmp_path / "out" / "tb" / sub).read_text() == "user file"


# --- validate: settings Keras takes and fails on while training --------------------------------------


@pytest.mark.parametrize(
    "extra, where, words",
    [
        ('callbacks: [{type: CSVLogger, filename: l.csv, separator: ""}]\n', "callbacks[0]", "separator '' is not one"),
        ("callbacks: [{type: CSVLogger, filename: l.csv, separator: ';;'}]\n", "callbacks[0]", "separator ';;' is not"),
        ("metrics: [{type: Precision, class_id: 7}]\n", "metrics[0].class_id", "predicts 2 class"),
        ("metrics: [{type: Recall, class_id: -1}]\n", "metrics[0].class_id", "between 0 and 1"),
        ("callbacks: [{type: SwapEMAWeights, swap_on_epoch: true}]\n", "callbacks[0]", "use_ema: true"),
    ],
)
def test_validate_locates_what_keras_fails_on_in_training(tmp_path: Path, extra: str, where: str, words: str) -> None:
    from netform.spec import load_spec
    from netform.errors import SpecError

    with pytest.raises(SpecError, match=rf"training\.{re.escape(where)}: .*{words}"):
        load_spec(_spec(tmp_path, extra))


@pytest.mark.parametrize(
    "loss", ["{type: SparseCategoricalCrossentropy, axis: 5}", "{type: CategoricalCrossentropy, axis: -3}"]
)
def test_a_loss_axis_past_the_output_is_located(tmp_path: Path, loss: str) -> None:
    from netform.errors import SpecError
    from netform.spec import load_spec

    text = SPEC.replace("loss: sparse_categorical_crossentropy", f"loss: {loss}")
    with pytest.raises(SpecError, match=r"training\.loss\.axis: .*has 2 axes"):
        load_spec(text)
    # Keras takes it at compile and fails on the first step.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(axis=5))
    with pytest.raises(Exception):
        model.fit(np.zeros((4, 4)), np.zeros(4), verbose=0)


def test_the_valid_settings_still_validate(tmp_path: Path) -> None:
    from netform.spec import load_spec

    load_spec(
        _spec(
            tmp_path,
            """\
            optimizer: {type: Adam, use_ema: true}
            metrics: [{type: Precision, class_id: 1}]
            callbacks: [{type: CSVLogger, filename: l.csv, separator: ';'}, {type: SwapEMAWeights}]
            """,
        )
    )
    load_spec(
        SPEC.replace("loss: sparse_categorical_crossentropy", "loss: {type: SparseCategoricalCrossentropy, axis: -1}")
    )


@pytest.mark.parametrize("loss", ["{type: Huber, delta: 1.0}", "{type: CategoricalFocalCrossentropy, gamma: 2.0}"])
def test_integer_labels_for_a_dense_loss_are_a_data_error(
    tmp_path: Path, data: Path, loss: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keras raises ValueError at the first step; on the command line it is the data's fault (exit 4)."""
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("loss: sparse_categorical_crossentropy", f"loss: {loss}"))
    assert _train(spec, data, tmp_path / "out") == 4
    err = capsys.readouterr().err
    assert "the labels do not fit the loss" in err and "check the labels' shape and type" in err


def test_a_csv_past_the_read_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log is read whole to check it: a file past the limit is refused, never read."""
    from netform.spec import _callback_files

    (tmp_path / "big.csv").write_text("epoch,loss\n" + "0,1.0\n" * 100)
    monkeypatch.setattr(_callback_files, "_CSV_LOG_LIMIT", 256)
    with pytest.raises(EngineError, match=r"which is larger than .*too large to check"):
        resolve_callbacks([{"type": "CSVLogger", "filename": "big.csv"}], out_dir=tmp_path)


def test_a_csv_log_without_validation_values_is_keras_s(tmp_path: Path) -> None:
    """Keras writes NA for a value an epoch did not log (val_loss of a run without validation data)."""
    log = tmp_path / "log.csv"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(loss="mse")
    x, y = np.zeros((4, 4)), np.zeros((4, 2))
    model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(log))])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(log), append=True)])
    assert log.read_text().splitlines()[-1].endswith(",NA")
    resolve_callbacks([{"type": "CSVLogger", "filename": "log.csv"}], out_dir=tmp_path)
