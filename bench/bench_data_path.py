"""Benchmark the data path of fit on in-memory arrays: Keras's tf.data pipeline against arrays kept on the device.

Two models, shuffled, steps_per_execution="auto": the tiny MLP (20 -> 16 -> 3,
batch 32, 16,384 samples) and the small CNN with BatchNormalization on the
bundled digits (1,797 samples). Runs interleaved, in one process:

* ``fit`` as netform runs it now (arrays copied to the device once per fit,
  each batch gathered in the compiled loop), the same ``fit`` reading Keras's
  ``tf.data`` array pipeline (the device path turned off through its byte
  bound: netform's data path before), and ``keras.Model.fit`` with Keras's
  defaults;
* the data path alone, per epoch: every batch of one shuffled epoch read from
  Keras's pipeline (as ``fit``'s compiled loop reads them, no Python per
  batch) against the device path's gathers of one epoch in one compiled
  loop, beside one in-graph epoch of the model's train steps;
* the setup per ``fit``: building Keras's pipeline against copying the arrays
  to the device and drawing the epoch's order.

Prints the figures and a markdown table; ``--json PATH`` writes the rows.

    python bench/bench_data_path.py [--quick] [--json out/bench_data_path.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import best_times_interleaved, markdown_table  # noqa: E402
from bench_auto_steps import BATCH, _cnn, _compile, _data_path_runner, _digits, _limit_epoch_runner, _mlp  # noqa: E402


def _fit_runner(model, x, y, epochs, *, device=True):
    """Warm ``model`` up and return a function running ``epochs`` shuffled epochs of fit (device path on or off)."""
    from netform.engine import _device_data

    def run(n_epochs):
        saved = _device_data.DEVICE_DATA_MAX_BYTES
        if not device:
            _device_data.DEVICE_DATA_MAX_BYTES = -1  # no arrays qualify: Keras's pipeline, as before
        try:
            return model.fit(x, y, batch_size=BATCH, epochs=n_epochs, verbose=0, shuffle=True)
        finally:
            _device_data.DEVICE_DATA_MAX_BYTES = saved

    run(max(epochs, 2))
    return lambda: run(epochs)


def _device_gather_runner(x, y):
    """One epoch of the device path's gathers alone, in one compiled loop; and its setup time per fit."""
    import keras
    import tensorflow as tf

    from netform.engine import _device_data

    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    source = _device_data.device_arrays((x, y), batch_size=BATCH, shuffle=True)
    order = iter(source).order
    setup_s = time.perf_counter() - t0

    @tf.function(autograph=False)
    def epoch(data, order):
        count = tf.shape(order, out_type=tf.int64)[0]

        def body(i, acc):
            low = i * BATCH
            rows = order[low : tf.minimum(low + BATCH, count)]
            bx, by = (tf.gather(t, rows) for t in data)
            # Use each batch (so no gather is pruned), as a step uses it.
            return i + 1, acc + tf.reduce_sum(bx) + tf.cast(tf.reduce_sum(by), acc.dtype)

        return tf.while_loop(lambda i, _: i * BATCH < count, body, (tf.constant(0, tf.int64), tf.constant(0.0)))[1]

    epoch(source.data, order)
    return (lambda: epoch(source.data, order).numpy()), setup_s


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
    dx, dy = _digits()
    cnn_epochs = 2 if args.quick else 4

    runners = [
        _fit_runner(_compile(_mlp(nfe.Model), steps_per_execution="auto"), x, y, epochs),
        _fit_runner(_compile(_mlp(nfe.Model), steps_per_execution="auto"), x, y, epochs, device=False),
        _fit_runner(_compile(_mlp(keras.Model)), x, y, epochs),
        _fit_runner(_compile(_cnn(nfe.Model), steps_per_execution="auto"), dx, dy, cnn_epochs),
        _fit_runner(_compile(_cnn(nfe.Model), steps_per_execution="auto"), dx, dy, cnn_epochs, device=False),
        _fit_runner(_compile(_cnn(keras.Model)), dx, dy, cnn_epochs),
    ]
    t_dev, t_tfdata, t_keras, c_dev, c_tfdata, c_keras = best_times_interleaved(runners, repeats)
    mlp = [n * epochs / t for t in (t_dev, t_tfdata, t_keras)]
    cnn = [len(dx) * cnn_epochs / t for t in (c_dev, c_tfdata, c_keras)]
    print(f"tiny MLP fit: device {mlp[0]:,.0f}, tf.data {mlp[1]:,.0f}, keras {mlp[2]:,.0f} samples/s", file=sys.stderr)
    print(
        f"digits CNN fit: device {cnn[0]:,.0f}, tf.data {cnn[1]:,.0f}, keras {cnn[2]:,.0f} samples/s", file=sys.stderr
    )

    (read_mlp, build_mlp), (read_cnn, build_cnn) = _data_path_runner(x, y), _data_path_runner(dx, dy)
    (gather_mlp, setup_mlp), (gather_cnn, setup_cnn) = _device_gather_runner(x, y), _device_gather_runner(dx, dy)
    data_runners = [read_mlp, gather_mlp, _limit_epoch_runner(_mlp, x, y), read_cnn, gather_cnn]
    data_runners.append(_limit_epoch_runner(_cnn, dx, dy))
    t_read_mlp, t_gather_mlp, t_steps_mlp, t_read_cnn, t_gather_cnn, t_steps_cnn = best_times_interleaved(
        data_runners, repeats
    )
    print(
        f"data path per epoch, tiny MLP: Keras's pipeline {t_read_mlp * 1e3:.1f} ms, device gathers "
        f"{t_gather_mlp * 1e3:.1f} ms, in-graph steps {t_steps_mlp * 1e3:.1f} ms; setup per fit "
        f"{build_mlp * 1e3:.0f} ms vs {setup_mlp * 1e3:.1f} ms",
        file=sys.stderr,
    )
    print(
        f"data path per epoch, digits CNN: Keras's pipeline {t_read_cnn * 1e3:.1f} ms, device gathers "
        f"{t_gather_cnn * 1e3:.1f} ms, in-graph steps {t_steps_cnn * 1e3:.1f} ms; setup per fit "
        f"{build_cnn * 1e3:.0f} ms vs {setup_cnn * 1e3:.1f} ms",
        file=sys.stderr,
        flush=True,
    )

    def row(figure, ours, base, goal, unit="samples/s"):
        scale, fmt = (1e3, "{:,.1f} ms") if unit == "ms" else (1, "{:,.0f} samples/s")
        return {
            "figure": figure,
            "netform": fmt.format(ours * scale),
            "baseline": fmt.format(base * scale),
            "ratio": ours / base,
            "goal": goal,
            "netform_value": ours,
            "baseline_value": base,
        }

    mlp_name = f"tiny MLP 20-16-3, batch 32, {n:,} samples, shuffled, steps_per_execution=auto"
    cnn_name = "digits CNN + BatchNormalization (1,797 samples, batch 32), shuffled, steps_per_execution=auto"
    rows = [
        row(f"{mlp_name}: fit, arrays on the device vs keras fit defaults", mlp[0], mlp[2], "≥3×"),
        row(
            f"{mlp_name}: fit, arrays on the device vs the same fit reading Keras's tf.data pipeline",
            mlp[0],
            mlp[1],
            "≥1.0×",
        ),
        row(f"{cnn_name}: fit, arrays on the device vs keras fit defaults", cnn[0], cnn[2], "≥1.2×"),
        row(
            f"{cnn_name}: fit, arrays on the device vs the same fit reading Keras's tf.data pipeline",
            cnn[0],
            cnn[1],
            "≥1.0×",
        ),
        row(
            f"data path per epoch, tiny MLP: the device path's gathers of one shuffled epoch vs reading it from "
            f"Keras's pipeline (in-graph train steps of one epoch: {t_steps_mlp * 1e3:.1f} ms)",
            t_gather_mlp,
            t_read_mlp,
            "informative",
            unit="ms",
        ),
        row(
            f"data path per epoch, digits CNN: the same (in-graph train steps: {t_steps_cnn * 1e3:.1f} ms)",
            t_gather_cnn,
            t_read_cnn,
            "informative",
            unit="ms",
        ),
        row(
            "data path setup per fit, tiny MLP: arrays to the device and the epoch's order vs building Keras's "
            "pipeline",
            setup_mlp,
            build_mlp,
            "informative",
            unit="ms",
        ),
        row("data path setup per fit, digits CNN: the same", setup_cnn, build_cnn, "informative", unit="ms"),
    ]
    print(markdown_table(rows))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "data_path", "quick": args.quick, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
