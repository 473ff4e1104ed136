"""TrainingBackup counts the steps that ran, also after a short last call of steps_per_execution."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = nf.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=3)
    return model


class _Saves(nf.TrainingBackup):
    """Records the (epoch, step) of every save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved: list[tuple[int, int]] = []

    def save(self) -> None:
        super().save()
        self.saved.append((self._epoch, self._step))


def test_short_last_execution_counts_only_the_steps_that_ran(tmp_path: Path) -> None:
    x = np.ones((32, 3), "float32")
    y = np.ones((32, 1), "float32")
    backup = _Saves(tmp_path / "b", save_every_steps=2, save_every_epoch=False, delete_on_finish=False)
    model = _model()
    seen: list[int] = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(backup._step))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[backup, probe])
    # 4 batches at 3 a call: Keras reports batch indices 2 and 5; the backup counts 3 and then 4 steps.
    assert seen == [3, 4]
    assert all(step <= 4 for _, step in backup.saved)
    assert len(backup.saved) == 1  # 3 steps, then 1: one save at 3 (not a second for 3 more)


class _StopAtEpochEnd(keras.callbacks.Callback):
    """Kills the run at the end of one epoch, after the backup's last save of that epoch's steps."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == self.epoch:
            raise RuntimeError("killed")  # as a crash: no save on the way out (Ctrl-C would save one)


def test_a_backup_taken_after_the_epochs_last_step_resumes_at_the_epochs_end(tmp_path: Path) -> None:
    """4 batches an epoch, a save every 4 steps: killed at epoch 0's end, the backup holds step 4 of 4.

    The resumed run has no step of epoch 0 left to run: it runs the epoch's end (logs from the restored
    metrics), then epoch 1, and ends where an uninterrupted run ends.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def backup() -> nf.TrainingBackup:
        return nf.TrainingBackup(tmp_path / "b", save_every_steps=4, save_every_epoch=False)

    whole = _model()
    whole.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    reference = whole.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[nf.TrainingBackup(
        tmp_path / "ref", save_every_steps=4, save_every_epoch=False)])
    killed = _model()
    killed.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    with pytest.raises(RuntimeError, match="killed"):
        killed.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[backup(), _StopAtEpochEnd(0)])
    resumed = _model()
    resumed.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = resumed.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[backup()])
    assert history.epoch == [0, 1]
    for key in ("loss", "mae"):
        np.testing.assert_allclose(history.history[key], reference.history[key], rtol=1e-6)
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert resumed.optimizer.iterations.numpy() == whole.optimizer.iterations.numpy() == 8
