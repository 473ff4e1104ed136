"""`.h5` loads restore the optimizer state when the optimizer is first built,
and saving again before that keeps it."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import netform as nf


def _trained() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    model = nf.Model(inputs, keras.layers.Dense(3, name="out")(keras.layers.Dense(8, name="hidden")(inputs)))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(32, 5)), rng.normal(size=(32, 3)), batch_size=8, epochs=2, verbose=0)
    return model


def _state(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(v) for v in model.optimizer.variables]


def test_counters_at_once_slots_at_first_build(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _trained()
    nf.save(model, tmp_path / "m.h5")
    again = nf.load(tmp_path / "m.h5")
    assert int(again.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 8
    again.optimizer.build(again.trainable_variables)
    for a, b in zip(_state(model), _state(again), strict=True):
        np.testing.assert_array_equal(a, b)


def test_saving_again_before_training_keeps_the_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _trained()
    nf.save(model, tmp_path / "m.h5")
    nf.save(nf.load(tmp_path / "m.h5"), tmp_path / "again.keras")
    restored = nf.load(tmp_path / "again.keras")
    for a, b in zip(_state(model), _state(restored), strict=True):
        np.testing.assert_array_equal(a, b)
