"""A callback file inside the folder of a spec's training backup is refused before anything is written.

Keras's ``BackupAndRestore`` deletes its whole ``backup_dir`` at the end of training, so a ``ModelCheckpoint``
or ``CSVLogger`` writing inside it would see its files vanish after the run said they were written. netform's
``TrainingBackup`` replaces its ``state/`` subfolder as a whole and owns its lock and marker files. ``validate``
and ``train`` refuse such a path as a located SpecError on the inner callback, naming both callbacks and the fix;
``train`` also for a ``--backup-dir`` folder.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform.builder
from netform.cli import main


def _spec(tmp_path: Path, callbacks: str) -> Path:
    text = textwrap.dedent("""\
        netform: 1
        name: cbt
        kind: sequential
        inputs:
          x: {shape: [4]}
        layers:
          - {type: Dense, units: 3, activation: softmax}
        training:
          loss: sparse_categorical_crossentropy
          epochs: 2
          callbacks:
        """) + textwrap.indent(textwrap.dedent(callbacks), "    ")
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(16, 4)).astype("float32"), y=rng.integers(0, 3, size=16))
    monkeypatch.chdir(tmp_path)
    return tmp_path


ATTACK = """\
    - {type: BackupAndRestore, backup_dir: bk}
    - {type: ModelCheckpoint, filepath: 'bk/best.keras'}
    - {type: CSVLogger, filename: 'bk/log.csv'}
    """


def test_validate_refuses_files_inside_a_backup_and_restore_folder(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(work, ATTACK)
    rc = main(["validate", "--out-dir", "od", str(spec)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert rc == 1, text
    assert "training.callbacks[1].filepath" in text and "training.callbacks[2].filename" in text, text
    assert "t.yaml:13:" in text and "t.yaml:14:" in text, text  # located on the inner callbacks
    assert "BackupAndRestore.backup_dir 'bk' (training.callbacks[0])" in text, text
    assert "deletes the whole folder at the end of training" in text, text
    assert "ModelCheckpoint.filepath 'bk/best.keras'" in text and "CSVLogger.filename 'bk/log.csv'" in text, text


def test_train_refuses_them_before_anything_is_built_or_written(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although the spec is refused")

    monkeypatch.setattr(netform.builder, "build", never)
    spec = _spec(work, ATTACK)
    rc = main(["train", str(spec), "--data", "d.npz", "--out-dir", "od", "-o", "final.keras", "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "training.callbacks[1].filepath" in err and "inside" in err, err
    assert not (work / "od").exists()


@pytest.mark.parametrize(
    ("callbacks", "inner"),
    [
        # the same folder reached through `./` and `x/..`
        (
            "- {type: BackupAndRestore, backup_dir: ./bk/}\n- {type: CSVLogger, filename: 'sub/../bk/deep/log.csv'}\n",
            "CSVLogger.filename",
        ),
        # a TensorBoard log_dir inside, and a TrainingBackup folder inside it
        ("- {type: BackupAndRestore, backup_dir: bk}\n- {type: TensorBoard, log_dir: bk/tb}\n", "TensorBoard.log_dir"),
        (
            "- {type: BackupAndRestore, backup_dir: bk}\n- {type: TrainingBackup, backup_dir: bk/exact}\n",
            "TrainingBackup.backup_dir",
        ),
        # listed before the backup: still the inner one is located
        ("- {type: CSVLogger, filename: bk/log.csv}\n- {type: BackupAndRestore, backup_dir: bk}\n", "CSVLogger"),
    ],
)
def test_every_form_of_inside_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str], callbacks: str, inner: str
) -> None:
    spec = _spec(work, callbacks)
    rc = main(["validate", str(spec)])
    text = "".join(capsys.readouterr())
    assert rc == 1, text
    assert inner in text and "lies inside" in text, text


def test_a_folder_reached_through_a_link_is_the_same_folder(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "bk").mkdir()
    os.symlink("bk", work / "alias")
    spec = _spec(work, "- {type: BackupAndRestore, backup_dir: bk}\n- {type: CSVLogger, filename: alias/log.csv}\n")
    rc = main(["validate", str(spec)])
    text = "".join(capsys.readouterr())
    assert rc == 1 and "lies inside" in text, text


def test_training_backup_claims_its_state_and_lock_files_only(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # netform's own backup removes only its own files: a log beside its `state/` is kept, so it is allowed.
    ok = _spec(work, "- {type: TrainingBackup, backup_dir: bk}\n- {type: CSVLogger, filename: bk/log.csv}\n")
    assert main(["validate", str(ok)]) == 0, "".join(capsys.readouterr())
    capsys.readouterr()
    bad = _spec(
        work, "- {type: TrainingBackup, backup_dir: bk}\n- {type: ModelCheckpoint, filepath: bk/state/m.keras}\n"
    )
    assert main(["validate", str(bad)]) == 1
    text = "".join(capsys.readouterr())
    assert "ModelCheckpoint.filepath 'bk/state/m.keras'" in text and "TrainingBackup.backup_dir 'bk'" in text, text
    assert "replaces as a whole" in text, text


def test_keras_backup_without_delete_claims_its_own_files_only(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = _spec(
        work,
        "- {type: BackupAndRestore, backup_dir: bk, delete_checkpoint: false}\n"
        "- {type: CSVLogger, filename: bk/log.csv}\n",
    )
    assert main(["validate", str(ok)]) == 0, "".join(capsys.readouterr())
    capsys.readouterr()
    bad = _spec(
        work,
        "- {type: BackupAndRestore, backup_dir: bk, delete_checkpoint: false}\n"
        "- {type: ModelCheckpoint, filepath: bk/latest.weights.h5, save_weights_only: true}\n",
    )
    assert main(["validate", str(bad)]) == 1
    assert "lies inside" in "".join(capsys.readouterr())


def test_train_refuses_a_callback_file_inside_backup_dir(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although the spec is refused")

    monkeypatch.setattr(netform.builder, "build", never)
    spec = _spec(work, "- {type: CSVLogger, filename: bk/state/log.csv}\n")
    rc = main(["train", str(spec), "--data", "d.npz", "--out-dir", "run", "--backup-dir", "run/bk", "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "CSVLogger.filename" in err and "--backup-dir run/bk" in err, err
    assert not (work / "run").exists()


def test_separate_folders_train_and_keep_every_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(
        work,
        "- {type: BackupAndRestore, backup_dir: bk}\n"
        "- {type: ModelCheckpoint, filepath: 'ck/best.keras'}\n"
        "- {type: CSVLogger, filename: 'bkx/log.csv'}\n",  # a sibling whose name starts like the folder's
    )
    rc = main(["train", str(spec), "--data", "d.npz", "--out-dir", "od", "--verbose", "0"])
    assert rc == 0, "".join(capsys.readouterr())
    assert (work / "od" / "ck" / "best.keras").is_file() and (work / "od" / "bkx" / "log.csv").is_file()
    assert not (work / "od" / "bk").exists()
