"""Bytes inside an HDF5 file's own structures that no reader reads.

HDF5 keeps a file's metadata in structures of fixed layout: object headers
(each a list of messages: the dataspace, the data type, the layout, the
attributes, and empty messages holding room for more), the symbol table nodes
and B-tree nodes that list a group's members, and the local heap holding their
names. Each has room no reader reads: an empty message's body, a message's
bytes past what its fields take, reserved and padding bytes, the unused slots
of a node, the free blocks and padding of a heap. HDF5 writes zeros there
(it clears a message it frees, and every node and heap it writes); text put
there loads as before in HDF5, h5py, Keras and netform, and a save replacing
the file would delete it. :func:`structure_slack` reads the structures of a
file from its bytes and names each such place that holds anything but zeros.

Only the layouts HDF5 writes with its default file format (which Keras, h5py
and netform use) are measured field by field; a message of a type or version
this reader does not know is left as it is (a file in the newer format is
checked for empty messages only).
"""

from __future__ import annotations

import struct

from ._h5_attrs import RawReader, _messages, _Superblock, _Unmeasurable, hard_link, superblock

__all__ = ["structure_slack"]

#: Bounds on the walk: objects, B-tree and symbol table nodes, problems named.
_MAX_OBJECTS = 1 << 20
_MAX_NODES = 1 << 22
_MAX_NAMED = 20
#: The most bytes between an HDF5 file's structures that are read to see they are zeros: HDF5 writing a file
#: fresh leaves a few hundred (a trained ResNet50 saved by Keras: 2,680 bytes in 62 gaps of 103 MB).
_MAX_UNCLAIMED = 16 * 2**20

_NIL, _DATASPACE, _DATATYPE, _FILL, _LAYOUT, _ATTRIBUTE = 0x0000, 0x0001, 0x0003, 0x0005, 0x0008, 0x000C
_CONTINUATION, _SYMBOL_TABLE, _MTIME, _REFCOUNT, _LINK = 0x0010, 0x0011, 0x0012, 0x0016, 0x0006
#: The first version of the modification time message (14 ASCII digits).
_OLD_MTIME = 0x000E
#: The flags HDF5 gives each message of a dataset or group h5py makes (a datatype and a fill value are constant).
_FLAGS = {_DATATYPE: 0x01, _FILL: 0x01}
#: A fill value message as h5py writes it for a contiguous dataset: version 2, allocated late, written if set,
#: the library's default value.
_FILL_AS_WRITTEN = b"\x02\x02\x02\x01"
#: The free list of a local heap that holds no free block.
_FREE_NULL = 1


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _datatype_size(body: bytes, at: int = 0, depth: int = 0) -> int | None:
    """Bytes the datatype message's fields take from ``at`` (None for a class this reader does not measure)."""
    if len(body) < at + 8 or depth > 8:
        return None
    cls = body[at] & 0x0F
    if cls in (0, 4):  # fixed-point, bitfield: offset and precision
        return 8 + 4
    if cls == 1:  # floating point: offset, precision, exponent and mantissa places and sizes, bias
        return 8 + 12
    if cls == 3:  # string: no properties
        return 8
    if cls == 9:  # variable-length: its base type
        base = _datatype_size(body, at + 8, depth + 1)
        return None if base is None else 8 + base
    return None


def _dataspace(body: bytes, ss: int) -> tuple[int, int] | None:
    """``(bytes its fields take, number of elements)`` of a dataspace message (None: a version not measured)."""
    if len(body) < 2:
        return None
    version, rank = body[0], body[1]
    flags = body[2] if len(body) > 2 else 0
    if version == 1:
        head, null = 8, False
    elif version == 2:
        head, null = 4, len(body) > 3 and body[3] == 2
    else:
        return None
    used = head + rank * ss * (2 if flags & 0x01 else 1) + (rank * ss if flags & 0x02 else 0)
    if len(body) < head + rank * ss:
        return None
    count = 0 if null else 1
    for i in range(rank):
        count *= int.from_bytes(body[head + i * ss : head + (i + 1) * ss], "little")
    return used, count


