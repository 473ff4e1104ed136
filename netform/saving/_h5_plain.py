"""Read the structure of a plain HDF5 weights file from its bytes, without h5py.

A ``.keras`` archive's ``model.weights.h5`` is, as Keras writes it through
h5py, one small subset of HDF5: superblock version 0, version-1 object
headers, groups kept in a symbol table (a B-tree of names in a local heap),
contiguous datasets of little-endian integers and floats, and attributes
in the object header (a layer's ``name``, a string in the global heap).
The readers that only need the file's structure (``inspect``, ``render``,
``summary``, ``export-spec``) read that subset here, which spares them
importing NumPy and h5py (about 0.2 s, most of such a command's time).

This reader only ever *accepts*: a file that uses anything beyond the subset
(links, shared messages, chunked, filtered, external or virtual data, other
types, dense attribute or link storage, an object reached twice, any
structure it does not recognise, or one the h5py walk of
:func:`netform.saving._safety.check_h5` would refuse) raises
:class:`NotPlain`, and the caller runs the h5py path, whose checks and
messages are the only ones that refuse. A file read here is one that h5py
check accepts, with the same datasets, shapes and attributes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from netform.errors import UnsafeFileError

from ._h5_attrs import PER_ELEMENT_BYTES, _Unmeasurable, check_global_heaps
from ._safety import MAX_DATASET_BYTES, MAX_H5_DEPTH, MAX_H5_EXPANSION, MIN_BOMB_BYTES, zip_tail

__all__ = ["NotPlain", "PlainDataset", "PlainGroup", "PlainFile", "read_plain"]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNDEFINED = 0xFFFFFFFFFFFFFFFF

# Header message types (HDF5 file format specification, section IV.A.2).
_NIL, _DATASPACE, _DATATYPE, _FILL, _LAYOUT = 0x00, 0x01, 0x03, 0x05, 0x08
_ATTRIBUTE, _CONTINUATION, _SYMBOL_TABLE = 0x0C, 0x10, 0x11
_GROUP_MESSAGES = frozenset({_NIL, _SYMBOL_TABLE, _ATTRIBUTE})
_DATASET_MESSAGES = frozenset({_NIL, _DATASPACE, _DATATYPE, _FILL, _LAYOUT})

#: Bounds on the walk: B-tree nodes and symbols of one group, objects of the file.
_MAX_NODES = 1 << 16
_MAX_OBJECTS = 1 << 20


class NotPlain(Exception):
    """The file uses something this reader leaves to h5py (the message says what)."""


@dataclass(frozen=True)
class PlainDataset:
    """A dataset's shape and type: ``kind`` is ``"i"``, ``"u"`` or ``"f"``, ``itemsize`` in bytes (the values
    little-endian: the only byte order this reader takes)."""

    shape: tuple[int, ...]
    kind: str
    itemsize: int
    data: tuple[int, int] | None  # (offset, size) of its stored values; None when never written
    attrs: dict[str, Any] = field(default_factory=dict)

    def read_scalar(self, raw: bytes | memoryview) -> int | float | None:
        """The value of a scalar dataset (None when its data was never written)."""
        if self.shape != ():
            raise NotPlain("a value read from a dataset that is not a scalar")
        if self.data is None:
            return None
        else:
            offset, size = self.data
            body = bytes(raw[offset : offset + size])
        if len(body) != self.itemsize:
            raise NotPlain("a scalar whose stored data has another size than its type")
        code = {("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q", ("u", 1): "B", ("u", 2): "H"}
        code.update({("u", 4): "I", ("u", 8): "Q", ("f", 2): "e", ("f", 4): "f", ("f", 8): "d"})
        value: int | float = struct.unpack("<" + code[(self.kind, self.itemsize)], body)[0]
        return value


@dataclass
class PlainGroup:
    """A group's attributes (strings decoded; other values as the opaque ``...``)."""

    attrs: dict[str, Any] = field(default_factory=dict)


