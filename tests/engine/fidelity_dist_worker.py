"""Subprocess entry for test_keras_fidelity_engine (run as a script, not collected).

Over 2 logical CPUs (set before TensorFlow starts), compares with Keras:
``reduce_per_replica`` for every reduction name, and ``predict`` with
``steps_per_execution=3`` under a ``MirroredStrategy``. Writes OUT.npz.

Usage: python fidelity_dist_worker.py OUT.npz
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
from keras.src.backend.tensorflow.trainer import reduce_per_replica as keras_reduce  # noqa: E402

import netform.engine as nfe  # noqa: E402
from netform.engine._distribute import reduce_per_replica  # noqa: E402
from netform.errors import EngineError  # noqa: E402


def main() -> None:
    out: dict[str, object] = {}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    def per_replica() -> tf.Tensor:
        replica = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.float32)
        return tf.constant([[1.0, 2.0]]) + 10 * replica

    values = strategy.run(per_replica)
    for reduction in ("auto", "first", "concat", "mean", "sum"):
        out[f"reduce_{reduction}_keras"] = keras_reduce({"v": values}, strategy, reduction)["v"].numpy()
        out[f"reduce_{reduction}_netform"] = reduce_per_replica({"v": values}, strategy, reduction)["v"].numpy()
    try:
        keras_reduce(values, strategy, "avg")
    except ValueError as err:
        out["keras_refuses"] = str(err)
    try:
        reduce_per_replica(values, strategy, "avg")
    except EngineError as err:
        out["netform_refuses"] = str(err)

    x = np.random.default_rng(0).normal(size=(100, 4)).astype("float32")
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            inputs = keras.Input((4,))
            model = base(inputs, keras.layers.Dense(2)(inputs))
            model.compile(optimizer="sgd", loss="mse", steps_per_execution=3)
        ends: list[int] = []
        spy = keras.callbacks.LambdaCallback(on_predict_batch_end=lambda b, logs, ends=ends: ends.append(b))
        out[f"predict_{name}"] = model.predict(x, batch_size=16, verbose=0, callbacks=[spy])
        out[f"ends_{name}"] = np.array(ends)
    np.savez(sys.argv[1], **out)


if __name__ == "__main__":
    main()
