"""A training backup owns its shuffle seed and leaves the global NumPy and Python RNGs to the program.

Keras's ``BackupAndRestore`` neither reads nor sets them; netform's
``TrainingBackup`` does the same, and still resumes at the exact step
because the data order comes from a seed kept in the backup.
"""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

import netform as nf

BATCH = 4


def _data(n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(n, 3)).astype("float32")
    return x, x[:, :2] * 2.0 + x[:, 1:] ** 2


def _model(cls: type = nf.Model, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    h = keras.layers.Dropout(0.2)(keras.layers.Dense(8, activation="relu")(inputs))
    model = cls(inputs, keras.layers.Dense(2)(h))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def _global_state() -> tuple:
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return version, internal, gauss, name, keys.tobytes(), pos, has_gauss, cached


def _set_global(seed: int) -> tuple:
    random.seed(seed)
    np.random.seed(seed)
    return _global_state()


class _Stop(keras.callbacks.Callback):
    """Fails the fit after ``at`` steps (a crash), once the backup of those steps is written."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.steps = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.at:
            raise RuntimeError("crash")


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("engine", ["netform", "keras"])
def test_a_backed_up_and_resumed_fit_leaves_the_global_rngs_alone(tmp_path, engine):
    x, y = _data()
    if engine == "netform":
        make = lambda: nf.engine.TrainingBackup(tmp_path / "b", save_every_steps=2)  # noqa: E731
        model_cls = nf.Model
    else:
        make = lambda: keras.callbacks.BackupAndRestore(str(tmp_path / "b"), save_freq=2)  # noqa: E731
        model_cls = keras.Model
    model = _model(model_cls)
    before = _set_global(11)
    with pytest.raises(RuntimeError, match="crash"):
        model.fit(x, y, epochs=3, batch_size=BATCH, shuffle=True, verbose=0, callbacks=[_Stop(8), make()])
    assert _global_state() == before  # the interrupted run neither drew from nor set them
    model = _model(model_cls)
    before = _set_global(12)  # another program state when resuming
    hist = model.fit(x, y, epochs=3, batch_size=BATCH, shuffle=True, verbose=0, callbacks=[make()])
    assert hist.epoch[-1] == 2 and (engine == "keras" or hist.epoch == [1, 2])
    assert _global_state() == before  # the resume did not put back the interrupted run's states


def test_resume_is_exact_whatever_the_global_rngs_hold(tmp_path):
    x, y = _data()
    straight = _model()
    _set_global(1)
    straight.fit(x, y, epochs=3, batch_size=BATCH, shuffle=True, verbose=0,
                 callbacks=[nf.engine.TrainingBackup(tmp_path / "ref", save_every_steps=2)])

    model = _model()
    _set_global(2)
    with pytest.raises(RuntimeError, match="crash"):
        model.fit(x, y, epochs=3, batch_size=BATCH, shuffle=True, verbose=0,
                  callbacks=[_Stop(9), nf.engine.TrainingBackup(tmp_path / "b", save_every_steps=2)])
    model = _model()
    _set_global(3)
    model.fit(x, y, epochs=3, batch_size=BATCH, shuffle=True, verbose=0,
              callbacks=[nf.engine.TrainingBackup(tmp_path / "b", save_every_steps=2)])
    for got, want in zip(_weights(model), _weights(straight)):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_the_shuffle_seed_follows_keras_set_random_seed(tmp_path):
    """Seeded: the same orders in every run, other orders for a second fit of the model."""
    x, y = _data()

    def seed_of(model: keras.Model) -> int:
        backup = nf.engine.TrainingBackup(tmp_path / "b", save_every_epoch=False)
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0, callbacks=[backup])
        return backup._seed

    first, again = _model(seed=5), _model(seed=5)
    a, b = seed_of(first), seed_of(again)
    assert a == b
    np.testing.assert_array_equal(_weights(first)[0], _weights(again)[0])
    assert seed_of(first) != a  # the model's second fit (its optimizer is 6 steps on)
    assert seed_of(_model(seed=6)) != a



def test_without_a_keras_seed_the_shuffle_seed_comes_from_os_entropy(tmp_path, monkeypatch):
    from netform.engine import _backup

    monkeypatch.setattr(_backup, "keras_random_seed", lambda: None)  # as in a program that never seeded Keras
    x, y = _data()
    seeds = []
    for _ in range(2):
        model = _model()
        before = _set_global(0)
        backup = nf.engine.TrainingBackup(tmp_path / "b", save_every_epoch=False)
        model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0, callbacks=[backup])
        assert _global_state() == before
        seeds.append(backup._seed)
    assert seeds[0] != seeds[1]
