"""A TensorFlow checkpoint's index (a tensor bundle's ``.index``), read and checked without TensorFlow.

TensorFlow reads a checkpoint index with ``CHECK`` assertions: an entry
that does not parse as a ``BundleEntryProto``, a shape with a negative
dimension or more than 254 of them, a shape whose element count overflows,
or a repeated slice aborts the whole process (``Check failed:
entry.ParseFromString``, exit 134) instead of raising. netform therefore
reads every index itself, before any TensorFlow code sees it, and refuses
what TensorFlow would not read cleanly as a :class:`FormatError` naming the
file and the entry.

The index is a LevelDB-style table, as TensorFlow's ``lib/io/table`` writes
it:

* a 48-byte footer: the metaindex block's and the index block's handles
  (each two varints: offset and size), zero padding, and the magic
  ``0xdb4775248b80fb57`` (little-endian);
* blocks of key/value entries, each entry ``varint shared, varint unshared,
  varint value length, key suffix, value``: its key is the first ``shared``
  bytes of the entry before's key and the suffix. A block ends in its
  restart points (``uint32`` offsets of entries that share nothing) and
  their count; a 5-byte trailer follows it: the compression type
  (TensorFlow writes bundles uncompressed; any other type is refused) and
  the block's masked CRC-32C (which TensorFlow checks itself on read);
* the index block's values are the data blocks' handles, in key order.

The data blocks' values are serialized protocol buffers (``tensor_bundle.proto``):
the empty key holds the ``BundleHeaderProto`` (``num_shards`` 1,
``endianness`` 2, ``version`` 3), every other key a ``BundleEntryProto``
(``dtype`` 1, ``shape`` 2, ``shard_id`` 3, ``offset`` 4, ``size`` 5,
``crc32c`` 6, ``slices`` 7). Each known field must have its wire type and
appear once (a repeated one aside); a field of a number the proto does not
have is skipped, as protobuf does. The entry's bytes must lie inside its
data shard, ``<prefix>.data-<shard>-of-<num_shards>``.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Final, Iterator, NamedTuple

from netform.errors import FormatError

from ._detect import TABLE_MAGIC
from ._protowire import FIXED32, LEN, VARINT, Budget, TooManyFields, WireError, fields, read_varint

__all__ = [
    "MAX_INDEX_BYTES",
    "MAX_ENTRIES",
    "BundleEntry",
    "check_bundle",
    "check_savedmodel_variables",
    "read_index",
    "shard_ends",
    "shard_gaps",
    "IndexLayout",
    "index_layout",
    "index_slack",
    "move_to_shard",
]

#: The largest checkpoint index netform reads (TensorFlow's for a model of a million variables is ~100 MB).
MAX_INDEX_BYTES: Final[int] = 256 * 2**20
#: The most entries (tensors and tensor slices) an index may hold.
MAX_ENTRIES: Final[int] = 1_000_000
#: The most data shards a header may declare.
MAX_SHARDS: Final[int] = 100_000
#: The most dimensions a TensorFlow tensor has (``TensorShape::MaxDimensions``).
MAX_DIMS: Final[int] = 254
#: The most protobuf fields decoded from one entry (a shape of 254 named dimensions, slices of them).
_FIELDS_PER_ENTRY: Final[int] = 4 * MAX_DIMS * 4 + 64
_FOOTER: Final[int] = 48
_TRAILER: Final[int] = 5
_INT64_MAX: Final[int] = 2**63 - 1
_INT32_MAX: Final[int] = 2**31 - 1

#: Bytes per element of the DataTypes stored as raw arrays (an entry's size is exactly elements times this).
_ITEM_SIZE: Final[dict[int, int]] = {
    1: 4,  # float
    2: 8,  # double
    3: 4,  # int32
    4: 1,  # uint8
    5: 2,  # int16
    6: 1,  # int8
    8: 8,  # complex64
    9: 8,  # int64
    10: 1,  # bool
    11: 1,  # qint8
    12: 1,  # quint8
    13: 4,  # qint32
    14: 2,  # bfloat16
    15: 2,  # qint16
    16: 2,  # quint16
    17: 2,  # uint16
    18: 16,  # complex128
    19: 2,  # half
    22: 4,  # uint32
    23: 8,  # uint64
    24: 1,  # float8_e5m2
    25: 1,  # float8_e4m3fn
    26: 1,  # float8_e4m3fnuz
    27: 1,  # float8_e4m3b11fnuz
    28: 1,  # float8_e5m2fnuz
}
#: DataTypes whose elements take a variable number of bytes (string, resource, variant) or pack
#: several to a byte (int4, uint4, int2, uint2, float4_e2m1fn): at most 4 elements a byte.
_OTHER_TYPES: Final[frozenset[int]] = frozenset({7, 20, 21, 29, 30, 31, 32, 33})


class BundleEntry(NamedTuple):
    """One tensor (or tensor slice) of a checkpoint index.

    Attributes:
        key: The tensor's name in the checkpoint.
        dtype: Its ``tensorflow.DataType`` number.
        shape: Its dimensions.
        shard_id: The data shard its bytes are in.
        offset: Where they start in the shard.
        size: How many bytes they take.
        slices: How many slices of it the index holds under keys of their own (0: stored whole).
    """

    key: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    slices: int


class _Bad(Exception):
    """What is wrong with the index, in words; :func:`read_index` adds the file and the entry."""


def _signed(value: int, bits: int, name: str) -> int:
    """A varint read as a two's complement ``int64``, refused outside ``int<bits>``."""
    if value < 2**31:  # the common case, in range for either width
        return value
    if value >= 2**63:
        value -= 2**64
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise _Bad(f"{name} {value:,} does not fit in a {bits}-bit integer")
    return value


