"""Ways out of the output folder, and ways to lose a file, found by a blind attack and closed.

A spec's callbacks write only inside ``--out-dir``: a file with another name outside (a hard link), a link
planted in a folder Keras writes into (TensorBoard's ``train/``) or a user's file that a checkpoint template
can name are refused before training starts. The command line writes only regular files: ``-o`` onto a FIFO
or a device node is a usage error, never a rename over it.
"""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform import _files
from netform.cli import main
from netform.engine._config import resolve_callbacks
from netform.errors import EngineError

SPEC = textwrap.dedent("""\
    netform: 1
    name: tiny
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 2, name: out}
    training:
      loss: mse
      epochs: 2
      batch_size: 8
      callbacks:
    """)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.normal(size=(16, 4)).astype("float32"), y=rng.normal(size=(16, 2)).astype("float32"))
    return path


def test_a_hard_link_to_a_file_outside_is_never_a_csv_log(tmp_path: Path) -> None:
    """`ln outside/keep.csv out/x.csv`: the log would rewrite the file outside (both names are one file)."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "out").mkdir()
    keep = tmp_path / "outside" / "keep.csv"
    keep.write_text("epoch,loss\n0,1\n")
    os.link(keep, tmp_path / "out" / "x.csv")
    with pytest.raises(EngineError, match=r"x.csv' would replace .*which has other names \(hard links\)"):
        resolve_callbacks([{"type": "CSVLogger", "filename": "x.csv"}], out_dir=tmp_path / "out")
    assert keep.read_text() == "epoch,loss\n0,1\n"


@pytest.mark.parametrize("callback, planted", [
    ({"type": "TensorBoard", "log_dir": "tb"}, "tb/train"),
    ({"type": "TensorBoard", "log_dir": "tb"}, "tb/validation"),
    ({"type": "TensorBoard"}, "logs/plugins/profile"),
    ({"type": "BackupAndRestore", "backup_dir": "bk", "delete_checkpoint": False}, "bk/latest.weights.h5"),
])
def test_a_link_planted_inside_a_callback_folder_is_refused(tmp_path: Path, callback: dict[str, object],
                                                            planted: str) -> None:
    """Keras makes and writes `train/`, `validation/`, … inside the folder: a link there leads out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    link = tmp_path / "out" / planted
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    inside = planted.split("/", 1)[1]  # the link's path inside the callback's folder
    with pytest.raises(EngineError, match=rf"holds {inside}, a symbolic link, which Keras would write through"):
        resolve_callbacks([callback], out_dir=tmp_path / "out")
    assert os.listdir(outside) == []


def test_tensorboard_through_a_planted_link_never_writes_outside(tmp_path: Path, data: Path) -> None:
    """The attack end to end: `train` refuses before writing anything, and `outside/` stays empty."""
    out, outside = tmp_path / "out", tmp_path / "outside"
    (out / "tb").mkdir(parents=True)
    outside.mkdir()
    (out / "tb" / "train").symlink_to(outside)
    spec = out / "s.yaml"
    spec.write_text(SPEC + "    - {type: TensorBoard, log_dir: tb}\n")
    code = main(["train", str(spec), "--data", str(data), "--out-dir", str(out), "-o", str(out / "m.keras")])
    assert code == 1  # a located SpecError, as validate reports it
    assert os.listdir(outside) == [] and not (out / "m.keras").exists()


def test_a_users_file_a_checkpoint_template_can_name_is_refused_before_training(tmp_path: Path) -> None:
    """`m{epoch}.keras` beside a user's `m1.keras`: refused at once, not after a training whose model is lost."""
    (tmp_path / "m1.keras").write_bytes(b"my own notes")
    with pytest.raises(EngineError, match=r"can name .*m1.keras, which is not a model file netform or Keras wrote"):
        resolve_callbacks([{"type": "ModelCheckpoint", "filepath": "m{epoch}.keras"}], out_dir=tmp_path)
    (tmp_path / "m1.keras").unlink()
    (tmp_path / "x1.keras").write_bytes(b"not matched by the template")
    (callback,) = resolve_callbacks([{"type": "ModelCheckpoint", "filepath": "m{epoch}.keras"}], out_dir=tmp_path)
    assert callback.filepath.endswith("m{epoch}.keras")


def test_predict_onto_a_fifo_or_an_empty_name_is_a_usage_error(tmp_path: Path, data: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`-o fifo` was renamed over (run as root, `-o /dev/null` replaced the device); `-o ''` was exit 5."""
    fifo = tmp_path / "f.npy"
    os.mkfifo(fifo)
    assert main(["predict", "missing.keras", "--data", str(data), "-o", str(fifo)]) == 2
    assert "is a FIFO; netform writes a new file and renames it into place" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert main(["schema", "-o", str(fifo)]) == 2
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert main(["predict", "missing.keras", "--data", str(data), "-o", ""]) == 2
    assert "-o '': give the name of the file to write" in capsys.readouterr().err


def test_the_atomic_writer_never_renames_over_a_fifo(tmp_path: Path) -> None:
    """The last line of defence for every writer, whatever checked the path before."""
    fifo = tmp_path / "out.bin"
    os.mkfifo(fifo)
    with pytest.raises(FileExistsError, match="is not a regular file"):
        _files.write_bytes(fifo, b"data")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]
