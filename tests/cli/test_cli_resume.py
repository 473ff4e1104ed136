"""`netform train`: exact resume (TrainingBackup in specs, --backup-dir), Ctrl-C, --val-data, early file checks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.cli._train_cmds import _interrupted_path
from tests._budget import assert_cpu_under

SPEC = textwrap.dedent("""\
    netform: 1
    name: reg
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 8, activation: relu}
      - {type: Dense, units: 1}
    training:
      loss: mse
      batch_size: 8
      epochs: 4
    """)


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "reg.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=x.sum(axis=1, keepdims=True))
    return tmp_path


def _with_callback(work: Path, callback: str) -> Path:
    spec = work / "cb.yaml"
    spec.write_text(SPEC + f"  callbacks: [{callback}]\n")
    return spec


def _command() -> list[str]:
    script = Path(sys.executable).with_name("netform")  # the installed console script
    return [str(script)] if script.exists() else [sys.executable, "-c", "from netform.cli import main; "
                                                                        "raise SystemExit(main())"]


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


# --- TrainingBackup in a spec: checked without TensorFlow, like BackupAndRestore --------------------------


def test_a_spec_may_name_training_backup_and_its_folder_is_confined(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = _with_callback(work, "{type: TrainingBackup, backup_dir: backup, save_every_steps: 10}")
    assert main(["validate", str(ok)]) == 0
    capsys.readouterr()
    cases = {
        "{type: TrainingBackup, backup_dir: /tmp/elsewhere}":
            "TrainingBackup.backup_dir '/tmp/elsewhere' is an absolute path: callback files are written under "
            "the output directory",
        "{type: TrainingBackup, backup_dir: ../up}": "climbs out of the output directory with '..'",
        "{type: TrainingBackup, backup_dri: backup}":
            "TrainingBackup takes no argument 'backup_dri' (Did you mean 'backup_dir'?)",
        "{type: TrainingBackup}": "TrainingBackup needs `backup_dir`",
        "{type: TrainingBackup, backup_dir: b, save_every_steps: 0}":
            "TrainingBackup.save_every_steps must be a positive whole number",
    }
    for callback, message in cases.items():
        bad = _with_callback(work, callback)
        assert main(["validate", str(bad)]) == 1, callback
        assert message in capsys.readouterr().err, callback
    assert main(["validate", "--allow-paths", str(_with_callback(work, "{type: TrainingBackup, "
                                                                      "backup_dir: /tmp/elsewhere}"))]) == 0


def test_a_spec_training_backup_is_built_under_the_output_directory(work: Path) -> None:
    from netform.engine import TrainingBackup
    from netform.engine._config import resolve_callbacks

    (backup,) = resolve_callbacks([{"type": "TrainingBackup", "backup_dir": "runs/b", "save_every_steps": 5}],
                                  out_dir=work / "out")
    assert isinstance(backup, TrainingBackup)
    assert backup.directory == Path(os.path.realpath(work / "out")) / "runs" / "b"
    assert backup.save_every_steps == 5 and backup.delete_on_finish is True


def test_an_interrupted_model_is_saved_beside_the_output_never_over_it(tmp_path: Path) -> None:
    assert _interrupted_path("runs/m.keras", tmp_path, "reg") == str(Path("runs/m.interrupted.keras"))
    assert _interrupted_path("m.h5", tmp_path, "reg") == "m.interrupted.h5"
    assert _interrupted_path("exported", tmp_path, "reg") == "exported.interrupted"
    assert _interrupted_path(None, tmp_path, "reg") == str(tmp_path / "reg.interrupted.keras")


# --- Ctrl-C and resume, on the real command ---------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_stops_at_a_step_saves_and_the_next_run_resumes_there(work: Path) -> None:
    """SIGINT in epoch 2: exit 130, model saved, backup kept; the same folder resumes at the next step."""
    out = work / "out"
    proc = subprocess.Popen([*_command(), "train", "reg.yaml", "--data", "d.npz", "--verbose", "2",
                             "--out-dir", "out", "--backup-dir", "out/backup"],
                            cwd=work, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the progress line of epoch 2 comes when epoch 1 is over
        seen.append(line)
        if line.startswith("Epoch 2/4"):
            proc.send_signal(signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=600)
    out_text = "".join(seen) + rest
    assert proc.returncode == 130, out_text + err
    assert "interrupt: stopping at the end of this step" in err and "Traceback" not in err
    stopped = re.search(r"^interrupted 'reg' at epoch (\d+), step (\d+) of 50, after", out_text, re.M)
    assert stopped, out_text
    epoch, step = int(stopped[1]), int(stopped[2])
    assert epoch in (2, 3) and 1 <= step <= 50  # steps_per_execution may run several steps per call
    resume_epoch, resume_step = (epoch, step + 1) if step < 50 else (epoch + 1, 1)
    assert "saved the interrupted model → out/reg.interrupted.keras [keras]" in out_text
    assert "backup kept in out/backup: run the same command again to resume at this step" in out_text
    assert (out / "reg.interrupted.keras").is_file() and (out / "backup" / "state").is_dir()

    # The same backup folder, named this time in the spec (relative to --out-dir) instead of --backup-dir.
    resumed = subprocess.run(
        [*_command(), "train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "--out-dir", "out", "-o", "m.keras",
         "training.callbacks=[{type: TrainingBackup, backup_dir: backup}]"],
        cwd=work, env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.splitlines()[0] == (f"resuming at epoch {resume_epoch}, step {resume_step} of 50 (from "
                                              f"the backup in {os.path.realpath(out / 'backup')})")
    assert "trained 'reg' for" in resumed.stdout and (work / "m.keras").is_file()
    assert not (out / "backup" / "state").exists()  # removed once training completed


# --- --val-data and early checks --------------------------------------------------------------------------


def test_val_data_is_evaluated_every_epoch_like_keras(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    rng = np.random.default_rng(1)
    vx = rng.normal(size=(40, 4)).astype("float32")
    vy = vx.sum(axis=1, keepdims=True)
    np.savez(work / "v.npz", x=vx, y=vy)
    assert main(["train", str(work / "reg.yaml"), "--data", str(work / "d.npz"), "--val-data", str(work / "v.npz"),
                 "--verbose", "0", "training.epochs=1", "-o", str(work / "m.keras")]) == 0
    final = capsys.readouterr().out
    val_loss = float(re.search(r"val_loss=([0-9.e+-]+)", final)[1])
    expected = keras.saving.load_model(work / "m.keras").evaluate(vx, vy, verbose=0, return_dict=True)["loss"]
    assert val_loss == pytest.approx(expected, rel=1e-3)


def test_a_missing_data_file_is_reported_before_tensorflow_is_imported(work: Path) -> None:
    code = ("import sys, time; t = time.perf_counter(); from netform.cli import main\n"
            "rc = main(['train', 'reg.yaml', '--data', 'nope.npz', '--val-data', 'd.npz'])\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'numpy' in sys.modules); raise SystemExit(rc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=work, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip() == "error: --data nope.npz: no such data file"
    assert done.stdout.split() == ["False", "False", "False"]
    val = subprocess.run([sys.executable, "-c", code.replace("'nope.npz', '--val-data', 'd.npz'",
                                                             "'d.npz', '--val-data', 'val.npz'")],
                         cwd=work, env=_env(), capture_output=True, text=True, timeout=120)
    assert val.returncode == 4 and val.stderr.strip() == "error: --val-data val.npz: no such data file"
    assert val.stdout.split() == ["False", "False", "False"]


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "no_such_folder/m.keras"], "-o no_such_folder/m.keras: the folder "),
    (["--backup-dir", "d.npz"], "--backup-dir d.npz: not a folder"),
    (["--backup-every", "5"], "--backup-every needs --backup-dir DIR"),
])
def test_impossible_outputs_are_usage_errors_before_training(
        work: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)

    def refuse() -> None:
        assert main(["train", "reg.yaml", "--data", "d.npz", *args]) == 2
        assert capsys.readouterr().err.startswith(f"error: {message}")

    # Before training: well under the seconds of a training (CPU time, after a first untimed call).
    assert_cpu_under(refuse, 5.0, f"train refusing {' '.join(args)}")


def test_render_refuses_a_format_that_contradicts_the_file_name(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(work / "reg.yaml"), "--format", "png", "-o", str(work / "x.svg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --format png -o {work / 'x.svg'}: the file name says svg but --format says png")
    assert not (work / "x.svg").exists()
