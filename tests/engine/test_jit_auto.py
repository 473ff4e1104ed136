"""jit_compile="auto": a short probe chooses XLA when it is faster; training equals the chosen mode."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from netform.engine import _steps

from engine_helpers import make_mlp, max_weight_diff

rng = np.random.default_rng(5)
X = rng.normal(size=(96, 8)).astype("float32")
Y = rng.integers(0, 3, size=(96,)).astype("int64")


def _fit(jit, epochs=2, **compile_kwargs):
    model = make_mlp(nfe.Model)
    if jit is not None:
        compile_kwargs["jit_compile"] = jit
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], **compile_kwargs)
    history = model.fit(X, Y, batch_size=16, epochs=epochs, verbose=0)
    return model, history


def test_choice_from_timings():
    assert _steps.choose_jit_compile(2e-3, 1e-3)[0] is True
    assert _steps.choose_jit_compile(1e-3, 2e-3)[0] is False
    assert _steps.choose_jit_compile(1e-3, 0.97e-3)[0] is False  # under 5 %: noise, no XLA
    assert _steps.choose_jit_compile(1e-3, 0.94e-3)[0] is True
    use, reason = _steps.choose_jit_compile(1e-3, None)
    assert use is False and "could not compile" in reason


@pytest.mark.slow
@pytest.mark.parametrize("forced", [True, False])
def test_probe_leaves_training_equal_to_the_chosen_mode(monkeypatch, forced):
    monkeypatch.setattr(_steps, "JIT_PROBE_MIN_STEPS", 0)
    monkeypatch.setattr(_steps, "JIT_PAYBACK", 0.0)
    seen = []

    def choose(graph_s, xla_s):
        seen.append((graph_s, xla_s))
        return forced, "forced by the test"

    monkeypatch.setattr(_steps, "choose_jit_compile", choose)
    auto, auto_hist = _fit("auto", steps_per_execution="auto")
    ref, ref_hist = _fit(forced, steps_per_execution="auto")
    choice = auto_hist.telemetry.jit
    assert choice.xla is forced and auto.jit_compile is forced
    # The probe ran real steps both ways, timed them, and its effects were undone.
    assert len(seen) == 1 and seen[0][0] > 0 and seen[0][1] > 0
    assert choice.probe_s > 0 and choice.probe_steps == 32 and choice.graph_step_ms > 0
    assert max_weight_diff(auto, ref) <= 1e-6
    assert int(auto.optimizer.iterations) == int(ref.optimizer.iterations) == 12
    for key, values in ref_hist.history.items():
        np.testing.assert_allclose(auto_hist.history[key], values, atol=1e-6, rtol=0, err_msg=key)
    assert "XLA " + ("on" if forced else "off") in auto_hist.telemetry.report()
    assert "probe 32 steps each way" in auto_hist.telemetry.summary()
    # A later fit keeps the choice without probing again.
    again = auto.fit(X, Y, batch_size=16, epochs=1, verbose=0).telemetry.jit
    assert again.xla is forced and again.probe_s is None and len(seen) == 1


def test_xla_is_not_tried_when_training_cannot_pay_for_compiling(monkeypatch):
    monkeypatch.setattr(_steps, "JIT_PROBE_MIN_STEPS", 0)  # the 12 steps ahead last far less than 10 traces
    tried = []
    monkeypatch.setattr(_steps, "choose_jit_compile", lambda *timings: tried.append(timings))
    model, history = _fit("auto")
    choice = history.telemetry.jit
    assert not tried and choice.xla is bool(model.jit_compile) and choice.xla_step_ms is None
    assert choice.graph_step_ms > 0 and "too short to pay for compiling with XLA" in choice.reason
    assert "probe 32 steps without XLA" in history.telemetry.report()
    ref, ref_hist = _fit(choice.xla)
    assert max_weight_diff(model, ref) <= 1e-6


def test_training_reuses_the_probe_trace(monkeypatch):
    """The probe's batches have the data's spec: training traces the step no more often than without a probe."""
    monkeypatch.setattr(_steps, "JIT_PROBE_MIN_STEPS", 0)
    traces = {}
    for jit in ("auto", False):
        count = [0]

        class Counting(nfe.Model):
            def train_step(self, data):
                count[0] += 1
                return super().train_step(data)

        model = make_mlp(Counting)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        history = model.fit(X, Y, batch_size=16, epochs=2, verbose=0)
        traces[jit] = count[0]
    assert history.telemetry.jit is None
    assert traces["auto"] <= traces[False]


def test_short_fit_keeps_keras_choice_without_probe():
    model, history = _fit("auto", epochs=1)
    choice = history.telemetry.jit
    assert choice.probe_s is None and "too short" in choice.reason
    assert choice.xla is bool(model.jit_compile)
    if not tf.config.list_physical_devices("GPU"):
        assert choice.xla is False  # Keras's "auto" on a CPU


def test_compile_default_is_keras_auto_without_probe():
    _, history = _fit(None, epochs=1)
    assert history.telemetry.jit is None
    assert "XLA" not in history.telemetry.report()


SPEC = """\
netform: 1
name: tiny
kind: sequential
inputs:
  x: {shape: [8]}
layers:
  - {type: Dense, units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  batch_size: 16
"""


def test_netform_train_reports_the_choice(tmp_path, capsys):
    """A spec's default is jit_compile: auto; the train report names what it chose and why."""
    from netform.cli import main

    (tmp_path / "tiny.yaml").write_text(SPEC)
    np.savez(tmp_path / "data.npz", x=X, y=Y)
    assert main(["train", str(tmp_path / "tiny.yaml"), "--data", str(tmp_path / "data.npz"), "--verbose", "0",
                 "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "compilation" in out and "(jit_compile=auto: fit too short to probe (6 steps); Keras's choice" in out