def _once(seen: set[int], number: int, name: str) -> None:
    if number in seen:
        raise _Bad(f"field {name} appears twice")
    seen.add(number)


def _want(wire: int, expected: int, name: str) -> None:
    if wire != expected:
        raise _Bad(f"field {name} has wire type {wire}, expected {expected}")


def _header(buf: bytes, budget: Budget) -> tuple[int, int]:
    """``(num_shards, endianness)`` of a ``BundleHeaderProto``."""
    num_shards = endianness = 0
    seen: set[int] = set()
    for number, wire, value, stop in fields(buf, 0, len(buf), budget):
        if number == 1:
            _want(wire, VARINT, "num_shards")
            _once(seen, number, "num_shards")
            num_shards = _signed(value, 32, "num_shards")
        elif number == 2:
            _want(wire, VARINT, "endianness")
            _once(seen, number, "endianness")
            endianness = _signed(value, 32, "endianness")
        elif number == 3:
            _want(wire, LEN, "version")
            _once(seen, number, "version")
            _version(buf, value, stop, budget)
    if not 1 <= num_shards <= MAX_SHARDS:
        raise _Bad(f"num_shards is {num_shards:,}, expected 1 to {MAX_SHARDS:,}")
    if endianness not in (0, 1):
        raise _Bad(f"endianness is {endianness:,}, expected 0 (little) or 1 (big)")
    return num_shards, endianness


def _version(buf: bytes, start: int, end: int, budget: Budget) -> None:
    """A ``VersionDef``: ``producer`` 1, ``min_consumer`` 2, ``bad_consumers`` 3 (int32s)."""
    seen: set[int] = set()
    for number, wire, value, stop in fields(buf, start, end, budget):
        if number in (1, 2):
            _want(wire, VARINT, f"version.{number}")
            _once(seen, number, f"version.{number}")
            _signed(value, 32, "version")
        elif number == 3:
            if wire == LEN:  # packed
                pos = value
                while pos < stop:
                    item, pos = read_varint(buf, pos, stop)
                    _signed(item, 32, "version.bad_consumers")
            else:
                _want(wire, VARINT, "version.bad_consumers")
                _signed(value, 32, "version.bad_consumers")


def _shape(buf: bytes, start: int, end: int, budget: Budget) -> tuple[int, ...]:
    """A ``TensorShapeProto``: ``dim`` 2 (``size`` 1, ``name`` 4), ``unknown_rank`` 3."""
    dims: list[int] = []
    seen: set[int] = set()
    for number, wire, value, stop in fields(buf, start, end, budget):
        if number == 2:
            _want(wire, LEN, "shape.dim")
            if len(dims) == MAX_DIMS:
                raise _Bad(f"the shape has more than {MAX_DIMS} dimensions")
            size = 0
            dim_seen: set[int] = set()
            for n, w, v, s in fields(buf, value, stop, budget):
                if n == 1:
                    _want(w, VARINT, "shape.dim.size")
                    _once(dim_seen, n, "shape.dim.size")
                    size = _signed(v, 64, "a dimension")
                elif n == 2:
                    _want(w, LEN, "shape.dim.name")
                    _once(dim_seen, n, "shape.dim.name")
                    try:
                        bytes(buf[v:s]).decode("utf-8")
                    except UnicodeDecodeError:
                        raise _Bad("a dimension's name is not UTF-8 text") from None
            if size < 0:
                raise _Bad(f"the shape has a negative dimension ({size:,})")
            dims.append(size)
        elif number == 3:
            _want(wire, VARINT, "shape.unknown_rank")
            _once(seen, number, "shape.unknown_rank")
            if value:
                raise _Bad("the shape has an unknown rank; a stored tensor has a known shape")
    elements = 1
    for size in dims:
        elements *= size
        if elements > _INT64_MAX:
            raise _Bad(f"the shape {tuple(dims)} has more elements than a 64-bit count holds")
    return tuple(dims)


