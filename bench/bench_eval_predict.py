"""Benchmark netform's ``evaluate`` and ``predict`` against ``keras.Model.evaluate``/``predict`` with defaults.

A tiny MLP (20 -> 16 -> 3) on 16,384 in-memory samples, where the loop's own
cost per compiled call weighs most. Every call uses the defaults (no
``batch_size``): Keras's batches of 32, netform's default batch for arrays
(see ``netform.engine._data.default_eval_batch_size``). netform runs twice:
compiled with ``nf.Model.compile``'s default ``steps_per_execution=1`` and
with ``"auto"`` (the default of specs and ``netform train``). All runs are
warmed up (traced), then timed interleaved in one process, best of the
repeats. The results are checked equal to Keras's before timing.

    python bench/bench_eval_predict.py [--quick] [--json out/bench_eval_predict.json]
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
from bench_auto_steps import _compile, _mlp  # noqa: E402


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
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 20)).astype("float32")
    y = rng.integers(0, 3, size=(n,))

    models = {
        "keras": _compile(_mlp(keras.Model)),
        "netform": _compile(_mlp(nfe.Model)),
        "netform auto": _compile(_mlp(nfe.Model), steps_per_execution="auto"),
    }
    # Warm up (trace every call length used) and check the results equal Keras's.
    ref_eval = models["keras"].evaluate(x, y, verbose=0)
    ref_pred = models["keras"].predict(x, verbose=0)
    for name, model in models.items():
        for _ in range(2):
            got_eval = model.evaluate(x, y, verbose=0)
            got_pred = model.predict(x, verbose=0)
        np.testing.assert_allclose(got_eval, ref_eval, atol=1e-6, rtol=0, err_msg=name)
        np.testing.assert_allclose(got_pred, ref_pred, atol=1e-6, rtol=0, err_msg=name)

    def evaluate(model):
        return lambda: model.evaluate(x, y, verbose=0)

    def predict(model):
        return lambda: model.predict(x, verbose=0)

    names = list(models)
    runners = [evaluate(models[k]) for k in names] + [predict(models[k]) for k in names]
    times = best_times_interleaved(runners, repeats)
    rate = {("evaluate", k): n / t for k, t in zip(names, times[:3])}
    rate.update({("predict", k): n / t for k, t in zip(names, times[3:])})
    for call in ("evaluate", "predict"):
        print(f"{call}: keras {rate[call, 'keras']:,.0f} samples/s; netform {rate[call, 'netform']:,.0f} "
              f"({rate[call, 'netform'] / rate[call, 'keras']:.2f}x); netform auto {rate[call, 'netform auto']:,.0f} "
              f"({rate[call, 'netform auto'] / rate[call, 'keras']:.2f}x)", file=sys.stderr, flush=True)

    def row(figure, ours, base, goal):
        return {"figure": figure, "netform": f"{ours:,.0f} samples/s", "baseline": f"{base:,.0f} samples/s",
                "ratio": ours / base, "goal": goal, "netform_value": ours, "baseline_value": base}

    rows = []
    for call in ("evaluate", "predict"):
        for variant, label in (("netform", "steps_per_execution=1"), ("netform auto", "steps_per_execution=auto")):
            rows.append(row(f"tiny MLP 20-16-3, {n:,} samples: {call}, defaults, compiled with {label} vs keras "
                            f"{call} defaults", rate[call, variant], rate[call, "keras"], "≥2×"))
    print(markdown_table(rows))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "eval_predict", "quick": args.quick, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
