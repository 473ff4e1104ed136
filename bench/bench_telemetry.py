"""Benchmark step-time spikes (netform vs Keras) and the cost of collecting telemetry.

Two figures, each measured against its comparison in the same run:

* the slowest training step after the first epoch, training the digits CNN
  of ``models/lenet_digits.yaml`` as ``make run`` does (batch 32, shuffled,
  10% validation), netform vs ``keras.Model`` with the same layers and
  weights. Step times are taken the same way for both, by one callback
  reading the clock at each ``on_train_batch_end`` (the first step of an
  epoch from ``on_epoch_begin``). Rounds alternate netform and Keras; the
  figure is the median over rounds of each round's slowest step. Goal ≤ 1.0×.
* the cost of collecting telemetry, on a tiny MLP (the smallest steps, where a
  fixed per-call cost weighs most): ``fit`` with netform's recorder as shipped
  vs a recorder that does nothing (runs interleaved, best of N; on a busy
  machine the run-to-run noise is larger than the 1% looked for), and the
  collection work itself per compiled call (clock reads, ``record``, the
  epoch's summary spread over its calls) against the median step time.
  Goal: under 1% of step time.

    python bench/bench_telemetry.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _digits() -> tuple[Any, Any]:
    import numpy as np

    with np.load(os.path.join(ROOT, "data", "digits.npz")) as data:
        return data["x"].astype("float32"), data["y"].astype("int64")


def _step_clock() -> Any:
    import keras

    class StepClock(keras.callbacks.Callback):
        """Wall time of each training step, the same way for netform and Keras."""

        def __init__(self) -> None:
            super().__init__()
            self._supports_tf_logs = True  # reads no logs: no host sync added to either loop
            self.epochs: list[list[float]] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epochs.append([])
            self._t = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            now = time.perf_counter()
            self.epochs[-1].append(now - self._t)
            self._t = now

    return StepClock()


def _digits_models() -> tuple[Any, Any, dict[str, Any]]:
    import keras

    import netform as nf
    from netform.spec import load_spec

    spec = load_spec(os.path.join(ROOT, "models", "lenet_digits.yaml"))
    keras.utils.set_random_seed(0)
    ours = nf.build(spec)
    theirs = keras.Sequential([keras.Input(ours.input_shape[1:])] + [type(l).from_config(l.get_config()) for l in ours.layers])
    theirs.set_weights(ours.get_weights())
    return ours, theirs, spec.training.to_dict()


def slowest_steps(rounds: int, epochs: int) -> dict[str, Any]:
    """Per framework: each round's slowest step after epoch 1, and the first steps of epochs (ms)."""
    import keras

    x, y = _digits()
    result: dict[str, Any] = {"netform": [], "keras": [], "netform_first": [], "keras_first": [], "netform_p50": [],
                              "keras_p50": []}
    for r in range(rounds):
        order = ("netform", "keras") if r % 2 == 0 else ("keras", "netform")
        for name in order:
            ours, theirs, training = _digits_models()
            model = ours if name == "netform" else theirs
            keras.utils.set_random_seed(r)
            model.compile(optimizer=keras.optimizers.Adam(training["optimizer"]["learning_rate"]),
                          loss=training["loss"], metrics=training["metrics"])
            clock = _step_clock()
            model.fit(x, y, batch_size=training.get("batch_size", 32), epochs=epochs, validation_split=training.get("validation_split", 0.1),
                      verbose=0, callbacks=[clock])
            later = [t * 1e3 for epoch in clock.epochs[1:] for t in epoch]
            result[name].append(max(later))
            result[f"{name}_first"].append(statistics.median(e[0] * 1e3 for e in clock.epochs[1:]))
            result[f"{name}_p50"].append(statistics.median(later))
            print(f"  round {r + 1} {name:8s}: slowest step after epoch 1 {max(later):7.1f} ms, median first step "
                  f"{result[f'{name}_first'][-1]:6.1f} ms, median step {result[f'{name}_p50'][-1]:5.2f} ms",
                  file=sys.stderr, flush=True)
    return result


