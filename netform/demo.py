"""The main job: the whole product on real data, in one command.

``make run`` (or ``python -m netform.demo``) validates the zoo, trains the
LeNet-style CNN of ``models/lenet_digits.yaml`` on the UCI handwritten digits
shipped in ``data/digits.npz``, checks held-out accuracy, saves the model in
every format, reloads each file and checks the predictions agree, renders the
diagram and prints a report.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from .errors import NetformError, SpecError
from .spec import load_spec, summary

ROOT = Path(__file__).resolve().parents[1]
FULL_FORMATS = {"keras": "model.keras", "h5": "model.h5", "savedmodel": "model_savedmodel"}
WEIGHT_FORMATS = {"weights_h5": "model.weights.h5", "tf_checkpoint": "ckpt/model"}


def _zoo(zoo: Path) -> int:
    failed = 0
    start = time.perf_counter()
    paths = sorted(zoo.glob("*.yaml"))
    for path in paths:
        try:
            info = summary(load_spec(path))
        except SpecError as err:
            failed += 1
            print(err, file=sys.stderr)
            continue
        total = "?" if info.total_params is None else f"{info.total_params:,}"
        print(f"  {path.name:<28} {info.kind:<10} {len(info.rows):>4} nodes {total:>12} params")
    print(f"  {len(paths) - failed} of {len(paths)} zoo specs valid in {time.perf_counter() - start:.2f} s")
    return failed


def _split(x: np.ndarray, y: np.ndarray, fraction: float = 0.2, seed: int = 0) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        test[rng.choice(idx, size=max(1, round(len(idx) * fraction)), replace=False)] = True
    return x[~test], y[~test], x[test], y[test]


def main(out: str = "out") -> int:
    """Run the main job; return the exit code."""
    import netform as nf

    out_dir = ROOT / out
    out_dir.mkdir(exist_ok=True)
    print("1. The zoo (validated and summarised without TensorFlow)")
    if _zoo(ROOT / "models"):
        return 1
    spec_path = ROOT / "models" / "lenet_digits.yaml"
    spec = load_spec(spec_path)
    print(f"\n2. The model: {spec_path.relative_to(ROOT)}")
    print(summary(spec))

    with np.load(ROOT / "data" / "digits.npz") as data:
        x_all, y_all = data["x"].astype("float32"), data["y"].astype("int64")
    x_train, y_train, x_test, y_test = _split(x_all, y_all)
    print(f"\n3. Training on {len(y_train)} UCI digits, {len(y_test)} held out")
    import keras

    keras.utils.set_random_seed(0)
    from .engine import fit_from_training_config

    model = nf.build(spec)
    training = spec.training.to_dict() if spec.training else {}
    start = time.perf_counter()
    history = fit_from_training_config(model, training, x_train, y_train, verbose=1)
    train_s = time.perf_counter() - start
    result = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    accuracy = float(result.get("accuracy", result.get("compile_metrics", 0.0)))
    reference = np.asarray(model.predict(x_test, verbose=0))

    print("\n4. Saving in every format, reloading each, comparing predictions")
    rows = []
    for fmt, name in {**FULL_FORMATS, **WEIGHT_FORMATS}.items():
        path = out_dir / name
        t0 = time.perf_counter()
        if fmt in FULL_FORMATS:
            nf.save(model, path, format=fmt)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            nf.save_weights(model, path, format=fmt)
        save_s = time.perf_counter() - t0
        detected = nf.detect_format(path)
        t0 = time.perf_counter()
        if fmt in FULL_FORMATS:
            again = nf.load(path)
        else:
            again = nf.build(spec)
            nf.load_weights(again, path)
        load_s = time.perf_counter() - t0
        diff = float(np.abs(np.asarray(again.predict(x_test, verbose=0)) - reference).max())
        rows.append((fmt, path, detected, save_s, load_s, diff))
        print(
            f"  {fmt:<14} {str(path.relative_to(ROOT)):<28} detected={detected:<14} "
            f"save {save_s * 1000:7.1f} ms  load {load_s * 1000:7.1f} ms  max |Δ| = {diff:.2e}"
        )

    print("\n5. Diagram")
    diagram = None
    try:
        diagram = nf.render(spec, out_dir / "lenet_digits.svg")
        print(f"  {diagram}")
    except NetformError as err:
        print(f"  could not render SVG ({err}); writing DOT source instead")
        diagram = nf.render(spec, out_dir / "lenet_digits.dot")

    print("\n6. Report")
    print(f"  held-out accuracy       {accuracy:.4f} on {len(y_test)} digits (goal ≥ 0.95)")
    print(f"  training                {len(history.epoch)} epochs in {train_s:.1f} s")
    for line in history.telemetry.report().splitlines():
        print(f"  {line}")
    print(f"  files                   {out_dir.relative_to(ROOT)}/ ({len(rows)} formats + diagram)")
    ok = accuracy >= 0.95 and all(r[5] <= 1e-5 for r in rows)
    print("\nOK" if ok else "\nFAILED: accuracy below 0.95 or a reloaded model disagrees")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
