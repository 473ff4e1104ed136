"""Two more ways a callback's files met a training backup's, now refused by validate (and train).

* A BackupAndRestore folder inside what TensorBoard writes into its ``log_dir`` (its ``train/`` or
  ``validation/``): Keras deletes that folder, logs and all, at the end of training (netform's
  TrainingBackup, which owns only its state, lock and marker there, may share it). The reverse (a backup folder above the logs) was refused already.
* A callback file inside another run's training backup (a folder holding netform's backup lock or marker):
  a CSVLogger at ``bk/state/log.csv`` stopped the training backing up there, and one named
  ``bk/netform-backup.lock`` made its resume refused.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netform.cli import main


def _spec(tmp_path: Path, callbacks: str) -> Path:
    text = (
        "netform: 1\nname: m\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 2}\n"
        "training:\n  loss: mse\n  epochs: 2\n  callbacks:\n" + textwrap.indent(textwrap.dedent(callbacks), "    ")
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("kind", ["BackupAndRestore"])
@pytest.mark.parametrize("inside", ["tb/train", "tb/validation", "tb/train/deeper"])
@pytest.mark.parametrize("first", [True, False])
def test_a_backup_inside_tensorboards_logs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, inside: str, first: bool
) -> None:
    tensorboard = "- {type: TensorBoard, log_dir: tb}\n"
    backup = f"- {{type: {kind}, backup_dir: {inside}}}\n"
    spec = _spec(tmp_path, backup + tensorboard if first else tensorboard + backup)
    assert main(["validate", str(spec), "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    at = "0" if first else "1"
    assert f"training.callbacks[{at}].backup_dir: {kind}.backup_dir '{inside}'" in err
    assert "lies in what TensorBoard.log_dir 'tb'" in err and "outside the logs" in err


def test_a_training_backup_inside_tensorboards_logs_validates(tmp_path: Path) -> None:
    """netform's TrainingBackup owns only its state, lock and marker there, and deletes nothing else."""
    spec = _spec(tmp_path, "- {type: TensorBoard, log_dir: tb}\n- {type: TrainingBackup, backup_dir: tb/train}\n")
    assert main(["validate", str(spec), "--out-dir", str(tmp_path)]) == 0


def test_a_backup_beside_tensorboards_logs_validates(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "- {type: TensorBoard, log_dir: tb}\n- {type: BackupAndRestore, backup_dir: tb/bk}\n")
    assert main(["validate", str(spec), "--out-dir", str(tmp_path)]) == 0


@pytest.mark.parametrize("marker", ["netform-backup.lock", "netform-backup.created"])
@pytest.mark.parametrize(
    "callback",
    [
        "{type: CSVLogger, filename: bk/state/log.csv}",
        "{type: CSVLogger, filename: bk/netform-backup.lock}",
        "{type: ModelCheckpoint, filepath: bk/state/m.keras}",
        "{type: TensorBoard, log_dir: bk/state}",
        "{type: BackupAndRestore, backup_dir: bk/state}",
    ],
)
def test_a_callback_file_inside_another_runs_backup_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], marker: str, callback: str
) -> None:
    (tmp_path / "bk" / "state").mkdir(parents=True)
    (tmp_path / "bk" / marker).write_text("x")
    spec = _spec(tmp_path, f"- {callback}\n")
    assert main(["validate", str(spec), "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    if marker in callback:  # the marker file itself is there: refused first as a file the run did not write
        assert "never replaces a file it did not write" in err
    else:
        assert "lies inside the training backup folder" in err and "backup lock or marker" in err


def test_a_callback_file_beside_another_runs_backup_validates(tmp_path: Path) -> None:
    (tmp_path / "bk" / "state").mkdir(parents=True)
    (tmp_path / "bk" / "netform-backup.lock").write_text("x")
    spec = _spec(tmp_path, "- {type: CSVLogger, filename: bk/log.csv}\n")
    assert main(["validate", str(spec), "--out-dir", str(tmp_path)]) == 0
