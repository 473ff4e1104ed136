"""A training of arrays with ``shuffle=False`` resumes at the exact step, as a shuffled one does.

The backup owned the order of shuffled arrays only: with ``shuffle: false`` (a spec's ``training:``, or
``fit(shuffle=False)``) a run stopped mid-epoch warned that the data "(a generator, PyDataset or
steps_per_epoch) cannot be rewound" and restarted the epoch at its first batch, so the batches before the stop
were applied twice (weights 0.003-0.006 away from an uninterrupted run, where the promise is 1e-6).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4)).astype("float32")
Y = rng.normal(size=(64, 2)).astype("float32")


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1))(inputs)
    outputs = keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(2))(hidden)
    model = nf.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    return model


class _Stop(keras.callbacks.Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if (self.epoch, batch) == self.at:
            raise RuntimeError("stopped")


def _fit(model: keras.Model, callbacks: list[Any], validation_split: float = 0.0) -> None:
    model.fit(
        X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=callbacks, validation_split=validation_split
    )


@pytest.mark.parametrize(("epoch", "batch", "split"), [(1, 7, 0.0), (0, 2, 0.0), (2, 10, 0.25), (1, 15, 0.0)])
def test_a_resumed_unshuffled_training_ends_as_an_uninterrupted_one(
    tmp_path: Path, epoch: int, batch: int, split: float
) -> None:
    reference = _model()
    _fit(reference, [], split)
    backup = tmp_path / "bk"
    with pytest.raises(RuntimeError, match="stopped"):
        _fit(_model(), [nf.TrainingBackup(backup, save_every_steps=1), _Stop(epoch, batch)], split)
    resumed = _model()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*cannot be rewound")
        _fit(resumed, [nf.TrainingBackup(backup, save_every_steps=1)], split)
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
