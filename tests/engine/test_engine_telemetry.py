"""Telemetry lives apart from the metrics logs, which stay exactly Keras's."""

from __future__ import annotations

import csv
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform as nf
import netform.engine as nfe
from netform.engine import _callbacks, _telemetry
from engine_helpers import assert_history_close, make_mlp


def _tags(folder) -> set[str]:
    tags = set()
    for path in folder.rglob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    return tags


def _fit_side_by_side(cls, x, y, tmp_path, name, **kwargs):
    model = make_mlp(cls)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    folder = tmp_path / name
    cbs = [keras.callbacks.CSVLogger(str(folder) + ".csv"), keras.callbacks.TensorBoard(str(folder))]
    hist = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2, shuffle=False,
                     callbacks=cbs + kwargs.pop("extra", []), **kwargs)
    with open(str(folder) + ".csv") as f:
        rows = list(csv.DictReader(f))
    return hist, rows, _tags(folder)


def test_history_csv_and_tensorboard_are_keras_own(data, tmp_path):
    pytest.importorskip("tensorboard")
    x, y = data
    k_hist, k_rows, k_tags = _fit_side_by_side(keras.Model, x, y, tmp_path, "keras")
    n_hist, n_rows, n_tags = _fit_side_by_side(nfe.Model, x, y, tmp_path, "netform")
    assert list(n_hist.history) == list(k_hist.history)
    assert_history_close(n_hist, k_hist)
    assert list(n_rows[0]) == list(k_rows[0])  # CSVLogger columns, in order
    assert n_tags == k_tags and not any("telemetry" in t or "time" in t for t in n_tags)
    assert len(n_hist.telemetry) == 3 and not hasattr(k_hist, "telemetry")


def test_telemetry_tensorboard_only_when_asked(data, tmp_path):
    pytest.importorskip("tensorboard")
    x, y = data
    extra = [nf.Telemetry(tensorboard=tmp_path / "netform")]
    hist, rows, tags = _fit_side_by_side(nfe.Model, x, y, tmp_path, "netform", extra=extra)
    telemetry_tags = {t for t in tags if t.startswith("telemetry/")}
    assert {"telemetry/step_ms_p50", "telemetry/step_ms_max", "telemetry/samples_per_sec",
            "telemetry/callbacks_s"} <= telemetry_tags
    assert "telemetry/checkpoint_s" not in telemetry_tags  # no checkpoint was written
    assert not any("step_ms" in t or "samples_per_sec" in t for t in tags - telemetry_tags)
    assert _tags(tmp_path / "netform" / "train") >= telemetry_tags
    assert [e.epoch for e in extra[0].epochs] == [0, 1, 2]
    assert "samples_per_sec" not in rows[0]


def test_epoch_telemetry_figures(data):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    hist = model.fit(x, y, batch_size=10, epochs=3, verbose=0, validation_data=(x[:20], y[:20]))
    report = hist.telemetry
    assert model.telemetry is report and len(report) == 3
    first, later = report[0], report[1]
    assert first.first_call_s is not None and first.first_call_s > 0 and later.first_call_s is None
    assert [e.steps for e in report] == [9, 9, 9] and [e.samples for e in report] == [90, 90, 90]
    assert len(first.step_ms) == 8 and len(later.step_ms) == 9  # the first (tracing) call kept apart
    for e in report:
        assert 0 < e.step_ms_p50 <= e.step_ms_p95 <= e.step_ms_p99 <= e.step_ms_max
        assert e.samples_per_sec == pytest.approx(e.samples / e.epoch_s)
        assert 0 < e.samples_per_sec < e.in_graph_samples_per_sec  # end-to-end includes the loop and validation
        assert e.checkpoint_s is None and e.checkpoints == 0
        assert e.validation_s is not None and 0 < e.validation_s < e.epoch_s
        accounted = sum(e.step_ms) / 1e3 + (e.first_call_s or 0) + e.callbacks_s + e.validation_s + e.data_and_loop_s
        assert accounted == pytest.approx(e.epoch_s, rel=1e-6)
    totals = report.totals()
    assert totals["steps"] == 27 and totals["samples"] == 270
    assert totals["step_ms_max"] == max(e.step_ms_max for e in report)


def test_callback_time_is_counted_in_end_to_end_throughput(data):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    slow = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(0.05))
    hist = model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[slow])
    for e in hist.telemetry:
        assert e.callbacks_s >= 0.05 and e.epoch_s >= 0.05
        assert e.samples_per_sec <= 90 / 0.05


