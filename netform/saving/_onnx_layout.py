"""Whether bytes are an ONNX model, by a strict walk of their protobuf structure.

A protobuf parser reads almost any byte string as an ONNX ``ModelProto``: a
34-byte note ``08 01 1a 1f 'my very important research data'`` parses as a
model of IR version 1 with an unknown field, and a TensorFlow
``saved_model.pb`` as a model whose producer name is binary. A save must not
take either for an earlier export, so a file counts as an ONNX model only
when its bytes are laid out as ONNX's schema (``onnx/onnx.proto``) says and
as every ONNX writer lays them out:

* every field of the model, its graph, the graph's nodes, inputs, outputs,
  value infos, opset imports, metadata entries and node attributes (subgraphs
  included) is a field of that message with its field's wire type, each
  singular field at most once, and the fields fill the message exactly (the
  whole file is consumed);
* ``ir_version`` is present and between 3 (the first with ``opset_import``)
  and 64; ``opset_import`` is present and each entry has a version; the model
  has exactly one ``graph``, with at least one node and one output; every node
  has an ``op_type``;
* every text field (names, domains, op types, documentation, metadata) is UTF-8;
* each graph input's, output's and value info's type is a ``TypeProto`` whose
  tensor type holds an element type and a shape of dims, each dim a number
  that fits in 64 bits or a name; the tensors of the graph's initializers
  (and sparse initializers) are walked as ``TensorProto`` fields.

Attribute values' tensors are checked only as length-delimited fields that
lie inside their message; no tensor's data are ever read.

Limits: a hostile file may be laid out correctly and still be built to make
every reader walk millions of fields (a graph of 200,000 inputs took
``inspect`` 35 s). The walk refuses, naming the limit, a graph of more than
:data:`MAX_GRAPH_IO` inputs or outputs, :data:`MAX_NODES` nodes or
:data:`MAX_INITIALIZERS` initializers, a shape of more than
:data:`MAX_RANK` dims, graph inputs and outputs of more than
:data:`MAX_IO_DIMS` dims in all, a name (of an input, output, value info or
dim) longer than :data:`MAX_NAME_BYTES`, and stops after decoding
:data:`MAX_FIELDS` fields (or one per :data:`BYTES_PER_FIELD` bytes of a
larger file), so that any file under 64 MB is walked in well under 2 s.
"""

from __future__ import annotations

import codecs
import mmap
from typing import Any, Final, Union

from . import _protowire as protowire

__all__ = [
    "BYTES_PER_FIELD",
    "MAX_FIELDS",
    "MAX_GRAPH_IO",
    "MAX_INITIALIZERS",
    "MAX_IO_DIMS",
    "MAX_NAME_BYTES",
    "MAX_NODES",
    "MAX_RANK",
    "onnx_problem",
    "savedmodel_graph",
]

#: The IR versions a model may declare: 3 (ONNX 1.0, the first with ``opset_import``) up to a generous 64.
IR_VERSIONS: Final[range] = range(3, 65)
#: Subgraphs (``If``/``Loop`` bodies) nested deeper than this are refused (writers nest a handful).
_MAX_DEPTH: Final[int] = 64
#: Text fields longer than this are checked for UTF-8 in pieces of this size.
_TEXT_CHUNK: Final[int] = 2**20
#: The most inputs, and the most outputs, of one graph (a model's few; an LLM with its cache a few hundred).
MAX_GRAPH_IO: Final[int] = 10_000
#: The most nodes of one graph (the largest exported transformers hold tens of thousands).
MAX_NODES: Final[int] = 200_000
#: The most initializers (and, apart, sparse initializers) of one graph (a large model holds a few thousand).
MAX_INITIALIZERS: Final[int] = 100_000
#: The most dims of one shape (NumPy's own limit is 64).
MAX_RANK: Final[int] = 64
#: The most dims the model graph's inputs and outputs hold in all (what ``inspect`` lists).
MAX_IO_DIMS: Final[int] = 100_000
#: The longest name of a graph input, output or value info, or of a dim (``dim_param``), in UTF-8 bytes.
MAX_NAME_BYTES: Final[int] = 1024
#: The most fields one walk decodes in a file of up to ``MAX_FIELDS * BYTES_PER_FIELD`` bytes (64 MB)...
MAX_FIELDS: Final[int] = 500_000
#: ... and in a larger file, one field per this many bytes (a real model's bytes are mostly weights).
BYTES_PER_FIELD: Final[int] = 128