class _SlackWalk:
    def __init__(self, read: RawReader, sb: _Superblock) -> None:
        self.read, self.sb = read, sb
        self.found: list[str] = []
        self.objects: set[int] = set()
        self.nodes: set[int] = set()
        self.heaps: dict[int, set[int]] = {}  # a group's local heap: the name offsets its entries use
        self.undefined = (1 << (8 * sb.sizeof_addr)) - 1
        #: the bytes each structure met takes, ``(start, end)`` in the file; None once a structure of the
        #: newer format is met, whose sizes this reader does not measure
        self.claimed: list[tuple[int, int]] | None = []
        self.keys: list[tuple[int, int, int]] = []  # (B-tree node, heap, a key's name offset)
        self.siblings: list[tuple[int, int]] = []  # (B-tree node, a sibling it names)
        self.cached: dict[int, tuple[int, int]] = {}  # an object header: the (B-tree, heap) its entry caches
        self.tables: dict[int, tuple[int, int]] = {}  # an object header: its symbol table's (B-tree, heap)

    def claim(self, addr: int, n: int) -> None:
        if self.claimed is not None and addr != self.undefined:
            self.claimed.append((self.sb.base + addr, self.sb.base + addr + n))

    def note(self, what: str) -> None:
        if len(self.found) < _MAX_NAMED:
            self.found.append(what)

    def raw(self, addr: int, n: int) -> bytes | None:
        if addr == self.undefined or n < 0 or self.sb.base + addr + n > self.sb.end:
            return None
        try:
            return self.read(self.sb.base + addr, n)
        except _Unmeasurable:
            return None

    def addr(self, data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + self.sb.sizeof_addr], "little")

    def zeros(self, data: bytes, start: int, end: int, where: str) -> None:
        if any(data[start:end]):
            self.note(where)

    def run(self) -> list[str]:
        pending = list(self.sb.root)
        tables = list(self.sb.root_tables)
        while pending or tables:
            while tables:
                tables += self.group(*tables.pop(), pending)
            if pending:
                addr = pending.pop()
                if addr not in self.objects and len(self.objects) < _MAX_OBJECTS:
                    self.objects.add(addr)
                    tables += self.header(addr, pending)
        for heap, offsets in self.heaps.items():
            self.local_heap(heap, offsets)
        for node, heap, key in self.keys:
            if key not in self.heaps.get(heap, ()):
                self.note(f"the HDF5 B-tree node at byte {self.sb.base + node:,} (a key that names no member)")
        for node, sibling in self.siblings:
            if sibling != self.undefined and sibling not in self.nodes:
                self.note(f"the HDF5 B-tree node at byte {self.sb.base + node:,} (a sibling that is no node)")
        for obj, cache in self.cached.items():
            if self.tables.get(obj) != cache:
                self.note(f"the HDF5 object header at byte {self.sb.base + obj:,} (an entry caching what it holds not)")
        return self.found

    # --- object headers -------------------------------------------------------------------------------------

    def header(self, addr: int, pending: list[int]) -> list[tuple[int, int]]:
        """Check the object header at ``addr``; returns the (B-tree, heap) of a group's symbol table."""
        sa, ss = self.sb.sizeof_addr, self.sb.sizeof_size
        first = self.raw(addr, 16)
        if first is None:
            return []
        v1 = first[0] == 1 and first[:4] != b"OHDR"
        where = f"the HDF5 object header at byte {self.sb.base + addr:,}"
        if v1 and (first[1] or any(first[12:16])):
            self.note(f"{where} (bytes in its reserved and padding fields)")
        if v1:
            self.claim(addr, 16 + struct.unpack_from("<I", first, 8)[0])
        else:
            self.claimed = None
        tables: list[tuple[int, int]] = []
        try:
            messages = list(_messages(self.read, self.sb.base + addr, sa, ss, self.sb.base, continuations=True))
        except (_Unmeasurable, struct.error, IndexError):
            return []
        for mtype, mflags, offset, size in messages:
            try:
                body = self.read(offset, size)
                head = self.read(offset - 8, 8) if v1 else b""
            except _Unmeasurable:
                continue
            if v1 and any(head[5:8]):
                self.note(f"{where} (bytes in a message's reserved field)")
            if mtype == _NIL:
                self.zeros(body, 0, size, f"{where} (bytes in an empty message)")
                continue
            if mtype in (_MTIME, _OLD_MTIME):  # h5py (since 3.0, Keras 3's) and netform record none
                self.note(f"{where} (a modification time: bytes of any value that no reader of a model reads)")
                continue
            if mflags & 0x02:  # a shared message: a reference, not measured here
                continue
            if v1 and mflags != _FLAGS.get(mtype, 0):  # (bits HDF5 reads, of any value, as no writer sets them)
                self.note(f"{where} (a message flagged {mflags:#04x}, where HDF5 writes {_FLAGS.get(mtype, 0):#04x})")
            if v1 and mtype == _FILL and bytes(body[:4]) != _FILL_AS_WRITTEN:
                self.note(f"{where} (a fill value's settings {bytes(body[:4]).hex()}, where h5py writes 02020201)")
            if mtype == _SYMBOL_TABLE and size >= 2 * sa:
                tables.append((self.addr(body, 0), self.addr(body, sa)))
                self.tables[addr] = tables[-1]
            elif mtype == _CONTINUATION and size >= sa + ss:
                self.claim(self.addr(body, 0), int.from_bytes(body[sa : sa + ss], "little"))
            elif mtype == _LAYOUT and size >= 2 + sa + ss and body[0] == 3 and body[1] == 1:
                self.claim(self.addr(body, 2), int.from_bytes(body[2 + sa : 2 + sa + ss], "little"))
            elif mtype == _LINK:
                target = hard_link(body, sa)
                if target is not None:
                    pending.append(target)
            if v1:
                used = self._used(mtype, body, where)
                if used is not None:
                    self.zeros(body, used, size, f"{where} (bytes past a message's fields)")
        return tables

    def _used(self, mtype: int, body: bytes, where: str) -> int | None:
        """The bytes a message's fields take (None where not measured)."""
        sa, ss = self.sb.sizeof_addr, self.sb.sizeof_size
        if mtype == _DATASPACE:
            space = _dataspace(body, ss)
            if space is not None and body[0] == 1:
                self.zeros(body, 3, 8, f"{where} (bytes in a dataspace's reserved field)")
            if space is not None and body[2] & 0x01:  # maximum dimensions: each its dimension, or unlimited
                head, rank = (8 if body[0] == 1 else 4), body[1]
                for i in range(rank):
                    dim = body[head + i * ss : head + (i + 1) * ss]
                    most = body[head + (rank + i) * ss : head + (rank + i + 1) * ss]
                    if most != dim and most != b"\xff" * ss:
                        self.note(f"{where} (a maximum dimension that is neither its dimension nor unlimited)")
                        break
            return None if space is None else space[0]
        if mtype == _DATATYPE:
            return _datatype_size(body)
        if mtype == _FILL and body:
            if body[0] in (1, 2) and len(body) >= 4:
                if body[0] == 2 and not body[3]:
                    return 4
                return 8 + int.from_bytes(body[4:8], "little") if len(body) >= 8 else None
            if body[0] == 3 and len(body) >= 2:
                return 6 + int.from_bytes(body[2:6], "little") if body[1] & 0x20 else 2
            return None
        if mtype == _LAYOUT and len(body) >= 2 and body[0] == 3:
            if body[1] == 0 and len(body) >= 4:
                return 4 + int.from_bytes(body[2:4], "little")
            if body[1] == 1:
                return 2 + sa + ss
            if body[1] == 2 and len(body) >= 3:
                return 3 + sa + 4 * body[2]
            return None
        if mtype == _CONTINUATION:
            return sa + ss
        if mtype == _SYMBOL_TABLE:
            return 2 * sa
        if mtype == _REFCOUNT:
            return 5
        if mtype == _ATTRIBUTE:
            return self._attribute(body, where)
        return None

    def _attribute(self, body: bytes, where: str) -> int | None:
        if len(body) < 8 or body[0] not in (1, 2, 3):
            return None
        version = body[0]
        name, dt, ds = struct.unpack_from("<HHH", body, 2)
        at = 8 if version < 3 else 9
        parts = []
        for n in (name, dt, ds):
            room = _pad8(n) if version == 1 else n
            parts.append((at, n, room))
            at += room
        if version == 1:
            for start, n, room in parts:
                self.zeros(body, start + n, start + room, f"{where} (bytes in an attribute's padding)")
        (_, _, _), (dt_at, _, _), (ds_at, ds_n, _) = parts
        if version == 1:
            self.zeros(body, 1, 2, f"{where} (bytes in an attribute's reserved field)")
        space = _dataspace(body[ds_at : ds_at + ds_n], self.sb.sizeof_size)
        if space is None or len(body) < dt_at + 8:
            return None
        element = int.from_bytes(body[dt_at + 4 : dt_at + 8], "little")
        return at + space[1] * element

    # --- groups: B-tree nodes, symbol table nodes, local heaps ---------------------------------------------

    def group(self, btree: int, heap: int, pending: list[int]) -> list[tuple[int, int]]:
        """Check a group's B-tree and symbol table nodes; its members go to ``pending``; returns the (B-tree,
        heap) cached in its entries."""
        sa, ss = self.sb.sizeof_addr, self.sb.sizeof_size
        names = self.heaps.setdefault(heap, {0})
        entry = ss + sa + 4 + 4 + 16  # name offset, header, cache type, reserved, scratch
        header = 8 + 2 * sa
        k, leaf = self.sb.group_k, self.sb.leaf_k
        tables: list[tuple[int, int]] = []
        stack = [btree]
        while stack:
            node = stack.pop()
            if node in self.nodes or len(self.nodes) >= _MAX_NODES:
                continue
            self.nodes.add(node)
            data = self.raw(node, header + 2 * k * (ss + sa) + ss) if k else None
            if data is None or data[:4] != b"TREE" or data[4] != 0:
                continue
            level, used = data[5], struct.unpack_from("<H", data, 6)[0]
            if used > 2 * k:
                continue
            self.claim(node, len(data))
            self.siblings += [(node, self.addr(data, 8)), (node, self.addr(data, 8 + sa))]
            self.keys += [
                (node, heap, int.from_bytes(data[header + i * (ss + sa) : header + i * (ss + sa) + ss], "little"))
                for i in range(used + 1)
            ]
            end = header + used * (ss + sa) + ss
            self.zeros(
                data,
                end,
                len(data),
                f"the HDF5 B-tree node at byte {self.sb.base + node:,} (bytes in its unused slots)",
            )
            children = [self.addr(data, header + ss + i * (ss + sa)) for i in range(used)]
            if level:
                stack += children
                continue
            for snod in children:
                if snod in self.nodes:
                    continue
                self.nodes.add(snod)
                whole = self.raw(snod, 8 + 2 * leaf * entry)
                if whole is None or whole[:5] != b"SNOD\x01":
                    continue
                where = f"the HDF5 symbol table node at byte {self.sb.base + snod:,}"
                count = struct.unpack_from("<H", whole, 6)[0]
                if count > 2 * leaf:
                    continue
                self.claim(snod, len(whole))
                self.zeros(whole, 5, 6, f"{where} (bytes in its reserved field)")
                self.zeros(whole, 8 + count * entry, len(whole), f"{where} (bytes in its unused slots)")
                for j in range(count):
                    e = whole[8 + j * entry : 8 + (j + 1) * entry]
                    names.add(int.from_bytes(e[:ss], "little"))
                    pending.append(self.addr(e, ss))
                    cache = int.from_bytes(e[ss + sa : ss + sa + 4], "little")
                    self.zeros(e, ss + sa + 4, ss + sa + 8, f"{where} (bytes in an entry's reserved field)")
                    scratch = ss + sa + 8
                    if cache == 1:
                        tables.append((self.addr(e, scratch), self.addr(e, scratch + sa)))
                        self.cached[self.addr(e, ss)] = tables[-1]
                        self.zeros(e, scratch + 2 * sa, entry, f"{where} (bytes in an entry's scratch space)")
                    elif cache == 0:
                        self.zeros(e, scratch, entry, f"{where} (bytes in an entry's scratch space)")
        return tables

    def local_heap(self, heap: int, names: set[int]) -> None:
        """Every byte of a group's local heap is a name its entries use (with its padding of zeros to 8 bytes) or
        a free block (zeros after its two fields), or zero."""
        ss, sa = self.sb.sizeof_size, self.sb.sizeof_addr
        head = self.raw(heap, 8 + 2 * ss + sa)
        if head is None or head[:5] != b"HEAP\x00":
            return
        where = f"the HDF5 local heap at byte {self.sb.base + heap:,}"
        self.zeros(head, 5, 8, f"{where} (bytes in its reserved field)")
        size = int.from_bytes(head[8 : 8 + ss], "little")
        free = int.from_bytes(head[8 + ss : 8 + 2 * ss], "little")
        data = self.raw(self.addr(head, 8 + 2 * ss), size)
        if data is None:
            return
        self.claim(heap, len(head))
        self.claim(self.addr(head, 8 + 2 * ss), size)
        covered = bytearray(size)
        for offset in sorted(names):
            if offset >= size:
                continue
            end = data.find(b"\0", offset)
            if end < 0:
                continue
            room = min(offset + _pad8(end + 1 - offset), size)
            self.zeros(data, end, room, f"{where} (bytes after a name)")
            covered[offset:room] = b"\1" * (room - offset)
        seen: set[int] = set()
        while free != _FREE_NULL and free not in seen and free + 2 * ss <= size:
            seen.add(free)
            nxt = int.from_bytes(data[free : free + ss], "little")
            length = int.from_bytes(data[free + ss : free + 2 * ss], "little")
            stop = min(free + length, size)
            self.zeros(data, free + 2 * ss, stop, f"{where} (bytes in its free space)")
            covered[free:stop] = b"\1" * max(0, stop - free)
            free = nxt
        if any(b for b, c in zip(data, covered) if not c):
            self.note(f"{where} (bytes no name uses)")


