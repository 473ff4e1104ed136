"""Benchmark netform's training engine against Keras's fit and the physical limit.

Prints a markdown table (figure | netform | keras-or-limit | ratio | goal) and
writes the same rows as JSON with ``--json PATH``. ``--quick`` shortens runs.

    python bench/bench_engine.py --quick --json out/bench_engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import best_times_interleaved, markdown_table, run_json_subprocess  # noqa: E402


def _mlp(cls):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32,))
    h = keras.layers.Dense(32, activation="relu")(inputs)
    return cls(inputs, keras.layers.Dense(10, activation="softmax")(h))


def _cnn(cls):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return cls(inputs, keras.layers.Dense(10, activation="softmax")(h))


def _fit_runner(build, cls, x, y, batch, epochs, spe=1):
    """A compiled, warmed-up model and a function running ``epochs`` epochs of fit."""
    model = build(cls)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)  # trace + warm up
    return lambda: model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=False)


def _limit_runner(build, x, y, batch, epochs):
    """One tf.function looping over a whole epoch in-graph: no per-step Python at all."""
    import keras
    import tensorflow as tf

    model = build(keras.Model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)

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


def _compare(run_a, run_b, samples, repeats):
    t_a, t_b = best_times_interleaved([run_a, run_b], repeats)
    return samples / t_a, samples / t_b


_MEMORY_CODE = r"""
import json, os, resource, sys
import numpy as np, tensorflow as tf, keras
sys.path.insert(0, os.getcwd())
import netform.engine as nfe
n, mode = {n}, "{mode}"
inp = keras.Input((16,)); model = nfe.Model(inp, keras.layers.Dense(16)(inp))
ref = keras.Model(inp, model.outputs[0])
ds = tf.data.Dataset.range(n).batch(8192).map(lambda i: tf.tile(tf.cast(i, tf.float32)[:, None], [1, 16]))
model.predict(ds.take(2), verbose=0); ref.predict(ds.take(2), verbose=0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
total = 0.0
if mode == "netform_predict_iter":
    for out in model.predict_iter(ds):
        total += float(out[-1, 0])
else:
    out = ref.predict(ds, verbose=0); total = float(out[-1, 0])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"growth_mb": (peak - base) / 1024, "peak_mb": peak / 1024}}))
"""


def _memory(n: int, mode: str) -> dict[str, float]:
    return run_json_subprocess(_MEMORY_CODE.format(n=n, mode=mode))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI smoke)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    parser.add_argument("--skip-memory", action="store_true", help="skip the predict memory benchmark")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import netform.engine as nfe

    quick = args.quick
    repeats = 3 if quick else 5
    rng = np.random.default_rng(0)
    n_mlp = 8192 if quick else 32768
    x_mlp = rng.normal(size=(n_mlp, 32)).astype("float32")
    y_mlp = rng.integers(0, 10, size=(n_mlp,))
    n_cnn = 1024 if quick else 4096
    x_cnn = rng.normal(size=(n_cnn, 16, 16, 3)).astype("float32")
    y_cnn = rng.integers(0, 10, size=(n_cnn,))
    epochs = 1 if quick else 2
    rows = []

    def row(figure, ours, base, goal, unit="samples/s"):
        rows.append({"figure": figure, "netform": f"{ours:,.0f} {unit}", "baseline": f"{base:,.0f} {unit}",
                     "ratio": ours / base, "goal": goal, "netform_value": ours, "baseline_value": base})
        print(f"  {figure}: {ours:,.0f} vs {base:,.0f} ({ours / base:.2f}x)", file=sys.stderr, flush=True)

    nf, kr = _compare(_fit_runner(_mlp, nfe.Model, x_mlp, y_mlp, 32, epochs),
                      _fit_runner(_mlp, keras.Model, x_mlp, y_mlp, 32, epochs), n_mlp * epochs, repeats)
    row("tiny MLP train, batch 32, spe=1, verbose=0 (vs keras fit)", nf, kr, "≥1.5×")
    nf, kr = _compare(_fit_runner(_cnn, nfe.Model, x_cnn, y_cnn, 32, epochs),
                      _fit_runner(_cnn, keras.Model, x_cnn, y_cnn, 32, epochs), n_cnn * epochs, repeats)
    row("small CNN+BN train, batch 32 (vs keras fit)", nf, kr, "≥1.0×")
    nf, lim = _compare(_fit_runner(_mlp, nfe.Model, x_mlp, y_mlp, 32, epochs, spe=32),
                       _limit_runner(_mlp, x_mlp, y_mlp, 32, epochs), n_mlp * epochs, repeats)
    row("tiny MLP train, spe=32 (vs one in-graph epoch loop)", nf, lim, "≥0.9×")

    if not args.skip_memory:
        small, big = (250_000, 2_000_000)
        growth = {}
        for mode in ("netform_predict_iter", "keras_predict"):
            growth[mode] = [_memory(n, mode)["growth_mb"] for n in (small, big)]
            print(f"  {mode}: RSS growth {growth[mode]} MB", file=sys.stderr, flush=True)
        ours = growth["netform_predict_iter"][1]
        theirs = growth["keras_predict"][1]
        rows.append({
            "figure": f"predict over {big:,} samples: peak RSS growth (250k→2M: netform "
                      f"{growth['netform_predict_iter'][0]:.0f}→{ours:.0f} MB, keras "
                      f"{growth['keras_predict'][0]:.0f}→{theirs:.0f} MB)",
            "netform": f"{ours:.0f} MB", "baseline": f"{theirs:.0f} MB",
            "ratio": (ours + 1) / (theirs + 1), "goal": "flat (ratio ≪ 1)",
            "netform_value": ours, "baseline_value": theirs,
        })

    table = markdown_table(rows)
    print(table)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "engine", "quick": quick, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