_VARINT, _LEN, _FIXED32, _FIXED64 = protowire.VARINT, protowire.LEN, protowire.FIXED32, protowire.FIXED64
_INT64_SPAN: Final[int] = 1 << 64

# Each message: {field number: (wire types allowed, what the payload is, repeated, field name)}.
# What the payload is: "int" (a varint of at most 64 bits), "float", "text" (UTF-8), "name" (UTF-8 of at most
# MAX_NAME_BYTES), "bytes" (opaque, only bounded), or a message name.
_Field = tuple[frozenset[int], str, bool, str]
_L, _V, _F32 = frozenset({_LEN}), frozenset({_VARINT}), frozenset({_FIXED32})
_SCHEMA: Final[dict[str, dict[int, _Field]]] = {
    "model": {
        1: (_V, "int", False, "ir_version"),
        2: (_L, "text", False, "producer_name"),
        3: (_L, "text", False, "producer_version"),
        4: (_L, "text", False, "domain"),
        5: (_V, "int", False, "model_version"),
        6: (_L, "text", False, "doc_string"),
        7: (_L, "graph", False, "graph"),
        8: (_L, "opset", True, "opset_import"),
        14: (_L, "entry", True, "metadata_props"),
        20: (_L, "bytes", True, "training_info"),
        25: (_L, "bytes", True, "functions"),
        26: (_L, "bytes", True, "configuration"),
    },
    "graph": {
        1: (_L, "node", True, "node"),
        2: (_L, "text", False, "name"),
        5: (_L, "tensor", True, "initializer"),
        10: (_L, "text", False, "doc_string"),
        11: (_L, "io", True, "input"),
        12: (_L, "io", True, "output"),
        13: (_L, "value", True, "value_info"),
        14: (_L, "bytes", True, "quantization_annotation"),
        15: (_L, "sparse", True, "sparse_initializer"),
        16: (_L, "entry", True, "metadata_props"),
    },
    "node": {
        1: (_L, "text", True, "input"),
        2: (_L, "text", True, "output"),
        3: (_L, "text", False, "name"),
        4: (_L, "text", False, "op_type"),
        5: (_L, "attribute", True, "attribute"),
        6: (_L, "text", False, "doc_string"),
        7: (_L, "text", False, "domain"),
        8: (_L, "text", False, "overload"),
        9: (_L, "entry", True, "metadata_props"),
        10: (_L, "bytes", True, "device_configurations"),
    },
    "attribute": {
        1: (_L, "text", False, "name"),
        2: (_F32, "float", False, "f"),
        3: (_V, "int", False, "i"),
        4: (_L, "bytes", False, "s"),
        5: (_L, "bytes", False, "t"),
        6: (_L, "subgraph", False, "g"),
        7: (_L | _F32, "bytes", True, "floats"),  # packed or not
        8: (_L | _V, "bytes", True, "ints"),  # packed or not
        9: (_L, "bytes", True, "strings"),
        10: (_L, "bytes", True, "tensors"),
        11: (_L, "subgraph", True, "graphs"),
        13: (_L, "text", False, "doc_string"),
        14: (_L, "bytes", False, "tp"),
        15: (_L, "bytes", True, "type_protos"),
        20: (_V, "int", False, "type"),
        21: (_L, "text", False, "ref_attr_name"),
        22: (_L, "bytes", False, "sparse_tensor"),
        23: (_L, "bytes", True, "sparse_tensors"),
    },
    "value": {
        1: (_L, "name", False, "name"),
        2: (_L, "type", False, "type"),
        3: (_L, "text", False, "doc_string"),
        4: (_L, "entry", True, "metadata_props"),
    },
    "type": {  # TypeProto: a sequence's, map's or optional's element type is left opaque
        1: (_L, "tensor_type", False, "tensor_type"),
        4: (_L, "bytes", False, "sequence_type"),
        5: (_L, "bytes", False, "map_type"),
        6: (_L, "name", False, "denotation"),
        7: (_L, "bytes", False, "opaque_type"),
        8: (_L, "tensor_type", False, "sparse_tensor_type"),
        9: (_L, "bytes", False, "optional_type"),
    },
    "tensor_type": {1: (_V, "int", False, "elem_type"), 2: (_L, "shape", False, "shape")},
    "shape": {1: (_L, "dim", True, "dim")},
    "dim": {
        1: (_V, "int", False, "dim_value"),
        2: (_L, "name", False, "dim_param"),
        3: (_L, "name", False, "denotation"),
    },
    "tensor": {  # TensorProto: its data (packed, as ONNX declares them) are bounded, never read
        1: (_L | _V, "bytes", True, "dims"),  # one varint each, or packed
        2: (_V, "int", False, "data_type"),
        3: (_L, "bytes", False, "segment"),
        4: (_L | _F32, "bytes", True, "float_data"),
        5: (_L | _V, "bytes", True, "int32_data"),
        6: (_L, "bytes", True, "string_data"),
        7: (_L | _V, "bytes", True, "int64_data"),
        8: (_L, "text", False, "name"),
        9: (_L, "bytes", False, "raw_data"),
        10: (_L | frozenset({_FIXED64}), "bytes", True, "double_data"),
        11: (_L | _V, "bytes", True, "uint64_data"),
        12: (_L, "text", False, "doc_string"),
        13: (_L, "entry", True, "external_data"),
        14: (_V, "int", False, "data_location"),
        16: (_L, "entry", True, "metadata_props"),
    },
    "sparse": {
        1: (_L, "tensor", False, "values"),
        2: (_L, "tensor", False, "indices"),
        3: (_L | _V, "bytes", True, "dims"),
    },
    "opset": {1: (_L, "text", False, "domain"), 2: (_V, "int", False, "version")},
    "entry": {1: (_L, "text", False, "key"), 2: (_L, "text", False, "value")},
}
# The model graph's inputs and outputs (what inspect lists; their dims count towards MAX_IO_DIMS) and a
# subgraph's (an If or Loop body: bounded as a graph's, not counted).
_SCHEMA["io"] = {**_SCHEMA["value"], 2: (_L, "io_type", False, "type")}
_SCHEMA["io_type"] = {**_SCHEMA["type"], 1: (_L, "io_tensor_type", False, "tensor_type")}
_SCHEMA["io_tensor_type"] = {**_SCHEMA["tensor_type"], 2: (_L, "io_shape", False, "shape")}
_SCHEMA["io_shape"] = {1: (_L, "dim", True, "dim")}
_SCHEMA["subgraph"] = {**_SCHEMA["graph"], 11: (_L, "value", True, "input"), 12: (_L, "value", True, "output")}

