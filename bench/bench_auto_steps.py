"""Benchmark steps_per_execution="auto" and jit_compile="auto" against keras.Model.fit's defaults and the limit.

A tiny MLP (20 -> 16 -> 3, batch 32), where the loop's own cost per compiled
call weighs most. Runs interleaved, in one process: netform's ``fit`` with
``steps_per_execution="auto"`` (warmed up: traced, and the steps per call
adapted), the same with ``jit_compile="auto"`` too (the defaults of specs and
``netform train``; the probe runs in the warm-up and its choice and cost are
printed), ``keras.Model.fit`` with Keras's defaults (1 step per call), and
one ``tf.function`` looping over a whole epoch in-graph (no per-step Python:
the limit). Then a small CNN with BatchNormalization on the bundled digits
(8x8, 1,797 samples, shuffled): netform with both "auto"s against
``keras.Model.fit``'s defaults. Last, what the data path costs: reading one
epoch of batches from Keras's shuffled array pipeline (what ``keras.Model.fit``
reads; netform's ``fit`` keeps arrays on the device, see bench_data_path.py)
against one in-graph epoch of the model's steps. Prints the ratios and a
markdown table; ``--json PATH`` writes the rows.

    python bench/bench_auto_steps.py [--quick] [--json out/bench_auto_steps.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import best_times_interleaved, markdown_table  # noqa: E402

BATCH = 32


def _mlp(cls):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((20,))
    h = keras.layers.Dense(16, activation="relu")(inputs)
    return cls(inputs, keras.layers.Dense(3, activation="softmax")(h))


def _compile(model, **kwargs):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], **kwargs)
    return model


def _fit_runner(model, x, y, epochs, shuffle=False):
    """Warm ``model`` up (trace; under "auto", adapt and probe) and return a function running ``epochs`` epochs of fit."""
    model.fit(x, y, batch_size=BATCH, epochs=max(epochs, 2), verbose=0, shuffle=shuffle)
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=shuffle)


def _cnn(cls):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Rescaling(1 / 16)(inputs)
    h = keras.layers.Conv2D(16, 3, padding="same")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return cls(inputs, keras.layers.Dense(10, activation="softmax")(h))


def _digits():
    import numpy as np

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with np.load(os.path.join(root, "data", "digits.npz")) as data:
        return data["x"].astype("float32").reshape(-1, 8, 8, 1), data["y"].astype("int64")


def _data_path_runner(x, y):
    """One epoch of batches from Keras's shuffled array pipeline, built once as keras.Model.fit builds it; its build time."""
    import time

    import numpy as np

    from netform._compat import _keras_engine as ki

    t0 = time.perf_counter()
    dataset = ki.get_data_adapter(x, y, batch_size=BATCH, shuffle=True).get_tf_dataset()
    built_s = time.perf_counter() - t0

    def run():
        # A new iterator (a new permutation) and every batch, read in C++ as keras.Model.fit's compiled loop reads
        # them (no Python per batch).
        return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))

    return run, built_s


