"""`.h5` loads restore the whole optimizer state at load time, so any later save keeps it."""

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


def _assert_same_state(a: keras.Model, b: keras.Model) -> None:
    assert len(_state(a)) == len(_state(b)) > 2  # iterations, learning rate and the slots
    for x, y in zip(_state(a), _state(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_state_is_restored_at_load_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _trained()
    nf.save(model, tmp_path / "m.h5")
    again = nf.load(tmp_path / "m.h5")
    assert again.optimizer.built
    assert "build" not in vars(again.optimizer)  # no patched method left on the instance
    assert int(again.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 8
    _assert_same_state(model, again)


def test_keras_own_save_after_load_keeps_the_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _trained()
    nf.save(model, tmp_path / "m.h5")
    again = nf.load(tmp_path / "m.h5")
    again.save(tmp_path / "by_keras.keras")  # Keras's own saver, before any training step
    restored = keras.saving.load_model(tmp_path / "by_keras.keras")
    assert int(restored.optimizer.iterations.numpy()) == 8
    _assert_same_state(model, restored)


def test_saving_again_before_training_keeps_the_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _trained()
    nf.save(model, tmp_path / "m.h5")
    nf.save(nf.load(tmp_path / "m.h5"), tmp_path / "again.keras")
    _assert_same_state(model, nf.load(tmp_path / "again.keras"))
