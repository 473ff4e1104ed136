"""A netform ``.h5`` save after Keras's own ``model.save("m.h5")`` loads.

Keras's legacy writer pops the optimizer out of the model's live compile config. A netform save after it
wrote a compile config without an optimizer beside Keras's ``training_config`` with one, and netform's loader
refused its own file as edited ("describe different compile settings").
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import netform as nf


def test_a_netform_save_after_a_keras_h5_save_loads(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(np.zeros((4, 4)), np.zeros((4, 3)), verbose=0)
    model.save(tmp_path / "keras.h5")
    nf.save(model, tmp_path / "m.h5")
    loaded = nf.load(tmp_path / "m.h5")
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert np.isclose(float(loaded.optimizer.learning_rate), 0.01)
    assert int(loaded.optimizer.iterations) == 1