def _limit_epoch_runner(build, x, y):
    """One in-graph epoch of the model's train steps on batches already on the device (no data path)."""
    import keras
    import tensorflow as tf

    model = _compile(build(keras.Model))
    n = (len(x) // BATCH) * BATCH
    xb = tf.constant(x[:n].reshape((-1, BATCH) + x.shape[1:]))
    yb = tf.constant(y[:n].reshape(-1, BATCH))

    @tf.function
    def epoch():
        for i in tf.range(tf.shape(xb)[0]):
            model.train_step((xb[i], yb[i]))

    epoch()
    return epoch


def _limit_runner(x, y, epochs):
    """One tf.function looping over a whole epoch in-graph: no per-step Python at all."""
    import keras
    import tensorflow as tf

    model = _compile(_mlp(keras.Model))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)

    @tf.function(autograph=True)
    def epoch():
        logs = {"loss": 0.0, "accuracy": 0.0}
        for batch_data in ds:
            logs = model.train_step(batch_data)
        return logs

    epoch()

    def run():
        for _ in range(epochs):
            model.reset_metrics()
            epoch()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI smoke)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import netform.engine as nfe

    repeats = 3 if args.quick else 7
    n = 4096 if args.quick else 16384
    epochs = 1 if args.quick else 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 20)).astype("float32")
    y = rng.integers(0, 3, size=(n,))

    auto_model = _compile(_mlp(nfe.Model), steps_per_execution="auto")
    runners = [
        _fit_runner(auto_model, x, y, epochs),
        _fit_runner(_compile(_mlp(keras.Model)), x, y, epochs),
        _limit_runner(x, y, epochs),
    ]
    jit_model = _compile(_mlp(nfe.Model), steps_per_execution="auto", jit_compile="auto")
    runners.append(_fit_runner(jit_model, x, y, epochs))
    probe = jit_model.telemetry.jit if jit_model.telemetry is not None else None
    probe = getattr(jit_model, "_nf_jit_choice", None) or probe
    t_auto, t_keras, t_limit, t_jit = best_times_interleaved(runners, repeats)
    samples = n * epochs
    auto, kr, lim, jit = samples / t_auto, samples / t_keras, samples / t_limit, samples / t_jit
    print(f"jit_compile=auto: {probe.describe() if probe else 'no probe'}; {jit:,.0f} samples/s "
          f"({jit / auto:.2f}x auto without it, {jit / kr:.2f}x keras)", file=sys.stderr, flush=True)

    # Small CNN with BatchNormalization on the digits, shuffled: both "auto"s against keras fit defaults.
    dx, dy = _digits()
    cnn_epochs = 3 if args.quick else 6
    cnn_model = _compile(_cnn(nfe.Model), steps_per_execution="auto", jit_compile="auto")
    cnn_runners = [
        _fit_runner(cnn_model, dx, dy, cnn_epochs, shuffle=True),
        _fit_runner(_compile(_cnn(keras.Model)), dx, dy, cnn_epochs, shuffle=True),
    ]
    cnn_probe = getattr(cnn_model, "_nf_jit_choice", None)
    t_cnn, t_cnn_keras = best_times_interleaved(cnn_runners, repeats)
    cnn, cnn_kr = len(dx) * cnn_epochs / t_cnn, len(dx) * cnn_epochs / t_cnn_keras
    print(f"digits CNN+BN: netform {cnn:,.0f} samples/s ({cnn / cnn_kr:.2f}x keras {cnn_kr:,.0f}); "
          f"{cnn_probe.describe() if cnn_probe else 'no probe'}", file=sys.stderr, flush=True)

    # The data path: one epoch of batches from Keras's shuffled pipeline vs one in-graph epoch of steps.
    (data_mlp, build_mlp), (data_cnn, build_cnn) = _data_path_runner(x, y), _data_path_runner(dx, dy)
    data_runners = [data_mlp, _limit_epoch_runner(_mlp, x, y), data_cnn, _limit_epoch_runner(_cnn, dx, dy)]
    t_data_mlp, t_steps_mlp, t_data_cnn, t_steps_cnn = best_times_interleaved(data_runners, repeats)
    print(f"data path per epoch: tiny MLP {t_data_mlp * 1e3:.1f} ms vs {t_steps_mlp * 1e3:.1f} ms of in-graph steps "
          f"(pipeline built once per fit in {build_mlp * 1e3:.0f} ms); digits CNN {t_data_cnn * 1e3:.1f} ms vs "
          f"{t_steps_cnn * 1e3:.1f} ms (built in {build_cnn * 1e3:.0f} ms)", file=sys.stderr, flush=True)
    chosen = auto_model._auto_steps("train").steps
    print(f"netform auto: {auto:,.0f} samples/s ({chosen} steps per call at the end); keras fit defaults: "
          f"{kr:,.0f} samples/s; in-graph epoch loop: {lim:,.0f} samples/s", file=sys.stderr)
    print(f"ratios: auto/keras = {auto / kr:.2f}x, auto/limit = {auto / lim:.2f}x, keras/limit = {kr / lim:.2f}x",
          file=sys.stderr, flush=True)

    def row(figure, ours, base, goal):
        return {"figure": figure, "netform": f"{ours:,.0f} samples/s", "baseline": f"{base:,.0f} samples/s",
                "ratio": ours / base, "goal": goal, "netform_value": ours, "baseline_value": base}

    def ms_row(figure, ours, base, goal):
        return {"figure": figure, "netform": f"{ours * 1e3:,.1f} ms", "baseline": f"{base * 1e3:,.1f} ms",
                "ratio": ours / base, "goal": goal, "netform_value": ours, "baseline_value": base}

    rows = [
        row(f"tiny MLP 20-16-3, batch 32: fit, steps_per_execution=auto ({chosen} steps/call chosen) vs keras "
            "fit defaults", auto, kr, "≥1.5×"),
        row("tiny MLP 20-16-3, batch 32: fit, steps_per_execution=auto vs one in-graph epoch loop (the limit)",
            auto, lim, "≥0.9×"),
        row("tiny MLP 20-16-3, batch 32: fit, steps_per_execution=auto and jit_compile=auto (the spec defaults; "
            f"{probe.describe() if probe else 'no probe'}) vs steps_per_execution=auto alone", jit, auto, "≥1.0×"),
        row("tiny MLP 20-16-3, batch 32: fit with both auto vs keras fit defaults", jit, kr, "≥3×"),
        row("small CNN + BatchNormalization on the digits (1,797 samples, batch 32, shuffled): fit with both auto "
            f"({cnn_probe.describe() if cnn_probe else 'no probe'}) vs keras fit defaults", cnn, cnn_kr, "≥1.2×"),
        ms_row(f"data path, tiny MLP, {n:,} samples: one epoch of batches read alone from Keras's shuffled array "
               f"pipeline (what keras.Model.fit reads; built once per fit in {build_mlp * 1e3:.0f} ms) vs one in-graph "
               "epoch of train steps on batches already in memory", t_data_mlp, t_steps_mlp, "informative"),
        ms_row(f"data path, digits CNN: the same (built in {build_cnn * 1e3:.0f} ms)", t_data_cnn, t_steps_cnn,
               "informative"),
    ]
    print(markdown_table(rows))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "auto_steps", "quick": args.quick, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
