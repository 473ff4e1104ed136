"""steps_per_execution="auto": same results as 1, steps grouped only where callbacks allow it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from netform.engine import _steps
from netform.errors import EngineError

from engine_helpers import make_mlp, max_weight_diff

rng = np.random.default_rng(7)
X = rng.normal(size=(200, 8)).astype("float32")
Y = rng.integers(0, 3, size=(200,)).astype("int64")


@pytest.fixture
def eager_growth(monkeypatch):
    """Make every call count as fast: the steps double after each call, up to the cap (a fixed schedule)."""
    monkeypatch.setattr(_steps, "AUTO_TARGET_S", 1e9)


class _Batches(keras.callbacks.Callback):
    """Records the (begin, end) batch numbers of each call; may be grouped (``sparse_batch_hooks``)."""

    def __init__(self, sparse: bool) -> None:
        super().__init__()
        self.sparse_batch_hooks = sparse
        self.begins: list[int] = []
        self.ends: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begins.append(-1)  # epoch separator
        self.ends.append(-1)

    def on_train_batch_begin(self, batch, logs=None):
        self.begins.append(batch)

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(batch)


def _train(spe, *, callbacks=(), epochs=3, validation=True, x=X, y=Y, batch_size=16):
    model = make_mlp(nfe.Model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=list(callbacks),
                     validation_data=(X[:50], Y[:50]) if validation else None)
    return model, hist


def test_auto_equals_one_weights_and_history(eager_growth):
    ref, ref_hist = _train(1)
    auto, auto_hist = _train("auto")
    assert max_weight_diff(ref, auto) <= 1e-6
    assert auto_hist.history.keys() == ref_hist.history.keys()
    for key, values in ref_hist.history.items():
        np.testing.assert_allclose(auto_hist.history[key], values, atol=1e-6, rtol=0, err_msg=key)
    # The steps were grouped: far fewer compiled calls than the 13 batches an epoch has.
    assert auto._auto_steps("train").steps > 1
    assert int(auto.optimizer.iterations) == int(ref.optimizer.iterations) == 3 * 13


def test_auto_equals_keras_fit(eager_growth):
    """Same weights as plain keras.Model.fit at its default (1), on a tf.data pipeline with steps_per_epoch."""
    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(16).repeat()
    keras_model = make_mlp(keras.Model)
    keras_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    keras_hist = keras_model.fit(ds, steps_per_epoch=7, epochs=3, verbose=0)
    model = make_mlp(nfe.Model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution="auto")
    hist = model.fit(ds, steps_per_epoch=7, epochs=3, verbose=0)
    assert max_weight_diff(model, keras_model) <= 1e-6
    np.testing.assert_allclose(hist.history["loss"], keras_hist.history["loss"], atol=1e-6, rtol=0)


def test_auto_on_a_generator_equals_one():
    def gen():
        for i in range(0, 200, 32):
            yield X[i:i + 32], Y[i:i + 32]

    ref = make_mlp(nfe.Model)
    ref.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ref.fit(gen(), epochs=1, verbose=0)
    auto = make_mlp(nfe.Model)
    auto.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution="auto")
    auto.fit(gen(), epochs=1, verbose=0)
    assert max_weight_diff(ref, auto) <= 1e-6


def test_sparse_hooks_see_keras_batch_numbers_for_the_chosen_values(eager_growth, monkeypatch):
    monkeypatch.setattr(_steps, "AUTO_HOOK_CAP", 4)
    seen = _Batches(sparse=True)
    _train("auto", callbacks=[seen], epochs=2, validation=False)
    # 13 batches an epoch; the steps double per call up to the cap of 4 and carry over to epoch 2;
    # a call of n steps from `begin` reports begin and begin + n - 1, as keras.Model.fit does with
    # steps_per_execution=n; the last call of an epoch runs only the steps left.
    assert seen.begins == [-1, 0, 1, 3, 7, 11, -1, 0, 4, 8, 12]
    assert seen.ends == [-1, 0, 2, 6, 10, 12, -1, 3, 7, 11, 12]
    # keras.Model.fit at steps_per_execution=4 reports the same numbers for epoch 2's calls.
    keras_model = make_mlp(keras.Model)
    keras_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=4)
    keras_seen = _Batches(sparse=False)
    keras_model.fit(X, Y, batch_size=16, epochs=1, verbose=0, callbacks=[keras_seen])
    assert keras_seen.begins[1:] == seen.begins[7:]
    # Keras's last call reports a full 4 steps (15); the chosen value there is 1, for which Keras reports 12.
    assert keras_seen.ends[1:] == seen.ends[7:10] + [15]


def test_callbacks_needing_every_batch_keep_one_step_per_call(eager_growth):
    seen = _Batches(sparse=False)
    nan_guard = keras.callbacks.TerminateOnNaN()
    model, _ = _train("auto", callbacks=[seen, nan_guard], epochs=2, validation=False)
    every = [-1] + list(range(13))
    assert seen.begins == every * 2
    assert seen.ends == every * 2
    assert model._auto_steps("train").steps == 1


def test_cap_rule():
    assert _steps.auto_steps_cap([], "train") == _steps.AUTO_MAX_STEPS
    progress = [keras.callbacks.ProgbarLogger(), keras.callbacks.ModelCheckpoint("m.keras")]
    assert _steps.auto_steps_cap(progress, "train") == _steps.AUTO_HOOK_CAP
    assert _steps.auto_steps_cap(progress + [keras.callbacks.TerminateOnNaN()], "train") == 1
    assert _steps.auto_steps_cap([keras.callbacks.ModelCheckpoint("m.keras", save_freq=5)], "train") == 1
    assert _steps.auto_steps_cap([keras.callbacks.LambdaCallback(on_batch_end=print)], "train") == 1
    assert _steps.auto_steps_cap([keras.callbacks.EarlyStopping(), keras.callbacks.History()], "train") == \
        _steps.AUTO_MAX_STEPS


def test_controller_adapts_both_ways(monkeypatch):
    monkeypatch.setattr(_steps, "AUTO_TARGET_S", 0.01)
    auto = _steps.AutoSteps()
    for _ in range(5):
        auto.observe(auto.steps, 0.001)
    assert auto.steps == 32
    auto.observe(32, 0.5)  # one slow call (a trace, a pause) changes nothing
    assert auto.steps == 32
    auto.observe(32, 0.5)
    assert auto.steps == 16
    auto.observe(3, 0.001)  # a shortened last call of an epoch is not a measure
    assert auto.steps == 16
    auto.set_cap(4)
    assert auto.steps == 4


@pytest.mark.parametrize("bad", ["fast", 0, -1, 2.5, True])
def test_bad_values_are_refused(bad):
    model = make_mlp(nfe.Model)
    with pytest.raises(EngineError, match=r"positive int.*\"auto\""):
        model.compile(optimizer="adam", loss="mse", steps_per_execution=bad)


def test_numpy_integers_are_accepted_as_by_keras():
    model = make_mlp(nfe.Model)
    model.compile(optimizer="adam", loss="mse", steps_per_execution=np.int64(4))
    assert model.steps_per_execution == 4


def test_compile_default_stays_one():
    model = make_mlp(nfe.Model)
    model.compile(optimizer="adam", loss="mse")
    assert model.steps_per_execution == 1


def test_auto_evaluate_and_predict_equal_one(eager_growth):
    ref, _ = _train(1, epochs=1, validation=False)
    auto, _ = _train("auto", epochs=1, validation=False)
    np.testing.assert_allclose(auto.evaluate(X, Y, verbose=0), ref.evaluate(X, Y, verbose=0), atol=1e-6, rtol=0)
    np.testing.assert_allclose(auto.predict(X, verbose=0), ref.predict(X, verbose=0), atol=1e-6, rtol=0)


def test_auto_traces_the_step_no_more_often_than_keras(eager_growth):
    traces = {}
    for name, base, spe in (("keras", keras.Model, 1), ("netform", nfe.Model, "auto")):
        class Counting(base):
            count = 0

            def train_step(self, data):
                type(self).count += 1  # runs only while tracing
                return super().train_step(data)

        keras.utils.set_random_seed(1)
        inputs = keras.Input((8,))
        model = Counting(inputs, keras.layers.Dense(3)(inputs))
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=spe)
        model.fit(X, np.zeros((200, 3), "float32"), batch_size=16, epochs=3, verbose=0)  # last batch of 8
        traces[name] = Counting.count
    assert 1 <= traces["netform"] <= traces["keras"], traces


# ------------------------------------------------------------- specs and CLI
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


def test_spec_default_is_auto_and_refuses_bad_values():
    import netform as nf
    from netform.errors import SpecError

    assert nf.load_spec(SPEC).training.steps_per_execution == "auto"
    assert "steps_per_execution" not in nf.load_spec(SPEC).training.to_dict()  # the default is not written out
    assert nf.load_spec(SPEC + "  steps_per_execution: 4\n").training.steps_per_execution == 4
    for bad in ("fast", "0", "-1"):
        with pytest.raises(SpecError, match=r"training.steps_per_execution: expected 'auto' or"):
            nf.load_spec(SPEC + f"  steps_per_execution: {bad}\n")


def test_training_config_default_is_auto_and_refuses_bad_values():
    model = make_mlp(nfe.Model)
    nfe.fit_from_training_config(model, {"loss": "sparse_categorical_crossentropy"}, X, Y, verbose=0)
    assert model.steps_per_execution == "auto"
    for bad in ("fast", 0, -1):
        with pytest.raises(EngineError, match=r"training.steps_per_execution: expected a positive int or \"auto\""):
            nfe.fit_from_training_config(make_mlp(nfe.Model), {"steps_per_execution": bad}, X, Y, verbose=0)


def test_cli_flag(tmp_path, monkeypatch, capsys):
    import netform.engine
    from netform.cli import main

    (tmp_path / "tiny.yaml").write_text(SPEC)
    np.savez(tmp_path / "data.npz", x=X, y=Y)
    real = netform.engine.fit_from_training_config
    seen = []

    def recording(model, training, *args, **kwargs):
        history = real(model, training, *args, **kwargs)
        seen.append((training.get("steps_per_execution"), history.model.steps_per_execution))
        return history

    monkeypatch.setattr(netform.engine, "fit_from_training_config", recording)
    base = ["train", str(tmp_path / "tiny.yaml"), "--data", str(tmp_path / "data.npz"), "--verbose", "0"]
    assert main(base) == 0
    assert main(base + ["--steps-per-execution", "4"]) == 0
    assert main(base + ["--steps-per-execution", "auto"]) == 0
    assert seen == [(None, "auto"), (4, 4), ("auto", "auto")]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(base + ["--steps-per-execution", "fast"])
    assert exit_info.value.code == 2
    assert "expected auto (measured and adapted while training) or a whole number" in capsys.readouterr().err


def test_a_saved_auto_model_loads_and_evaluates_in_plain_keras(tmp_path):
    model, _ = _train("auto", epochs=1, validation=False)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.steps_per_execution == 1
    np.testing.assert_allclose(loaded.evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0), atol=1e-6)


def test_training_config_on_a_plain_keras_model_trains_at_one():
    """Keras has no "auto": a plain keras.Model gets 1, with the same results."""
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    hist = nfe.fit_from_training_config(model, {"loss": "sparse_categorical_crossentropy"}, X, Y, verbose=0)
    assert model.steps_per_execution == 1 and len(hist.history["loss"]) == 1