def _slice(buf: bytes, start: int, end: int, shape: tuple[int, ...], budget: Budget) -> tuple[tuple[int, int], ...]:
    """A ``TensorSliceProto``: ``extent`` 1 (``start`` 1, ``length`` 2), checked against ``shape``."""
    extents: list[tuple[int, int]] = []
    for number, wire, value, stop in fields(buf, start, end, budget):
        if number != 1:
            continue
        _want(wire, LEN, "slices.extent")
        if len(extents) == len(shape):
            raise _Bad(f"a slice has more extents than the shape's {len(shape)} dimensions")
        first, length = 0, -1
        seen: set[int] = set()
        for n, w, v, _ in fields(buf, value, stop, budget):
            if n in (1, 2):
                _want(w, VARINT, "slices.extent")
                _once(seen, n, "slices.extent")
                if n == 1:
                    first = _signed(v, 64, "a slice start")
                else:
                    length = _signed(v, 64, "a slice length")
        dim = shape[len(extents)]
        if length == -1 and 2 not in seen:
            length = dim - first  # no length: to the dimension's end
        if first < 0 or length < 0 or first + length > dim:
            raise _Bad(f"a slice [{first:,}, +{length:,}) lies outside its dimension of {dim:,}")
        extents.append((first, length))
    if len(extents) != len(shape):
        raise _Bad(f"a slice has {len(extents)} extents for a shape of {len(shape)} dimensions")
    return tuple(extents)


_ENTRY_FIELDS: Final[dict[int, str]] = {
    1: "dtype",
    2: "shape",
    3: "shard_id",
    4: "offset",
    5: "size",
    6: "crc32c",
    7: "slices",
}


def _entry(key: str, buf: bytes, num_shards: int, budget: Budget, shapes: dict[bytes, tuple[int, ...]]) -> BundleEntry:
    """A ``BundleEntryProto``, its fields checked (``shapes``: the shapes read so far, by their bytes)."""
    dtype = shard_id = offset = size = 0
    shape: tuple[int, ...] = ()
    spans: list[tuple[int, int]] = []
    seen: set[int] = set()
    for number, wire, value, stop in fields(buf, 0, len(buf), budget):
        name = _ENTRY_FIELDS.get(number)
        if name is None:
            continue
        if number == 7:
            _want(wire, LEN, name)
            spans.append((value, stop))
            continue
        _once(seen, number, name)
        if number == 2:
            _want(wire, LEN, name)
            raw = buf[value:stop]
            found = shapes.get(raw)
            if found is None:
                found = shapes[raw] = _shape(raw, 0, len(raw), budget)
            shape = found
        elif number == 6:
            _want(wire, FIXED32, name)
        else:
            _want(wire, VARINT, name)
            if number == 1:
                dtype = _signed(value, 32, name)
            elif number == 3:
                shard_id = _signed(value, 32, name)
            elif number == 4:
                offset = _signed(value, 64, name)
            else:
                size = _signed(value, 64, name)
    if dtype not in _ITEM_SIZE and dtype not in _OTHER_TYPES:
        raise _Bad(f"dtype {dtype:,} is no TensorFlow data type a checkpoint stores")
    slices = {_slice(buf, a, b, shape, budget) for a, b in spans}
    if len(slices) != len(spans):
        raise _Bad("the same slice is listed twice")
    if not 0 <= shard_id < num_shards:
        raise _Bad(f"shard_id {shard_id:,} is not one of the header's {num_shards:,} shards")
    if offset < 0 or size < 0 or offset + size > _INT64_MAX:
        raise _Bad(f"offset {offset:,} and size {size:,} are no byte range")
    elements = 1
    for dim in shape:
        elements *= dim
    if not spans:  # stored whole: its size follows from its shape
        if dtype in _ITEM_SIZE and size != elements * _ITEM_SIZE[dtype]:
            raise _Bad(
                f"size {size:,} bytes does not match its shape {shape} of {elements:,} elements "
                f"of {_ITEM_SIZE[dtype]} bytes"
            )
        if dtype in _OTHER_TYPES and elements > 4 * size:
            raise _Bad(f"size {size:,} bytes is too small for its shape {shape} of {elements:,} elements")
    return BundleEntry(key, dtype, shape, shard_id, offset, size, len(spans))