def telemetry_overhead(repeats: int, epochs: int) -> tuple[float, float, float, float]:
    """Median over pairs of (fit time with telemetry / without), the best times (s), the median step (ms)."""
    import keras
    import numpy as np

    import netform.engine as nfe
    from netform.engine import _telemetry, _trainer

    class NullRecorder(_telemetry.TelemetryRecorder):
        """Records nothing: what fit costs with no telemetry at all (clock reads aside)."""

        def record(self, seconds: float, *, steps: int, samples: Any) -> None:
            return None

        def end_epoch(self) -> Any:
            return None

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8192, 32)).astype("float32")
    y = rng.integers(0, 10, size=(8192,)).astype("int64")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32,))
    model = nfe.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(32, activation="relu")(inputs)))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)  # trace and warm up

    def run(recorder: type) -> float:
        _trainer.TelemetryRecorder = recorder
        try:
            t0 = time.perf_counter()
            model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=False)
            return time.perf_counter() - t0
        finally:
            _trainer.TelemetryRecorder = _telemetry.TelemetryRecorder

    ratios, on, off = [], float("inf"), float("inf")
    for i in range(repeats):
        # Pairs in alternating order; the median of the pairs' ratios is robust to the
        # machine's load drifting during the benchmark.
        if i % 2:
            t_off = run(NullRecorder)
            t_on = run(_telemetry.TelemetryRecorder)
        else:
            t_on = run(_telemetry.TelemetryRecorder)
            t_off = run(NullRecorder)
        ratios.append(t_on / t_off)
        on, off = min(on, t_on), min(off, t_off)
    run(_telemetry.TelemetryRecorder)  # model.telemetry is this run's
    step_ms = model.telemetry.totals()["step_ms_p50"]
    return statistics.median(ratios), on, off, step_ms


def record_cost_ns(calls_per_epoch: int = 256, epochs: int = 40) -> float:
    """What collecting telemetry costs per compiled call (ns): the loop's two clock
    reads and ``record`` for each call, plus the epoch's summary (one summed read of
    the calls' sample-count tensors, the percentiles) spread over its calls."""
    import tensorflow as tf

    from netform.engine._telemetry import TelemetryRecorder

    counts = [tf.constant(32, tf.int64) + 0 for _ in range(calls_per_epoch)]  # tensors, as the steps return them
    rec = TelemetryRecorder()
    rec.start_epoch(0)
    rec.record(0.0, steps=1, samples=32)  # the first call (kept apart) is not what is measured
    rec.end_epoch()
    best = float("inf")
    for epoch in range(epochs):
        rec.start_epoch(epoch)
        t0 = time.perf_counter()
        for samples in counts:
            t = time.perf_counter()
            rec.record(time.perf_counter() - t, steps=1, samples=samples)
        rec.end_epoch()
        best = min(best, (time.perf_counter() - t0) / calls_per_epoch * 1e9)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (CI smoke)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args(argv)
    rounds, epochs = (2, 4) if args.quick else (4, 10)
    rows = []

    spikes = slowest_steps(rounds, epochs)
    ours, theirs = statistics.median(spikes["netform"]), statistics.median(spikes["keras"])
    rows.append({
        "figure": f"digits CNN: slowest step after epoch 1, ms (median of {rounds} rounds x {epochs} epochs; "
                  f"median first step of an epoch: netform {statistics.median(spikes['netform_first']):.1f}, "
                  f"keras {statistics.median(spikes['keras_first']):.1f})",
        "netform": f"{ours:.1f} ms", "baseline": f"{theirs:.1f} ms", "ratio": ours / theirs, "goal": 1.0,
        "netform_value": ours, "baseline_value": theirs,
    })
    print(f"  slowest step after the first epoch, netform / Keras: {ours:.1f} / {theirs:.1f} ms = "
          f"{ours / theirs:.2f}x", file=sys.stderr, flush=True)

    ratio, on, off, step_ms = telemetry_overhead(6 if args.quick else 21, 1)
    rows.append({
        "figure": f"tiny MLP fit, telemetry on vs off (median ratio of {6 if args.quick else 21} interleaved pairs; "
                  f"best times shown; median step {step_ms:.2f} ms)",
        "netform": f"{on:.3f} s", "baseline": f"{off:.3f} s", "ratio": ratio,
        "goal": "≤1.01× where the machine is quiet (run-to-run noise on a shared machine exceeds 1%)",
        "netform_value": on, "baseline_value": off,
    })
    print(f"  telemetry on / off: median pair ratio {ratio:.4f}x (best {on:.3f} / {off:.3f} s)", file=sys.stderr, flush=True)
    cost = record_cost_ns()
    rows.append({
        "figure": f"telemetry collection per compiled call (ns) vs the tiny MLP's median step ({step_ms * 1e6:,.0f} ns)",
        "netform": f"{cost:,.0f} ns", "baseline": f"{step_ms * 1e6:,.0f} ns", "ratio": cost / (step_ms * 1e6),
        "goal": 0.01, "netform_value": cost, "baseline_value": step_ms * 1e6,
    })
    print(f"  collection per call: {cost:,.0f} ns = {cost / (step_ms * 1e6):.2%} of a step", file=sys.stderr, flush=True)

    print("| figure | netform | comparison | ratio | goal |\n|---|---|---|---|---|")
    for r in rows:
        goal = f"≤{r['goal']}×" if isinstance(r["goal"], float) else r["goal"]
        print(f"| {r['figure']} | {r['netform']} | {r['baseline']} | {r['ratio']:.3g}× | {goal} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"benchmark": "telemetry", "quick": args.quick, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
