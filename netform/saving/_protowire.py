"""The protobuf wire format, read without a protobuf library: the one field reader netform's readers share.

netform reads three kinds of protocol buffer without TensorFlow or ``onnx``:
a SavedModel's ``saved_model.pb`` (:mod:`._savedmodel_reader`), the strict
layout walk that tells an ONNX model from other bytes (:mod:`._onnx_layout`),
and what ``inspect`` reports of an ONNX file (:mod:`._export`). Each walks
the messages it knows with :func:`fields` and skips the rest.

A message is a run of fields, each a tag (a varint: ``number << 3 | wire
type``) and a value:

* wire type 0: a varint;
* wire type 1 and 5: 8 and 4 bytes (``fixed64``/``double``, ``fixed32``/``float``);
* wire type 2: a varint length and that many bytes (a string, bytes, a
  nested message or a packed repeated field).

Wire types 3 and 4 (proto2 groups, which no writer netform reads emits) and
6 and 7 (undefined) are refused, as is field number 0, which protobuf does
not allow.

Bounds: a varint is at most ten bytes (a 64-bit number) and ends inside its
message; a length-delimited value or a fixed-size one must end inside the
message that holds it, not merely inside the buffer, so a nested message
can never claim bytes of its parent's later fields. Any break is a
:class:`WireError` (a :class:`~netform.errors.FormatError`) saying what
broke and where; callers add the file's name. The reader never recurses:
a nested message is walked by calling :func:`fields` again on the span it
yields, so how deep a caller descends is the caller's own bound (a fixed
path of known messages, or a depth limit). An optional :class:`Budget`
bounds how many fields a walk decodes in all.

Values come back as positions in the buffer, never copies, so a walk over a
memory-mapped file of gigabytes reads only the bytes of the fields it looks
at; :func:`mapped` maps an open file for that.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from typing import IO, Final, Iterator, Union

from netform.errors import FormatError, NetformError

__all__ = [
    "FIXED32",
    "FIXED64",
    "LEN",
    "MAX_VARINT_BYTES",
    "VARINT",
    "Budget",
    "TooManyFields",
    "WireError",
    "fields",
    "mapped",
    "read_varint",
    "varint_or_none",
]

#: A varint holds at most 64 bits: ten bytes of seven.
MAX_VARINT_BYTES: Final[int] = 10

VARINT: Final[int] = 0
FIXED64: Final[int] = 1
LEN: Final[int] = 2
FIXED32: Final[int] = 5
_FIXED_SIZE: Final[dict[int, int]] = {FIXED64: 8, FIXED32: 4}
_DEFINED: Final[frozenset[int]] = frozenset({VARINT, FIXED64, LEN, FIXED32})

#: What the reader walks: bytes, a ``bytearray``, a ``memoryview`` or a memory-mapped file.
Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]


class WireError(FormatError):
    """Bytes break the protobuf wire format.

    Attributes:
        why: What broke, in words (``"field 7 declares 1,024 bytes, more than its message holds"``).
        kind: Which rule: ``"varint"`` (a varint cut short by its message's end, or longer than
            ten bytes), ``"bounds"`` (a value runs past its message), ``"wire"`` (a wire type
            protobuf does not define) or ``"number"`` (field number 0).
        number: The field the break is in, or None when its tag is what broke.
        wire: That field's wire type, or None when its tag is what broke.
        at: Where in the buffer the field that broke starts (for a varint that broke, the varint).
    """

    def __init__(self, why: str, kind: str, number: int | None, wire: int | None, at: int) -> None:
        super().__init__(f"protobuf message truncated or corrupt at byte {at:,}: {why}")
        self.why = why
        self.kind = kind
        self.number = number
        self.wire = wire
        self.at = at


class TooManyFields(NetformError):
    """A walk decoded more fields than its :class:`Budget` allows (a giant or hostile message)."""


class Budget:
    """How many more fields one walk may decode (shared by every :func:`fields` call given it).

    Attributes:
        limit: The fields the walk may decode in all.
        left: The fields it may still decode (below 0 once :class:`TooManyFields` was raised).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit


_CUT_SHORT = "a number is cut short or longer than ten bytes"