def _block(data: bytes, handle: bytes | memoryview, limit: int, what: str) -> tuple[int, int]:
    """The span of the block ``handle`` (two varints) points at; it and its trailer end before ``limit``."""
    try:
        offset, at = read_varint(handle, 0, len(handle))
        size, at = read_varint(handle, at, len(handle))
    except WireError:
        raise _Bad(f"the handle of {what} is cut short") from None
    if offset + size + _TRAILER > limit:
        raise _Bad(f"{what} ({size:,} bytes at byte {offset:,}) runs past the table's blocks ({limit:,} bytes)")
    kind = data[offset + size]
    if kind != 0:
        raise _Bad(f"{what} is stored with compression type {kind}; TensorFlow writes checkpoint indexes uncompressed")
    return offset, offset + size


def _entries(data: bytes, start: int, end: int, what: str) -> Iterator[tuple[bytes, int, int]]:
    """``(key, value start, value end)`` of each entry of the block ``data[start:end]``, its layout checked."""
    if end - start < 4:
        raise _Bad(f"{what} is {end - start} bytes, too short for a block")
    (count,) = struct.unpack_from("<I", data, end - 4)
    if count < 1 or count > (end - start - 4) // 4:
        raise _Bad(f"{what} declares {count:,} restart points, which its {end - start:,} bytes cannot hold")
    limit = end - 4 - 4 * count
    restarts = struct.unpack_from(f"<{count}I", data, limit)
    points = iter(restarts)
    point = next(points)
    key = b""
    pos = start
    try:
        while pos < limit:
            at = pos - start
            shared, pos = read_varint(data, pos, limit)
            unshared, pos = read_varint(data, pos, limit)
            length, pos = read_varint(data, pos, limit)
            if at == point:
                if shared:
                    raise _Bad(f"{what}: the entry at a restart point (byte {at:,}) shares bytes with the one before")
                point = next(points, -1)
            elif at > point >= 0:
                raise _Bad(f"{what}: restart point {point:,} is not where an entry starts")
            if shared > len(key) or pos + unshared + length > limit:
                raise _Bad(f"{what}: the entry at byte {at:,} runs past its block")
            new = key[:shared] + data[pos : pos + unshared]
            if at and new <= key:
                raise _Bad(f"{what}: key {new!r} does not come after {key!r}; a table's keys are sorted")
            key = new
            pos += unshared
            yield key, pos, pos + length
            pos += length
    except WireError:
        raise _Bad(f"{what}: an entry's lengths are cut short") from None
    if point != -1 and not (point == limit - start and restarts == (0,)):  # an empty block has the point 0
        raise _Bad(f"{what}: restart point {point:,} is not where an entry starts")


