"""The training backup directory: nothing of the user's lost, one training at a time, exact resume.

* ``fit(backup_dir=d)`` removes only netform's own state from ``d`` when
  training ends; the user's files and folders in ``d`` survive.
* Two trainings on one backup directory: the second is refused with a clear
  ``EngineError`` while the first runs (an OS lock held for the whole fit),
  and a lock left by a killed process does not block.
* A run killed after epoch 2 resumes with the state of the stateful built-in
  callbacks (``ReduceLROnPlateau``, ``EarlyStopping``, ``ModelCheckpoint``'s
  best value, ``LearningRateScheduler``) and ends where an uninterrupted run
  ends.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.hardening import crash_worker as cw  # noqa: E402
from tests.hardening.test_crash_resume import _finish, _kill_when, _max_diff, _start  # noqa: E402


def _data(n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(n, 3)).astype("float32")
    return x, x[:, :2] * 2.0


def _tiny(seed: int = 0, lr: float = 0.01):
    import keras

    import netform as nf

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    model = nf.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    return model


# ------------------------------------------------------------ point 2: files kept
def test_finished_fit_keeps_the_users_files_in_the_backup_dir(tmp_path):
    d = tmp_path / "runs"
    (d / "notes").mkdir(parents=True)
    (d / "notes" / "plan.txt").write_text("keep me")
    (d / "results.csv").write_text("epoch,loss\n")
    x, y = _data()
    _tiny().fit(x, y, epochs=2, batch_size=4, verbose=0, backup_dir=d)
    assert (d / "results.csv").read_text() == "epoch,loss\n"
    assert (d / "notes" / "plan.txt").read_text() == "keep me"
    assert sorted(p.name for p in d.iterdir()) == ["notes", "results.csv"]  # netform's state is gone


def test_an_empty_backup_dir_made_by_the_user_stays(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    x, y = _data()
    _tiny().fit(x, y, epochs=1, batch_size=4, verbose=0, backup_dir=d)
    assert d.is_dir() and list(d.iterdir()) == []


def test_a_backup_dir_netform_created_is_removed(tmp_path):
    d = tmp_path / "a" / "b"
    x, y = _data()
    _tiny().fit(x, y, epochs=1, batch_size=4, verbose=0, backup_dir=d)
    assert not d.exists()


# -------------------------------------------------------------- point 5: the lock
def test_a_second_training_on_the_same_dir_is_refused_while_the_first_runs(tmp_path):
    import netform as nf

    d = tmp_path / "shared"
    first = _start("netform", d, tmp_path / "first.npz", NF_PAUSE_AT_STEP=6)
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if line.strip() == "PAUSED 6":
                break
        else:
            pytest.fail("the first training never paused")
        x, y = _data()
        with pytest.raises(nf.EngineError, match=r"shared.*is in use by another training.*one training per backup"):
            _tiny().fit(x, y, epochs=1, batch_size=4, verbose=0, backup_dir=d)
        assert (d / "state").is_dir(), "the refused fit must leave the first one's backup alone"
    finally:
        _kill_when_paused(first)
    # The killed process's lock does not block: the same training resumes and finishes.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(cw.SAMPLES, 6)).astype("float32")
    y = rng.integers(0, 3, size=(cw.SAMPLES,)).astype("int64")
    model = cw.build("netform")
    hist = model.fit(x, y, batch_size=cw.BATCH, epochs=cw.EPOCHS, verbose=0, backup_dir=d)
    assert len(hist.epoch) == cw.EPOCHS
    assert not d.exists()


def _kill_when_paused(proc) -> None:
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def test_the_lock_is_released_when_fit_fails(tmp_path):
    import keras

    d = tmp_path / "b"
    x, y = _data()

    def boom(epoch, logs):
        if epoch == 1:  # epoch 0's end is backed up
            raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        _tiny().fit(x, y, epochs=2, batch_size=4, verbose=0, backup_dir=d,
                    callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=boom)])
    assert (d / "state").is_dir()  # kept for a resume
    hist = _tiny().fit(x, y, epochs=2, batch_size=4, verbose=0, backup_dir=d)
    assert hist.epoch == [1]  # resumed after the backed-up epoch
    assert not d.exists()


# ---------------------------------------------------- point 6: callback state
@pytest.fixture(scope="module")
def callbacks_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("cb_reference")
    (root / "ckpt").mkdir()
    _finish(_start("netform", root / "backup", root / "ref.npz", NF_CALLBACKS=root / "ckpt"))
    return root


def _results(path):
    with np.load(path) as npz:
        weights = [npz[k] for k in npz.files if k.startswith("arr_")]
        return weights, float(npz["lr"]), int(npz["last_epoch"])


def test_stateful_callbacks_resume_exactly_after_a_kill(tmp_path, callbacks_reference):
    ref_weights, ref_lr, ref_last = _results(callbacks_reference / "ref.npz")
    # Uninterrupted: lr halves at epochs 1, 2 and 3; EarlyStopping stops at
    # epoch 3; only epoch 1's (the highest) loss is checkpointed.
    assert ref_lr == pytest.approx(0.01 / 8)
    assert ref_last == 3
    assert sorted(p.name for p in (callbacks_reference / "ckpt").iterdir()) == ["ckpt-1.weights.h5"]

    ckpt, backup = tmp_path / "ckpt", tmp_path / "backup"
    ckpt.mkdir()
    _kill_when(_start("netform", backup, tmp_path / "x.npz", NF_CALLBACKS=ckpt, NF_PAUSE_AT_EPOCH=2),
               "PAUSED_EPOCH 2")
    _finish(_start("netform", backup, tmp_path / "out.npz", NF_CALLBACKS=ckpt))
    weights, lr, last = _results(tmp_path / "out.npz")
    assert lr == pytest.approx(ref_lr, abs=1e-9)
    assert last == ref_last
    assert sorted(p.name for p in ckpt.iterdir()) == ["ckpt-1.weights.h5"]  # no worse epoch re-saved
    assert _max_diff(weights, ref_weights) <= 1e-6


def test_learning_rate_scheduler_resumes_mid_epoch_without_applying_twice(tmp_path):
    import keras

    import netform as nf

    x, y = _data(40)

    def halve(epoch, lr):
        return lr * 0.5

    def run(backup, *callbacks):
        # Every run has a backup, so that netform owns the shuffle (same order).
        model = _tiny()
        model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[
            keras.callbacks.LearningRateScheduler(halve), nf.TrainingBackup(backup, save_every_steps=4), *callbacks,
        ])
        return model

    reference = run(tmp_path / "ref")
    steps = {"n": 0}

    def stop(batch, logs):
        steps["n"] += 1
        if steps["n"] == 16:  # epoch 1, step 6; the last backup is at step 4 of epoch 1
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", keras.callbacks.LambdaCallback(on_train_batch_end=stop))
    assert (tmp_path / "b" / "state").is_dir()
    resumed = run(tmp_path / "b")
    assert float(resumed.optimizer.learning_rate) == pytest.approx(float(reference.optimizer.learning_rate))
    assert float(reference.optimizer.learning_rate) == pytest.approx(0.01 / 8)
    assert _max_diff(resumed.get_weights(), reference.get_weights()) <= 1e-6


def test_a_users_folder_named_like_the_backup_is_refused_not_replaced(tmp_path):
    import netform as nf

    d = tmp_path / "runs"
    (d / "state").mkdir(parents=True)
    (d / "state" / "mine.txt").write_text("keep me")
    x, y = _data()
    with pytest.raises(nf.FormatError, match=r"state: this is not a netform training backup.*Move it away"):
        _tiny().fit(x, y, epochs=1, batch_size=4, verbose=0, backup_dir=d)
    assert (d / "state" / "mine.txt").read_text() == "keep me"
    assert sorted(p.name for p in d.iterdir()) == ["state"]  # no lock file left behind


def test_a_fit_that_fails_before_any_backup_leaves_no_directory(tmp_path):
    import netform as nf

    d = tmp_path / "new"
    with pytest.raises(nf.DataError):
        _tiny().fit(np.zeros((0, 3), "float32"), np.zeros((0, 2), "float32"), verbose=0, backup_dir=d)
    assert not d.exists()


def test_early_stopping_best_weights_survive_an_interruption(tmp_path):
    import keras

    import netform as nf

    x, y = _data(40)

    def run(backup, *callbacks):
        model = _tiny()
        # Only epoch 0 "improves": training stops at epoch 2 and rolls back to epoch 0's weights.
        stop = keras.callbacks.EarlyStopping(monitor="loss", patience=2, min_delta=1e3, restore_best_weights=True)
        hist = model.fit(x, y, epochs=6, batch_size=4, verbose=0,
                         callbacks=[stop, nf.TrainingBackup(backup), *callbacks])
        return model, hist

    reference, ref_hist = run(tmp_path / "ref")
    assert ref_hist.epoch == [0, 1, 2]

    def interrupt(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", keras.callbacks.LambdaCallback(on_epoch_begin=interrupt))
    resumed, hist = run(tmp_path / "b")
    assert hist.epoch == [2]
    assert _max_diff(resumed.get_weights(), reference.get_weights()) <= 1e-6
