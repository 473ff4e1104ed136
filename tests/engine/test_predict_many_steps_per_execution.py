"""``predict`` with a fixed ``steps_per_execution`` above 32 runs as Keras's does.

netform unrolled the known steps of one predict call in its graph, and TensorFlow refuses a graph that calls an
iterator's ``get_next`` more than 32 times: ``compile(steps_per_execution=500)`` then ``predict`` ended in a raw
``ValueError`` ("An unusually high number of `tf.data.Iterator.get_next()` calls was detected"), where Keras
predicts.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import netform as nf


@pytest.mark.parametrize("steps", [32, 33, 500])
@pytest.mark.parametrize("run_eagerly", [False, True])
def test_predict_with_many_steps_per_execution_matches_keras(steps: int, run_eagerly: bool) -> None:
    x = np.random.default_rng(0).normal(size=(250, 4)).astype("float32")
    inputs = keras.Input((4,))
    ours = nf.Model(inputs, keras.layers.Dense(3, activation="tanh")(inputs))
    ours.compile(optimizer="sgd", loss="mse", steps_per_execution=steps, run_eagerly=run_eagerly)
    inputs = keras.Input((4,))
    theirs = keras.Model(inputs, keras.layers.Dense(3, activation="tanh")(inputs))
    theirs.compile(optimizer="sgd", loss="mse", steps_per_execution=steps, run_eagerly=run_eagerly)
    theirs.set_weights(ours.get_weights())
    got = ours.predict(x, batch_size=1, verbose=0)
    np.testing.assert_allclose(got, theirs.predict(x, batch_size=1, verbose=0), rtol=1e-6, atol=1e-6)
    assert got.shape == (250, 3)
    ours.fit(x, got, batch_size=1, epochs=1, verbose=0)  # and training runs with it
