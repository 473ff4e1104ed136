"""Load: streaming prediction over 10M samples in flat memory; 32 threads saving at once."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MAX_GROWTH_MB = 50

# Runs in a fresh process so that the RSS figures are its own. Both sources
# make each batch on the fly: 10M rows never exist at once.
_STREAM_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras, numpy as np, tensorflow as tf
    import netform as nf

    def rss_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    BATCH, TOTAL = 65536, 10_000_000
    n_batches = -(-TOTAL // BATCH)
    inputs = keras.Input((1,))
    model = nf.Model(inputs, keras.layers.Dense(4)(inputs))  # 16 B/sample: keeping outputs would show

    def batch_sizes():
        return [min(BATCH, TOTAL - i * BATCH) for i in range(n_batches)]

    def generator():
        for i, n in enumerate(batch_sizes()):
            yield (np.full((n, 1), i, dtype="float32"),)

    sizes = tf.constant(batch_sizes(), tf.int64)
    dataset = tf.data.Dataset.range(n_batches).map(
        lambda i: tf.fill(tf.stack([sizes[i], 1]), tf.cast(i, tf.float32)))
    report = {}
    for name, source in (("tf_data", dataset), ("generator", generator())):
        seen, at_1m = 0, None
        for out in model.predict_iter(source):
            seen += out.shape[0]
            if at_1m is None and seen >= 1_000_000:
                at_1m = rss_mb()
        report[name] = {"samples": seen, "rss_1m_mb": at_1m, "rss_10m_mb": rss_mb()}
    print("REPORT " + json.dumps(report), flush=True)
    """
)


def test_predict_iter_streams_10m_samples_in_flat_memory():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _STREAM_SCRIPT], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("REPORT "))
    report = json.loads(line[len("REPORT "):])
    print(report)  # shown with -s: the measured figures
    for name, figures in report.items():
        assert figures["samples"] == 10_000_000, name
        growth = figures["rss_10m_mb"] - figures["rss_1m_mb"]
        assert growth < MAX_GROWTH_MB, f"{name}: RSS grew {growth:.1f} MB from 1M to 10M samples ({figures})"


# ------------------------------------------------------------ concurrent saving
THREADS = 32
FORMATS = (".keras", ".h5", ".weights.h5")


def _model(seed: int):
    import keras

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    model = nf.Model(inputs, keras.layers.Dense(2)(hidden))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_32_threads_save_and_load_different_models_concurrently(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    jobs = []
    for i in range(THREADS):
        model, blank = _model(i), _model(10_000 + i)
        ext = FORMATS[i % len(FORMATS)]
        jobs.append((model, blank, str(tmp_path / f"m{i}{ext}"), model.predict(x, verbose=0)))
    barrier = threading.Barrier(THREADS)
    errors: list[str] = []
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        model, blank, path, _ = jobs[i]
        try:
            barrier.wait(timeout=30)
            for _ in range(2):  # save twice: the second save replaces a file in place
                nf.save(model, path)
            if path.endswith(".weights.h5"):
                nf.load_weights(blank, path)
                reloaded = blank
            else:
                reloaded = nf.load(path)
            results[i] = reloaded.predict(x, verbose=0)
        except Exception as err:  # noqa: BLE001 - reported with its thread below
            errors.append(f"thread {i} ({path}): {type(err).__name__}: {err}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a save/load thread hung"
    assert not errors, "\n".join(errors)
    for i, (_, _, path, want) in enumerate(jobs):
        np.testing.assert_array_equal(results[i], want, err_msg=path)
        # ...and the file on disk is the last complete save, readable afresh.
        assert nf.detect_format(path) == {".keras": "keras", ".h5": "h5", ".weights.h5": "weights_h5"}[
            next(e for e in (".weights.h5", ".keras", ".h5") if path.endswith(e))
        ]
    leftovers = [p.name for p in tmp_path.iterdir() if ".nf-tmp-" in p.name]
    assert not leftovers, leftovers
