"""Every built-in Keras callback does under nf.Model what it does under keras.Model.

Each test trains the same tiny model on the same data with plain
``keras.Model`` and with netform's ``Model`` (``steps_per_execution`` 1 and 3:
4 batches an epoch, so calls of 3 and 1 steps) and compares the callbacks'
effects: files written and their contents, stop epochs, learning rates,
restored weights, resumed epochs, TensorBoard scalars, the History.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe

RNG = np.random.default_rng(5)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 1).astype("float32")
VX = RNG.normal(size=(24, 4)).astype("float32")
VY = (VX @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 1).astype("float32")
BASES = (("keras", keras.Model), ("netform", nfe.Model))


def _model(base: type, spe: int, lr: float = 0.02) -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    model = base(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse", metrics=["mae"], steps_per_execution=spe)
    return model


def _fit(model: keras.Model, callbacks: list, *, y=Y, epochs: int = 4, validation: bool = False, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y, batch_size=16, epochs=epochs, shuffle=False,
                         validation_data=(VX, VY) if validation else None,
                         callbacks=callbacks, verbose=0, **kwargs)


def _both(tmp_path: Path, spe: int, make_callbacks, **kwargs) -> tuple[SimpleNamespace, SimpleNamespace]:
    runs = []
    for name, base in BASES:
        folder = tmp_path / name
        folder.mkdir()
        cbs = make_callbacks(folder)
        model = _model(base, spe)
        hist = _fit(model, list(cbs.values()), **kwargs)
        runs.append(SimpleNamespace(model=model, hist=hist, cbs=cbs, dir=folder))
    return runs[0], runs[1]


def _assert_weights_equal(a, b, atol: float = 1e-6) -> None:
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, atol=atol, equal_nan=True)


def _assert_history_equal(k, n) -> None:
    assert n.history.keys() == k.history.keys()
    for key in k.history:
        np.testing.assert_allclose(n.history[key], k.history[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert n.epoch == k.epoch
    assert n.params == k.params


def _scalars(log_dir: Path) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """TensorBoard scalars by (sub-folder, tag): [(step, value)]."""
    found: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        sub = str(path.parent.relative_to(log_dir))
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                found.setdefault((sub, value.tag), []).append((event.step, number))
    return found


# ------------------------------------------- checkpoints, logs and schedules
@pytest.mark.parametrize("spe", [1, 3])
def test_checkpoints_csv_tensorboard_scheduler_lambda_and_history_like_keras(tmp_path, spe):
    def callbacks(folder: Path) -> dict:
        events: list = []
        return {
            "every_epoch": keras.callbacks.ModelCheckpoint(str(folder / "ep{epoch:02d}.weights.h5"),
                                                           save_weights_only=True),
            "best": keras.callbacks.ModelCheckpoint(str(folder / "best{epoch:02d}.weights.h5"), monitor="val_loss",
                                                    save_best_only=True, save_weights_only=True),
            "batches": keras.callbacks.ModelCheckpoint(str(folder / "b{epoch:02d}-{batch:02d}.weights.h5"),
                                                       save_weights_only=True, save_freq=3),
            "schedule": keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.09 if epoch % 2 else 0.01),
            "csv": keras.callbacks.CSVLogger(str(folder / "log.csv")),
            "tensorboard": keras.callbacks.TensorBoard(str(folder / "tb"), write_graph=False),
            "lambda": keras.callbacks.LambdaCallback(
                on_epoch_begin=lambda epoch, logs: events.append(("epoch", epoch)),
                on_train_batch_end=lambda batch, logs: events.append(("batch", batch, sorted(logs))),
                on_train_end=lambda logs: events.append(("end", sorted(logs))),
            ),
            "events": events,
        }

    runs = []
    for name, base in BASES:
        folder = tmp_path / name
        folder.mkdir()
        cbs = callbacks(folder)
        events = cbs.pop("events")
        model = _model(base, spe)
        hist = _fit(model, list(cbs.values()), validation=True)
        runs.append(SimpleNamespace(model=model, hist=hist, cbs=cbs, dir=folder, events=events))
    k, n = runs

    # ModelCheckpoint: the same files (every epoch, the best ones, every 3 batches), holding the same weights.
    k_files = sorted(p.name for p in k.dir.iterdir() if p.name.endswith(".h5"))
    assert sorted(p.name for p in n.dir.iterdir() if p.name.endswith(".h5")) == k_files
    assert any(f.startswith("b01-") for f in k_files) and any(f.startswith("best") for f in k_files)
    probe = _model(keras.Model, spe)
    for name in k_files:
        probe.load_weights(str(k.dir / name))
        k_weights = probe.get_weights()
        probe.load_weights(str(n.dir / name))
        _assert_weights_equal(probe.get_weights(), k_weights)

    # LearningRateScheduler: the rates per epoch, logged as Keras logs them.
    np.testing.assert_allclose(n.hist.history["learning_rate"], [0.01, 0.09, 0.01, 0.09], rtol=1e-6)

    # CSVLogger: the same columns and rows.
    def rows(path: Path) -> list[dict]:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    k_rows, n_rows = rows(k.dir / "log.csv"), rows(n.dir / "log.csv")
    assert list(n_rows[0]) == list(k_rows[0])
    assert len(n_rows) == len(k_rows) == 4
    for ours, theirs in zip(n_rows, k_rows):
        np.testing.assert_allclose([float(ours[c]) for c in theirs], [float(theirs[c]) for c in theirs], rtol=1e-5)

    # TensorBoard: event files in the same folders, the same scalar tags, steps and values.
    k_scalars, n_scalars = _scalars(k.dir / "tb"), _scalars(n.dir / "tb")
    assert {key for key in n_scalars if key[0] != "telemetry"} == set(k_scalars)
    assert {sub for sub, _ in k_scalars} == {"train", "validation"}
    for key, values in k_scalars.items():
        assert [s for s, _ in n_scalars[key]] == [s for s, _ in values], key
        np.testing.assert_allclose([v for _, v in n_scalars[key]], [v for _, v in values], rtol=1e-5, err_msg=str(key))

    # LambdaCallback: the same hooks, batch indices and log keys.
    assert n.events == k.events

    # History, and the weights it ends with.
    _assert_history_equal(k.hist, n.hist)
    _assert_weights_equal(n.model.get_weights(), k.model.get_weights())


# ------------------------------------------------------- stopping and plateaus
@pytest.mark.parametrize("spe", [1, 3])
def test_early_stopping_and_reduce_lr_on_plateau_like_keras(tmp_path, spe):
    def callbacks(folder: Path) -> dict:
        return {
            "stop": keras.callbacks.EarlyStopping(monitor="loss", min_delta=0.3, patience=1,
                                                  restore_best_weights=True),
            "plateau": keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, min_delta=1.0, patience=0),
        }

    k, n = _both(tmp_path, spe, callbacks, epochs=30)
    k_stop, n_stop = k.cbs["stop"], n.cbs["stop"]
    assert 2 < len(k.hist.epoch) < 30  # it did stop early
    assert (n_stop.stopped_epoch, n_stop.best_epoch) == (k_stop.stopped_epoch, k_stop.best_epoch)
    assert len(set(k.hist.history["learning_rate"])) > 1  # the plateau lowered the rate
    _assert_history_equal(k.hist, n.hist)
    _assert_weights_equal(n.model.get_weights(), k.model.get_weights())  # the best epoch's, restored
    np.testing.assert_allclose(float(n.model.optimizer.learning_rate.numpy()),
                               float(k.model.optimizer.learning_rate.numpy()))


@pytest.mark.parametrize("spe", [1, 3])
def test_terminate_on_nan_like_keras(tmp_path, spe):
    y = Y.copy()
    y[20] = np.nan  # in the second batch
    k, n = _both(tmp_path, spe, lambda folder: {"nan": keras.callbacks.TerminateOnNaN()}, y=y, epochs=3)
    assert int(n.model.optimizer.iterations.numpy()) == int(k.model.optimizer.iterations.numpy())
    assert n.hist.epoch == k.hist.epoch
    assert n.model.stop_training and k.model.stop_training
    _assert_weights_equal(n.model.get_weights(), k.model.get_weights())


# ------------------------------------------------------------ resuming training
class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("spe, save_freq", [(3, "epoch"), (1, 3)])
def test_backup_and_restore_resumes_like_keras(tmp_path, spe, save_freq):
    results = {}
    for name, base in BASES:
        backup_dir = str(tmp_path / name / "backup")
        model = _model(base, spe)
        with pytest.raises(RuntimeError, match="interrupted"):
            _fit(model, [keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq), _Interrupt(1)], epochs=4)
        began: list[int] = []
        resumed = _model(base, spe)
        hist = _fit(resumed, [keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq),
                              keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: began.append(e))],
                    epochs=4)
        results[name] = (began, hist, resumed.get_weights(), int(resumed.optimizer.iterations.numpy()),
                         os.path.exists(backup_dir) and os.listdir(backup_dir))
    (k_began, k_hist, k_w, k_it, k_left), (n_began, n_hist, n_w, n_it, n_left) = results["keras"], results["netform"]
    assert k_began[0] > 0  # it resumed
    assert n_began == k_began
    assert n_it == k_it
    assert n_left == k_left  # the backup deleted at the end of training
    _assert_history_equal(k_hist, n_hist)
    _assert_weights_equal(n_w, k_w)
