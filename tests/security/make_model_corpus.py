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


def _foreign_savedmodel(path: Path, fn: object) -> Path:
    """Save ``fn`` (float32 ``[None, 3]`` in) as a foreign SavedModel's serving signature."""
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(fn, input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    return path


#: What the five file-I/O attacks below touch, relative to the corpus folder.
SECRET = "secret.txt"
SECRET_TEXT = "TOP-SECRET-LINE\n"
VICTIM = "victim_folder"


def savedmodel_attacks(out: Path, marker: Path) -> dict[str, Path]:
    """Five SavedModels whose serving function does file I/O with graph ops that are not
    ``ReadFile``/``WriteFile``: each leaves a trace next to ``marker`` (or reads ``SECRET``,
    or deletes ``VICTIM``) when called.
    """
    import tensorflow as tf

    secret = out / SECRET
    secret.write_text(SECRET_TEXT)
    victim = out / VICTIM
    victim.mkdir(exist_ok=True)
    tf.train.Checkpoint(v=tf.Variable(1.0)).write(str(victim / "ckpt"))
    trace = str(marker)

    def print_to_file(x: tf.Tensor) -> tf.Tensor:
        tf.print("pwned", output_stream="file://" + trace)
        return x * 2.0

    def table_from_text_file(x: tf.Tensor) -> dict[str, tf.Tensor]:
        table = tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64)
        init = tf.raw_ops.InitializeTableFromTextFileV2(table_handle=table, filename=tf.constant(str(secret)),
                                                        key_index=-2, value_index=-1)
        with tf.control_dependencies([init]):
            keys, _ = tf.raw_ops.LookupTableExportV2(table_handle=table, Tkeys=tf.string, Tvalues=tf.int64)
        return {"y": x, "leak": keys}

    def dataset_cache(x: tf.Tensor) -> tf.Tensor:
        data = tf.data.Dataset.from_tensors(x).cache(trace + ".cache")
        return data.reduce(tf.zeros_like(x), lambda a, b: a + b)

    def merge_checkpoints(x: tf.Tensor) -> tf.Tensor:
        op = tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=[str(victim / "ckpt")],
                                           destination_prefix=trace + ".merged", delete_old_dirs=True)
        with tf.control_dependencies([op]):
            return tf.identity(x)

    def debug_identity(x: tf.Tensor) -> tf.Tensor:
        return tf.raw_ops.DebugIdentity(input=x, tensor_name="x:0", debug_urls=["file://" + trace + ".debug"])

    return {f"savedmodel_{fn.__name__}": _foreign_savedmodel(out / f"{fn.__name__}_savedmodel", fn)
            for fn in (print_to_file, table_from_text_file, dataset_cache, merge_checkpoints, debug_identity)}


def attack_traces(out: Path, marker: Path) -> list[str]:
    """Every trace the attacks of :func:`savedmodel_attacks` leave when they run (empty if none ran)."""
    found = sorted(p.name for p in out.glob(marker.name + "*"))
    if not (out / VICTIM).is_dir():
        found.append(f"{VICTIM} deleted")
    return found


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
    files.update(savedmodel_attacks(out, marker))
    return files


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for name, file in build_all(target, target / "MARKER").items():
        print(f"{name}: {file}")
