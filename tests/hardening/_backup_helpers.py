"""A tiny model trained with ``backup_dir`` and interrupted mid-epoch: the backup that the
``test_backup_run*`` suites then tamper with, and the helpers they share."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf

X = np.random.default_rng(0).random((32, 4)).astype("float32")
Y = np.random.default_rng(1).integers(0, 3, 32)


class StopInSecondEpoch(keras.callbacks.Callback):
    """Interrupts the training inside its second epoch (after the first epoch's backup)."""

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self.epoch == 1 and batch == 1:
            raise RuntimeError("interrupted")


def tiny_model(units: int = 3, name: str | None = None) -> keras.Model:
    """``nf.Model``: 4 inputs → Dense(``units``, softmax), compiled with Adam and sparse cross-entropy."""
    inputs = keras.Input((4,))
    model = nf.Model(inputs, keras.layers.Dense(units, activation="softmax")(inputs), name=name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def fit(model: keras.Model, backup: Path, callbacks: Iterable[keras.callbacks.Callback] = ()) -> None:
    """Two epochs of batches of 8 on ``X``/``Y`` with ``backup_dir=backup``."""
    model.fit(X, Y, epochs=2, batch_size=8, backup_dir=str(backup), callbacks=list(callbacks), verbose=0)


def interrupted_backup(folder: Path, model: keras.Model,
                       callbacks: Iterable[keras.callbacks.Callback] = ()) -> Path:
    """``folder/bk``: the backup left by training ``model`` stopped inside its second epoch."""
    backup = folder / "bk"
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, backup, [*callbacks, StopInSecondEpoch()])
    return backup


def rewrite_variables(backup: Path, members: list[tuple[str, bytes | np.ndarray]]) -> None:
    """Rewrite ``backup/state/variables.npz`` as ``members``, in order: each an array or raw ``.npy``
    bytes, under a name (a name may repeat)."""
    path = backup / "state" / "variables.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of a duplicate name, which a case may want
        with zipfile.ZipFile(path, "w") as out:
            for name, value in members:
                if isinstance(value, np.ndarray):
                    buffer = io.BytesIO()
                    np.save(buffer, value)
                    value = buffer.getvalue()
                out.writestr(name + ".npy", value)


def variables(backup: Path) -> list[tuple[str, np.ndarray]]:
    """The arrays of ``backup/state/variables.npz``, by name, in order."""
    with np.load(backup / "state" / "variables.npz") as npz:
        return [(k, npz[k]) for k in npz.files]
