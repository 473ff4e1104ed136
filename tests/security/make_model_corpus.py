"""Builds the hostile model-file corpus: every file of tests/saving/hostile.py plus
foreign SavedModels whose graphs read or write files.

    python -m tests.security.make_model_corpus OUT_DIR

Each code-carrying file would create ``OUT_DIR/MARKER`` if anything in it ran.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

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


def replace_by_virtual(f: Any, source: Path, dataset: str = "secret") -> str:
    """Swap the first (3, 2) dataset of an open HDF5 file for a virtual one reading ``source``.

    The checksums are dropped too, as an attacker would, so only the refusal of
    virtual layouts stands between the other file and the model's kernel.
    """
    import h5py

    found: list[str] = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset)
                 and obj.shape == (3, 2) and not found else None)
    del f[found[0]]
    layout = h5py.VirtualLayout(shape=(3, 2), dtype="float32")
    layout[:] = h5py.VirtualSource(str(source), dataset, shape=(3, 2))
    f.create_virtual_dataset(found[0], layout)
    if "netform_checksums" in f.attrs:
        del f.attrs["netform_checksums"]
    return found[0]


def secret_h5(out: Path) -> Path:
    """Another HDF5 file on the disk, holding a (3, 2) dataset ``secret`` of 42s."""
    import h5py
    import numpy as np

    path = out / "vds_secret.h5"
    with h5py.File(path, "w") as f:
        f["secret"] = np.full((3, 2), 42.0, dtype="float32")
    return path


def h5_virtual_dataset(out: Path) -> Path:
    """An .h5 model whose kernel is a virtual dataset reading :func:`secret_h5`."""
    import h5py

    from tests.saving.hostile import _base_h5

    path = _base_h5(out, "virtual_dataset.h5")
    with h5py.File(path, "a") as f:
        replace_by_virtual(f, secret_h5(out))
    return path


def h5_vlen_bomb(out: Path, copies: int = 256, size: int = 2**20) -> Path:
    """An .h5 model with a string dataset whose ``copies`` elements all name one 1 MiB string.

    About 1 MiB on disk, ``copies`` MiB when read; it is named in the checksums
    so that verifying them would read it.
    """
    import json

    import h5py
    import numpy as np

    from tests.saving.hostile import _base_h5

    path = _base_h5(out, "vlen_bomb.h5")
    with h5py.File(path, "a") as f:
        values = np.array([b"x" * size] + [b"a"] * (copies - 1), dtype=object)
        dset = f["model_weights"].create_dataset("names", data=values, dtype=h5py.string_dtype("ascii"))
        offset = dset.id.get_offset()
        sums = json.loads(f.attrs["netform_checksums"])
        sums["model_weights/names"] = 0
        f.attrs["netform_checksums"] = json.dumps(sums)
    with open(path, "r+b") as fh:  # each element: length, heap address, index; all now the first's
        fh.seek(offset)
        record = fh.read(16)
        fh.seek(offset)
        fh.write(record * copies)
    return path


def h5_vlen_attribute_bomb(out: Path, copies: int = 3000, size: int = 2 * 2**20, *, name: str = "vlen_attr_bomb.h5",
                           weights_only: bool = False) -> Path:
    """An .h5 whose ``layer_names`` attribute has ``copies`` elements that all name one 2 MiB string.

    About 2 MiB on disk, ``copies`` times 2 MiB when read: HDF5 reads an
    attribute whole, so it cannot be read in slices like a dataset.
    """
    import h5py
    import numpy as np

    from netform.saving._h5_attrs import _attribute_messages

    from tests.saving.hostile import _base_h5, _plain_model

    if weights_only:
        import netform.saving as nfs

        path = out / name
        nfs.save_weights(_plain_model(), str(path), format="legacy_h5_weights")
        group = "/"
    else:
        path = _base_h5(out, name)
        group = "model_weights"
    with h5py.File(path, "a") as f:
        g = f[group]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs["layer_names"]]
        values = np.array(["x" * size] + names + ["a"] * (copies - 1 - len(names)), dtype=object)
        del g.attrs["layer_names"]
        g.attrs.create("layer_names", values, dtype=h5py.string_dtype("utf-8"))
        sizes = f.id.get_create_plist().get_sizes()
        addr = h5py.h5o.get_info(g.id).addr
    with open(path, "r+b") as fh:
        view = io.BytesIO(fh.read())
        offset, _ = _attribute_messages(lambda at, n: bytes(view.getbuffer()[at:at + n]), addr, *sizes)[b"layer_names"]
        element = 8 + sizes[0]
        fh.seek(offset)
        first = fh.read(element)
        fh.seek(offset)
        fh.write(first * copies)  # every descriptor now names the first, 2 MiB, string
    return path


def raw_zip(path: Path, entries: list[tuple[str, bytes, int, int]], *, share_from: int | None = None) -> Path:
    """Write a zip from pre-deflated entries ``(name, deflated, crc, size)``.

    With ``share_from``, every entry after that index points at that entry's stored bytes.
    """
    import struct

    out, central, shared = bytearray(), bytearray(), 0
    for i, (name, data, crc, size) in enumerate(entries):
        raw = name.encode()
        offset = len(out)
        if share_from is None or i <= share_from:
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(raw), 0)
            out += raw + data
            shared = offset
        else:
            offset = shared
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size,
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def deflated_zeros(size: int, block: int = 16 * 2**20) -> tuple[bytes, int]:
    """``(raw deflate, crc)`` of ``size`` zero bytes, compressing one block only once."""
    import zlib

    block = min(size, block)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = comp.compress(b"\0" * block) + comp.flush(zlib.Z_FULL_FLUSH)
    crc, zeros = 0, b"\0" * block
    for _ in range(size // block):
        crc = zlib.crc32(zeros, crc)
    return unit * (size // block) + zlib.compressobj(9, zlib.DEFLATED, -15).flush(), crc


def _deflated_entries(archive: Path) -> list[tuple[str, bytes, int, int]]:
    import zipfile
    import zlib

    with zipfile.ZipFile(archive) as zf:
        out = []
        for name in zf.namelist():
            data = zf.read(name)
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            out.append((name, comp.compress(data) + comp.flush(), zlib.crc32(data), len(data)))
    return out


def zip_many_entries_bomb(out: Path, *, overlapping: bool = False) -> Path:
    """A .keras with 128 asset entries of 16 MiB of zeros each: 2 GiB from about 2 MB.

    Each entry stays under the per-entry threshold; only their total gives the
    bomb away. With ``overlapping``, all 128 share one entry's stored bytes.
    """
    from tests.saving.hostile import _base_keras

    data, crc = deflated_zeros(16 * 2**20)
    base = _deflated_entries(_base_keras(out))
    bomb = [(f"assets/zeros_{i:03d}.bin", data, crc, 16 * 2**20) for i in range(128)]
    name = "overlapping_bomb.keras" if overlapping else "many_entries_bomb.keras"
    return raw_zip(out / name, base + bomb, share_from=len(base) if overlapping else None)


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
    files["h5_virtual_dataset"] = h5_virtual_dataset(out)
    files["h5_vlen_bomb"] = h5_vlen_bomb(out)
    files["h5_vlen_attribute_bomb"] = h5_vlen_attribute_bomb(out)
    files["zip_many_entries_bomb"] = zip_many_entries_bomb(out)
    files["zip_overlapping_bomb"] = zip_many_entries_bomb(out, overlapping=True)
    files.update(savedmodel_attacks(out, marker))
    return files


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for name, file in build_all(target, target / "MARKER").items():
        print(f"{name}: {file}")