def read_varint(buf: Buffer, pos: int, end: int, number: int | None = None, wire: int | None = None) -> tuple[int, int]:
    """The varint at ``buf[pos]`` and the position after it; it must end before ``end`` and within ten bytes.

    Args:
        buf: The buffer.
        pos: Where the varint starts.
        end: The end of the message that holds it.
        number: The field the varint belongs to (None for a tag), for the error.
        wire: That field's wire type, for the error.

    Raises:
        WireError: The varint runs to ``end``, or past ten bytes, without its last byte.

    Example:
        >>> read_varint(b"\\xac\\x02", 0, 2)
        (300, 2)
    """
    start = pos
    value = shift = 0
    stop = min(end, pos + MAX_VARINT_BYTES)
    while pos < stop:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise WireError(_CUT_SHORT, "varint", number, wire, start)


def varint_or_none(buf: Buffer, pos: int) -> tuple[int | None, int]:
    """:func:`read_varint` to the buffer's end, for probes that stop at the first break instead of raising.

    Returns:
        ``(value, position after it)``, or ``(None, where reading stopped)``:
        the buffer's end for a varint cut short, ten bytes on for one too long.
    """
    try:
        return read_varint(buf, pos, len(buf))
    except WireError:
        return None, max(pos, min(len(buf), pos + MAX_VARINT_BYTES))


def fields(
    buf: Buffer, start: int = 0, end: int | None = None, budget: Budget | None = None
) -> Iterator[tuple[int, int, int, int]]:
    """Each field of the message in ``buf[start:end]``: ``(number, wire type, value, stop)``.

    For a varint (wire type 0) ``value`` is the number and ``stop`` the
    position after it; for every other wire type ``buf[value:stop]`` is the
    field's payload (a length-delimited field's bytes, or a fixed field's 8
    or 4 bytes, little-endian). Every payload lies inside ``buf[start:end]``;
    a nested message is read by calling :func:`fields` on its span.

    Args:
        buf: The buffer.
        start: Where the message starts.
        end: Where it ends (the buffer's end when None).
        budget: Fields the walk may decode in all, shared with the nested messages' walks.

    Raises:
        WireError: The bytes break the wire format (see :class:`WireError`).
        TooManyFields: ``budget`` is spent.

    Example:
        >>> list(fields(b"\\x08\\x96\\x01\\x12\\x02hi"))
        [(1, 0, 150, 3), (2, 2, 5, 7)]
    """
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        if budget is not None:
            budget.left -= 1
            if budget.left < 0:
                raise TooManyFields(f"more than {budget.limit:,} protobuf fields")
        at = pos
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0 and wire in _DEFINED:  # with another wire type, that is what is wrong first
            raise WireError("a field has number 0, which protobuf does not allow", "number", 0, wire, at)
        if wire == VARINT:
            if pos < end and buf[pos] < 0x80:
                value, pos = buf[pos], pos + 1
            else:
                value, pos = read_varint(buf, pos, end, number, wire)
            yield number, wire, value, pos
        elif wire == LEN:
            if pos < end and buf[pos] < 0x80:
                length, pos = buf[pos], pos + 1
            else:
                length, pos = read_varint(buf, pos, end, number, wire)
            if pos + length > end:
                why = f"field {number} declares {length:,} bytes, more than its message holds"
                raise WireError(why, "bounds", number, wire, at)
            yield number, wire, pos, pos + length
            pos += length
        elif wire == FIXED64 or wire == FIXED32:
            stop = pos + _FIXED_SIZE[wire]
            if stop > end:
                raise WireError(f"field {number} runs past its message", "bounds", number, wire, at)
            yield number, wire, pos, stop
            pos = stop
        else:
            why = f"field {number} has wire type {wire}, which protobuf does not define"
            raise WireError(why, "wire", number, wire, at)


@contextlib.contextmanager
def mapped(fh: IO[bytes]) -> Iterator[memoryview]:
    """A read-only view of an open file's bytes, memory-mapped: a walk reads only the pages it touches.

    An empty file is an empty view (``mmap`` refuses to map one). The view
    is released when the block ends; slices of it must not outlive the block.

    Raises:
        OSError: The file cannot be mapped (a pipe, a special file).
    """
    if os.fstat(fh.fileno()).st_size == 0:
        with memoryview(b"") as empty:
            yield empty
        return
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as whole, memoryview(whole) as view:
        yield view