def _superblock_size(read: RawReader, sb: _Superblock) -> int | None:
    """The bytes a version-0 or -1 superblock takes, with its root group's entry (None for another version)."""
    try:
        version = read(sb.base + 8, 1)[0]
    except _Unmeasurable:
        return None
    if version not in (0, 1):
        return None
    return 24 + (4 if version else 0) + 4 * sb.sizeof_addr + sb.sizeof_size + sb.sizeof_addr + 24


def structure_slack(read: RawReader, file_size: int, collections: set[int] | None = None) -> list[str]:
    """The places in an HDF5 file's structures (object headers, group nodes, local heaps) that hold bytes no
    reader reads, where HDF5 writes zeros (at most 20 named; empty when none or no superblock is found).

    In a file of HDF5's default format (a version-0 or -1 superblock, version-1 object headers), every byte
    no structure takes (the superblock, the object headers and their chunks, the group nodes and heaps, the
    global heap ``collections`` its attributes use, the datasets' values) must be zero too: HDF5 does not
    clear what it frees, but writes a file fresh with nothing between its structures, so a byte there is
    someone's (or what an edit in place left: a deleted group's nodes and names).
    """
    sb = superblock(read, file_size)
    if sb is None:
        return []
    walk = _SlackWalk(read, sb)
    found = walk.run()
    head = _superblock_size(read, sb)
    if walk.claimed is None or head is None or collections is None:
        return found
    claimed = [*walk.claimed, (sb.base, sb.base + head)]
    for at in collections:
        try:
            claimed.append((at, at + int.from_bytes(read(at + 8, 8), "little")))
        except _Unmeasurable:
            continue
    gaps: list[tuple[int, int]] = []
    position = sb.base
    for start, end in sorted(claimed):
        if start > position:
            gaps.append((position, min(start, sb.end)))
        position = max(position, end)
    if position < sb.end:
        gaps.append((position, sb.end))
    unclaimed = sum(end - start for start, end in gaps if end > start)
    if unclaimed > _MAX_UNCLAIMED:  # a file HDF5 wrote fresh leaves a few hundred bytes (alignment)
        walk.note(f"the HDF5 file between its structures ({unclaimed:,} bytes no structure holds)")
        return walk.found
    for start, end in gaps:
        if end > start and _holds_bytes(read, start, end):
            walk.note(f"the HDF5 file between byte {start:,} and {end:,} (bytes no structure holds)")
    return walk.found


def _holds_bytes(read: RawReader, start: int, end: int) -> bool:
    """Whether the file's bytes in ``[start, end)`` are not all zero (read 16 MiB at a time)."""
    while start < end:
        n = min(end - start, 16 * 2**20)
        try:
            if any(read(start, n)):
                return True
        except _Unmeasurable:
            return False
        start += n
    return False