#: {message: {repeated field: (most values, what they are)}}: the counts a walk bounds.
_COUNTS: Final[dict[str, dict[int, tuple[int, str]]]] = {
    "graph": {
        1: (MAX_NODES, "nodes"),
        5: (MAX_INITIALIZERS, "initializers"),
        11: (MAX_GRAPH_IO, "inputs"),
        12: (MAX_GRAPH_IO, "outputs"),
        15: (MAX_INITIALIZERS, "sparse initializers"),
    },
    "shape": {1: (MAX_RANK, "dims")},
}
_COUNTS["subgraph"] = _COUNTS["graph"]
_COUNTS["io_shape"] = _COUNTS["shape"]

#: Where a field is: the model (a string) or ``(where its message is, field name, index or None)``.
_Where = Union[str, tuple[Any, str, Union[int, None]]]


_TEXT: Final[frozenset[str]] = frozenset({"text", "name"})
#: The messages with fields every writer puts in them (see :func:`_require`).
_REQUIRED: Final[frozenset[str]] = frozenset({"model", "graph", "node", "opset"})
_utf_8_decode = codecs.utf_8_decode


class _NotOnnx(Exception):
    """Where the walk found the bytes break ONNX's layout (or pass a limit)."""


class _Walk:
    """What one walk shares: the fields it may still decode, and the dims of the graph's inputs and outputs."""

    def __init__(self, size: int) -> None:
        self.budget = protowire.Budget(max(MAX_FIELDS, size // BYTES_PER_FIELD))
        self.io_dims = 0


def _place(where: _Where) -> str:
    """``the model.graph.input[3].name`` for a place the walk passed (built only for a message)."""
    parts = []
    while not isinstance(where, str):
        where, name, index = where
        parts.append(f".{name}" if index is None else f".{name}[{index}]")
    return where + "".join(reversed(parts))


def _check_long_text(view: memoryview, start: int, end: int, where: _Where, spec: _Field, index: int) -> None:
    """Check a text field the quick check did not pass: a name's length, then its UTF-8 (in pieces if long)."""
    place = (where, spec[3], index if spec[2] else None)
    if spec[1] == "name" and end - start > MAX_NAME_BYTES:
        raise _NotOnnx(
            f"{_place(place)} holds {end - start:,} bytes; netform reads names of at most "
            f"{MAX_NAME_BYTES:,} bytes in an ONNX graph's inputs, outputs and shapes"
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for at in range(start, end, _TEXT_CHUNK):
            decoder.decode(view[at : min(end, at + _TEXT_CHUNK)], final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        raise _NotOnnx(f"{_place(place)} is not UTF-8 text") from err


def _walk(
    view: memoryview, start: int, end: int, kind: str, where: _Where, depth: int, walk: _Walk
) -> dict[int, list[int]]:
    """Check the message ``kind`` in ``view[start:end]``; return each field's values (ints, or payload starts)."""
    if depth > _MAX_DEPTH:
        raise _NotOnnx(f"{_place(where)}: subgraphs nested more than {_MAX_DEPTH} deep")
    schema = _SCHEMA[kind]
    counts = _COUNTS.get(kind)
    seen: dict[int, list[int]] = {}
    try:
        for number, wire, value, stop in protowire.fields(view, start, end, walk.budget):
            spec = schema.get(number)
            earlier = seen.get(number)
            if spec is None or wire not in spec[0] or (earlier is not None and not spec[2]):
                raise _NotOnnx(_field_problem(spec, kind, seen, number, wire, where))
            if earlier is None:
                seen[number] = earlier = [value]
            else:
                if counts is not None and number in counts and len(earlier) >= counts[number][0]:
                    raise _NotOnnx(_too_many(kind, number, where))
                earlier.append(value)
            if wire == _LEN:
                payload = spec[1]
                if payload in _TEXT:
                    if stop - value > (MAX_NAME_BYTES if payload == "name" else _TEXT_CHUNK):
                        _check_long_text(view, value, stop, where, spec, len(earlier) - 1)
                    else:
                        try:
                            _utf_8_decode(view[value:stop], "strict", True)
                        except UnicodeDecodeError:
                            _check_long_text(view, value, stop, where, spec, len(earlier) - 1)
                elif payload in _SCHEMA:
                    place = (where, spec[3], len(earlier) - 1 if spec[2] else None)
                    _walk(view, value, stop, payload, place, depth + (payload == "subgraph"), walk)
            elif value >= _INT64_SPAN and wire == _VARINT:
                raise _NotOnnx(f"{_place((where, spec[3], None))} does not fit in 64 bits")
    except protowire.WireError as err:
        if err.number is None or err.wire is None:  # the tag itself
            raise _NotOnnx(f"{_place(where)}: a number runs past its message") from None
        # The schema's word first, as for a field that reads whole; then what broke in its value.
        spec = schema.get(err.number)
        if spec is None or err.wire not in spec[0] or (err.number in seen and not spec[2]):
            raise _NotOnnx(_field_problem(spec, kind, seen, err.number, err.wire, where)) from None
        inner = _inner(where, spec, seen.get(err.number))
        raise _NotOnnx(
            f"{inner}: a number runs past its message" if err.kind == "varint" else f"{inner} runs past its message"
        ) from None
    if kind == "io_shape" and 1 in seen:
        walk.io_dims += len(seen[1])
        if walk.io_dims > MAX_IO_DIMS:
            raise _NotOnnx(
                f"the model.graph's inputs and outputs hold more than {MAX_IO_DIMS:,} dims in all, netform's "
                "limit (real models hold far fewer)"
            )
    if kind in _REQUIRED:
        _require(kind, seen, where)
    return seen


def _too_many(kind: str, number: int, where: _Where) -> str:
    most, what = _COUNTS[kind][number]
    return (
        f"{_place(where)} holds more than {most:,} {what}, netform's limit for an ONNX "
        f"{kind.replace('io_', '').replace('sub', '')} (real models hold far fewer)"
    )


def _inner(where: _Where, spec: _Field, earlier: list[int] | None) -> str:
    """Where a field is: ``the model.graph``, or ``the model.graph.node[3]`` (``earlier``: its values so far)."""
    return _place((where, spec[3], None if not spec[2] else len(earlier or ())))


_KIND_WORDS: Final[dict[str, str]] = {
    "subgraph": "graph",
    "io": "value info",
    "value": "value info",
    "io_type": "type",
    "tensor_type": "tensor type",
    "io_tensor_type": "tensor type",
    "io_shape": "shape",
    "dim": "dimension",
    "sparse": "sparse tensor",
    "opset": "opset import",
    "entry": "metadata entry",
}


def _field_problem(
    spec: _Field | None, kind: str, seen: dict[int, list[int]], number: int, wire: int, where: _Where
) -> str:
    """Why field ``number`` of wire type ``wire`` does not belong in a message ``kind`` (``spec``: its schema)."""
    if spec is None:
        return f"{_place(where)}: field {number} is no field of an ONNX {_KIND_WORDS.get(kind, kind)}"
    inner = _inner(where, spec, seen.get(number))
    if wire not in spec[0]:
        return f"{inner} has protobuf wire type {wire}"
    return f"{_place((where, spec[3], None))} appears twice"


def _require(kind: str, seen: dict[int, list[int]], where: _Where) -> None:
    """The fields every writer puts in a message of ``kind``."""
    if kind == "model":
        if 1 not in seen or seen[1][0] not in IR_VERSIONS:
            found = f"IR version {seen[1][0]}" if 1 in seen else "no IR version"
            raise _NotOnnx(f"{found} (an ONNX model declares {IR_VERSIONS.start} to {IR_VERSIONS.stop - 1})")
        if 7 not in seen:
            raise _NotOnnx("no graph")
        if 8 not in seen:
            raise _NotOnnx("no opset_import")
    elif kind == "graph":  # the model's own graph; a subgraph may be empty
        if 1 not in seen:
            raise _NotOnnx(f"{_place(where)}: the graph has no nodes")
        if 12 not in seen:
            raise _NotOnnx(f"{_place(where)}: the graph has no outputs")
    elif kind == "node" and 4 not in seen:
        raise _NotOnnx(f"{_place(where)}: a node without op_type")
    elif kind == "opset" and 2 not in seen:
        raise _NotOnnx(f"{_place(where)}: an opset_import without a version")


def onnx_problem(data: bytes | bytearray | memoryview | mmap.mmap) -> str | None:
    """What keeps ``data`` from being an ONNX model (None when its structure holds; see the module).

    Example:
        >>> onnx_problem(b"\\x08\\x01\\x1a\\x1fmy very important research data")
        'IR version 1 (an ONNX model declares 3 to 64)'
    """
    with memoryview(data) as view:
        walk = _Walk(len(view))
        try:
            _walk(view, 0, len(view), "model", "the model", 0, walk)
        except _NotOnnx as err:
            return str(err)
        except protowire.TooManyFields:
            return (
                f"the model holds more than {walk.budget.limit:,} protobuf fields, netform's limit for an ONNX "
                f"file of {len(view):,} bytes (one field per {BYTES_PER_FIELD} bytes, at least "
                f"{MAX_FIELDS:,}; real models hold far fewer)"
            )
    return None


def savedmodel_graph(data: bytes | bytearray | memoryview | mmap.mmap) -> bool:
    """Whether ``data`` is laid out as TensorFlow's ``SavedModel`` message (as in ``saved_model.pb``).

    ``saved_model_schema_version`` (field 1, a number) and ``meta_graphs``
    (field 2), each meta graph made only of ``MetaGraphDef``'s message fields
    (1 to 7) with a ``graph_def`` (2). Used to say what a refused file is.
    """
    schema = {1: (_V, "int", False, "saved_model_schema_version"), 2: (_L, "bytes", True, "meta_graphs")}
    meta = {n: (_L, "bytes", n in (4, 5, 6), "") for n in range(1, 8)}  # collection, signature, asset: repeated
    with memoryview(data) as view:
        try:
            fields = _walk_plain(view, 0, len(view), schema)
            graphs = fields.get(2, [])
            return bool(graphs) and all(2 in _walk_plain(view, s, e, meta) for s, e in graphs)
        except _NotOnnx:
            return False


def _walk_plain(view: memoryview, start: int, end: int, schema: dict[int, _Field]) -> dict[int, list[tuple[int, int]]]:
    """The fields of a message by ``schema`` (no nesting): ``{field: [(start, end), ...]}`` (a varint: ``(value, value)``)."""
    seen: dict[int, list[tuple[int, int]]] = {}
    try:
        for number, wire, value, stop in protowire.fields(view, start, end):
            spec = schema.get(number)
            if spec is None or wire not in spec[0] or (number in seen and not spec[2]):
                raise _NotOnnx("message")
            seen.setdefault(number, []).append((value, value) if wire == _VARINT else (value, stop))
    except protowire.WireError as err:
        raise _NotOnnx("message") from err
    return seen