class PlainFile:
    """The objects of a plain HDF5 file by path (``""`` is the root), in h5py's visiting order."""

    def __init__(self) -> None:
        self.groups: dict[str, PlainGroup] = {}
        self.datasets: dict[str, PlainDataset] = {}

    @property
    def attrs(self) -> dict[str, Any]:
        """The root group's attributes."""
        return self.groups[""].attrs

    def get(self, path: str) -> PlainGroup | PlainDataset | None:
        """The group or dataset at ``path`` (no leading ``/``), None when there is none."""
        path = path.strip("/")
        return self.groups.get(path) or self.datasets.get(path)

    def __contains__(self, path: str) -> bool:
        return self.get(path) is not None

    def keys_under(self, path: str) -> list[str]:
        """Names of the objects directly below the group at ``path``."""
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        return [
            name[len(prefix) :]
            for name in (*self.groups, *self.datasets)
            if name and name.startswith(prefix) and "/" not in name[len(prefix) :]
        ]


class _Reader:
    def __init__(self, raw: bytes | memoryview) -> None:
        self.raw = memoryview(raw)
        self.size = len(self.raw)
        self.heaps: dict[int, dict[int, bytes]] = {}

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise NotPlain("an address outside the file")
        return bytes(self.raw[offset : offset + n])

    def raw_read(self, offset: int, n: int) -> bytes:
        """Bytes anywhere in the file, past its recorded end too."""
        if offset < 0 or n < 0 or offset + n > len(self.raw):
            raise NotPlain("an address outside the file")
        return bytes(self.raw[offset : offset + n])


def read_plain(raw: bytes | memoryview) -> PlainFile:
    """The structure of the HDF5 file whose bytes are ``raw``, where it is plain (see the module's docstring).

    Raises:
        NotPlain: The file goes beyond the subset, or :func:`~._safety.check_h5` would refuse it.
    """
    r = _Reader(raw)
    try:
        return _read(r)
    except (struct.error, IndexError, KeyError, ValueError) as err:
        raise NotPlain(f"unreadable structure ({err})") from None


