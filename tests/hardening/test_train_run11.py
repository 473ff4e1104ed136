"""`netform train` and `fit_from_training_config`: the same refusals, the Ctrl-C save's name, backups left clean.

- A callback writing the file the Ctrl-C save goes to (``NAME.interrupted.EXT`` beside ``-o``, or
  ``<out-dir>/<spec name>.interrupted.keras``) is refused before training, as one writing ``-o`` is.
- ``fit_from_training_config`` refuses what ``netform train`` refuses before the model is built: an
  accumulation longer than the training, a callback file inside a TrainingBackup's folder, a backup folder
  ``fit`` would refuse (the same netform errors).
- ``predict -o`` naming a folder says so (not "free some space"), before anything is predicted.
- A second Ctrl-C during a backup write leaves no parked copy behind, and the next run removes the parked
  copies a killed write left (only those netform's note proves are its own).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform.builder
import netform.spec
from netform.cli import main
from netform.errors import FormatError, SpecError

SPEC = textwrap.dedent("""\
    netform: 1
    name: reg
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 1}
    training:
      loss: mse
      batch_size: 8
      epochs: 1
    """)


def _data(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    np.savez(folder / "d.npz", x=x, y=y)
    return x, y


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "reg.yaml").write_text(SPEC)
    _data(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although the run is refused")

    monkeypatch.setattr(netform.builder, "build", never)


def _with_callbacks(work: Path, callbacks: str) -> None:
    (work / "reg.yaml").write_text(SPEC + "  callbacks:\n" + textwrap.indent(textwrap.dedent(callbacks), "    "))


# ---------------------------------------------------------------- 1. the Ctrl-C save's name


@pytest.mark.usefixtures("no_build")
def test_a_callback_writing_the_interrupted_save_of_o_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_callbacks(work, "- {type: ModelCheckpoint, filepath: m.interrupted.keras}\n")
    rc = main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "-o", "m.keras", "--out-dir", "."])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "m.interrupted.keras" in err and "Ctrl-C" in err and "training.callbacks[0]" in err, err
    assert not (work / "m.interrupted.keras").exists()


@pytest.mark.usefixtures("no_build")
def test_a_checkpoint_template_that_can_name_the_interrupted_save_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Epoch 1 formats to m1.interrupted.keras, the Ctrl-C save of -o m1.keras.
    _with_callbacks(work, "- {type: ModelCheckpoint, filepath: 'm{epoch}.interrupted.keras'}\n")
    rc = main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "-o", "m1.keras"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "m1.interrupted.keras" in err and "Ctrl-C" in err, err


@pytest.mark.usefixtures("no_build")
def test_a_callback_writing_the_interrupted_save_without_o_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_callbacks(work, "- {type: CSVLogger, filename: reg.interrupted.keras}\n")
    rc = main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "--out-dir", "runs"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "reg.interrupted.keras" in err and "Ctrl-C" in err, err


# ---------------------------------------------------------------- 2. the library refuses the same


def _never_built() -> object:
    raise AssertionError("the model was built although the training is refused")


def test_fit_from_training_config_refuses_accumulation_past_the_training(work: Path) -> None:
    from netform.engine import fit_from_training_config

    x, y = _data(work)
    training = {
        "optimizer": {"type": "Adam", "gradient_accumulation_steps": 5},
        "loss": "mse",
        "batch_size": 8,
        "epochs": 2,
    }
    with pytest.raises(SpecError) as info:
        fit_from_training_config(_never_built, training, x, y, verbose=0)
    text = str(info.value)
    assert "training.optimizer.gradient_accumulation_steps" in text and "4 steps" in text, text
    inner = {**training, "optimizer": {"type": "LossScaleOptimizer", "inner_optimizer": training["optimizer"]}}
    with pytest.raises(SpecError, match="inner_optimizer"):
        fit_from_training_config(_never_built, inner, x, y, verbose=0)
    # steps_per_epoch and initial_epoch count as Keras counts them: 3 x (4 - 2) = 6 steps for 5 accumulated.
    fits = {**training, "epochs": 4, "initial_epoch": 2, "steps_per_epoch": 3}
    with pytest.raises(AssertionError, match="was built"):  # passes the check, then builds
        fit_from_training_config(_never_built, fits, x, y, verbose=0)


def test_fit_from_training_config_refuses_a_callback_file_inside_a_training_backup(work: Path) -> None:
    from netform.engine import TrainingBackup, fit_from_training_config

    x, y = _data(work)
    training = {"loss": "mse", "callbacks": [{"type": "CSVLogger", "filename": "bk/state/log.csv"}]}
    with pytest.raises(SpecError) as info:
        fit_from_training_config(
            _never_built, training, x, y, verbose=0, out_dir=".", callbacks=[TrainingBackup(work / "bk")]
        )
    text = str(info.value)
    assert "training.callbacks[0]" in text and "CSVLogger.filename" in text and "'state'" in text, text
    assert not (work / "bk").exists()
    # The config's own TrainingBackup too.
    training = {
        "loss": "mse",
        "callbacks": [
            {"type": "TrainingBackup", "backup_dir": "bk"},
            {"type": "CSVLogger", "filename": "bk/netform-backup.lock"},
        ],
    }
    with pytest.raises(SpecError, match=r"training\.callbacks\[1\]"):
        fit_from_training_config(_never_built, training, x, y, verbose=0, out_dir=".")


def test_fit_from_training_config_refuses_a_backup_folder_before_building(work: Path) -> None:
    from netform.engine import TrainingBackup, fit_from_training_config

    x, y = _data(work)
    (work / "bk" / "state").mkdir(parents=True)
    (work / "bk" / "state" / "state.json").write_text("{}")
    (work / "bk" / "state" / "mine.txt").write_text("mine")
    with pytest.raises(FormatError, match="mine.txt"):
        fit_from_training_config(
            _never_built, {"loss": "mse"}, x, y, verbose=0, callbacks=[TrainingBackup(work / "bk")]
        )
    assert (work / "bk" / "state" / "mine.txt").read_text() == "mine"


@pytest.mark.usefixtures("no_build")
def test_train_refuses_accumulation_at_the_spec_line(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "reg.yaml").write_text(
        SPEC.replace("  loss: mse\n", "  loss: mse\n  optimizer: {type: Adam, gradient_accumulation_steps: 3}\n")
    )
    rc = main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "reg.yaml:" in err and "2 steps" in err and "gradient_accumulation_steps" in err, err


# ---------------------------------------------------------------- 3. -o naming a folder


def test_predict_o_naming_a_folder_says_so(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "-o", "m.keras"]) == 0
    (work / "out.npz").mkdir()
    capsys.readouterr()
    rc = main(["predict", "m.keras", "--data", "d.npz", "-o", "out.npz"])
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "free some space" not in err.lower(), err
    assert "out.npz" in err and "folder" in err, err
    assert (work / "out.npz").is_dir() and not os.listdir(work / "out.npz")
    # A link to a folder is replaced by the file, as every -o link is (never followed).
    os.symlink(work / "out.npz", work / "linked.npz")
    assert main(["predict", "m.keras", "--data", "d.npz", "-o", "linked.npz"]) == 0, capsys.readouterr().err
    assert (work / "linked.npz").is_file() and not (work / "linked.npz").is_symlink()


def test_the_backup_write_names_the_cause_when_it_is_not_space(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from netform.engine import _backup

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "bk/.x.nf-tmp-state")

    monkeypatch.setattr(_backup, "_write_variables", denied)
    message = _backup_error(work, monkeypatch)
    assert "free some space" not in message.lower() and "writable" in message, message

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_backup, "_write_variables", full)
    assert "Free some space" in _backup_error(work, monkeypatch)


def _backup_error(work: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    import keras

    from netform.engine import TrainingBackup
    from netform.errors import SaveError

    x, y = _data(work)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    backup = TrainingBackup(work / "bk")
    backup.set_model(model)
    with pytest.raises(SaveError) as info:
        backup.save()
    return str(info.value)


# ---------------------------------------------------------------- 4. Ctrl-C twice, a killed write

_CHILD = textwrap.dedent("""\
    import os, signal, sys
    import netform._files as files
    from netform.cli import main

    mode = sys.argv[1]
    real = files._remove_entries  # how a swap deletes the copy it parked
    fired = []

    def remove(path, seen):
        if ".nf-old-" in os.path.basename(path) and not fired:
            fired.append(path)
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real(path, seen)

    files._remove_entries = remove
    sys.exit(main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "-o", "m.keras",
                   "--backup-dir", "bk", "--backup-every", "1"]))
    """)


def _child(work: Path, mode: str) -> subprocess.CompletedProcess[str]:
    (work / "reg.yaml").write_text(SPEC.replace("epochs: 1", "epochs: 3"))
    (work / "child.py").write_text(_CHILD)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, "child.py", mode], cwd=work, env=env, capture_output=True, text=True, timeout=240
    )


def _parked(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".nf-old" in n or ".nf-tmp-" in n)


def test_a_second_ctrl_c_during_a_backup_write_leaves_no_parked_copy(work: Path) -> None:
    done = _child(work, "twice")
    assert done.returncode == 130, done.stderr
    assert _parked(work / "bk") == [], os.listdir(work / "bk")
    assert sorted(os.listdir(work / "bk" / "state")) == ["state.json", "variables.npz"]


def test_the_next_run_removes_a_copy_parked_by_a_killed_backup_write(work: Path) -> None:
    done = _child(work, "kill")
    assert done.returncode == -signal.SIGKILL, done.stderr
    parked = _parked(work / "bk")
    assert any(n.endswith(".nf-parked") for n in parked), parked  # netform's note, proof of its parking
    # A folder that only has a parked name (no note) is a user's: kept.
    user = work / "bk" / "state.nf-old-0123456789abcdef"
    user.mkdir()
    (user / "state.json").write_text("mine")
    from netform.engine import TrainingBackup, fit_from_training_config

    x, y = _data(work)
    backup = TrainingBackup(work / "bk", delete_on_finish=False)
    fit_from_training_config(
        lambda: netform.builder.build(netform.spec.load_spec(str(work / "reg.yaml"))),
        {"loss": "mse", "epochs": 3, "batch_size": 8},
        x,
        y,
        verbose=0,
        callbacks=[backup],
    )
    assert _parked(work / "bk") == ["state.nf-old-0123456789abcdef"], os.listdir(work / "bk")
    assert (user / "state.json").read_text() == "mine"


def test_a_lone_parking_note_of_netforms_is_removed_and_a_users_file_kept(work: Path) -> None:
    from netform._files import _note_text
    from netform.engine._backup_lock import remove_parked

    bk = work / "bk"
    (bk / "state").mkdir(parents=True)
    parked = str(bk / "state.nf-old-00000000000000aa")
    (bk / "state.nf-old-00000000000000aa.nf-parked").write_bytes(_note_text(str(bk / "state"), parked))
    (bk / "state.nf-old-00000000000000bb.nf-parked").write_text("mine")
    remove_parked(bk, bk / "state")
    assert sorted(os.listdir(bk)) == ["state", "state.nf-old-00000000000000bb.nf-parked"]
