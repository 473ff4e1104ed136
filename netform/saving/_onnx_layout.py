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
* every text field (names, domains, op types, documentation, metadata) is UTF-8.

Tensors (initializers and attribute values) are checked only as length-
delimited fields that lie inside their message: their data are never read.
"""

from __future__ import annotations

import codecs
import mmap
from typing import Final

from . import _protowire as protowire

__all__ = ["onnx_problem", "savedmodel_graph"]

#: The IR versions a model may declare: 3 (ONNX 1.0, the first with ``opset_import``) up to a generous 64.
IR_VERSIONS: Final[range] = range(3, 65)
#: Subgraphs (``If``/``Loop`` bodies) nested deeper than this are refused (writers nest a handful).
_MAX_DEPTH: Final[int] = 64
#: Text fields longer than this are checked for UTF-8 in pieces of this size.
_TEXT_CHUNK: Final[int] = 2**20

_VARINT, _LEN, _FIXED32 = protowire.VARINT, protowire.LEN, protowire.FIXED32

# Each message: {field number: (wire types allowed, what the payload is, repeated, field name)}.
# What the payload is: "int", "float", "text" (UTF-8), "bytes" (opaque, only bounded), or a message name.
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
        5: (_L, "bytes", True, "initializer"),  # TensorProto
        10: (_L, "text", False, "doc_string"),
        11: (_L, "value", True, "input"),
        12: (_L, "value", True, "output"),
        13: (_L, "value", True, "value_info"),
        14: (_L, "bytes", True, "quantization_annotation"),
        15: (_L, "bytes", True, "sparse_initializer"),
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
        1: (_L, "text", False, "name"),
        2: (_L, "bytes", False, "type"),
        3: (_L, "text", False, "doc_string"),
        4: (_L, "entry", True, "metadata_props"),
    },
    "opset": {1: (_L, "text", False, "domain"), 2: (_V, "int", False, "version")},
    "entry": {1: (_L, "text", False, "key"), 2: (_L, "text", False, "value")},
}
_SCHEMA["subgraph"] = _SCHEMA["graph"]


class _NotOnnx(Exception):
    """Where the walk found the bytes break ONNX's layout."""


def _check_text(view: memoryview, start: int, end: int, where: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for at in range(start, end, _TEXT_CHUNK):
            decoder.decode(view[at : min(end, at + _TEXT_CHUNK)], final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        raise _NotOnnx(f"{where} is not UTF-8 text") from err


def _walk(view: memoryview, start: int, end: int, kind: str, where: str, depth: int) -> dict[int, list[int]]:
    """Check the message ``kind`` in ``view[start:end]``; return each field's values (ints, or payload starts)."""
    if depth > _MAX_DEPTH:
        raise _NotOnnx(f"{where}: subgraphs nested more than {_MAX_DEPTH} deep")
    schema = _SCHEMA[kind]
    seen: dict[int, list[int]] = {}
    try:
        for number, wire, value, stop in protowire.fields(view, start, end):
            spec = schema.get(number)
            if spec is None or wire not in spec[0] or (number in seen and not spec[2]):
                raise _NotOnnx(_field_problem(spec, kind, seen, number, wire, where))
            inner = _inner(where, spec, seen.get(number))
            if wire == _LEN:
                payload = spec[1]
                if payload == "text":
                    _check_text(view, value, stop, inner)
                elif payload in _SCHEMA:
                    _walk(view, value, stop, payload, inner, depth + (payload == "subgraph"))
            seen.setdefault(number, []).append(value)
    except protowire.WireError as err:
        if err.number is None or err.wire is None:  # the tag itself
            raise _NotOnnx(f"{where}: a number runs past its message") from None
        # The schema's word first, as for a field that reads whole; then what broke in its value.
        spec = schema.get(err.number)
        if spec is None or err.wire not in spec[0] or (err.number in seen and not spec[2]):
            raise _NotOnnx(_field_problem(spec, kind, seen, err.number, err.wire, where)) from None
        inner = _inner(where, spec, seen.get(err.number))
        raise _NotOnnx(
            f"{inner}: a number runs past its message" if err.kind == "varint" else f"{inner} runs past its message"
        ) from None
    _require(kind, seen, where)
    return seen


def _inner(where: str, spec: _Field, earlier: list[int] | None) -> str:
    """Where a field is: ``the model.graph``, or ``the model.graph.node[3]`` (``earlier``: its values so far)."""
    return f"{where}.{spec[3]}" if not spec[2] else f"{where}.{spec[3]}[{len(earlier or ())}]"


def _field_problem(
    spec: _Field | None, kind: str, seen: dict[int, list[int]], number: int, wire: int, where: str
) -> str:
    """Why field ``number`` of wire type ``wire`` does not belong in a message ``kind`` (``spec``: its schema)."""
    if spec is None:
        return f"{where}: field {number} is no field of an ONNX {kind.replace('sub', '')}"
    inner = _inner(where, spec, seen.get(number))
    return f"{inner} has protobuf wire type {wire}" if wire not in spec[0] else f"{inner} appears twice"


def _require(kind: str, seen: dict[int, list[int]], where: str) -> None:
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
            raise _NotOnnx(f"{where}: the graph has no nodes")
        if 12 not in seen:
            raise _NotOnnx(f"{where}: the graph has no outputs")
    elif kind == "node" and 4 not in seen:
        raise _NotOnnx(f"{where}: a node without op_type")
    elif kind == "opset" and 2 not in seen:
        raise _NotOnnx(f"{where}: an opset_import without a version")


def onnx_problem(data: bytes | bytearray | memoryview | mmap.mmap) -> str | None:
    """What keeps ``data`` from being an ONNX model (None when its structure holds; see the module).

    Example:
        >>> onnx_problem(b"\\x08\\x01\\x1a\\x1fmy very important research data")
        'IR version 1 (an ONNX model declares 3 to 64)'
    """
    with memoryview(data) as view:
        try:
            _walk(view, 0, len(view), "model", "the model", 0)
        except _NotOnnx as err:
            return str(err)
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