def _read(path: str) -> bytes:
    """The index's bytes: a regular file (opened without blocking on a FIFO) of at most :data:`MAX_INDEX_BYTES`."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise FormatError(f"{path}: cannot read the checkpoint index ({err.strerror or err}).") from err
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FormatError(f"{path}: the checkpoint index is not a regular file; refused.")
        if info.st_size > MAX_INDEX_BYTES:
            raise FormatError(
                f"{path}: the checkpoint index is {info.st_size:,} bytes, more than the {MAX_INDEX_BYTES:,} "
                "netform reads; it is not an index TensorFlow wrote for a model."
            )
        return fh.read(MAX_INDEX_BYTES + 1)


def read_index(index: str) -> tuple[int, list[BundleEntry]]:
    """Parse a checkpoint index without TensorFlow: ``(num_shards, entries)``, every entry checked.

    Args:
        index: The ``.index`` file.

    Raises:
        FormatError: The file is no well-formed tensor bundle index, or an
            entry would stop TensorFlow (see the module's description);
            the message names the file and the entry's key.
    """
    parsed = _parse(index)
    return parsed.num_shards, parsed.entries


class _Parsed(NamedTuple):
    """One read of an index: its bytes, header, entries, and every key with its value's bytes, in order."""

    data: bytes
    num_shards: int
    entries: list[BundleEntry]
    items: list[tuple[bytes, bytes]]


def _parse(index: str) -> _Parsed:
    """Read and check an index once (:func:`read_index`'s rules), keeping what the layout checks need."""
    data = _read(index)
    items: list[tuple[bytes, bytes]] = []
    key: str | None = None  # the entry being read, for the error
    try:
        if len(data) < _FOOTER or data[-8:] != TABLE_MAGIC:
            raise _Bad("it does not end with a TensorFlow table footer")
        limit = len(data) - _FOOTER
        footer = memoryview(data)[limit:-8]
        try:
            _, at = read_varint(footer, 0, len(footer))
            _, at = read_varint(footer, at, len(footer))
        except WireError:
            raise _Bad("the footer's block handles are cut short") from None
        meta = _block(data, footer[:at], limit, "the metaindex block")
        for _ in _entries(data, *meta, "the metaindex block"):
            pass
        top = _block(data, footer[at:], limit, "the index block")
        num_shards = 0
        entries: list[BundleEntry] = []
        previous: bytes | None = None
        shapes: dict[bytes, tuple[int, ...]] = {}
        for separator, vstart, vend in _entries(data, *top, "the index block"):
            what = f"the data block before key {separator!r}"
            span = _block(data, memoryview(data)[vstart:vend], limit, what)
            for raw, start, end in _entries(data, *span, what):
                if raw > separator:
                    raise _Bad(f"key {raw!r} comes after its block's index key {separator!r}")
                if previous is not None and raw <= previous:
                    raise _Bad(f"key {raw!r} does not come after {previous!r}; a table's keys are sorted")
                previous = raw
                key = raw.decode("utf-8", "backslashreplace")  # a slice's key is binary (TensorFlow's OrderedCode)
                value = data[start:end]
                items.append((raw, value))
                budget = Budget(_FIELDS_PER_ENTRY)
                if key == "":
                    num_shards, _ = _header(value, budget)
                elif not num_shards:
                    raise _Bad("the first entry is not the header (the empty key)")
                elif len(entries) == MAX_ENTRIES:
                    raise _Bad(f"the index holds more than {MAX_ENTRIES:,} entries")
                else:
                    entries.append(_entry(key, value, num_shards, budget, shapes))
                key = None
        if not num_shards:
            raise _Bad("it has no header (the empty key)")
    except (_Bad, WireError, TooManyFields) as err:
        if isinstance(err, WireError):
            why = err.why
        elif isinstance(err, TooManyFields):
            why = "an entry has more protobuf fields than a tensor's description needs"
        else:
            why = str(err)
        where = f" entry '{key}':" if key is not None else ""
        raise FormatError(
            f"{index}: not a valid TensorFlow checkpoint index:{where} {why}. The file is damaged or was not "
            "written by TensorFlow; TensorFlow would fail on it or stop the process, so netform does not read it. "
            "Save the checkpoint again from its model."
        ) from None
    return _Parsed(data, num_shards, entries, items)


def check_bundle(prefix: str) -> list[BundleEntry]:
    """Check a checkpoint (``prefix.index`` and its data shards) before TensorFlow reads it.

    Every entry of the index must parse (see :func:`read_index`) and its
    bytes must lie inside its data shard, ``prefix.data-<shard>-of-<num_shards>``.

    Args:
        prefix: The checkpoint prefix (for a SavedModel, ``<dir>/variables/variables``).

    Returns:
        The index's entries.

    Raises:
        FormatError: The index is malformed, a shard it names is missing, or
            an entry lies beyond its shard's end; the message names the file
            and the entry's key.
    """
    index = prefix + ".index"
    num_shards, entries = read_index(index)
    sizes: dict[int, int] = {}
    for entry in entries:
        if entry.slices:
            continue
        if entry.shard_id not in sizes:
            shard = f"{prefix}.data-{entry.shard_id:05d}-of-{num_shards:05d}"
            try:
                info = os.stat(shard)
            except OSError as err:
                raise FormatError(
                    f"{index}: entry '{entry.key}' is in the data shard {os.path.basename(shard)}, which cannot be "
                    f"read ({err.strerror or err}). Copy the checkpoint's data files along with its index."
                ) from err
            if not stat.S_ISREG(info.st_mode):
                raise FormatError(f"{shard}: a checkpoint data shard that is not a regular file; refused.")
            sizes[entry.shard_id] = info.st_size
        if entry.offset + entry.size > sizes[entry.shard_id]:
            raise FormatError(
                f"{index}: entry '{entry.key}' ({entry.size:,} bytes at byte {entry.offset:,}) lies beyond the end "
                f"of its data shard ({sizes[entry.shard_id]:,} bytes): the checkpoint is truncated or damaged. "
                "Save it again from its model."
            )
    return entries


def check_savedmodel_variables(path: str) -> None:
    """Check a SavedModel's ``variables/`` checkpoint (as :func:`check_bundle`) before TensorFlow loads it.

    A SavedModel without ``variables/variables.index`` (one with no
    variables) passes: TensorFlow reads no index then.

    Args:
        path: The SavedModel directory.

    Raises:
        FormatError: The variables' index is malformed or names bytes their data shards do not hold.
    """
    prefix = os.path.join(path, "variables", "variables")
    if os.path.lexists(prefix + ".index"):
        check_bundle(prefix)


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as a table's block trailer holds it (before masking)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE: Final[tuple[int, ...]] = _crc_table()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _table_block(items: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    """A table block (keys prefix-compressed between restart points) holding ``items`` in order."""
    buf = bytearray()
    restarts: list[int] = []
    previous = b""
    for i, (key, value) in enumerate(items):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(buf))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        buf += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        previous = key
    restarts = restarts or [0]
    buf += struct.pack(f"<{len(restarts)}I", *restarts) + struct.pack("<I", len(restarts))
    return bytes(buf)


