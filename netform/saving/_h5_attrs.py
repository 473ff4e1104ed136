"""Measure variable-length HDF5 attributes before anything reads them.

A variable-length string or sequence is stored as descriptors (its length and
the address of its data in a global heap); reading it copies the data once per
descriptor. Every descriptor of an attribute can name the same heap object, so
a 2 MB file can hold an attribute that takes gigabytes to read. A dataset can
be read in slices and measured as it is read; an attribute cannot (HDF5 reads
it whole), so its descriptors are read here from the file's bytes, without
the library: the object's header is walked to the attribute's message, and the
lengths in its descriptors are added up.

Keras and netform write attributes in the object header itself (HDF5's
"compact" attribute storage), which is what this reader understands. A
variable-length attribute kept anywhere else (dense storage in a fractal heap,
a shared message) cannot be measured without reading it, and is refused.
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any, Callable, Iterator

from netform.errors import CorruptFileError, UnsafeFileError

__all__ = [
    "RawReader",
    "raw_reader",
    "attribute_bytes",
    "check_btrees",
    "check_btrees_path",
    "check_global_heaps",
    "global_heap_loops",
    "heap_references",
    "heap_strangers",
    "hard_link",
    "hdf5_end",
    "superblock",
    "PER_ELEMENT_BYTES",
]

#: Memory a Python object for one element takes beyond its data (``bytes``/``str`` header).
PER_ELEMENT_BYTES = 64

#: Bounds on walking one object header: chunks and messages.
_MAX_CHUNKS = 4096
_MAX_MESSAGES = 1 << 20

_ATTRIBUTE = 0x000C
_CONTINUATION = 0x0010

RawReader = Callable[[int, int], bytes]


class _Unmeasurable(Exception):
    """The attribute's descriptors could not be found in the bytes of the file."""


