"""Deployment exports: file sizes, conversion time and accuracy of ONNX and TFLite (float32, dynamic, float16).

Trains the zoo's LeNet (``models/lenet_digits.yaml``) on the UCI digits in
``data/digits.npz`` (the split of ``make run``), exports it with ``nf.save``
to ONNX and to TFLite float32, ``quantize="dynamic"`` and
``quantize="float16"``, runs each file with its runtime (onnxruntime, the
LiteRT interpreter) on the held-out digits, and prints a markdown table:
file size, conversion time, held-out accuracy, its difference from Keras's
and the largest difference in predicted probabilities.

    python bench/bench_export.py [--epochs N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _interpreter(path: str) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's deprecation notice
            return tf.lite.Interpreter(model_path=path)
    return Interpreter(model_path=path)


def _run_tflite(path: str, x: Any) -> Any:
    interpreter = _interpreter(path)
    (key,) = interpreter.get_signature_list()
    runner = interpreter.get_signature_runner(key)
    (name,) = interpreter.get_signature_list()[key]["inputs"]
    (out,) = runner(**{name: x}).values()
    return out


def _run_onnx(path: str, x: Any) -> Any:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import netform as nf
    from netform.demo import _split
    from netform.engine import fit_from_training_config

    with np.load(ROOT / "data" / "digits.npz") as data:
        x_all, y_all = data["x"].astype("float32"), data["y"].astype("int64")
    x_train, y_train, x_test, y_test = _split(x_all, y_all)
    keras.utils.set_random_seed(0)
    spec = nf.load_spec(ROOT / "models" / "lenet_digits.yaml")
    model = nf.build(spec)
    training = {**(spec.training.to_dict() if spec.training else {}), "epochs": args.epochs}
    fit_from_training_config(model, training, x_train, y_train, verbose=0)
    reference = np.asarray(model.predict(x_test, verbose=0))
    keras_accuracy = float(np.mean(reference.argmax(-1) == y_test))

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        keras_path = os.path.join(folder, "m.keras")
        nf.save(model, keras_path)
        rows.append({"file": "Keras .keras (reference, with optimizer state)", "bytes": os.path.getsize(keras_path), "seconds": None,
                     "accuracy": keras_accuracy, "max_abs_diff": 0.0})
        for label, name, options, run in (
            ("ONNX float32 (opset 17)", "m.onnx", {}, _run_onnx),
            ("TFLite float32", "f32.tflite", {}, _run_tflite),
            ("TFLite dynamic (int8 weights)", "dyn.tflite", {"quantize": "dynamic"}, _run_tflite),
            ("TFLite float16", "f16.tflite", {"quantize": "float16"}, _run_tflite),
        ):
            path = os.path.join(folder, name)
            start = time.perf_counter()
            nf.save(model, path, **options)
            seconds = time.perf_counter() - start
            got = np.asarray(run(path, x_test))
            rows.append({"file": label, "bytes": os.path.getsize(path), "seconds": round(seconds, 2),
                         "accuracy": float(np.mean(got.argmax(-1) == y_test)),
                         "max_abs_diff": float(np.max(np.abs(got - reference)))})

    print(f"lenet_digits, {len(y_test)} held-out digits, Keras accuracy {keras_accuracy:.4f}\n")
    print("| file | size (bytes) | convert (s) | accuracy | Δ accuracy | max abs Δ prob |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.2f}"
        print(f"| {row['file']} | {row['bytes']:,} | {seconds} | {row['accuracy']:.4f} | "
              f"{row['accuracy'] - keras_accuracy:+.4f} | {row['max_abs_diff']:.2e} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