def _read(r: _Reader) -> PlainFile:
    head = r.read(0, 96)
    if head[:8] != _SIGNATURE or head[8] != 0:
        raise NotPlain("not a version-0 superblock at the start of the file")
    if head[9:13] != b"\0\0\0\0" or head[13] != 8 or head[14] != 8 or head[15] != 0:
        raise NotPlain("superblock parts of other versions, or addresses or lengths that are not 8 bytes")
    leaf_k, internal_k, consistency = struct.unpack_from("<HHI", head, 16)
    if (leaf_k, internal_k) != (4, 16) or consistency:
        raise NotPlain("B-tree sizes other than HDF5's defaults, or a file left open for writing")
    base, free_space, eof, driver = struct.unpack_from("<QQQQ", head, 24)
    if base != 0 or free_space != _UNDEFINED or driver != _UNDEFINED or eof > r.size:
        raise NotPlain("a base address, free-space info, driver info or an end past the file's bytes")
    scan_size = r.size
    r.size = eof  # HDF5 reads nothing past the end address the file records
    if scan_size >= 22 and zip_tail(r.raw_read, scan_size):
        raise NotPlain("a zip archive's end record at the end")  # check_h5 refuses it

    def bounded(offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > scan_size:
            raise _Unmeasurable("an address outside the file")
        return bytes(r.raw[offset : offset + n])

    try:
        check_global_heaps(bounded, scan_size, "")
    except UnsafeFileError:
        raise NotPlain("a global heap collection HDF5 decodes forever") from None  # check_h5 refuses it
    limit = MAX_H5_EXPANSION * scan_size + MIN_BOMB_BYTES
    out = PlainFile()
    seen: set[int] = set()
    declared = 0
    attributes = 0
    root, cache = struct.unpack_from("<QI", head, 64)
    stack: list[tuple[str, int, tuple[int, int] | None]] = [("", root, _cached(head[56:96], cache))]
    while stack:
        path, addr, cached = stack.pop()
        if addr in seen or len(seen) >= _MAX_OBJECTS:
            raise NotPlain("an object reached twice")
        seen.add(addr)
        if path.count("/") + 1 > MAX_H5_DEPTH:
            raise NotPlain("groups nested past check_h5's depth")
        messages = _messages(r, addr)
        types = {t for t, _, _, _ in messages}
        if any(fl not in (0, 1) for _, fl, _, _ in messages):
            raise NotPlain("a shared or flagged header message")
        attrs, measured = _attributes(r, messages)
        attributes += measured
        if attributes > limit:
            raise NotPlain("attributes past check_h5's bound")
        if _SYMBOL_TABLE in types and types <= _GROUP_MESSAGES:
            out.groups[path] = PlainGroup(attrs)
            (offset, _), *more = [(off, n) for t, _, off, n in messages if t == _SYMBOL_TABLE]
            if more:
                raise NotPlain("two symbol tables")
            btree, heap = struct.unpack("<QQ", r.read(offset, 16))
            if cached is not None and cached != (btree, heap):
                raise NotPlain("a symbol table entry whose cached B-tree and heap are not its group's")
            children = _symbols(r, btree, heap, leaf_k, internal_k)
            prefix = f"{path}/" if path else ""
            # h5py's walk visits links by name, depth first: the stack pops them in that order
            stack.extend((f"{prefix}{name}", child, kept) for name, child, kept in sorted(children, reverse=True))
        elif _LAYOUT in types and types <= _DATASET_MESSAGES and cached is None:
            dataset = _dataset(r, messages, attrs)
            n = dataset.itemsize
            for dim in dataset.shape:
                n *= dim
            if n > MAX_DATASET_BYTES:
                raise NotPlain("a dataset past check_h5's size bound")
            declared += n
            out.datasets[path] = dataset
        else:
            raise NotPlain(f"an object with header messages {sorted(types)}")
    if declared > limit:
        raise NotPlain("datasets past check_h5's bound")
    return out


def _cached(entry: bytes, cache: int) -> tuple[int, int] | None:
    """The B-tree and heap addresses a symbol table entry caches for a group (None when it caches none)."""
    if cache == 0:
        return None
    if cache != 1:
        raise NotPlain("a soft link")  # check_h5 refuses it, with its own message
    btree, heap = struct.unpack_from("<QQ", entry, 24)
    return int(btree), int(heap)


def _messages(r: _Reader, addr: int) -> list[tuple[int, int, int, int]]:
    """``(type, flags, data offset, data size)`` of every message of the version-1 object header at ``addr``."""
    head = r.read(addr, 16)
    if head[0] != 1 or head[1] != 0:
        raise NotPlain(f"object header version {head[0]}")
    expected, _, size = struct.unpack_from("<HII", head, 2)
    chunks = [(addr + 16, size)]
    seen: set[int] = set()
    found: list[tuple[int, int, int, int]] = []
    count = 0
    while chunks:
        start, size = chunks.pop(0)
        if start in seen or len(seen) > 64:
            raise NotPlain("an object header whose chunks loop")
        seen.add(start)
        body = r.read(start, size)
        pos = 0
        while pos < len(body):
            mtype, msize, mflags = struct.unpack_from("<HHB", body, pos)
            data = pos + 8
            if data + msize > len(body) or msize % 8:
                raise NotPlain("a header message running past its chunk")
            count += 1
            if mtype == _CONTINUATION:
                if mflags or msize < 16:
                    raise NotPlain("a flagged continuation message")
                chunks.append(struct.unpack_from("<QQ", body, data))
            else:
                found.append((mtype, mflags, start + data, msize))
            pos = data + msize
    if count != expected:
        raise NotPlain("an object header whose message count is not its messages'")
    return found


def _symbols(
    r: _Reader, btree: int, heap: int, leaf_k: int, internal_k: int
) -> list[tuple[str, int, tuple[int, int] | None]]:
    """``(name, object header address, cached group addresses)`` of every link in an old-style group."""
    if r.read(heap, 8) != b"HEAP\x00\x00\x00\x00":
        raise NotPlain("a local heap without its signature")
    heap_size, free, heap_data = struct.unpack("<QQQ", r.read(heap + 8, 24))
    names = r.read(heap_data, heap_size)
    blocks = 0
    while free != 1:  # HDF5 reads the heap's free list and refuses a block outside the heap
        blocks += 1
        if free + 16 > heap_size or blocks > heap_size // 16:
            raise NotPlain("a local heap free list outside its heap")
        following, block = struct.unpack_from("<QQ", names, free)
        if following == 0 or free + block > heap_size:
            raise NotPlain("a local heap free block outside its heap")
        free = following

    def text(at: int) -> bytes:
        end = names.find(b"\0", at)
        if at >= len(names) or end < 0:
            raise NotPlain("a name outside its local heap")
        return names[at:end]

    found: list[tuple[bytes, int, tuple[int, int] | None]] = []
    levels: dict[int, list[tuple[int, int, int]]] = {}  # level: (node, left, right) in key order
    visited: set[int] = set()
    # (node, level it must have or -1 for the root, least name (exclusive), greatest name (inclusive) or None)
    stack: list[tuple[int, int, bytes, bytes | None]] = [(btree, -1, b"", None)]
    while stack:
        node, want, low, high = stack.pop()
        if node in visited or len(visited) >= _MAX_NODES:
            raise NotPlain("a B-tree whose nodes loop")
        visited.add(node)
        r.read(node, 24 + 16 * 2 * internal_k + 8)  # HDF5 reads the whole node, used or not
        sig = r.read(node, 24)
        if sig[:5] != b"TREE\x00":
            raise NotPlain("a group B-tree node without its signature")
        level, used = sig[5], struct.unpack_from("<H", sig, 6)[0]
        left, right = struct.unpack_from("<QQ", sig, 8)
        if (want >= 0 and level != want) or level > 16 or used > 2 * internal_k or (want >= 0 and not used):
            raise NotPlain("a group B-tree node of another level or size than HDF5 makes")
        levels.setdefault(level, []).append((node, left, right))
        body = r.read(node + 24, used * 16 + 8)
        keys = [text(struct.unpack_from("<Q", body, 16 * i)[0]) for i in range(used + 1)]
        children = [struct.unpack_from("<Q", body, 8 + 16 * i)[0] for i in range(used)]
        if keys[0] < low or (high is not None and keys[-1] > high) or any(a >= b for a, b in zip(keys, keys[1:])):
            raise NotPlain("B-tree keys out of order")
        if level > 0:
            # depth first, left to right: pushed in reverse
            stack.extend((child, level - 1, keys[i], keys[i + 1]) for i, child in reversed(list(enumerate(children))))
            continue
        for i, child in enumerate(children):
            r.read(child, 8 + 40 * 2 * leaf_k)  # HDF5 reads the whole node, used or not
            sym = r.read(child, 8)
            count = struct.unpack_from("<H", sym, 6)[0]
            if sym[:6] != b"SNOD\x01\x00" or not count or count > 2 * leaf_k:
                raise NotPlain("a symbol table node without its signature, or of another size than HDF5 makes")
            entries = r.read(child + 8, 40 * count)
            before = keys[i]
            for j in range(count):
                name_at, obj, cache = struct.unpack_from("<QQI", entries, 40 * j)
                kept = _cached(entries[40 * j : 40 * j + 40], cache)
                name = text(name_at)
                if not name or b"/" in name or name in (b".", b".."):
                    raise NotPlain("a link name HDF5 does not make")
                if not before < name <= keys[i + 1]:
                    raise NotPlain("link names out of their B-tree's order")  # HDF5 would not find them by name
                before = name
                found.append((name, obj, kept))
    for chain in levels.values():
        for k, (_, left, right) in enumerate(chain):
            if left != (chain[k - 1][0] if k else _UNDEFINED) or right != (
                chain[k + 1][0] if k + 1 < len(chain) else _UNDEFINED
            ):
                raise NotPlain("B-tree siblings that are not the nodes beside them")
    return [(name.decode("utf-8"), obj, kept) for name, obj, kept in found]


def _dataspace(body: bytes) -> tuple[int, ...]:
    """The dimensions of a version-1 dataspace message (maximum dimensions equal to them, or none given)."""
    version, rank, flags = body[0], body[1], body[2]
    if version != 1 or flags not in (0, 1) or rank > 32 or any(body[3:8]):
        raise NotPlain("a dataspace message other than version 1 with fixed dimensions")
    need = 8 + 8 * rank * (1 + flags)
    if len(body) < need or any(body[need:]):
        raise NotPlain("a dataspace message of another size than its dimensions")
    dims = struct.unpack_from(f"<{rank}Q", body, 8)
    if flags and struct.unpack_from(f"<{rank}Q", body, 8 + 8 * rank) != dims:
        raise NotPlain("a dataspace whose maximum is not its size")
    if any(d >= 1 << 62 for d in dims):
        raise NotPlain("a dimension past what h5py holds")
    return tuple(int(d) for d in dims)


#: The datatype messages h5py writes for little-endian numbers (class, version, bits, size, properties),
#: by (kind, itemsize). Any other encoding of a number is left to h5py, which checks every field.
_NUMBER_TYPES: dict[bytes, tuple[str, int]] = {
    bytes.fromhex("10080000010000000000080000000000"): ("i", 1),
    bytes.fromhex("10080000020000000000100000000000"): ("i", 2),
    bytes.fromhex("10080000040000000000200000000000"): ("i", 4),
    bytes.fromhex("10080000080000000000400000000000"): ("i", 8),
    bytes.fromhex("10000000010000000000080000000000"): ("u", 1),
    bytes.fromhex("10000000020000000000100000000000"): ("u", 2),
    bytes.fromhex("10000000040000000000200000000000"): ("u", 4),
    bytes.fromhex("10000000080000000000400000000000"): ("u", 8),
    bytes.fromhex("11200f0002000000000010000a05000a0f000000"): ("f", 2),
    bytes.fromhex("11201f000400000000002000170800177f000000"): ("f", 4),
    bytes.fromhex("11203f000800000000004000340b0034ff030000"): ("f", 8),
}
#: A UTF-8 variable-length string, as h5py writes a ``str`` attribute (its base type: one unsigned byte).
_VLEN_UTF8 = bytes.fromhex("1901010010000000100000000100000000000800")
#: The fill value message h5py writes (version 2, late allocation, no value given).
_FILL_VALUE = bytes.fromhex("0202020100000000")


def _number_type(body: bytes) -> tuple[str, int]:
    """``(kind, itemsize)`` of a datatype message h5py writes for a little-endian number."""
    size = 16 if body[0] & 0x0F == 0 else 20
    found = _NUMBER_TYPES.get(bytes(body[:size]))
    if found is None or any(body[size:]):
        raise NotPlain("a datatype other than the little-endian numbers h5py writes")
    return found[0], found[1]


def _dataset(r: _Reader, messages: list[tuple[int, int, int, int]], attrs: dict[str, Any]) -> PlainDataset:
    by_type: dict[int, tuple[int, int]] = {}
    for t, _, off, n in messages:
        if t in (_DATASPACE, _DATATYPE, _LAYOUT, _FILL):
            if t in by_type:
                raise NotPlain("a dataset with two messages of one type")
            by_type[t] = (off, n)
        elif t != _NIL:
            raise NotPlain(f"a dataset header message of type {t}")
    if len(by_type) != 4 or r.read(*by_type[_FILL]) != _FILL_VALUE:
        raise NotPlain("a dataset without its dataspace, datatype, layout, or h5py's fill value message")
    shape = _dataspace(r.read(*by_type[_DATASPACE]))
    kind, itemsize = _number_type(r.read(*by_type[_DATATYPE]))
    layout = r.read(*by_type[_LAYOUT])
    n = itemsize
    for dim in shape:
        n *= dim
    if layout[:2] != b"\x03\x01" or len(layout) != 24 or any(layout[18:]):
        raise NotPlain("a data layout other than a version-3 contiguous one")
    address, size = struct.unpack_from("<QQ", layout, 2)
    if address == _UNDEFINED and size == n:
        return PlainDataset(shape, kind, itemsize, None, attrs)
    if size != n or address + size > r.size:
        raise NotPlain("contiguous data of another size than its shape, or outside the file")
    return PlainDataset(shape, kind, itemsize, (address, size), attrs)


def _attributes(r: _Reader, messages: list[tuple[int, int, int, int]]) -> tuple[dict[str, Any], int]:
    """An object's attributes (strings decoded, numbers as the opaque ``...``) and the bytes check_h5 counts for them.

    Only version-1 attribute messages of h5py's encodings are read: a UTF-8
    variable-length string, or a little-endian number, of a fixed dataspace.
    """
    attrs: dict[str, Any] = {}
    measured = 0
    for t, _, off, size in messages:
        if t != _ATTRIBUTE:
            continue
        body = r.read(off, size)
        name_size, dt_size, ds_size = struct.unpack_from("<HHH", body, 2)
        if body[:2] != b"\x01\x00" or not name_size:
            raise NotPlain(f"attribute message version {body[0]}")
        pad = [(n + 7) & ~7 for n in (name_size, dt_size, ds_size)]
        dt_at = 8 + pad[0]
        ds_at = dt_at + pad[1]
        data_at = ds_at + pad[2]
        if data_at > size or body[8 + name_size - 1] != 0 or any(body[8 + name_size : dt_at]):
            raise NotPlain("an attribute message whose parts do not fit it")
        name = body[8 : 8 + name_size - 1].decode("utf-8")
        if name in attrs or "\0" in name:
            raise NotPlain("an attribute named twice")
        dims = _dataspace(body[ds_at : ds_at + pad[2]])
        if ds_size != 8 + 8 * len(dims) * (1 + body[ds_at + 2]) or dt_size not in (16, 20):
            raise NotPlain("an attribute whose dataspace or datatype has another size than it needs")
        count = 1
        for dim in dims:
            count *= dim
        dtype = body[dt_at : dt_at + pad[1]]
        data = body[data_at:]
        if dtype[: len(_VLEN_UTF8)] == _VLEN_UTF8 and dt_size == len(_VLEN_UTF8) and not any(dtype[dt_size:]):
            if count * 16 > len(data) or any(data[count * 16 :]):
                raise NotPlain("string descriptors past their message")
            values = []
            for i in range(count):
                length, collection, index = struct.unpack_from("<IQI", data, 16 * i)
                if length > r.size:
                    raise NotPlain("a string longer than the file")  # check_h5 refuses it
                measured += length + PER_ELEMENT_BYTES
                values.append(_heap_object(r, collection, index, length))
            attrs[name] = values[0].decode("utf-8") if count == 1 and ds_size == 8 and body[ds_at + 1] == 0 else ...
        else:
            itemsize = _number_type(dtype)[1]
            if count * itemsize > len(data):
                raise NotPlain("attribute data past its message")
            attrs[name] = ...
    return attrs, measured


def _heap_object(r: _Reader, collection: int, index: int, length: int) -> bytes:
    """``length`` bytes of object ``index`` of the global heap collection at ``collection``."""
    objects = r.heaps.get(collection)
    if objects is None:
        head = r.read(collection, 16)
        if head[:8] != b"GCOL\x01\x00\x00\x00":
            raise NotPlain("a global heap collection without its signature")
        total = struct.unpack_from("<Q", head, 8)[0]
        end = collection + total
        if total < 4096 or total % 8 or end > r.size:  # HDF5 reads 4,096 bytes first, and needs the whole
            raise NotPlain("a global heap collection smaller than HDF5's least, unaligned, or past the file")
        objects = {}
        at = collection + 16
        while at < end:  # as HDF5 decodes it: every object's size leads to the next; free space (0) counts as is
            if at + 16 > end:
                break
            number, _, _, n = struct.unpack("<HHIQ", r.read(at, 16))
            need = 16 + ((n + 7) & ~7) if number else n
            if need == 0 or number in objects:
                raise NotPlain(
                    "a global heap collection HDF5 would not decode (an empty free space, or an object twice)"
                )
            if number:
                if at + 16 + n > end:
                    raise NotPlain("a global heap object past its collection")
                objects[number] = r.read(at + 16, n)
            at += need
        if at != end and not (at < end and at + 16 > end):
            raise NotPlain("a global heap collection whose objects do not fill it")
        r.heaps[collection] = objects
    found = objects.get(index)
    if found is None or length != len(found) or b"\0" in found:
        raise NotPlain("a string whose heap object is missing, shorter, or holds a NUL (h5py ends it there)")
    return found[:length]