def _append_block(out: bytearray, block: bytes) -> bytes:
    """Append ``block`` with its trailer (uncompressed, masked CRC-32C) to ``out``; return its handle."""
    offset = len(out)
    crc = _crc32c(block + b"\x00")
    out += block + b"\x00" + struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
    return _varint(offset) + _varint(len(block))


def move_to_shard(index: str, shard: int, num_shards: int) -> None:
    """Rewrite a single-shard index, in place, so its tensors are read from shard ``shard`` of ``num_shards``.

    The data file keeps its bytes; only its name changes, to
    ``<prefix>.data-<shard>-of-<num_shards>`` (the other shards hold no
    tensor, so TensorFlow never opens them). A checkpoint saver alternates
    the shard so a new checkpoint's data file never has the old one's name,
    while both names stay ones the index declares.

    Raises:
        FormatError: The index does not parse, or is not a single-shard bundle.
    """
    if not 0 <= shard < num_shards <= MAX_SHARDS:
        raise ValueError(f"shard {shard} of {num_shards} is out of range")
    current, _ = read_index(index)  # the whole index checked first
    if current != 1:
        raise FormatError(f"{index}: a checkpoint of {current} shards; only a single-shard one is rewritten.")
    data = _read(index)
    limit = len(data) - _FOOTER
    footer = memoryview(data)[limit:-8]
    _, at = read_varint(footer, 0, len(footer))
    _, at = read_varint(footer, at, len(footer))  # the metaindex block's handle, then the index block's
    items: list[tuple[bytes, bytes]] = []
    for _, vstart, vend in _entries(data, *_block(data, footer[at:], limit, "the index block"), "the index block"):
        span = _block(data, memoryview(data)[vstart:vend], limit, "a data block")
        for key, start, end in _entries(data, *span, "a data block"):
            value = data[start:end]
            numbers = [number for number, _, _, _ in fields(value, 0, len(value), Budget(_FIELDS_PER_ENTRY))]
            if key == b"":
                if numbers.count(1) != 1 or value[:2] != b"\x08\x01":
                    raise FormatError(f"{index}: its header is not laid out as TensorFlow writes it; left as it is.")
                value = b"\x08" + _varint(num_shards) + value[2:]
            elif 3 in numbers:
                raise FormatError(f"{index}: entry {key!r} already names a shard; left as it is.")
            else:
                # written for shard 0 too (proto3 readers take an explicit default): the index is then the same
                # size whichever shard it reads, so a reader that takes the size of one index and opens the
                # next, as TensorFlow's does when the index is switched between the two, still reads it whole
                value += b"\x18" + _varint(shard)
            items.append((key, value))
    out = bytearray()
    handle = _append_block(out, _table_block(items, 16))
    meta = _append_block(out, _table_block([], 1))
    top = _append_block(out, _table_block([(items[-1][0], handle)], 1))
    out += (meta + top).ljust(_FOOTER - 8, b"\x00") + TABLE_MAGIC
    with open(index, "wb") as fh:
        fh.write(out)
        fh.flush()
        os.fsync(fh.fileno())
    got, entries = read_index(index)  # the rewrite is checked as TensorFlow would read it
    if got != num_shards or any(e.shard_id != shard for e in entries):  # pragma: no cover
        raise FormatError(f"{index}: rewriting its shards failed.")


def shard_ends(index: str) -> tuple[int, dict[int, int]]:
    """``(shards, {shard: end of its last entry})`` a checkpoint index declares.

    TensorFlow writes each entry's bytes one after another into its data shard, so a shard it wrote ends
    where its last entry does: a longer one holds bytes TensorFlow never wrote.

    Raises:
        FormatError: The index is malformed (:func:`read_index`).
    """
    num_shards, entries = read_index(index)
    return num_shards, _ends(entries)