def test_checkpoint_time_only_when_a_checkpoint_is_written(data, tmp_path):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    # mode="max" on a falling loss: only the first epoch improves, so only it writes.
    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / "m.weights.h5"), monitor="loss", mode="max",
                                          save_best_only=True, save_weights_only=True)
    every = keras.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.weights.h5"), save_weights_only=True, save_freq=3)
    hist = model.fit(x, y, batch_size=10, epochs=3, verbose=0, callbacks=[ckpt, every])
    assert [e.checkpoints for e in hist.telemetry] == [1 + 3, 3, 3]  # 9 steps: a batch checkpoint every 3
    assert all(e.checkpoint_s > 0 for e in hist.telemetry)
    assert len(list(tmp_path.glob("e*.weights.h5"))) == 3
    model2 = make_mlp(nfe.Model)
    model2.compile("sgd", "sparse_categorical_crossentropy")
    hist = model2.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(str(tmp_path / "b.weights.h5"), monitor="loss", mode="max",
                                        save_best_only=True, save_weights_only=True)])
    assert [e.checkpoints for e in hist.telemetry] == [1, 0]
    assert hist.telemetry[1].checkpoint_s is None


def test_backup_checkpoints_are_counted(data, tmp_path):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    hist = model.fit(x, y, batch_size=10, epochs=2, verbose=0,
                     callbacks=[nfe.TrainingBackup(tmp_path / "b", save_every_steps=4, delete_on_finish=False)])
    # Steps 4 and 8, then 12 and 16 (counted across epochs), plus one at each epoch's end.
    assert [e.checkpoints for e in hist.telemetry] == [3, 3]


def test_recorder_counts_samples_exactly():
    rec = _telemetry.TelemetryRecorder()
    rec.start_epoch(0)
    rec.record(2.0, steps=1, samples=tf.constant(32, tf.int64))  # the first call: tracing, kept apart
    rec.record(0.5, steps=2, samples=tf.constant(64, tf.int64))
    rec.record(0.5, steps=1, samples=26)
    e = rec.end_epoch()
    assert (e.steps, e.samples, e.first_call_s) == (4, 122, 2.0)
    assert e.in_graph_samples_per_sec == pytest.approx(90.0)
    assert e.step_ms_p50 == pytest.approx(375.0) and e.step_ms_max == pytest.approx(500.0)
    rec.start_epoch(1)
    rec.record(0.1, steps=1, samples=10)
    assert rec.end_epoch().first_call_s is None


def test_iterator_is_freed_when_the_epoch_steps_end(data):
    # Freeing an input iterator waits for its pipeline to stop (up to hundreds of
    # ms on a busy machine): as in Keras it happens when an epoch's steps are over,
    # not inside the next epoch's first step.
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    held = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: held.append(model.train_function.execution._flat_iterator))
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[probe], validation_split=0.2)
    assert held == [[], []]
    assert model.test_function.execution._flat_iterator == []


def test_no_per_step_log_conversion_without_batch_callbacks(data, monkeypatch):
    x, y = data
    calls = []
    real = _callbacks.pythonify_logs
    monkeypatch.setattr(_callbacks, "pythonify_logs", lambda logs: calls.append(1) or real(logs))
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)  # 18 steps
    assert len(calls) <= 2  # epoch end only, never per step
    calls.clear()
    model.fit(x, y, batch_size=5, epochs=1, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: None)])
    assert len(calls) >= 18  # a callback reads batch logs: converted once per step


def test_verbose_prints_one_summary_line_at_the_end(data, capsys):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("telemetry: 2 epoch(s), 6 steps") and "p95" in lines[-1]
    assert sum("telemetry" in line for line in lines) == 1
    assert not any("step_time" in line or "samples_per_sec" in line for line in lines)
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_report_text(data):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    text = model.telemetry.report()
    assert text.startswith("telemetry: 2 epoch(s), 6 steps, 180 samples")
    assert "first call (tracing, compilation)" in text and "slowest step" in text
    assert nfe.TelemetryReport().summary() == "telemetry: no epoch ran"
    assert isinstance(model.telemetry[0], nfe.EpochTelemetry)
    assert set(model.telemetry[0].as_dict()) >= {"step_ms_p99", "in_graph_samples_per_sec", "checkpoint_s"}
    assert np.isfinite(model.telemetry.totals()["samples_per_sec"])
