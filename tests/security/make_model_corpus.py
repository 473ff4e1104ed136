"""Builds the hostile model-file corpus: every file of tests/saving/hostile.py plus
foreign SavedModels whose graphs read or write files.

    python -m tests.security.make_model_corpus OUT_DIR

Each code-carrying file would create ``OUT_DIR/MARKER`` if anything in it ran.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def savedmodel_writes_file(out: Path, marker: Path) -> Path:
    """A SavedModel whose serving function writes ``marker`` (WriteFile op)."""
    import tensorflow as tf

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            tf.io.write_file(str(marker), "pwned")
            return x * 2.0

    path = out / "writes_file_savedmodel"
    module = Writer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def savedmodel_reads_file(out: Path, marker: Path) -> Path:
    """A SavedModel whose serving function reads /etc/hostname into its output (ReadFile op)."""
    import tensorflow as tf

    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": x, "leak": tf.io.read_file("/etc/hostname")}

    path = out / "reads_file_savedmodel"
    module = Reader()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def h5_external_dataset(out: Path) -> Path:
    """An .h5 model with a dataset whose bytes live in another file (/etc/hostname)."""
    import h5py

    from tests.saving.hostile import _base_h5

    path = _base_h5(out, "external_dataset.h5")
    with h5py.File(path, "a") as f:
        f.create_dataset("model_weights/dense/leak", shape=(4,), dtype="u1", external=[("/etc/hostname", 0, 4)])
    return path


def benign_savedmodel(out: Path) -> Path:
    """A plain foreign SavedModel (control: it loads, inference-only)."""
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            return x * 2.0

    path = out / "benign_savedmodel"
    module = Doubler()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def build_all(out: Path, marker: Path) -> dict[str, Path]:
    """Write every hostile model file into ``out``."""
    from tests.saving import hostile

    files = dict(hostile.build_all(out, marker))
    files["savedmodel_writes_file"] = savedmodel_writes_file(out, marker)
    files["savedmodel_reads_file"] = savedmodel_reads_file(out, marker)
    files["h5_external_dataset"] = h5_external_dataset(out)
    return files


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for name, file in build_all(target, target / "MARKER").items():
        print(f"{name}: {file}")
