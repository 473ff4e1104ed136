"""Read the structure of a plain HDF5 weights file from its bytes, without h5py.

A ``.keras`` archive's ``model.weights.h5`` is, as Keras writes it through
h5py, one small subset of HDF5: superblock version 0, version-1 object
headers, groups kept in a symbol table (a B-tree of names in a local heap),
contiguous or compact datasets of plain integers and floats, and attributes
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

from ._h5_attrs import PER_ELEMENT_BYTES
from ._safety import MAX_DATASET_BYTES, MAX_H5_DEPTH, MAX_H5_EXPANSION, MIN_BOMB_BYTES, zip_tail

__all__ = ["NotPlain", "PlainDataset", "PlainGroup", "PlainFile", "read_plain"]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNDEFINED = 0xFFFFFFFFFFFFFFFF

# Header message types (HDF5 file format specification, section IV.A.2).
_NIL, _DATASPACE, _DATATYPE, _OLD_FILL, _FILL, _LAYOUT = 0x00, 0x01, 0x03, 0x04, 0x05, 0x08
_ATTRIBUTE, _OLD_MTIME, _CONTINUATION, _SYMBOL_TABLE, _MTIME = 0x0C, 0x0E, 0x10, 0x11, 0x12
_GROUP_MESSAGES = frozenset({_NIL, _SYMBOL_TABLE, _ATTRIBUTE, _OLD_MTIME, _MTIME})
_DATASET_MESSAGES = frozenset({_NIL, _DATASPACE, _DATATYPE, _OLD_FILL, _FILL, _LAYOUT, _ATTRIBUTE, _OLD_MTIME, _MTIME})

#: Bounds on the walk: B-tree nodes and symbols of one group, objects of the file.
_MAX_NODES = 1 << 16
_MAX_OBJECTS = 1 << 20


class NotPlain(Exception):
    """The file uses something this reader leaves to h5py (the message says what)."""


@dataclass(frozen=True)
class PlainDataset:
    """A dataset's shape and type: ``kind`` is ``"i"``, ``"u"`` or ``"f"``, ``itemsize`` in bytes."""

    shape: tuple[int, ...]
    kind: str
    itemsize: int
    big_endian: bool
    data: tuple[int, int] | None  # (offset, size) of its stored values; None when never written
    compact: bytes | None = None  # the values of a compact dataset, kept in its header
    attrs: dict[str, Any] = field(default_factory=dict)

    def read_scalar(self, raw: bytes | memoryview) -> int | float | None:
        """The value of a scalar dataset (None when its data was never written)."""
        if self.shape != ():
            raise NotPlain("a value read from a dataset that is not a scalar")
        if self.compact is not None:
            body = self.compact
        elif self.data is None:
            return None
        else:
            offset, size = self.data
            body = bytes(raw[offset : offset + size])
        if len(body) != self.itemsize:
            raise NotPlain("a scalar whose stored data has another size than its type")
        code = {("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q", ("u", 1): "B", ("u", 2): "H"}
        code.update({("u", 4): "I", ("u", 8): "Q", ("f", 2): "e", ("f", 4): "f", ("f", 8): "d"})
        value: int | float = struct.unpack((">" if self.big_endian else "<") + code[(self.kind, self.itemsize)], body)[
            0
        ]
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

    def u(self, offset: int, n: int) -> int:
        return int.from_bytes(self.read(offset, n), "little")


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
    if not leaf_k or not internal_k or consistency:
        raise NotPlain("B-tree sizes of 0, or a file left open for writing")
    base, free_space, eof, driver = struct.unpack_from("<QQQQ", head, 24)
    if base != 0 or free_space != _UNDEFINED or driver != _UNDEFINED or eof > r.size:
        raise NotPlain("a base address, free-space info, driver info or an end past the file's bytes")
    if r.size >= 22 and zip_tail(r.read, r.size):
        raise NotPlain("a zip archive's end record at the end")  # check_h5 refuses it
    limit = MAX_H5_EXPANSION * r.size + MIN_BOMB_BYTES
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
            children = _symbols(r, btree, heap)
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


def _symbols(r: _Reader, btree: int, heap: int) -> list[tuple[str, int, tuple[int, int] | None]]:
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
    found: list[tuple[bytes, int, tuple[int, int] | None]] = []
    nodes = [btree]
    visited: set[int] = set()
    while nodes:
        node = nodes.pop()
        if node in visited or len(visited) >= _MAX_NODES:
            raise NotPlain("a B-tree whose nodes loop")
        visited.add(node)
        sig = r.read(node, 8)
        if sig[:4] != b"TREE" or sig[4] != 0:
            raise NotPlain("a group B-tree node without its signature")
        level, used = sig[5], struct.unpack_from("<H", sig, 6)[0]
        body = r.read(node + 24, used * 16 + 8)
        children = [struct.unpack_from("<Q", body, 8 + 16 * i)[0] for i in range(used)]
        if level > 0:
            nodes.extend(children)
            continue
        for child in children:
            sym = r.read(child, 8)
            if sym[:6] != b"SNOD\x01\x00":
                raise NotPlain("a symbol table node without its signature")
            count = struct.unpack_from("<H", sym, 6)[0]
            entries = r.read(child + 8, 40 * count)
            for i in range(count):
                name_at, obj, cache = struct.unpack_from("<QQI", entries, 40 * i)
                kept = _cached(entries[40 * i : 40 * i + 40], cache)
                end = names.find(b"\0", name_at)
                if name_at >= len(names) or end < 0:
                    raise NotPlain("a link name outside its heap")
                name = names[name_at:end]
                if not name or b"/" in name or name in (b".", b".."):
                    raise NotPlain("a link name HDF5 does not make")
                found.append((name, obj, kept))
    if len({name for name, _, _ in found}) != len(found):
        raise NotPlain("a group naming one link twice")
    return [(name.decode("utf-8"), obj, kept) for name, obj, kept in found]


def _dataspace(body: bytes) -> tuple[int, ...]:
    version, rank, flags = body[0], body[1], body[2]
    if flags & ~0x01 or rank > 32:
        raise NotPlain("a dataspace with permutation or too many dimensions")
    if version == 1:
        at = 8
    elif version == 2:
        if body[3] == 2 or (body[3] == 0 and rank) or body[3] > 2:
            raise NotPlain("a null or unknown dataspace")
        at = 4
    else:
        raise NotPlain(f"dataspace version {version}")
    dims = struct.unpack_from(f"<{rank}Q", body, at)
    if flags & 0x01:
        maxdims = struct.unpack_from(f"<{rank}Q", body, at + 8 * rank)
        if any(m != d and m != _UNDEFINED for m, d in zip(maxdims, dims)) or any(m < d for m, d in zip(maxdims, dims)):
            raise NotPlain("a dataspace whose size exceeds its maximum")
    return tuple(int(d) for d in dims)


def _number_type(body: bytes) -> tuple[str, int, bool]:
    """``(kind, itemsize, big_endian)`` of a fixed-point or floating-point datatype message."""
    cls, version = body[0] & 0x0F, body[0] >> 4
    bits = body[1]
    size = struct.unpack_from("<I", body, 4)[0]
    if version != 1:
        raise NotPlain(f"datatype version {version}")
    if cls == 0 and size in (1, 2, 4, 8) and not bits & 0x06:
        offset, precision = struct.unpack_from("<HH", body, 8)
        if offset != 0 or precision != 8 * size:
            raise NotPlain("an integer with padding bits")
        return ("i" if bits & 0x08 else "u"), size, bool(bits & 0x01)
    if cls == 1 and size in (2, 4, 8):
        # IEEE half, single and double: bit offset, precision, exponent place and size, mantissa place and size, bias
        ieee = {2: (0, 16, 10, 5, 0, 10, 15), 4: (0, 32, 23, 8, 0, 23, 127), 8: (0, 64, 52, 11, 0, 52, 1023)}
        if bits & 0x4E or struct.unpack_from("<HHBBBBI", body, 8) != ieee[size]:
            raise NotPlain("a float that is not IEEE half, single or double")
        return "f", size, bool(bits & 0x01)
    raise NotPlain(f"datatype class {cls} of {size} bytes")


def _dataset(r: _Reader, messages: list[tuple[int, int, int, int]], attrs: dict[str, Any]) -> PlainDataset:
    by_type: dict[int, tuple[int, int]] = {}
    for t, _, off, n in messages:
        if t in (_DATASPACE, _DATATYPE, _LAYOUT):
            if t in by_type:
                raise NotPlain("a dataset with two messages of one type")
            by_type[t] = (off, n)
    if len(by_type) != 3:
        raise NotPlain("a dataset without its dataspace, datatype or layout")
    shape = _dataspace(r.read(*by_type[_DATASPACE]))
    kind, itemsize, big = _number_type(r.read(*by_type[_DATATYPE]))
    layout = r.read(*by_type[_LAYOUT])
    if layout[0] != 3:
        raise NotPlain(f"data layout version {layout[0]}")
    n = itemsize
    for dim in shape:
        n *= dim
    if layout[1] == 1:  # contiguous
        address, size = struct.unpack_from("<QQ", layout, 2)
        if address == _UNDEFINED:
            return PlainDataset(shape, kind, itemsize, big, None, None, attrs)
        if size != n or address + size > r.size:
            raise NotPlain("contiguous data of another size than its shape, or outside the file")
        return PlainDataset(shape, kind, itemsize, big, (address, size), None, attrs)
    if layout[1] == 0:  # compact: the values are in the header
        size = struct.unpack_from("<H", layout, 2)[0]
        if size != n or 4 + size > len(layout):
            raise NotPlain("compact data of another size than its shape")
        return PlainDataset(shape, kind, itemsize, big, None, bytes(layout[4 : 4 + size]), attrs)
    raise NotPlain(f"data layout class {layout[1]} (chunked or virtual)")


def _attributes(r: _Reader, messages: list[tuple[int, int, int, int]]) -> tuple[dict[str, Any], int]:
    """An object's attributes (strings decoded, other values ``...``) and the bytes check_h5 counts for them."""
    attrs: dict[str, Any] = {}
    measured = 0
    for t, _, off, size in messages:
        if t != _ATTRIBUTE:
            continue
        body = r.read(off, size)
        version = body[0]
        name_size, dt_size, ds_size = struct.unpack_from("<HHH", body, 2)
        if version == 1:
            pad = [(n + 7) & ~7 for n in (name_size, dt_size, ds_size)]
            name_at = 8
        elif version == 3 and body[8] in (0, 1):
            pad = [name_size, dt_size, ds_size]
            name_at = 9
        else:
            raise NotPlain(f"attribute message version {version}")
        dt_at = name_at + pad[0]
        ds_at = dt_at + pad[1]
        data_at = ds_at + pad[2]
        if data_at > size or name_size == 0 or body[name_at + name_size - 1] != 0:
            raise NotPlain("an attribute message whose parts do not fit it")
        name = body[name_at : name_at + name_size - 1].decode("utf-8")
        if name in attrs or "\0" in name:
            raise NotPlain("an attribute named twice")
        count = 1
        for dim in _dataspace(body[ds_at : ds_at + ds_size]):
            count *= dim
        dtype = body[dt_at : dt_at + dt_size]
        cls, version_t = dtype[0] & 0x0F, dtype[0] >> 4
        data = body[data_at:]
        if cls == 9 and version_t == 1 and dtype[1] & 0x0F == 1:  # a variable-length string
            if dtype[2] & 0x0F > 1 or count > len(data) // 16:
                raise NotPlain("a variable-length string of another character set, or descriptors past its message")
            values = []
            for i in range(count):
                length, collection, index = struct.unpack_from("<IQI", data, 16 * i)
                if length > r.size:
                    raise NotPlain("a string longer than the file")  # check_h5 refuses it
                measured += length + PER_ELEMENT_BYTES
                values.append(_heap_object(r, collection, index, length) if count == 1 else None)
            attrs[name] = values[0].decode("utf-8") if count == 1 and values[0] is not None else ...
        elif cls in (0, 1) or (cls == 3 and version_t == 1):  # numbers, fixed-length strings
            itemsize = _number_type(dtype)[1] if cls != 3 else struct.unpack_from("<I", dtype, 4)[0]
            if count * itemsize > len(data):
                raise NotPlain("attribute data past its message")
            attrs[name] = ...
        else:
            raise NotPlain(f"an attribute of datatype class {cls}")
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
        if end > r.size:
            raise NotPlain("a global heap collection past the end of the file")
        objects = {}
        at = collection + 16
        while at + 16 <= end:
            number, _, _, n = struct.unpack("<HHIQ", r.read(at, 16))
            if number == 0:
                break
            if number in objects or at + 16 + n > end:
                raise NotPlain("a global heap object named twice or past its collection")
            objects[number] = r.read(at + 16, n)
            at += 16 + ((n + 7) & ~7)
        r.heaps[collection] = objects
    found = objects.get(index)
    if found is None or length > len(found):
        raise NotPlain("a string whose heap object is missing or shorter")
    return found[:length]