def _ends(entries: list[BundleEntry]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for entry in entries:
        ends[entry.shard_id] = max(ends.get(entry.shard_id, 0), entry.offset + entry.size)
    return ends


def shard_gaps(index: str) -> dict[int, int]:
    """``{shard: offset}`` of the first byte before a shard's end that no entry of the index covers.

    TensorFlow writes a shard's entries one after another from its first byte, with nothing between them, so
    bytes between two entries (an index rewritten to place them apart) are someone's: a reader never reads
    them, and a save replacing the checkpoint deleted them.

    Raises:
        FormatError: The index is malformed (:func:`read_index`).
    """
    return _gaps(read_index(index)[1])


def _gaps(entries: list[BundleEntry]) -> dict[int, int]:
    spans: dict[int, list[tuple[int, int]]] = {}
    for entry in entries:
        if entry.size:
            spans.setdefault(entry.shard_id, []).append((entry.offset, entry.offset + entry.size))
    gaps: dict[int, int] = {}
    for shard, found in spans.items():
        covered = 0
        for start, end in sorted(found):
            if start > covered:
                gaps[shard] = covered
                break
            covered = max(covered, end)
    return gaps


class IndexLayout(NamedTuple):
    """What a replacing save needs to know of a checkpoint index, from one read of it.

    Attributes:
        num_shards: The data shards its header declares.
        ends: ``{shard: end of its last entry}`` (:func:`shard_ends`).
        gaps: ``{shard: first byte no entry covers}`` (:func:`shard_gaps`).
        slack: Where the index holds bytes TensorFlow does not write, in words, or None (:func:`index_slack`).
    """

    num_shards: int
    ends: dict[int, int]
    gaps: dict[int, int]
    slack: str | None


def index_layout(index: str) -> IndexLayout:
    """:func:`shard_ends`, :func:`shard_gaps` and :func:`index_slack` of ``index``, read and parsed once.

    Raises:
        FormatError: The index is malformed (:func:`read_index`).
    """
    parsed = _parse(index)
    return IndexLayout(parsed.num_shards, _ends(parsed.entries), _gaps(parsed.entries), _slack(parsed))


def _separator(start: bytes, limit: bytes) -> bytes:
    """TensorFlow's table builder's ``FindShortestSeparator``: a short key >= ``start`` and < ``limit``."""
    common = 0
    while common < min(len(start), len(limit)) and start[common] == limit[common]:
        common += 1
    if common < min(len(start), len(limit)) and start[common] < 0xFF and start[common] + 1 < limit[common]:
        return start[:common] + bytes([start[common] + 1])
    return start


def _successor(key: bytes) -> bytes:
    """TensorFlow's table builder's ``FindShortSuccessor``: a short key >= ``key``."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


#: The block size of TensorFlow's table builder (``table::Options``): a data block is closed once its entries
#: and restart points reach it.
_TF_BLOCK_SIZE = 262_144


def _table_as_written(items: list[tuple[bytes, bytes]], block_size: int | None) -> bytes:
    """The table TensorFlow's builder writes for ``items`` (``block_size``: its default), or, with None, the one
    :func:`move_to_shard` writes (one data block, indexed by its last key)."""
    out = bytearray()
    index: list[tuple[bytes, bytes]] = []
    if block_size is None:
        index.append((items[-1][0], _append_block(out, _table_block(items, 16))))
    else:
        block: list[tuple[bytes, bytes]] = []
        size = 0
        for i, (key, value) in enumerate(items):
            if block and size >= block_size:
                handle = _append_block(out, _table_block(block, 16))
                index.append((_separator(block[-1][0], key), handle))
                block, size = [], 0
            block.append((key, value))
            size = len(_table_block(block, 16))
        if block:
            index.append((_successor(block[-1][0]), _append_block(out, _table_block(block, 16))))
    meta = _append_block(out, _table_block([], 1))
    top = _append_block(out, _table_block(index, 1))
    out += (meta + top).ljust(_FOOTER - 8, b"\x00") + TABLE_MAGIC
    return bytes(out)


def index_slack(index: str) -> str | None:
    """Where a checkpoint index (a TensorFlow table) holds bytes TensorFlow's table builder does not write, or None.

    The table is written again from its entries, as TensorFlow's builder lays it out (blocks, prefix-shared keys
    restarting every 16 entries, the index block's shortest separators, checksummed trailers, a footer padded
    with zeros) or as :func:`move_to_shard` does, and compared byte for byte: the footer's padding, a longer
    separator key, an unshared key prefix or a padded length read as before, and could hold someone's bytes.
    Each entry's value is held to the serialization protobuf gives its message (:func:`_value_as_written`):
    fields in number order, shortest varints, no default scalar, no field the message does not have.

    Raises:
        FormatError: The index does not parse (:func:`read_index`).
    """
    return _slack(_parse(index))


def _slack(parsed: _Parsed) -> str | None:
    items = parsed.items
    if not items:
        return None
    for shard_last, block_size in ((False, _TF_BLOCK_SIZE), (True, None)):
        written = [(key, _value_as_written(key, value, shard_last)) for key, value in items]
        if written == items and parsed.data == _table_as_written(items, block_size):
            return None
    for key, value in items:
        if value not in (_value_as_written(key, value, False), _value_as_written(key, value, True)):
            shown = key.decode("utf-8", "backslashreplace") or "(the header)"
            return f"entry '{shown}' is serialized otherwise than TensorFlow writes it (field order, varints, fields)"
    return "its table is laid out otherwise than TensorFlow writes it (its footer, keys, blocks or trailers)"


#: The messages of ``tensor_bundle.proto`` an index holds, by field number: a scalar (``"int"``: a varint left
#: out when zero; ``"set"``: one kept even when zero, a ``oneof`` member; ``"fixed32"``), a packed
#: repeated varint (``"packed"``), or a nested message (``("one"|"each", message)``: set once / repeated).
_SCHEMA: Final[dict[str, dict[int, object]]] = {
    "header": {1: "int", 2: "int", 3: ("one", "version")},  # BundleHeaderProto
    "version": {1: "int", 2: "int", 3: "packed"},  # VersionDef
    "entry": {1: "int", 2: ("one", "shape"), 3: "int", 4: "int", 5: "int", 6: "fixed32", 7: ("each", "slice")},
    "shape": {2: ("each", "dim"), 3: "int"},  # TensorShapeProto
    "dim": {1: "int"},  # a dimension's name (field 2) TensorFlow never writes: text there is someone's
    "slice": {1: ("each", "extent")},  # TensorSliceProto
    "extent": {1: "int", 2: "set"},  # start, and length (in a oneof: written whenever set)
}


def _encoded(message: str, buf: bytes, start: int, end: int, skip: int = 0) -> bytes | None:
    """``buf[start:end]`` (a ``message``) serialized again as protobuf's C++ writer does, or None where it holds
    what that writer never writes (a field the message lacks, a known field of another wire type, a scalar
    repeated): fields in number order, each varint shortest, a zero scalar left out. ``skip``: a field left out."""
    schema = _SCHEMA[message]
    found: dict[int, list[tuple[int, int, int]]] = {}
    for number, wire, value, stop in fields(buf, start, end):
        kind = schema.get(number)
        if kind is None or number == skip:
            return None
        wanted = (
            LEN if kind in ("bytes", "packed") or isinstance(kind, tuple) else FIXED32 if kind == "fixed32" else VARINT
        )
        if wire != wanted or (number in found and not (isinstance(kind, tuple) and kind[0] == "each")):
            return None
        found.setdefault(number, []).append((wire, value, stop))
    out = bytearray()
    for number in sorted(found):
        kind = schema[number]
        for wire, value, stop in found[number]:
            tag = _varint(number << 3 | wire)
            if kind in ("int", "set"):
                if value or kind == "set":
                    out += tag + _varint(value)
            elif kind == "fixed32":
                if any(buf[value:stop]):
                    out += tag + buf[value:stop]
            elif kind == "packed":
                items, pos = bytearray(), value
                while pos < stop:
                    item, pos = read_varint(buf, pos, stop)
                    items += _varint(item)
                if items:
                    out += tag + _varint(len(items)) + items
            else:
                assert isinstance(kind, tuple)
                inner = _encoded(kind[1], buf, value, stop)
                if inner is None:
                    return None
                out += tag + _varint(len(inner)) + inner
    return bytes(out)


def _value_as_written(key: bytes, value: bytes, shard_last: bool) -> bytes | None:
    """An index entry's value as TensorFlow serializes it (None: it holds what no writer puts there).

    ``shard_last``: as :func:`move_to_shard` writes it: a header as TensorFlow's, an entry with its ``shard_id``
    field taken out and appended, even when zero.
    """
    try:
        if key == b"":
            return _encoded("header", value, 0, len(value))
        if not shard_last:
            return _encoded("entry", value, 0, len(value))
        shards = [v for n, w, v, _ in fields(value, 0, len(value)) if n == 3 and w == VARINT]
        suffix = b"\x18" + _varint(shards[-1]) if len(shards) == 1 else None
        if suffix is None or not value.endswith(suffix):
            return None
        body = _encoded("entry", value, 0, len(value) - len(suffix), skip=3)
    except WireError:
        return None
    return None if body is None else body + suffix
