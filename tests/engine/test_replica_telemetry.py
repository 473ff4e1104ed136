"""The cross-replica reduce time in the telemetry (``replica_reduce_ms``), from a probe of the step's reductions.

Logical CPU devices must be configured before TensorFlow starts, so the
strategy runs happen in one subprocess (with a hard time-out), which reports
its findings as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # one subprocess: four small fits and a `netform train` (about 20 s)

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}

SCRIPT = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
import netform.engine as nfe
from netform.engine._replica_probe import probe_replica_reduce

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 6)).astype("float32")
y = rng.integers(0, 2, size=(64,))


def build(cls, strategy):
    with strategy.scope():
        keras.utils.set_random_seed(7)
        inputs = keras.Input((6,), name="x")
        h = keras.layers.Dense(8, activation="tanh")(inputs)
        model = cls(inputs, keras.layers.Dense(2, activation="softmax")(h))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def fit(cls, strategy, csv):
    model = build(cls, strategy)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.CSVLogger(csv)])
    return model, history


def epochs(report):
    return [{"ms": e.replica_reduce_ms, "probe_s": e.replica_reduce_probe_s, "keys": sorted(e.as_dict())}
            for e in report]


out = {}
mirrored = nfe.strategy_from_name("mirrored", devices=["/cpu:0", "/cpu:1"])
nf_model, nf_hist = fit(nfe.Model, mirrored, sys.argv[1] + "/nf.csv")
k_model, k_hist = fit(keras.Model, mirrored, sys.argv[1] + "/keras.csv")
out["replicas"] = mirrored.num_replicas_in_sync
out["mirrored"] = epochs(nf_hist.telemetry)
out["same_model_telemetry"] = nf_model.telemetry is nf_hist.telemetry
out["report"] = nf_hist.telemetry.report()
out["nf_history"] = nf_hist.history
out["keras_history"] = k_hist.history
out["nf_csv"] = open(sys.argv[1] + "/nf.csv").read().splitlines()[0]
out["keras_csv"] = open(sys.argv[1] + "/keras.csv").read().splitlines()[0]
_, plain = fit(nfe.Model, tf.distribute.get_strategy(), sys.argv[1] + "/plain.csv")
out["default"] = epochs(plain.telemetry)
out["default_report"] = plain.telemetry.report()
_, one = fit(nfe.Model, nfe.strategy_from_name("mirrored", devices=["/cpu:0"]), sys.argv[1] + "/one.csv")
out["one_replica"] = epochs(one.telemetry)
logs = {"loss": tf.constant(0.5), "accuracy": tf.constant(0.25)}
probe = probe_replica_reduce(mirrored, logs)
out["probe"] = [probe.ms_per_step, probe.probe_s, probe.replicas]
out["probe_default"] = probe_replica_reduce(tf.distribute.get_strategy(), logs) is None
out["probe_one"] = probe_replica_reduce(nfe.strategy_from_name("mirrored", devices=["/cpu:0"]), logs) is None

import contextlib, io
from pathlib import Path
from netform.cli._main import main

folder = Path(sys.argv[1])
(folder / "spec.yaml").write_text(
    "netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [6]}\nlayers:\n"
    "  - {type: Dense, units: 8, activation: tanh}\n  - {type: Dense, units: 2, activation: softmax}\n"
    "training:\n  optimizer: {type: SGD, learning_rate: 0.1}\n  loss: sparse_categorical_crossentropy\n"
    "  metrics: [accuracy]\n  batch_size: 16\n  epochs: 1\n"
    "  distribution: {strategy: mirrored, devices: ['/cpu:0', '/cpu:1']}\n"
)
np.savez(folder / "data.npz", x=x, y=y)
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    code = main(["train", str(folder / "spec.yaml"), "--data", str(folder / "data.npz"), "--x", "x", "--y", "y",
                 "-o", str(folder / "tiny.keras")])
out["cli_code"] = code
out["cli_stdout"] = printed.getvalue()
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replica")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], env=ENV, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_replica_reduce_ms_present_and_positive_under_mirrored(result):
    assert result["replicas"] == 2
    first, second = result["mirrored"]
    assert first["ms"] > 0 and second["ms"] == first["ms"]  # measured once per fit, shown in every epoch
    assert 0 < first["probe_s"] < 5  # the probe's cost, in the epoch it ran in only
    assert second["probe_s"] is None
    assert {"replica_reduce_ms", "replica_reduce_probe_s"} <= set(first["keys"])
    assert result["same_model_telemetry"]


def test_replica_reduce_absent_without_strategy_or_with_one_replica(result):
    for epoch in result["default"] + result["one_replica"]:
        assert epoch["ms"] is None and epoch["probe_s"] is None
    assert "cross-replica" not in result["default_report"]
    assert result["probe_default"] and result["probe_one"]


def test_logs_stay_keras_exactly_under_mirrored(result):
    # Telemetry never reaches the logs: History and CSVLogger columns are keras.Model's own.
    assert sorted(result["nf_history"]) == sorted(result["keras_history"]) == ["accuracy", "loss"]
    for key, values in result["keras_history"].items():
        assert result["nf_history"][key] == pytest.approx(values, abs=1e-5)
    assert result["nf_csv"] == result["keras_csv"]
    assert "replica" not in result["nf_csv"]


def test_report_shows_the_probe(result):
    # The report `netform train` prints after training.
    line = next(line for line in result["report"].splitlines() if "cross-replica reduce" in line)
    assert "ms per step" in line and "probe of the same reductions" in line


def test_netform_train_report_shows_the_probe(result):
    assert result["cli_code"] == 0, result["cli_stdout"]
    line = next(line for line in result["cli_stdout"].splitlines() if "cross-replica reduce (probe)" in line)
    assert float(line.split()[3]) > 0  # "cross-replica reduce (probe) <ms> ms per step ..."


def test_probe_direct(result):
    ms, probe_s, replicas = result["probe"]
    assert ms > 0 and probe_s > 0 and replicas == 2
