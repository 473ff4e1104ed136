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

from netform.errors import UnsafeFileError

__all__ = ["RawReader", "raw_reader", "attribute_bytes", "check_global_heaps", "global_heap_loops", "PER_ELEMENT_BYTES"]

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

        def read_fd(offset: int, n: int) -> bytes:
            if offset < 0 or n < 0:
                raise _Unmeasurable("an address before the start of the file")
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
    read: RawReader, addr: int, sizeof_addr: int, sizeof_size: int, base: int = 0
) -> Iterator[tuple[int, int, int, int]]:
    """``(type, flags, data offset, data size)`` of every message in the object header at ``addr``.

    ``addr`` is where the header is in the file; the addresses inside it are
    relative to ``base`` (the superblock's place, after any user block).
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
    import h5py

    info = h5py.h5o.get_info(oid)
    if not info.num_attrs:
        return 0
    variable: list[tuple[bytes, int, int]] = []  # name, elements, bytes per unit of length
    for index in range(info.num_attrs):
        attr = h5py.h5a.open(oid, index=index)
        t = attr.get_type()
        if not _variable(t):
            continue  # fixed-size data: stored in the header, as large as it reads
        name = attr.name
        n = int(attr.get_space().get_simple_extent_npoints())
        if t.get_class() == h5py.h5t.STRING:
            unit = 1
        elif t.get_class() == h5py.h5t.VLEN and not _variable(t.get_super()):
            unit = max(int(t.get_super().get_size()), 1)
        else:
            raise _refusal(where, what, name, "variable-length data nested in another type")
        variable.append((name, n, unit))
    if not variable:
        return 0
    plist = file.id.get_create_plist()
    sizeof_addr, sizeof_size = plist.get_sizes()
    base = int(plist.get_userblock())
    try:
        messages = _attribute_messages(read, base + int(info.addr), sizeof_addr, sizeof_size, base)
    except _Unmeasurable as err:
        raise _refusal(where, what, variable[0][0], str(err)) from None
    element = 4 + sizeof_addr + 4  # length, heap collection address, object index
    total = 0
    for name, n, unit in variable:
        located = messages.get(name)
        if located is None:
            raise _refusal(where, what, name, "kept outside its object's header")
        offset, size = located
        if n * element > size:
            raise _refusal(where, what, name, "its descriptors do not fit its message")
        try:
            raw = read(offset, n * element)
        except _Unmeasurable as err:
            raise _refusal(where, what, name, str(err)) from None
        limit = file_size if file_size else None
        for (length,) in struct.iter_unpack("<I", b"".join(raw[i : i + 4] for i in range(0, len(raw), element))):
            nbytes = length * unit
            if limit is not None and nbytes > limit:
                raise UnsafeFileError(
                    f"{where}: HDF5 attribute '{_shown(what, name)}' has an element of {nbytes} bytes "
                    f"in a {file_size}-byte file; refused as corrupt or hostile."
                )
            total += nbytes + PER_ELEMENT_BYTES
    return total


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
    dataset of strings, another collection).

    Raises:
        UnsafeFileError: A collection HDF5 would never finish decoding.
    """
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
