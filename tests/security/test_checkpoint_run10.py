"""A TF checkpoint index whose entries TensorFlow cannot parse is a FormatError, never a process abort.

TensorFlow's ``CheckpointReader`` reads an index with ``CHECK`` assertions:
an entry that is no ``BundleEntryProto`` (one byte changed and the block's
CRC recomputed), a shape with a negative dimension or more than 254 of
them, or a slice listed twice aborts the process (exit 134). netform parses
the index itself first. Each case below rewrites one entry of a real
checkpoint (the table written again, its checksums recomputed) and must be
refused with a FormatError naming the file and the entry: through the
public paths in a subprocess (a crash must not take pytest down), and
directly through the index reader.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

import netform as nf
from netform.errors import FormatError
from netform.saving._tensor_bundle import check_bundle, check_savedmodel_variables, read_index
from tests._budget import assert_cpu_under

_REPO = Path(__file__).resolve().parents[2]
_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")

# --- a tensor bundle index, read and written as TensorFlow's table does -------------------------------

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def _masked_crc(data: bytes) -> int:
    c = 0xFFFFFFFF
    for x in data:
        c = _CRC_TABLE[(c ^ x) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    n &= 2**64 - 1
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _get_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _block_entries(buf: bytes, start: int, end: int) -> list[tuple[bytes, bytes]]:
    (count,) = struct.unpack_from("<I", buf, end - 4)
    limit = end - 4 - 4 * count
    out, key, pos = [], b"", start
    while pos < limit:
        shared, pos = _get_varint(buf, pos)
        unshared, pos = _get_varint(buf, pos)
        length, pos = _get_varint(buf, pos)
        key = key[:shared] + buf[pos : pos + unshared]
        pos += unshared
        out.append((key, buf[pos : pos + length]))
        pos += length
    return out


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of a table file, in order."""
    footer = data[-48:]
    _, at = _get_varint(footer, 0)
    _, at = _get_varint(footer, at)
    offset, at = _get_varint(footer, at)
    size, _ = _get_varint(footer, at)
    out = []
    for _, handle in _block_entries(data, offset, offset + size):
        o, at = _get_varint(handle, 0)
        s, _ = _get_varint(handle, at)
        out += _block_entries(data, o, o + s)
    return out


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body, restarts = bytearray(), []
    for key, value in entries:  # every entry a restart point: no prefix sharing
        restarts.append(len(body))
        body += _varint(0) + _varint(len(key)) + _varint(len(value)) + key + value
    restarts = restarts or [0]
    return bytes(body) + struct.pack(f"<{len(restarts)}I", *restarts) + struct.pack("<I", len(restarts))


def write_table(entries: list[tuple[bytes, bytes]], *, compression: int = 0, per_block: int = 3) -> bytes:
    """A table file holding ``entries`` (in the order given), its block checksums computed."""
    out = bytearray()

    def put(block: bytes) -> bytes:
        handle = _varint(len(out)) + _varint(len(block))
        kind = bytes([compression])
        out.extend(block + kind + struct.pack("<I", _masked_crc(block + kind)))
        return handle

    index = []
    for i in range(0, len(entries), per_block):
        chunk = entries[i : i + per_block]
        index.append((chunk[-1][0], put(_block(chunk))))
    meta = put(_block([]))
    top = put(_block(index))
    footer = meta + top
    return bytes(out) + footer + b"\0" * (40 - len(footer)) + _MAGIC


# --- protobuf fields ------------------------------------------------------------------------------------


def _field(number: int, wire: int, payload: bytes | int) -> bytes:
    tag = _varint(number << 3 | wire)
    if wire == 0:
        assert isinstance(payload, int)
        return tag + _varint(payload)
    assert isinstance(payload, bytes)
    return tag + (_varint(len(payload)) + payload if wire == 2 else payload)


def _shape(*dims: int) -> bytes:
    return b"".join(_field(2, 2, _field(1, 0, d)) for d in dims)


def _entry(dtype: int = 1, shape: bytes = b"", shard: int = 0, offset: int = 0, size: int = 0, extra: bytes = b""):
    return (
        _field(1, 0, dtype)
        + _field(2, 2, shape)
        + (_field(3, 0, shard) if shard else b"")
        + (_field(4, 0, offset) if offset else b"")
        + _field(5, 0, size)
        + _field(6, 5, b"\1\2\3\4")
        + extra
    )


