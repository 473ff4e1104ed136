"""TrainingBackup counts the steps that ran, also after a short last call of steps_per_execution."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path
from typing import Any

import keras
import numpy as np

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
