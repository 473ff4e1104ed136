"""Every Keras built-in callback works with netform's loops."""

from __future__ import annotations

import csv
import re

import keras
import numpy as np
import pytest

import netform as nf
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
    """The same run under keras.Model: the file holds the best epoch's weights (on these random labels
    val_loss rises, so the best is not the last epoch), not the last ones, in both."""
    x, y = data
    weights_only = filename.endswith(".weights.h5")
    plain = make_mlp(keras.Model)
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plain.set_weights(model.get_weights())
    runs = {}
    for name, m in (("netform", model), ("keras", plain)):
        path = tmp_path / name / filename
        path.parent.mkdir()
        ckpt = keras.callbacks.ModelCheckpoint(str(path), monitor="val_loss", save_best_only=True,
                                              save_weights_only=weights_only)
        seen: list[list[np.ndarray]] = []
        snap = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs, m=m, seen=seen: seen.append(m.get_weights()))
        hist = m.fit(x, y, epochs=3, verbose=0, shuffle=False, validation_split=0.2, callbacks=[ckpt, snap])
        runs[name] = (path, hist, seen)
    (path, hist, seen), (k_path, k_hist, k_seen) = runs["netform"], runs["keras"]
    np.testing.assert_allclose(hist.history["val_loss"], k_hist.history["val_loss"], rtol=1e-5)
    best = int(np.argmin(hist.history["val_loss"]))
    assert best != len(seen) - 1, "the run must end on an epoch that is not the best, or nothing is tested"
    assert hist.telemetry[0].checkpoints == 1 and hist.telemetry[0].checkpoint_s > 0  # the first epoch always improves
    assert "checkpoint_time_s" not in hist.history
    if weights_only:
        saved, k_saved = make_mlp(nfe.Model), make_mlp(keras.Model)
        saved.load_weights(path)
        k_saved.load_weights(k_path)
    else:
        saved, k_saved = nf.load(path), keras.models.load_model(k_path)
        assert isinstance(saved, nfe.Functional) and not isinstance(k_saved, nfe.Model)
        # netform's ModelCheckpoint file is the one nf.save writes: Keras's class names, which plain Keras opens
        assert not isinstance(keras.models.load_model(path), nfe.Model)
    for got, k_got, want, k_want in zip(saved.get_weights(), k_saved.get_weights(), seen[best], k_seen[best]):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(k_got, k_want)
        np.testing.assert_allclose(got, k_got, atol=1e-6, rtol=0)


def test_reduce_lr_and_scheduler(model, data):
    x, y = data
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5, min_lr=1e-4)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[reduce])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * (epoch + 1))
    hist = model.fit(x, y, epochs=2, verbose=0, callbacks=[sched])
    assert hist.history["learning_rate"] == pytest.approx([0.01, 0.02])


def _progress_lines(text: str) -> list[str]:
    """The progress bar lines of a run: ``Epoch k/n`` and ``step/steps - metrics``,
    with colours, bars and timings taken out."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line.split("\r")[-1]).replace("\x08", "")
        line = re.sub(r"━+|\b\d+(\.\d+)?(s|ms|us)(/step)?\b", "", line)
        if line.startswith("Epoch ") or re.match(r"\d+/\d+ ", line):
            out.append(" ".join(line.split()))
    return out


def _event_tags(folder) -> dict[str, set[str]]:
    import tensorflow as tf

    tags: dict[str, set[str]] = {}
    for path in folder.rglob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.setdefault(path.parent.name, set()).update(v.tag for v in event.summary.value)
    return tags


def test_tensorboard_csv_logger_progbar(model, data, tmp_path, capsys, monkeypatch):
    """TensorBoard, CSVLogger and ProgbarLogger write what they write under keras.Model on the same run."""
    pytest.importorskip("tensorboard")
    # Progbar skips an update that comes within `interval` (0.05 s) of the last one, so which intermediate
    # lines appear depends on the machine's speed; with no interval every update prints, on both sides.
    init = keras.utils.Progbar.__init__
    monkeypatch.setattr(keras.utils.Progbar, "__init__", lambda self, *a, **k: init(self, *a, **{**k, "interval": 0}))
    x, y = data
    plain = make_mlp(keras.Model)
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plain.set_weights(model.get_weights())
    runs = {}
    for name, m in (("netform", model), ("keras", plain)):
        folder = tmp_path / name
        cbs = [keras.callbacks.TensorBoard(str(folder / "tb"), update_freq="batch"),
               keras.callbacks.CSVLogger(str(folder / "log.csv")), keras.callbacks.ProgbarLogger()]
        capsys.readouterr()
        m.fit(x, y, epochs=2, verbose=1, shuffle=False, callbacks=cbs, validation_split=0.2)
        rows = list(csv.DictReader((folder / "log.csv").open()))
        runs[name] = (rows, _progress_lines(capsys.readouterr().out), _event_tags(folder / "tb"))
    (rows, progress, tags), (k_rows, k_progress, k_tags) = runs["netform"], runs["keras"]

    assert list(rows[0]) == list(k_rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    for row, k_row in zip(rows, k_rows, strict=True):
        assert row["epoch"] == k_row["epoch"]
        for key in ("accuracy", "loss", "val_accuracy", "val_loss"):
            assert float(row[key]) == pytest.approx(float(k_row[key]), rel=1e-5), key

    assert progress == k_progress
    assert [line for line in progress if line.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
    # 72 training samples, batches of 32: every step prints, and each epoch ends on a line with validation
    steps = [line.split(" - ")[0] for line in progress if not line.startswith("Epoch")]
    assert steps == ["1/3", "2/3", "3/3", "3/3"] * 2, progress
    ends = [line for line in progress if " - val_loss: " in line]
    assert len(ends) == 2 and all(line.startswith("3/3 ") for line in ends), progress

    assert set(tags) == set(k_tags) == {"train", "validation"}
    for run in tags:  # Keras's scalars (and the graph) are all there; netform's own extra ones are not judged here
        assert k_tags[run] <= tags[run], run
    assert {"batch_loss", "epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= tags["train"]


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