def _extent(start: int, length: int) -> bytes:
    return _field(1, 2, _field(1, 0, start) + _field(2, 0, length))


# --- the cases: each rewrites the table's entries (the target is the last layer's bias, shape (10,)) --------

_TARGET = b"model/layer:dense/bias/.ATTRIBUTES/VARIABLE_VALUE"
Entries = list[tuple[bytes, bytes]]


def _replace(value: Callable[[bytes], bytes]) -> Callable[[Entries], Entries]:
    return lambda entries: [(k, value(v) if k == _TARGET else v) for k, v in entries]


def _flip_length(v: bytes) -> bytes:  # the attack's byte: the shape's length made longer than the entry
    at = v.index(b"\x12")
    return v[: at + 1] + bytes([v[at + 1] + 0x10]) + v[at + 2 :]


CASES: dict[str, Callable[[Entries], Entries]] = {
    "length_past_entry": _replace(_flip_length),
    "truncated_varint": _replace(lambda v: v + b"\x20\xff"),
    "group_wire_type": _replace(lambda v: v + b"\x0c"),
    "negative_dim": _replace(lambda v: _entry(shape=_shape(-1), size=40)),
    "too_many_dims": _replace(lambda v: _entry(shape=_shape(*[1] * 300), size=4)),
    "element_overflow": _replace(lambda v: _entry(shape=_shape(2**40, 2**40), size=4)),
    "dtype_out_of_range": _replace(lambda v: _entry(dtype=1000, shape=_shape(10), size=40)),
    "dtype_wrong_wire": _replace(lambda v: _field(1, 2, b"\1") + v[2:]),
    "shape_twice": _replace(lambda v: v + _field(2, 2, _shape(10))),
    "duplicate_slices": _replace(lambda v: _entry(shape=_shape(10), extra=_field(7, 2, _extent(0, 5)) * 2)),
    "slice_outside": _replace(lambda v: _entry(shape=_shape(10), extra=_field(7, 2, _extent(8, 5)))),
    "shard_out_of_range": _replace(lambda v: _entry(shape=_shape(10), shard=7, size=40)),
    "past_data_end": _replace(lambda v: _entry(shape=_shape(10), offset=10**9, size=40)),
    "size_mismatch": _replace(lambda v: _entry(shape=_shape(10**6), size=40)),
    "bad_utf8_dim_name": _replace(
        lambda v: _entry(shape=_field(2, 2, _field(1, 0, 10) + _field(2, 2, b"\xff")), size=40)
    ),
    "keys_out_of_order": lambda entries: [entries[0], *reversed(entries[1:])],
}
#: Cases that break the table itself, not an entry: (table bytes from entries, what the error says).
TABLE_CASES: dict[str, tuple[Callable[[Entries], bytes], str]] = {
    "compressed_block": (lambda e: write_table(e, compression=1), "compression type 1"),
    "no_header": (lambda e: write_table(e[1:]), "header"),
    "zero_shards": (lambda e: write_table([(b"", _field(1, 0, 0)), *e[1:]]), "num_shards is 0"),
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint of the mlp zoo model: its prefix (plain files, no state file)."""
    folder = tmp_path_factory.mktemp("ckpt")
    import tensorflow as tf

    model = nf.build(nf.load_spec(str(_REPO / "models" / "mlp.yaml")))
    # as TensorFlow writes it, one data shard (netform's own index declares two: see _checkpoint)
    tf.train.Checkpoint(model=model).write(str(folder / "set" / "m"))
    plain = folder / "m"
    shutil.copyfile(folder / "set" / "m.index", str(plain) + ".index")
    shutil.copyfile(folder / "set" / "m.data-00000-of-00001", str(plain) + ".data-00000-of-00001")
    return plain


def _variant(checkpoint: Path, name: str, index: bytes) -> Path:
    folder = checkpoint.parent / name
    folder.mkdir(exist_ok=True)
    shutil.copyfile(str(checkpoint) + ".data-00000-of-00001", folder / "m.data-00000-of-00001")
    (folder / "m.index").write_bytes(index)
    return folder / "m"


@pytest.fixture(scope="module")
def variants(checkpoint: Path) -> dict[str, Path]:
    entries = read_table((Path(str(checkpoint) + ".index")).read_bytes())
    assert _TARGET in dict(entries)
    out = {"rewritten": _variant(checkpoint, "rewritten", write_table(entries))}
    for name, change in CASES.items():
        out[name] = _variant(checkpoint, name, write_table(change(entries)))
    for name, (table, _) in TABLE_CASES.items():
        out[name] = _variant(checkpoint, name, table(entries))
    return out


def test_the_table_writer_round_trips(checkpoint: Path, variants: dict[str, Path]) -> None:
    original = read_index(str(checkpoint) + ".index")
    assert read_index(str(variants["rewritten"]) + ".index") == original
    assert len(original[1]) == 7


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_malformed_entry_is_a_format_error_naming_it(variants: dict[str, Path], name: str) -> None:
    with pytest.raises(FormatError) as caught:
        check_bundle(str(variants[name]))
    message = str(caught.value)
    assert str(variants[name]) + ".index" in message
    assert "entry 'model/" in message or name == "keys_out_of_order"


@pytest.mark.parametrize("name", sorted(TABLE_CASES))
def test_a_malformed_table_is_a_format_error(variants: dict[str, Path], name: str) -> None:
    with pytest.raises(FormatError, match=TABLE_CASES[name][1]):
        check_bundle(str(variants[name]))


_SCRIPT = r"""
import json, sys
import netform as nf
from netform.cli._main import main
model = nf.build(nf.load_spec(sys.argv[1]))
for prefix in sys.argv[2:]:
    rc = main(["inspect", prefix])
    try:
        nf.load_weights(model, prefix)
        error = None
    except Exception as err:
        error = [type(err).__name__, str(err)]
    print("RESULT " + json.dumps({"prefix": prefix, "rc": rc, "error": error}), flush=True)
"""


def test_inspect_and_load_weights_refuse_every_case_without_a_crash(variants: dict[str, Path]) -> None:
    names = ["rewritten", *CASES, *TABLE_CASES]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(_REPO / "models" / "mlp.yaml"), *(str(variants[n]) for n in names)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    results = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0, f"exit {done.returncode} after {len(results)} cases: {done.stderr[-2000:]}"
    assert len(results) == len(names)
    by_name = dict(zip(names, results))
    assert by_name.pop("rewritten") == {"prefix": str(variants["rewritten"]), "rc": 0, "error": None}
    for name, result in by_name.items():
        assert result["rc"] == 5, (name, result)
        assert result["error"][0] == "FormatError", (name, result)
        assert str(variants[name]) + ".index" in result["error"][1], (name, result)


def _foreign_savedmodel(folder: Path, bad: Callable[[bytes], bytes] | None = None) -> Path:
    """A SavedModel of a tf.Module (another tool's), its ``b`` variable's entry rewritten by ``bad``."""
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(tf.ones([3, 4]))
            self.b = tf.Variable(tf.ones([4]))

        @tf.function(input_signature=[tf.TensorSpec([None, 3])])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": tf.matmul(x, self.w) + self.b}

    module = Affine()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    if bad is not None:
        index = folder / "variables" / "variables.index"
        entries = read_table(index.read_bytes())
        key = b"b/.ATTRIBUTES/VARIABLE_VALUE"
        assert key in dict(entries)
        index.write_bytes(write_table([(k, bad(v) if k == key else v) for k, v in entries]))
    return folder


def test_a_savedmodel_variables_index_is_checked(tmp_path: Path) -> None:
    good = _foreign_savedmodel(tmp_path / "good")
    check_savedmodel_variables(str(good))
    assert {e.shape for e in check_bundle(str(good / "variables" / "variables"))} >= {(3, 4), (4,)}
    bad = _foreign_savedmodel(tmp_path / "bad", lambda v: _entry(shape=_shape(-4), size=16))
    with pytest.raises(FormatError, match="entry 'b/.ATTRIBUTES/VARIABLE_VALUE': the shape has a negative dimension"):
        check_savedmodel_variables(str(bad))


def test_loading_a_savedmodel_with_a_malformed_variables_index_is_a_format_error(tmp_path: Path) -> None:
    bad = _foreign_savedmodel(tmp_path / "sm", _flip_length)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, netform as nf\n"
            "try:\n    nf.load(sys.argv[1])\nexcept Exception as err:\n    print('RESULT', type(err).__name__, err)",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-1000:]}"
    assert f"RESULT FormatError {bad / 'variables' / 'variables.index'}" in done.stdout


def test_a_large_index_parses_quickly(tmp_path: Path) -> None:
    """1,000 variables' index, written by TensorFlow, read in well under a second."""
    import tensorflow as tf

    variables = {f"v{i:04d}": tf.Variable(tf.zeros([4, 4])) for i in range(1000)}
    prefix = str(tmp_path / "big")
    tf.train.Checkpoint(**variables).write(prefix)
    assert len(check_bundle(prefix)) == 1001  # and the object graph
    assert_cpu_under(lambda: check_bundle(prefix), 2.0, "check_bundle of 1,000 variables", warm=False)


def _spread(index: Path, data: Path, gap: bytes) -> None:
    """The shard's last tensor moved ``len(gap)`` bytes on, the gap someone's, its index entry following it."""
    from tensorflow.core.protobuf import tensor_bundle_pb2

    entries = read_table(index.read_bytes())
    parsed = {}
    for key, value in entries:
        if key:
            entry = tensor_bundle_pb2.BundleEntryProto()
            entry.ParseFromString(value)
            if entry.size:
                parsed[key] = entry
    last = max(parsed, key=lambda k: parsed[k].offset)
    offset = parsed[last].offset
    raw = data.read_bytes()
    data.write_bytes(raw[:offset] + gap + raw[offset:])
    parsed[last].offset += len(gap)
    index.write_bytes(write_table([(k, parsed[k].SerializeToString() if k == last else v) for k, v in entries]))


def test_bytes_between_the_tensors_of_a_shard_keep_a_savedmodel(tmp_path: Path) -> None:
    """An index rewritten to place a shard's tensors apart: TensorFlow reads them as before, and the bytes between
    them (a user's) were deleted with the next save, as no check looked inside the shard."""
    import tensorflow as tf

    folder = _foreign_savedmodel(tmp_path / "m_savedmodel")
    secret = b"SECRET USER DATA" * 8
    _spread(folder / "variables" / "variables.index", folder / "variables" / "variables.data-00000-of-00001", secret)
    check_savedmodel_variables(str(folder))
    assert float(tf.saved_model.load(str(folder)).b.numpy().sum()) == 4.0  # read as before
    before = (folder / "variables" / "variables.data-00000-of-00001").read_bytes()
    model = nf.build(nf.load_spec(str(_REPO / "models" / "mlp.yaml")))
    with pytest.raises(nf.SaveError, match=r"variables\.data-00000-of-00001 \(a gap from byte [\d,]+ between two of the tensors"):
        nf.save(model, folder)
    assert (folder / "variables" / "variables.data-00000-of-00001").read_bytes() == before


def test_bytes_between_the_tensors_keep_a_tf_checkpoint_set(tmp_path: Path) -> None:
    """A checkpoint save writes a new set and drops old sets it wrote; a set whose shard holds bytes between its
    tensors is not one TensorFlow wrote: the save is refused while the plain prefix reads it, and the set stays
    however many saves follow once it does not."""
    model = nf.build(nf.load_spec(str(_REPO / "models" / "mlp.yaml")))
    prefix = tmp_path / "w.ckpt"
    nf.save_weights(model, prefix)
    first = next(p for p in tmp_path.glob("w.ckpt.nf-set-*.index"))
    data = max(tmp_path.glob(first.name[: -len(".index")] + ".data-*"), key=lambda p: p.stat().st_size)
    secret = b"SECRET USER DATA" * 8
    nf.save_weights(model, prefix)  # the plain prefix now reads the second set
    _spread(first, data, secret)  # the first set, edited in place
    for _ in range(4):
        nf.save_weights(model, prefix)
    assert secret in data.read_bytes()
    nf.load_weights(model, prefix)
    plain = max(tmp_path.glob("w.ckpt.data-*"), key=lambda p: p.stat().st_size)
    _spread(tmp_path / "w.ckpt.index", plain, secret)  # the set the plain prefix reads, edited through it
    edited = [p for p in tmp_path.iterdir() if p.is_file() and secret in p.read_bytes() and ".nf-set-" in p.name]
    for _ in range(4):
        nf.save_weights(model, prefix)
    assert all(secret in p.read_bytes() for p in edited) and len(edited) == 2


@pytest.mark.parametrize("edit", ["appended", "between"])
def test_a_tensorflow_checkpoint_s_data_with_someone_s_bytes_is_not_taken_over(tmp_path: Path, edit: str) -> None:
    """A checkpoint tf.train.Checkpoint wrote, its data file holding a user's bytes past (or between) its tensors:
    the first save took it over and left the data file beside it, and the next save deleted it."""
    import tensorflow as tf

    model = nf.build(nf.load_spec(str(_REPO / "models" / "mlp.yaml")))
    prefix = tmp_path / "model"
    tf.train.Checkpoint(model=model).write(str(prefix))
    data = tmp_path / "model.data-00000-of-00001"
    secret = b"USER DATA " * 100
    if edit == "appended":
        with open(data, "ab") as fh:
            fh.write(secret)
    else:
        _spread(tmp_path / "model.index", data, secret)
    before = data.read_bytes()
    for _ in range(2):
        with pytest.raises(nf.SaveError, match=r"model\.data-00000-of-00001: holds bytes no tensor of its index reads"):
            nf.save_weights(model, prefix, format="tf_checkpoint")
    assert data.read_bytes() == before


def test_a_tensorflow_checkpoint_as_written_is_taken_over(tmp_path: Path) -> None:
    import tensorflow as tf

    model = nf.build(nf.load_spec(str(_REPO / "models" / "mlp.yaml")))
    prefix = tmp_path / "model"
    tf.train.Checkpoint(model=model).write(str(prefix))
    for _ in range(3):
        nf.save_weights(model, prefix, format="tf_checkpoint")
    nf.load_weights(model, prefix)


def test_a_save_at_a_checkpoint_manager_s_prefix_keeps_its_other_entries(tmp_path: Path) -> None:
    """The state file was written anew: the manager's other checkpoints and their times were dropped from it."""
    import tensorflow as tf

    model = nf.build(nf.load_spec(str(_REPO / "models" / "mlp.yaml")))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(tmp_path), max_to_keep=3)
    manager.save()
    manager.save()
    for _ in range(2):
        nf.save_weights(model, tmp_path / "ckpt-2", format="tf_checkpoint")
    state = tf.train.get_checkpoint_state(str(tmp_path))
    names = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    assert names[0] == "ckpt-1" and names[1].startswith("ckpt-2.nf-set-") and len(names) == 2
    assert len(state.all_model_checkpoint_timestamps) == 2
    assert os.path.basename(state.model_checkpoint_path) == names[1]
    assert [os.path.basename(p) for p in tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model), str(tmp_path), max_to_keep=3).checkpoints] == names
    nf.load_weights(model, tmp_path / "ckpt-2")


def test_a_checkpoint_without_the_optimizer_s_state_says_so(tmp_path: Path) -> None:
    """A checkpoint written before a compiled model's optimizer took a step, read into the model loaded from its
    .keras file (whose optimizer is built): the refusal said to build the same architecture, which it was."""
    import keras
    import tensorflow as tf

    inputs = keras.Input((12, 8))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GRU(8)(inputs)), name="rnn")
    model.compile("adam", "mse")
    nf.save(model, tmp_path / "rnn.keras")
    tf.train.Checkpoint(model=model).write(str(tmp_path / "ck" / "ckpt"))
    with pytest.raises(FormatError, match=r"include the model's optimizer 'adam[_\d]*', whose state the checkpoint does "
                                          r"not hold .*nf\.load\(\.\.\., compile=False\)"):
        nf.load_weights(nf.load(tmp_path / "rnn.keras"), tmp_path / "ck" / "ckpt")
    nf.load_weights(nf.load(tmp_path / "rnn.keras", compile=False), tmp_path / "ck" / "ckpt")
