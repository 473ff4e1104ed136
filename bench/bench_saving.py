"""Benchmark netform's save/load against Keras's own, per format, in one run.

Prints a markdown table ``figure | netform | keras | ratio | goal``; ``--json
PATH`` also writes the rows; ``--quick`` uses fewer repeats. netform and Keras run alternately and
medians are reported, so a busy machine slows both sides alike.

    python bench/bench_saving.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import median_time, median_times_interleaved  # noqa: E402


def _model() -> Any:
    import keras
    import numpy as np

    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(32, 3, activation="relu")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    model = keras.Model(inp, keras.layers.Dense(10)(x), name="bench_cnn")
    # "mean_squared_error", not "mse": Keras's own .h5 reader fails on the alias.
    model.compile("adam", "mean_squared_error")
    model.fit(np.zeros((8, 32, 32, 3), "float32"), np.zeros((8, 10), "float32"), verbose=0)
    return model


def _time_pair(ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median times of two functions run alternately, after one warm-up run each."""
    ours()
    theirs()
    a, b = median_times_interleaved([ours, theirs], repeats)
    return a, b


def run(quick: bool) -> list[dict[str, Any]]:
    import absl.logging
    import keras

    import netform.saving as nfs

    absl.logging.set_verbosity("error")
    repeats = 5 if quick else 11
    model = _model()
    tmp = tempfile.mkdtemp(prefix="nf-bench-")
    rows: list[dict[str, Any]] = []

    def row(figure: str, ours: float, theirs: float | None, goal: str, limit: float | None) -> None:
        ratio = ours / theirs if theirs else None
        rows.append({"figure": figure, "netform_s": ours, "keras_s": theirs, "ratio": ratio, "goal": goal,
                     "ok": (ratio <= limit) if (ratio is not None and limit is not None) else None})

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fmt, name in (("keras", "m.keras"), ("h5", "m.h5")):
                ours_p, keras_p = os.path.join(tmp, "nf_" + name), os.path.join(tmp, "k_" + name)
                row(f"save {fmt}", *_time_pair(lambda: nfs.save(model, ours_p),
                                               lambda: keras.saving.save_model(model, keras_p), repeats),
                    "≤1.1×", 1.1)
                row(f"load {fmt}", *_time_pair(lambda: nfs.load(ours_p),
                                               lambda: keras.saving.load_model(keras_p), repeats),
                    "≤1.1×", 1.1)
            sm = os.path.join(tmp, "m_savedmodel")
            ksm = os.path.join(tmp, "k_export")
            row("save savedmodel", median_time(lambda: nfs.save(model, sm), max(2, repeats // 3)),
                median_time(lambda: (shutil.rmtree(ksm, ignore_errors=True), model.export(ksm, verbose=False)),
                      max(2, repeats // 3)), "info (netform also stores .keras)", None)
            row("load savedmodel", median_time(lambda: nfs.load(sm), max(2, repeats // 3)), None,
                "info (Keras 3 cannot load it as a model)", None)
            wp, kwp = os.path.join(tmp, "nf.weights.h5"), os.path.join(tmp, "k.weights.h5")
            row("save weights_h5", *_time_pair(lambda: nfs.save_weights(model, wp),
                                               lambda: model.save_weights(kwp), repeats), "info", None)
            row("load weights_h5", *_time_pair(lambda: nfs.load_weights(model, wp),
                                               lambda: model.load_weights(kwp), repeats), "≤1.1×", 1.1)
            paths = [os.path.join(tmp, p) for p in ("nf_m.keras", "nf_m.h5", "m_savedmodel", "nf.weights.h5")]
            n = 50 if quick else 200

            def detect_all() -> None:
                for p in paths:
                    nfs.detect_format(p)

            per_file = median_time(detect_all, 1) / len(paths)
            per_file = min(per_file, median_time(lambda: [detect_all() for _ in range(n)], 1) / (n * len(paths)))
            rows.append({"figure": "detect_format per file", "netform_s": per_file, "keras_s": None,
                         "ratio": None, "goal": "< 1 ms", "ok": per_file < 1e-3})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    print("| figure | netform | keras | ratio | goal |")
    print("|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else "—"
        mark = "" if r["ok"] is None else (" ✓" if r["ok"] else " ✗")
        print(f"| {r['figure']} | {_fmt(r['netform_s'])} | {_fmt(r['keras_s'])} | {ratio} | {r['goal']}{mark} |")
    print()
    print("Notes: netform fsyncs the file and its directory on every save (durability); Keras's own "
          "save does not. Keras's .h5 load builds the optimizer on an empty variable list and drops "
          "the saved optimizer state (2 variables left), while netform's creates and restores every "
          "slot variable (Adam: 2 per trainable weight), so its h5 load does that much more work.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"bench": "saving", "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
