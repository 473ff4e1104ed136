"""Benchmark steps_per_execution="auto" against keras.Model.fit's defaults and the in-graph epoch loop.

A tiny MLP (20 -> 16 -> 3, batch 32), where the loop's own cost per compiled
call weighs most. Three runs, interleaved, in one process: netform's ``fit``
with ``steps_per_execution="auto"`` (warmed up: traced, and the steps per call
adapted), ``keras.Model.fit`` with Keras's defaults (1 step per call), and one
``tf.function`` looping over a whole epoch in-graph (no per-step Python: the
limit). Prints the ratios and a markdown table; ``--json PATH`` writes the rows.

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

from _engine_util import best_times_interleaved, markdown_table  # noqa: E402

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


def _fit_runner(model, x, y, epochs):
    """Warm ``model`` up (trace; under "auto", adapt) and return a function running ``epochs`` epochs of fit."""
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, shuffle=False)
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False)


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
    t_auto, t_keras, t_limit = best_times_interleaved(runners, repeats)
    samples = n * epochs
    auto, kr, lim = samples / t_auto, samples / t_keras, samples / t_limit
    chosen = auto_model._auto_steps("train").steps
    print(f"netform auto: {auto:,.0f} samples/s ({chosen} steps per call at the end); keras fit defaults: "
          f"{kr:,.0f} samples/s; in-graph epoch loop: {lim:,.0f} samples/s", file=sys.stderr)
    print(f"ratios: auto/keras = {auto / kr:.2f}x, auto/limit = {auto / lim:.2f}x, keras/limit = {kr / lim:.2f}x",
          file=sys.stderr, flush=True)

    def row(figure, ours, base, goal):
        return {"figure": figure, "netform": f"{ours:,.0f} samples/s", "baseline": f"{base:,.0f} samples/s",
                "ratio": ours / base, "goal": goal, "netform_value": ours, "baseline_value": base}

    rows = [
        row(f"tiny MLP 20-16-3, batch 32: fit, steps_per_execution=auto ({chosen} steps/call chosen) vs keras "
            "fit defaults", auto, kr, "≥1.5×"),
        row("tiny MLP 20-16-3, batch 32: fit, steps_per_execution=auto vs one in-graph epoch loop (the limit)",
            auto, lim, "≥0.9×"),
    ]
    print(markdown_table(rows))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "auto_steps", "quick": args.quick, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
