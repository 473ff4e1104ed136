"""`netform train -o M` with a backup: the backup goes only once M is saved.

When the save of `-o` fails after training (a full disk, a file-size limit), the backup (`--backup-dir`, a spec's
`TrainingBackup` or Keras's `BackupAndRestore`) still holds the trained state: the error says so, and the same
command run again resumes from it (no epoch left to train) and saves the model, then removes the backup. From
Python, `TrainingBackup(..., delete_on_finish=False)` keeps the backup past `fit` until `discard()`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform.saving
from netform.cli import main
from netform.errors import SaveError

SPEC = textwrap.dedent("""\
    netform: 1
    name: tr
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 8, activation: relu}
      - {type: Dense, units: 3, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      epochs: 2
      batch_size: 8
    """)


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(32, 4)).astype("float32"), y=rng.integers(0, 3, size=32))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _spec(work: Path, callbacks: str = "") -> str:
    text = SPEC + (f"  callbacks:\n{textwrap.indent(callbacks, '    ')}" if callbacks else "")
    (work / "tr.yaml").write_text(text)
    return "tr.yaml"


def _failing_save(monkeypatch: pytest.MonkeyPatch, seen: list[list[Any]]) -> None:
    def save(model: Any, path: Any, *args: Any, **kwargs: Any) -> str:
        seen.append([np.array(w) for w in model.get_weights()])
        raise SaveError(f"{path}: could not save as keras (OSError: [Errno 27] File too large)")

    monkeypatch.setattr(netform.saving, "save", save)


def _run(spec: str, *extra: str) -> list[str]:
    return ["train", spec, "--data", "d.npz", "-o", "m.keras", "--verbose", "0", *extra]


@pytest.mark.parametrize(
    ("callbacks", "options", "folder", "kept_file"),
    [
        ("", ("--backup-dir", "bk"), "bk", "bk/state/state.json"),
        ("- {type: TrainingBackup, backup_dir: bk}\n", (), "bk", "bk/state/state.json"),
        ("- {type: BackupAndRestore, backup_dir: bk}\n", (), "bk", "bk/training_metadata.json"),
    ],
    ids=["backup-dir", "TrainingBackup", "BackupAndRestore"],
)
def test_a_failed_save_keeps_the_backup_and_the_next_run_saves_the_trained_model(
    work: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    callbacks: str,
    options: tuple[str, ...],
    folder: str,
    kept_file: str,
) -> None:
    spec = _spec(work, callbacks)
    seen: list[list[Any]] = []
    with monkeypatch.context() as patch:
        _failing_save(patch, seen)
        rc = main(_run(spec, *options))
    err = capsys.readouterr().err
    assert rc == 5, err
    assert "File too large" in err and f"{folder} still holds the trained state" in err, err
    assert "run the same command again" in err, err
    assert (work / kept_file).is_file()  # the training is not lost
    assert not (work / "m.keras").exists()

    rc = main(_run(spec, *options))
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "saved → m.keras" in out.out, out.out
    assert not (work / folder).exists(), os.listdir(work / folder)  # removed once the model is saved

    import netform as nf

    saved = nf.load(str(work / "m.keras")).get_weights()
    assert len(saved) == len(seen[0])
    for a, b in zip(saved, seen[0]):  # the model the failed save was given, not retrained
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_a_successful_save_removes_the_backup_as_before(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(work, "- {type: BackupAndRestore, backup_dir: kb}\n")
    (work / "own").mkdir()
    (work / "own" / "notes.txt").write_text("mine")  # a --backup-dir of the user's: only netform's files go
    assert main(_run(spec, "--backup-dir", "own")) == 0, capsys.readouterr().err
    assert not (work / "kb").exists()
    assert sorted(os.listdir(work / "own")) == ["notes.txt"]
    assert (work / "m.keras").is_file()


def test_without_o_the_backup_goes_at_the_end_of_training(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(work, "- {type: BackupAndRestore, backup_dir: kb}\n")
    rc = main(["train", spec, "--data", "d.npz", "--verbose", "0", "--backup-dir", "bk"])
    assert rc == 0, capsys.readouterr().err
    assert not (work / "kb").exists() and not (work / "bk").exists()


def test_python_fit_keeps_a_backup_until_discard(work: Path) -> None:
    import netform as nf
    from netform.engine import TrainingBackup

    data = np.load(work / "d.npz")
    model = nf.build(nf.load_spec(SPEC))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    backup = TrainingBackup(work / "bk", delete_on_finish=False)
    model.fit(data["x"], data["y"], epochs=2, batch_size=8, verbose=0, callbacks=[backup])
    assert (work / "bk" / "state" / "state.json").is_file()  # still there after fit, for a save that may fail
    nf.save(model, str(work / "m.keras"))
    backup.discard()
    assert not (work / "bk").exists()  # netform made the folder: it goes with the backup
    backup.discard()  # idempotent


def test_discard_keeps_the_users_files(work: Path) -> None:
    from netform.engine import TrainingBackup

    (work / "bk").mkdir()
    (work / "bk" / "notes.txt").write_text("mine")
    backup = TrainingBackup(work / "bk")
    backup.discard()
    assert sorted(os.listdir(work / "bk")) == ["notes.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="ulimit -f is POSIX")
def test_under_a_file_size_limit_the_training_is_not_lost(work: Path) -> None:
    # The model file is larger than the limit, each backup smaller: the save of -o fails after training.
    spec = _spec(work)
    (work / "tr.yaml").write_text(SPEC.replace("units: 8,", "units: 64,"))
    script = Path(sys.executable).with_name("netform")  # the installed console script
    if not script.exists():
        pytest.skip("the netform console script is not installed beside this Python")
    netform_cli = [str(script)]
    command = " ".join(netform_cli + _run(spec, "--backup-dir", "bk"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        ["bash", "-c", f"ulimit -f 24; exec {command}"], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 5, run.stderr
    first = run.stderr
    assert "File too large" in run.stderr and "the backup in bk still holds the trained state" in run.stderr
    assert (work / "bk" / "state" / "state.json").is_file()
    run = subprocess.run(netform_cli + _run(spec, "--backup-dir", "bk"), capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "the backup in bk holds the finished training (2 epoch(s)): nothing is left to train" in run.stdout
    assert "intact; the backup in bk still holds" in first, first
    assert (work / "m.keras").is_file() and not (work / "bk").exists()


def test_ctrl_c_keeps_a_spec_backup_and_restore_folder(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from netform.cli import _train_cmds

    enter = _train_cmds._Interrupt.__enter__

    def ctrl_c_at_once(self: Any) -> Any:  # as if Ctrl-C came during the first step
        out = enter(self)
        self.requested = True
        return out

    monkeypatch.setattr(_train_cmds._Interrupt, "__enter__", ctrl_c_at_once)
    spec = _spec(work, "- {type: BackupAndRestore, backup_dir: kb}\n")
    rc = main(_run(spec))
    out = capsys.readouterr().out
    assert rc == 130, out
    assert "backup kept in " in out and "kb: run the same command again" in out, out
    assert (work / "kb" / "training_metadata.json").is_file()  # Keras would have deleted it at the end of fit
