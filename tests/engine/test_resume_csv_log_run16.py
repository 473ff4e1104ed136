"""A training resumed from netform's backup keeps its CSVLogger's rows of the epochs before the resume.

Keras's CSVLogger (``append=False``) empties its file when training begins: a run killed after epoch 2 and
resumed kept only the epochs from the resume on, where the uninterrupted run logs them all (its weights,
rate and stop epoch were already exact). The resumed log now equals the uninterrupted one; rows of an
epoch the backup did not hold are run, and logged, again once. The resumed epoch's loss is its own mean:
the backup's metric sums (taken at the end of the epoch before) were averaged into it.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import netform.engine as nfe
from netform.engine import TrainingBackup

pytestmark = pytest.mark.tf

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def _model() -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    model = nfe.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.02), loss="mse")
    return model


def _fit(model: keras.Model, callbacks: list, epochs: int = 5) -> keras.callbacks.History:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, Y, batch_size=16, epochs=epochs, shuffle=False, callbacks=callbacks, verbose=0)


def _rows(path: Path, sep: str = ",") -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh, delimiter=sep))


@pytest.mark.parametrize("sep", [",", ";"])
def test_a_resumed_log_equals_the_uninterrupted_one(tmp_path: Path, sep: str) -> None:
    whole = tmp_path / "whole.csv"
    history = _fit(_model(), [keras.callbacks.CSVLogger(str(whole), separator=sep)])

    log, backup = tmp_path / "log.csv", tmp_path / "bk"
    with pytest.raises(RuntimeError, match="interrupted"):
        _fit(_model(), [TrainingBackup(str(backup)), keras.callbacks.CSVLogger(str(log), separator=sep), _Interrupt(2)])
    assert len(_rows(log, sep)) == 4  # header and epochs 0-2 (the backup holds epoch 1's end)
    logger = keras.callbacks.CSVLogger(str(log), separator=sep)
    resumed = _fit(_model(), [TrainingBackup(str(backup)), logger])
    assert logger.append is False  # the user's setting, as given
    assert log.read_bytes().count(b"\r\n") == whole.read_bytes().count(b"\r\n")  # Keras's line ends throughout
    got, want = _rows(log, sep), _rows(whole, sep)
    assert [r[0] for r in got] == ["epoch", "0", "1", "2", "3", "4"]
    np.testing.assert_allclose([float(r[1]) for r in got[1:]], [float(r[1]) for r in want[1:]], rtol=1e-6)
    # the resumed epoch's own mean (before, the sums of the epoch the backup ended were averaged in)
    np.testing.assert_allclose(resumed.history["loss"], history.history["loss"][2:], rtol=1e-6)


def test_a_fresh_training_still_empties_the_log(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,9.0\n1,8.0\n7,1.0\n")
    _fit(_model(), [TrainingBackup(str(tmp_path / "bk")), keras.callbacks.CSVLogger(str(log))], epochs=2)
    assert [r[0] for r in _rows(log)] == ["epoch", "0", "1"]
    assert _rows(log)[1][1] != "9.0"
