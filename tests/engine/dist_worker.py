"""Subprocess entry for the distribution tests (run as a script, not collected).

Usage: python dist_worker.py mirrored OUT.npz
       python dist_worker.py multi_worker OUT.npz   (TF_CONFIG set by the parent)
       python dist_worker.py single OUT.npz
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODE, OUT = sys.argv[1], sys.argv[2]
if MODE == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import netform.engine as nfe  # noqa: E402


def build():
    keras.utils.set_random_seed(7)
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, activation="tanh")(inputs)
    return nfe.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 2, size=(64,))
    if MODE == "single":
        strategy = tf.distribute.get_strategy()
    elif MODE == "mirrored":
        strategy = nfe.strategy_from_name("mirrored", devices=["/cpu:0", "/cpu:1"])
    else:
        strategy = nfe.strategy_from_name("multi_worker_mirrored")
    with strategy.scope():
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    ev = model.evaluate(x, y, batch_size=16, verbose=0)
    pred = model.predict(x, batch_size=16, verbose=0)
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(OUT, loss=np.array(hist.history["loss"]), evaluate=np.array(ev), pred=pred,
             replicas=np.array(strategy.num_replicas_in_sync), **weights)


if __name__ == "__main__":
    main()