def raw_reader(file: Any, raw: io.BytesIO | int | None) -> RawReader:
    """A function ``read(offset, n)`` over the bytes of the HDF5 file ``file`` is open on.

    Args:
        file: The open ``h5py.File``.
        raw: The same bytes as a ``BytesIO``, or an open descriptor of the
            same file; None to find them from ``file`` (its descriptor, or a
            copy of its image for in-memory files).
    """
    if raw is None:
        try:
            raw = int(file.id.get_vfd_handle())
        except Exception:  # drivers without a descriptor (file objects, memory)
            raw = io.BytesIO(file.id.get_file_image())
    if isinstance(raw, int):
        fd = raw
        size = os.fstat(fd).st_size

        def read_fd(offset: int, n: int) -> bytes:
            if offset < 0 or n < 0:
                raise _Unmeasurable("an address before the start of the file")
            if offset + n > size:  # a size field of gigabytes: refused before a buffer that large is allocated
                raise _Unmeasurable("an address past the end of the file")
            data = os.pread(fd, n, offset)
            if len(data) != n:
                raise _Unmeasurable("an address past the end of the file")
            return data

        return read_fd
    view = raw.getbuffer()

    def read_mem(offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > len(view):
            raise _Unmeasurable("an address outside the file")
        return bytes(view[offset : offset + n])

    return read_mem


def _variable(t: Any) -> bool:
    """Whether an HDF5 type has variable-length parts anywhere."""
    import h5py

    cls = t.get_class()
    if cls == h5py.h5t.STRING:
        return bool(t.is_variable_str())
    if cls == h5py.h5t.VLEN:
        return True
    if cls == h5py.h5t.COMPOUND:
        return any(_variable(t.get_member_type(i)) for i in range(t.get_nmembers()))
    if cls == h5py.h5t.ARRAY:
        return _variable(t.get_super())
    return False


def _messages(
    read: RawReader, addr: int, sizeof_addr: int, sizeof_size: int, base: int = 0, continuations: bool = False
) -> Iterator[tuple[int, int, int, int]]:
    """``(type, flags, data offset, data size)`` of every message in the object header at ``addr``.

    ``addr`` is where the header is in the file; the addresses inside it are
    relative to ``base`` (the superblock's place, after any user block).
    The continuation messages (the header's next chunk) are followed, and
    yielded too when ``continuations``.
    """
    first = read(addr, 16)
    chunks: list[tuple[int, int]] = []
    if first[:4] == b"OHDR":
        if first[4] != 2:
            raise _Unmeasurable(f"object header version {first[4]}")
        flags = first[5]
        pos = addr + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = int.from_bytes(read(pos, width), "little")
        chunks.append((pos + width, size))
        header = 6 if flags & 0x04 else 4
        v2 = True
    elif first[0] == 1:
        chunks.append((addr + 16, struct.unpack_from("<I", first, 8)[0]))
        header, v2 = 8, False
    else:
        raise _Unmeasurable(f"object header version {first[0]}")
    seen: set[int] = set()
    count = 0
    while chunks:
        start, size = chunks.pop(0)
        if start in seen or len(seen) >= _MAX_CHUNKS:
            raise _Unmeasurable("an object header whose chunks loop")
        seen.add(start)
        body = read(start, size)
        pos = 0
        while pos + header <= len(body):
            if v2:
                mtype, msize, mflags = body[pos], struct.unpack_from("<H", body, pos + 1)[0], body[pos + 3]
            else:
                mtype, msize, mflags = (*struct.unpack_from("<HH", body, pos), body[pos + 4])
            data = pos + header
            if data + msize > len(body):
                raise _Unmeasurable("a header message running past its chunk")
            count += 1
            if count > _MAX_MESSAGES:
                raise _Unmeasurable("too many header messages")
            if mtype == _CONTINUATION and not mflags & 0x02:
                where = base + int.from_bytes(body[data : data + sizeof_addr], "little")
                length = int.from_bytes(body[data + sizeof_addr : data + sizeof_addr + sizeof_size], "little")
                if v2:  # "OCHK", messages, checksum
                    if read(where, 4) != b"OCHK" or length < 8:
                        raise _Unmeasurable("a continuation chunk without its signature")
                    chunks.append((where + 4, length - 8))
                else:
                    chunks.append((where, length))
                if continuations:
                    yield mtype, mflags, start + data, msize
            else:
                yield mtype, mflags, start + data, msize
            pos = data + msize


def _attribute_messages(
    read: RawReader, addr: int, sizeof_addr: int, sizeof_size: int, base: int = 0
) -> dict[bytes, tuple[int, int]]:
    """``{name: (data offset, data size)}`` of the attributes kept in the object header at ``addr``."""
    found: dict[bytes, tuple[int, int]] = {}
    for mtype, mflags, offset, size in _messages(read, addr, sizeof_addr, sizeof_size, base):
        if mtype != _ATTRIBUTE or mflags & 0x02:  # a shared message holds a reference, not the attribute
            continue
        head = read(offset, min(size, 9))
        if len(head) < 8:
            continue
        version = head[0]
        name_size, dt_size, ds_size = struct.unpack_from("<HHH", head, 2)
        if version == 1:

            def pad(n: int) -> int:
                return (n + 7) & ~7

            name_at = 8
            data_at = name_at + pad(name_size) + pad(dt_size) + pad(ds_size)
        elif version in (2, 3):
            name_at = 8 if version == 2 else 9
            data_at = name_at + name_size + dt_size + ds_size
        else:
            continue
        if data_at > size:
            continue
        name = read(offset + name_at, name_size).rstrip(b"\0")
        found[name] = (offset + data_at, size - data_at)
    return found


class _Undescribed(Exception):
    """A variable-length attribute whose elements' descriptors cannot be read from its object's header."""

    def __init__(self, name: bytes, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason


def _vlen_elements(file: Any, oid: Any, read: RawReader) -> list[tuple[bytes, int, list[tuple[int, int, int]]]]:
    """``(name, bytes per unit of length, [(length, collection address or 0, object index)])`` of each
    variable-length attribute of one HDF5 object, its elements' descriptors read from the object's header.

    Raises:
        _Undescribed: An attribute of a nested variable-length type, or one whose descriptors are not in the
            header (dense storage, a shared message) or do not fit its message.
    """
    import h5py

    info = h5py.h5o.get_info(oid)
    if not info.num_attrs:
        return []
    variable: list[tuple[bytes, int, int]] = []  # name, elements, bytes per unit of length
    for index in range(info.num_attrs):
        attr = h5py.h5a.open(oid, index=index)
        t = attr.get_type()
        if not _variable(t):
            continue  # fixed-size data: stored in the header, as large as it reads
        if t.get_class() == h5py.h5t.STRING:
            unit = 1
        elif t.get_class() == h5py.h5t.VLEN and not _variable(t.get_super()):
            unit = max(int(t.get_super().get_size()), 1)
        else:
            raise _Undescribed(attr.name, "variable-length data nested in another type")
        variable.append((attr.name, int(attr.get_space().get_simple_extent_npoints()), unit))
    if not variable:
        return []
    plist = file.id.get_create_plist()
    sizeof_addr, sizeof_size = plist.get_sizes()
    base = int(plist.get_userblock())
    try:
        messages = _attribute_messages(read, base + int(info.addr), sizeof_addr, sizeof_size, base)
    except _Unmeasurable as err:
        raise _Undescribed(variable[0][0], str(err)) from None
    element = 4 + sizeof_addr + 4  # length, heap collection address, object index
    found: list[tuple[bytes, int, list[tuple[int, int, int]]]] = []
    for name, n, unit in variable:
        located = messages.get(name)
        if located is None:
            raise _Undescribed(name, "kept outside its object's header")
        if n * element > located[1]:
            raise _Undescribed(name, "its descriptors do not fit its message")
        try:
            raw = read(located[0], n * element)
        except _Unmeasurable as err:
            raise _Undescribed(name, str(err)) from None
        elements = []
        for at in range(0, len(raw), element):
            collection = int.from_bytes(raw[at + 4 : at + 4 + sizeof_addr], "little")
            elements.append(
                (
                    int.from_bytes(raw[at : at + 4], "little"),
                    base + collection if collection else 0,
                    int.from_bytes(raw[at + 4 + sizeof_addr : at + element], "little"),
                )
            )
        found.append((name, unit, elements))
    return found


def attribute_bytes(file: Any, oid: Any, read: RawReader, *, file_size: int | None, where: str, what: str) -> int:
    """Bytes the variable-length attributes of one HDF5 object take once read.

    Args:
        file: The open ``h5py.File``.
        oid: The object (an ``h5py.h5o`` object ID).
        read: Reads the file's bytes (see :func:`raw_reader`).
        file_size: The file's size: no stored element can be longer.
        where: The file name, for messages.
        what: The object's path, for messages.

    Raises:
        UnsafeFileError: A variable-length attribute whose descriptors cannot
            be found in the object's header, or one of whose elements claims
            more data than the file holds.
    """
    try:
        attributes = _vlen_elements(file, oid, read)
    except _Undescribed as err:
        raise _refusal(where, what, err.name, err.reason) from None
    total = 0
    for name, unit, elements in attributes:
        for length, _, _ in elements:
            nbytes = length * unit
            if file_size and nbytes > file_size:
                raise UnsafeFileError(
                    f"{where}: HDF5 attribute '{_shown(what, name)}' has an element of {nbytes} bytes "
                    f"in a {file_size}-byte file; refused as corrupt or hostile."
                )
            total += nbytes + PER_ELEMENT_BYTES
    return total


def heap_references(file: Any, oid: Any, read: RawReader) -> list[tuple[bytes, int, int, int]] | None:
    """``(attribute name, collection address, object index, bytes)`` of every element of the variable-length
    attributes of one HDF5 object: where in the global heaps its data is, and how much of it a reader reads.

    ``None`` when a variable-length attribute's descriptors cannot be found in the object's header (dense
    storage, a shared message, a nested type): :func:`attribute_bytes` refuses such a file before it is read.
    A descriptor naming no collection (address 0, an empty element) is left out.
    """
    try:
        attributes = _vlen_elements(file, oid, read)
    except _Undescribed:
        return None
    return [
        (name, collection, index, length * unit)
        for name, unit, elements in attributes
        for length, collection, index in elements
        if collection
    ]


#: The most objects one global heap collection is walked for (a collection of 4 KiB holds at most 256).
_MAX_HEAP_OBJECTS = 1 << 16


def heap_strangers(read: RawReader, references: list[tuple[bytes, int, int, int]], file_size: int) -> list[str]:
    """What the global heap collections that ``references`` (:func:`heap_references` of every object of a file)
    point into hold beyond the data those references read.

    HDF5 keeps every element of a variable-length attribute as one object of a collection (``GCOL``): a
    header (index, reference count, reserved, size), the data, zeros to a multiple of 8 bytes, then the
    collection's free space (index 0) to its end. A file HDF5 wrote fresh (as Keras, h5py and netform write
    every save) holds exactly one object per element, of its length, and zeros elsewhere; an object no
    element names, data past an element's length, or text in the padding or free space is someone's (HDF5,
    h5py and Keras read past it, and a save replacing the file would delete it). An attribute rewritten in
    place leaves such objects too (HDF5 does not reclaim them): such a file was edited, not saved.
    """
    wanted: dict[int, dict[int, set[int]]] = {}
    for _name, collection, index, length in references:
        wanted.setdefault(collection, {}).setdefault(index, set()).add(length)
    strangers: list[str] = []
    for at, objects in sorted(wanted.items()):
        try:
            head = read(at, 16)
        except _Unmeasurable:
            continue  # HDF5 cannot read it either: the file is refused as corrupt where it is read
        size = int.from_bytes(head[8:16], "little")
        where = f"the global heap at byte {at:,}"
        if head[:8] != _COLLECTION or size < 16 or at + size > file_size:
            strangers.append(f"{where} (not a collection HDF5 writes)")
            continue
        try:
            body = read(at + 16, size - 16)
        except _Unmeasurable:
            continue
        p, seen, extra = 0, set[int](), list[str]()
        while p + 16 <= len(body) and len(seen) <= _MAX_HEAP_OBJECTS:
            index, _count, reserved, n = struct.unpack_from("<HHIQ", body, p)
            if index == 0:
                if n != len(body) - p or any(body[p + 16 :]):
                    strangers.append(f"{where} (data in its free space)")
                p = len(body)
                break
            span = (n + 7) & ~7
            if p + 16 + span > len(body):
                strangers.append(f"{where} (an object running past its end)")
                break
            if index in seen or index not in objects:
                extra.append(f"{index} ({n:,} bytes)")
            elif objects[index] != {n} or reserved or any(body[p + 16 + n : p + 16 + span]):
                strangers.append(f"{where} (object {index} holds bytes beyond what its attribute reads)")
            seen.add(index)
            p += 16 + span
        if any(body[p:]):
            strangers.append(f"{where} (data after its last object)")
        if extra:
            shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3:,} more" if len(extra) > 3 else "")
            strangers.append(f"{where} (objects no attribute reads: {shown})")
    return strangers


def _shown(what: str, name: bytes) -> str:
    return f"{what.rstrip('/') or ''}/@{name.decode('utf-8', 'replace')}"


def _refusal(where: str, what: str, name: bytes, reason: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"{where}: HDF5 attribute '{_shown(what, name)}' holds variable-length data that cannot "
        f"be measured before it is read ({reason}); Keras and netform keep such attributes in "
        "the object's header, so the file is refused. Re-save the model with Keras or netform."
    )


#: How much of the file :func:`check_global_heaps` reads at a time.
_SCAN_CHUNK = 16 * 2**20
_COLLECTION = b"GCOL\x01\x00\x00\x00"


def global_heap_loops(read: RawReader, at: int, file_size: int) -> bool:
    """Whether HDF5 would loop forever decoding the global heap collection at ``at``.

    HDF5 decodes a collection object by object, each header (index, count,
    size) telling how far the next one is; the free-space object (index 0)
    counts its size as is. A free-space object of size 0 before the end
    leaves the decoder where it was, and it never returns (libhdf5 1.14;
    h5py holds the interpreter meanwhile). Keras and netform never write one:
    a collection either fills up or ends with free space that reaches its end.
    """
    try:
        head = read(at, 16)
    except _Unmeasurable:
        return False
    size = int.from_bytes(head[8:16], "little")
    end = at + size
    if size < 16 or end > file_size:
        return False  # HDF5 refuses it with an error
    p = at + 16
    while p < end:
        if p + 16 > end:
            return False  # the tail is free space
        idx = int.from_bytes(read(p, 2), "little")
        n = int.from_bytes(read(p + 8, 8), "little")
        need = 16 + ((n + 7) & ~7) if idx else n
        if need == 0:
            return True
        p += need
    return False


def check_global_heaps(read: RawReader, file_size: int, where: str) -> None:
    """Refuse an HDF5 file holding a global heap collection HDF5 would decode forever (:func:`global_heap_loops`).

    Every collection starts with its signature; the whole file is searched for
    it, so a collection is checked whatever refers to it (an attribute, a
    dataset of strings, another collection). The whole file ends where its
    superblock says (:func:`hdf5_end`): HDF5 reads nothing past that, so bytes
    after it (a sparse file's gigabytes of nothing) are not searched.

    Raises:
        UnsafeFileError: A collection HDF5 would never finish decoding.
    """
    file_size = hdf5_end(read, file_size)
    overlap = len(_COLLECTION) - 1
    offset = 0
    while offset < file_size:
        n = min(_SCAN_CHUNK, file_size - offset)
        try:
            chunk = read(offset, n)
        except _Unmeasurable:
            return
        at = chunk.find(_COLLECTION)
        while at >= 0:
            if global_heap_loops(read, offset + at, file_size):
                raise UnsafeFileError(
                    f"{where}: HDF5 global heap collection at byte {offset + at} holds an empty free-space object "
                    "before its end, which HDF5 decodes forever (reading any string stored there would hang); "
                    "refused as corrupt or hostile. Keras and netform never write one."
                )
            at = chunk.find(_COLLECTION, at + 1)
        if offset + n >= file_size:
            return
        offset += n - overlap


_SUPERBLOCK = b"\x89HDF\r\n\x1a\n"
_LINK, _LAYOUT, _SYMBOL_TABLE = 0x0006, 0x0008, 0x0011
_LINK_INFO, _ATTRIBUTE_INFO = 0x0002, 0x0015
#: The messages HDF5 may keep shared (a reference to one stored elsewhere): datatype, dataspace, fill value,
#: filter pipeline, attribute. Any other marked shared is no file HDF5 writes.
_SHAREABLE = frozenset({0x0001, 0x0003, 0x0005, 0x000B, 0x000C})
#: Chunk indexes of a version-4 layout whose nodes name other nodes (an extensible array, a version-2 B-tree).
_LINKED_CHUNK_INDEXES = {4: "an extensible array", 5: "a version-2 B-tree"}

#: Bounds on :func:`check_btrees`'s walk: objects, B-tree nodes.
_MAX_WALK_OBJECTS = 1 << 20
_MAX_WALK_NODES = 1 << 22


class _Superblock:
    """What :func:`superblock` reads: where the file's addresses start and end, and the sizes it declares."""

    def __init__(
        self, base: int, end: int, sizeof_addr: int, sizeof_size: int, leaf_k: int, group_k: int, chunk_k: int
    ) -> None:
        self.base, self.end = base, end
        self.sizeof_addr, self.sizeof_size = sizeof_addr, sizeof_size
        self.leaf_k, self.group_k, self.chunk_k = leaf_k, group_k, chunk_k
        self.root: list[int] = []  # the root object header
        self.root_tables: list[tuple[int, int]] = []  # a B-tree and heap cached in the root's entry


def superblock(read: RawReader, file_size: int) -> _Superblock | None:
    """The superblock where HDF5 finds it (byte 0, then 512 and each power of two after it), None when there is
    none HDF5 would read.

    Addresses in the file count from the superblock's place; ``end`` is where the file ends as the
    superblock records it (its end-of-file address), at most ``file_size``: HDF5 reads nothing past it.
    """
    at = 0
    while at + 8 <= file_size:
        try:
            if read(at, 8) == _SUPERBLOCK:
                return _superblock_at(read, at, file_size)
        except _Unmeasurable:
            return None
        at = 512 if at == 0 else at * 2
    return None


def _superblock_at(read: RawReader, at: int, file_size: int) -> _Superblock | None:
    try:
        head = read(at, min(file_size - at, 128))
    except _Unmeasurable:
        return None
    version = head[8] if len(head) > 8 else -1
    if version in (0, 1):
        if len(head) < 24:
            return None
        sa, ss = head[13], head[14]
        leaf_k, group_k = struct.unpack_from("<HH", head, 16)
        pos, chunk_k = 24, 32
        if version == 1:
            chunk_k = struct.unpack_from("<H", head, 24)[0]
            pos = 28
    elif version in (2, 3):
        sa, ss = head[9], head[10]
        leaf_k, group_k, chunk_k = 4, 16, 32  # HDF5's defaults; a superblock extension may hold others
        pos = 12
    else:
        return None
    if sa not in (2, 4, 8) or ss not in (2, 4, 8) or not leaf_k or not group_k or not chunk_k:
        return None
    if len(head) < pos + 4 * sa:
        return None
    # base, free space (v0, v1) or superblock extension (v2, v3), end of file, driver (v0, v1) or root (v2, v3)
    addrs = [int.from_bytes(head[pos + i * sa : pos + (i + 1) * sa], "little") for i in range(4)]
    end = min(file_size, at + addrs[2])
    if version >= 2 and addrs[1] != (1 << (8 * sa)) - 1:
        group_k = chunk_k = 0  # unknown: each node's size is told from its own count
    found = _Superblock(at, end, sa, ss, leaf_k, group_k, chunk_k)
    if version >= 2:
        found.root.append(addrs[3])
        return found
    entry = pos + 4 * sa  # the root group's symbol table entry: name offset, header address, cache type, cache
    if len(head) >= entry + 2 * ss + 8 + 2 * sa:
        found.root.append(int.from_bytes(head[entry + ss : entry + ss + sa], "little"))
        if int.from_bytes(head[entry + ss + sa : entry + ss + sa + 4], "little") == 1:
            cache = entry + ss + sa + 8
            btree = int.from_bytes(head[cache : cache + sa], "little")
            heap = int.from_bytes(head[cache + sa : cache + 2 * sa], "little")
            found.root_tables.append((btree, heap))
    return found


def hdf5_end(read: RawReader, file_size: int) -> int:
    """Where the HDF5 file in ``file_size`` bytes ends: its superblock's end-of-file address (bytes past it are
    not part of it), or ``file_size`` when no superblock says."""
    found = superblock(read, file_size)
    return found.end if found is not None else file_size


def check_btrees(read: RawReader, file_size: int, where: str) -> None:
    """Refuse an HDF5 file one of whose version-1 B-trees HDF5 would walk without end, or into what is no node.

    HDF5 finds a group's members (and a chunked dataset's chunks) through a
    B-tree whose nodes name their children by address, and trusts them: a
    node that names itself as its child sends libhdf5 down without end, and
    the process dies (a segmentation fault, not an error), as soon as anything
    lists the group. So, before h5py walks any group, every B-tree is walked
    here from the file's bytes, from the superblock's root group down: a node
    of level L > 0 must name only nodes of its kind at level L - 1, each once
    (so no walk can loop, or go over one node many times); a group node of
    level 0 must name symbol table nodes; every child lies inside the file.
    Only structure HDF5 writes as Keras and h5py use it is followed (symbol
    tables, hard links in object headers, chunked layouts of versions 1 to
    3); whatever else is left to HDF5, which refuses it with an error.

    Raises:
        CorruptFileError: A node that breaks one of those rules.
    """
    sb = superblock(read, file_size)
    if sb is None:
        return
    _Walk(read, sb, where).run()


def check_btrees_path(path: str | os.PathLike[str], where: str | None = None) -> None:
    """:func:`check_btrees` on the HDF5 file at ``path``, read through one descriptor (never whole)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        check_btrees(raw_reader(None, fh.fileno()), size, os.fspath(path) if where is None else where)


def hard_link(body: bytes, sizeof_addr: int) -> int | None:
    """The object a version-1 link message (``body``) names, when it is a hard link, else None."""
    if len(body) < 2 or body[0] != 1:
        return None
    flags, pos = body[1], 2
    kind = 0
    if flags & 0x08:
        kind, pos = body[pos], pos + 1
    if flags & 0x04:
        pos += 8
    if flags & 0x10:
        pos += 1
    width = 1 << (flags & 0x03)
    length = int.from_bytes(body[pos : pos + width], "little")
    pos += width + length
    if kind != 0 or len(body) < pos + sizeof_addr:
        return None
    return int.from_bytes(body[pos : pos + sizeof_addr], "little")


class _Walk:
    def __init__(self, read: RawReader, sb: _Superblock, where: str) -> None:
        self.read, self.sb, self.where = read, sb, where
        self.objects: set[int] = set()
        self.nodes: set[int] = set()
        self.trees: list[int] = []  # group B-trees still to walk
        self.undefined = (1 << (8 * sb.sizeof_addr)) - 1

    def fail(self, node: int, problem: str) -> CorruptFileError:
        return CorruptFileError(
            f"{self.where}: HDF5 B-tree node at address {node} {problem}; HDF5 would walk it without end or "
            "read what is no node (the process would crash), so the file is refused as corrupt. Keras and "
            "h5py never write such a tree: re-save the model."
        )

    def inside(self, addr: int, n: int) -> bool:
        return addr != self.undefined and self.sb.base + addr + n <= self.sb.end

    def raw(self, addr: int, n: int) -> bytes | None:
        if not self.inside(addr, n):
            return None
        try:
            return self.read(self.sb.base + addr, n)
        except _Unmeasurable:
            return None

    def addr(self, data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + self.sb.sizeof_addr], "little")

    def run(self) -> None:
        pending = list(self.sb.root)
        self.trees = [btree for btree, _ in self.sb.root_tables]
        while pending or self.trees:
            while self.trees:
                self.group_tree(self.trees.pop(), pending)
            if not pending:
                break
            addr = pending.pop()
            if addr in self.objects or not self.inside(addr, 16):
                continue
            if len(self.objects) >= _MAX_WALK_OBJECTS:
                raise self.too_many(f"{_MAX_WALK_OBJECTS:,} objects")
            self.objects.add(addr)
            try:
                messages = list(
                    _messages(self.read, self.sb.base + addr, self.sb.sizeof_addr, self.sb.sizeof_size, self.sb.base)
                )
            except (_Unmeasurable, struct.error, IndexError):
                continue  # not a header this walk reads: HDF5 reads it, and refuses it with an error
            for mtype, mflags, offset, size in messages:
                if mflags & 0x02:
                    if mtype not in _SHAREABLE:
                        # libhdf5 reads such a message as it is: marked shared, it would hide a group's tree
                        # (or dense storage, a continuation of the header) from this walk, not from HDF5
                        raise CorruptFileError(
                            f"{self.where}: the HDF5 object at address {addr} holds a message of type {mtype:#06x} "
                            "marked as shared, which HDF5 never writes for that type (only datatypes, "
                            "dataspaces, fill values, filter pipelines and attributes are shared), so the file "
                            "is refused as corrupt. Keras and h5py never write it: re-save the model."
                        )
                    continue  # a shared message: a reference to another
                try:
                    body = self.read(offset, size)
                except _Unmeasurable:
                    continue
                if mtype == _SYMBOL_TABLE and size >= 2 * self.sb.sizeof_addr:
                    self.trees.append(self.addr(body, 0))
                elif mtype == _LINK:
                    target = hard_link(body, self.sb.sizeof_addr)
                    if target is not None:
                        pending.append(target)
                elif mtype == _LAYOUT:
                    self._chunk_tree(body)
                    self._chunk_index(addr, body)
                elif mtype in (_LINK_INFO, _ATTRIBUTE_INFO):
                    self._dense(addr, body, mtype)

    def too_many(self, what: str) -> UnsafeFileError:
        return UnsafeFileError(
            f"{self.where}: the HDF5 file holds more than {what}, past what netform walks before HDF5 does "
            "(a model of 10,000 layers holds about 50,000 objects), so the rest could not be checked and the "
            "file is refused."
        )

    def refuse(self, addr: int, what: str) -> UnsafeFileError:
        return UnsafeFileError(
            f"{self.where}: the HDF5 object at address {addr} keeps {what}, a structure of nodes naming nodes "
            "that netform does not walk before HDF5 does (a tree that names itself crashes the process), so "
            "the file is refused. Keras and h5py (with its default file format) keep links in symbol tables, "
            "attributes in the object header and chunks in version-1 B-trees: save the model again with Keras "
            "or netform, or rewrite the file with h5py's default libver."
        )

    def _dense(self, addr: int, body: bytes, mtype: int) -> None:
        """Refuse links or attributes kept in HDF5's dense storage (a fractal heap indexed by a v2 B-tree)."""
        if len(body) < 2 or body[0] != 0:
            return  # HDF5 refuses a version it does not know
        pos = 2 + ((8 if mtype == _LINK_INFO else 2) if body[1] & 0x01 else 0)
        if len(body) >= pos + self.sb.sizeof_addr and self.addr(body, pos) != self.undefined:
            what = "a group's links" if mtype == _LINK_INFO else "its attributes"
            raise self.refuse(addr, f"{what} in HDF5's dense storage (a fractal heap indexed by a version-2 B-tree)")

    def _chunk_index(self, addr: int, body: bytes) -> None:
        """Refuse a version-4 chunked layout whose chunk index is one of :data:`_LINKED_CHUNK_INDEXES`."""
        if len(body) < 5 or body[0] != 4 or body[1] != 2:
            return
        dims, width = body[3], body[4]
        at = 5 + dims * width
        if at < len(body) and body[at] in _LINKED_CHUNK_INDEXES:
            raise self.refuse(addr, f"a dataset's chunks indexed by {_LINKED_CHUNK_INDEXES[body[at]]}")

    def _chunk_tree(self, body: bytes) -> None:
        """Walk the B-tree of a chunked layout message of versions 1 to 3 (version 4's indexes are others)."""
        sa = self.sb.sizeof_addr
        if len(body) < 2:
            return
        if body[0] in (1, 2):
            if len(body) < 8 + sa or body[2] != 2:
                return
            dims, btree = body[1], self.addr(body, 8)
        elif body[0] == 3:
            if body[1] != 2 or len(body) < 3 + sa:
                return
            dims, btree = body[2], self.addr(body, 3)
        else:
            return
        if btree != self.undefined and 0 < dims <= 33:
            self.tree(btree, 1, 8 + 8 * dims, self.sb.chunk_k, None)

    def group_tree(self, btree: int, pending: list[int]) -> None:
        symbols = self.tree(btree, 0, self.sb.sizeof_size, self.sb.group_k, [])
        sa, ss = self.sb.sizeof_addr, self.sb.sizeof_size
        entry = ss + sa + 4 + 4 + 16
        for snod in symbols or ():
            head = self.raw(snod, 8)
            if head is None or head[:5] != b"SNOD\x01":
                continue
            count = struct.unpack_from("<H", head, 6)[0]
            if count > 2 * self.sb.leaf_k:
                continue  # HDF5 refuses it with an error
            entries = self.raw(snod + 8, count * entry) or b""
            for j in range(len(entries) // entry):
                e = entries[j * entry : (j + 1) * entry]
                pending.append(self.addr(e, ss))
                if int.from_bytes(e[ss + sa : ss + sa + 4], "little") == 1:
                    self.trees.append(self.addr(e, ss + sa + 8))

    def tree(self, root: int, kind: int, key: int, k: int, leaves: list[int] | None) -> list[int] | None:
        """Check the B-tree of ``kind`` (0: a group's, 1: a dataset's chunks) at ``root``; the addresses its
        level-0 nodes name are added to ``leaves`` (when given) and returned."""
        sa = self.sb.sizeof_addr
        header = 8 + 2 * sa
        head = self.raw(root, header)
        if root in self.nodes or head is None or head[:4] != b"TREE" or head[4] != kind:
            return leaves  # HDF5 refuses a root that is no node with an error (a node met twice: checked already)
        stack = [(root, head[5])]
        while stack:
            node, level = stack.pop()
            if node in self.nodes:
                raise self.fail(node, "is the child of two nodes, or of itself")
            if len(self.nodes) >= _MAX_WALK_NODES:
                raise self.too_many(f"{_MAX_WALK_NODES:,} B-tree nodes")
            self.nodes.add(node)
            data = self.raw(node, header) or b""
            if data[:4] != b"TREE" or data[4] != kind or data[5] != level:
                raise self.fail(node, f"is not a B-tree node of type {kind} at level {level} as its parent names it")
            used = struct.unpack_from("<H", data, 6)[0]
            if k and used > 2 * k:
                raise self.fail(node, f"holds {used} children, more than the {2 * k} its tree's nodes hold")
            n = 2 * k if k else used  # HDF5 reads the whole node, used or not
            whole = self.raw(node, header + n * (key + sa) + key)
            if whole is None:
                raise self.fail(node, "runs past the end of the file")
            data = whole
            for i in range(used):
                child = self.addr(data, header + key + i * (key + sa))
                if level > 0:
                    below = self.raw(child, 6)
                    if below is None:
                        raise self.fail(node, f"names a child at address {child}, outside the file")
                    if below[:4] != b"TREE" or below[4] != kind or below[5] != level - 1:
                        raise self.fail(
                            node,
                            f"of level {level} names a child at address {child} that is no node of level {level - 1}",
                        )
                    stack.append((child, level - 1))
                elif kind == 0:
                    below = self.raw(child, 4)
                    if below != b"SNOD":
                        raise self.fail(node, f"names a child at address {child} that is no symbol table node")
                    if leaves is not None:
                        leaves.append(child)
                else:
                    chunk = int.from_bytes(data[header + i * (key + sa) : header + i * (key + sa) + 4], "little")
                    if not self.inside(child, chunk):
                        raise self.fail(node, f"names a chunk at address {child} ({chunk} bytes) outside the file")
        return leaves
