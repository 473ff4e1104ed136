"""Training killed with SIGKILL and resumed ends where an uninterrupted run ends.

Each run is a subprocess (:mod:`tests.hardening.crash_worker`) that prints a
line per step; the test kills it at a chosen point (mid-epoch, inside a
backup write, while running freely), starts a new one on the same backup
directory and compares the final weights with an uninterrupted run.
Keras's ``BackupAndRestore`` is run the same way to show what netform fixes:
it restarts the epoch at its first batch, re-training batches it had seen.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.hardening import crash_worker as cw  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("crash_worker.py")
TIMEOUT_S = 60
TOTAL_STEPS = cw.EPOCHS * cw.STEPS_PER_EPOCH


def _start(engine: str, backup: Path, out: Path, **env: int) -> subprocess.Popen[str]:
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    environ.update({k: str(v) for k, v in env.items()})
    return subprocess.Popen(
        [sys.executable, str(WORKER), engine, str(backup), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ, cwd=ROOT,
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"worker timed out after {TIMEOUT_S}s:\n{output[-3000:]}")
    assert proc.returncode == 0, f"worker failed (rc={proc.returncode}):\n{output[-3000:]}"
    assert "DONE" in output
    return output


def _kill_when(proc: subprocess.Popen[str], marker: str) -> list[str]:
    """Read the worker's lines until ``marker`` appears, then SIGKILL it."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
            if line.strip() == marker:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=TIMEOUT_S)
                assert proc.returncode == -signal.SIGKILL
                return seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
    pytest.fail(f"worker never printed {marker!r}; its last lines: {seen[-20:]}")


def _weights(path: Path) -> tuple[list[np.ndarray], int]:
    with np.load(path) as npz:
        steps = int(npz["steps"])
        return [npz[k] for k in npz.files if k != "steps"], steps


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [w.shape for w in a] == [w.shape for w in b]
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[np.ndarray], int]]:
    """Uninterrupted runs of both engines (run side by side)."""
    root = tmp_path_factory.mktemp("reference")
    procs = {e: _start(e, root / f"{e}_backup", root / f"{e}.npz") for e in ("netform", "keras")}
    for proc in procs.values():
        _finish(proc)
    result = {e: _weights(root / f"{e}.npz") for e in procs}
    assert result["netform"][1] == TOTAL_STEPS
    assert not (root / "netform_backup").exists(), "a completed fit must delete its backup"
    return result


def _resume(backup: Path, out: Path) -> tuple[list[np.ndarray], int]:
    _finish(_start("netform", backup, out))
    assert not backup.exists()
    return _weights(out)


def test_kill_mid_epoch_resumes_at_the_exact_step(tmp_path, reference):
    # Killed after step 6 of epoch 1: the last backup is at step 4, so the
    # resumed run does the remaining 35 steps, starting inside the epoch.
    backup = tmp_path / "backup"
    _kill_when(_start("netform", backup, tmp_path / "x.npz", NF_PAUSE_AT_STEP=6), "PAUSED 6")
    weights, steps = _resume(backup, tmp_path / "out.npz")
    assert steps == TOTAL_STEPS - 4
    assert _max_diff(weights, reference["netform"][0]) <= 1e-6


def test_kill_inside_a_backup_write_keeps_the_previous_backup(tmp_path, reference):
    # Killed while writing the backup of step 8 (variables written, metadata
    # not): the half-written copy is discarded and step 4's backup is used.
    backup = tmp_path / "backup"
    _kill_when(_start("netform", backup, tmp_path / "x.npz", NF_SLOW_WRITE_AT=8), "IN_WRITE 8")
    assert any(".nf-tmp-" in p.name for p in backup.iterdir()), "the kill should leave a partial write"
    weights, steps = _resume(backup, tmp_path / "out.npz")
    assert steps == TOTAL_STEPS - 4
    assert _max_diff(weights, reference["netform"][0]) <= 1e-6


def test_killed_twice_free_running_and_in_epoch_two(tmp_path, reference):
    # First kill lands wherever the worker happens to be after step 15 (epoch
    # 2); the second one inside a write after 9 more steps of the resumed run.
    backup = tmp_path / "backup"
    _kill_when(_start("netform", backup, tmp_path / "x.npz"), "STEP 15")
    _kill_when(_start("netform", backup, tmp_path / "x.npz", NF_SLOW_WRITE_AT=8), "IN_WRITE 8")
    weights, steps = _resume(backup, tmp_path / "out.npz")
    assert 0 < steps < TOTAL_STEPS - 15
    assert _max_diff(weights, reference["netform"][0]) <= 1e-6


def test_keras_backup_and_restore_reruns_the_epoch(tmp_path, reference):
    # The same kill under Keras's BackupAndRestore: its resumed run starts the
    # interrupted epoch over, so it trains all 39 steps again on top of the
    # 4 already backed up, and ends elsewhere than its uninterrupted run.
    backup = tmp_path / "backup"
    _kill_when(_start("keras", backup, tmp_path / "x.npz", NF_PAUSE_AT_STEP=6), "PAUSED 6")
    _finish(_start("keras", backup, tmp_path / "out.npz"))
    weights, steps = _weights(tmp_path / "out.npz")
    assert steps == TOTAL_STEPS  # netform: TOTAL_STEPS - 4
    assert _max_diff(weights, reference["keras"][0]) > 1e-4


# --------------------------------------------------------------- in-process
def _tiny(seed: int = 0):
    import keras

    import netform as nf

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    model = nf.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_backup_dir_option_keeps_state_until_fit_completes(tmp_path):
    import keras

    import netform as nf

    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    model = _tiny()
    seen: list[bool] = []
    # The backup is written at each epoch's end after the other callbacks ran
    # (so that it holds their state): the probe looks when the next epoch begins.
    probe = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append((tmp_path / "b" / "state").is_dir()))
    model.fit(x, x[:, :2], epochs=3, batch_size=4, verbose=0, backup_dir=tmp_path / "b", callbacks=[probe])
    assert seen == [False, True, True]  # backed up at each epoch end...
    assert not (tmp_path / "b").exists()  # ...and removed once fit completed
    with pytest.raises(nf.EngineError, match="at most one"):
        model.fit(x, x[:, :2], verbose=0, backup_dir=tmp_path / "b",
                  callbacks=[nf.engine.TrainingBackup(tmp_path / "c")])


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "4"])
def test_invalid_save_every_steps_is_refused(value):
    from netform.engine import TrainingBackup
    from netform.errors import EngineError

    with pytest.raises(EngineError, match=r"^TrainingBackup: received an invalid value for `save_every_steps`, "
                       rf"expected a positive integer or None. Received: save_every_steps={re.escape(repr(value))}$"):
        TrainingBackup("b", save_every_steps=value)


def test_backup_of_another_model_is_refused(tmp_path):
    import keras

    import netform as nf

    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    backup = nf.engine.TrainingBackup(tmp_path / "b", delete_on_finish=False)
    _tiny().fit(x, x[:, :2], epochs=1, batch_size=4, verbose=0, callbacks=[backup])
    inputs = keras.Input((3,))
    other = nf.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(5)(inputs)))
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(nf.FormatError, match=r"holds 2 model variable\(s\) but model .* has 4.*remove .*/state \(the backup folder.s state\) to start"):
        other.fit(x, x[:, :2], epochs=2, batch_size=4, verbose=0, callbacks=[nf.engine.TrainingBackup(tmp_path / "b")])
