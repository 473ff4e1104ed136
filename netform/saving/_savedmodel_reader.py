"""What a SavedModel directory written by another tool holds, read without TensorFlow.

``saved_model.pb`` is a protocol buffer, and TensorFlow's generated
``*_pb2`` modules import the whole ``tensorflow`` package. ``inspect`` needs
only a few of its fields: the signatures (names, dtypes and shapes of their
inputs and outputs), the variables' shapes (from the object graph), and,
for the safe-mode check that :func:`~._savedmodel.load_savedmodel` runs,
every operation of the graph and its functions. This module decodes exactly
those fields from the protobuf wire format and skips the rest (constants,
shapes of intermediate tensors) without reading them.

The decoded graph has the attributes :func:`~._graph_ops.refused_ops` reads
from TensorFlow's ``MetaGraphDef``, so the same function, with the same
allow-list, decides what a safe-mode load would refuse.

Bounds: the file is refused before it is read when it is larger than
:data:`~._savedmodel.MAX_GRAPH_BYTES` or not a regular file (as on the
loading path); a field whose declared length runs past its message, a
varint longer than ten bytes, a wire type protobuf does not have, a field
numbered 0 (all read by :mod:`._protowire`) or text that is not UTF-8 in a
string field is a :class:`~netform.errors.FormatError`.
Nesting cannot run deep: only the fixed path of messages named here is
decoded, so a hostile file's depth is never recursed into; the one nesting a
graph repeats, attributes naming functions whose attributes name functions,
is measured without recursion (:func:`_check_attr_depth`) and refused past
the depth TensorFlow's protobuf parser reads (:data:`MAX_MESSAGE_DEPTH`).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from netform.errors import FormatError

from . import _protowire as protowire

__all__ = ["read_saved_graph", "describe_foreign"]

#: TensorFlow ``DataType`` numbers, by the names ``tf.dtypes.as_dtype(n).name`` gives them.
_DTYPES = {
    1: "float32",
    2: "float64",
    3: "int32",
    4: "uint8",
    5: "int16",
    6: "int8",
    7: "string",
    8: "complex64",
    9: "int64",
    10: "bool",
    11: "qint8",
    12: "quint8",
    13: "qint32",
    14: "bfloat16",
    15: "qint16",
    16: "quint16",
    17: "uint16",
    18: "complex128",
    19: "float16",
    20: "resource",
    21: "variant",
    22: "uint32",
    23: "uint64",
}

_Field = tuple[int, int | memoryview]

#: The most protobuf fields the reader decodes (about 4 s of Python); a graph that holds more (a legitimate
#: one of a few hundred MB, or a hostile file of tiny fields) is left to TensorFlow's parser, as before.
MAX_FIELDS = 2_000_000

#: The deepest a message may sit below the ``SavedModel`` (depth 0) for TensorFlow's protobuf parser (upb's
#: default decode depth limit, 100: a deeper file fails to load with "Exceeded upb_DecodeOptions_MaxDepth").
MAX_MESSAGE_DEPTH = 100

#: The depth of a ``NodeDef`` of the graph (SavedModel, MetaGraphDef, GraphDef, NodeDef) and of a function's.
_GRAPH_NODE_DEPTH = 3
_FUNCTION_NODE_DEPTH = 5

# Never leaves describe_foreign: a NetformError, so that ._meta.reading lets it through.
TooManyFields = protowire.TooManyFields


class _Wire(protowire.Budget):
    """The protobuf wire format over one buffer, within :data:`MAX_FIELDS` fields; every error names the file."""

    def __init__(self, data: bytes, where: str) -> None:
        super().__init__(MAX_FIELDS)
        self.data = memoryview(data)
        self.where = where

    def corrupt(self, why: str) -> FormatError:
        return FormatError(
            f"{self.where}: the SavedModel graph (saved_model.pb) is truncated or corrupt ({why}); "
            "export the model again."
        )

    def fields(self, buf: memoryview) -> Iterator[_Field]:
        """``(field number, value)`` of one message: an int (varint) or the bytes of a length-delimited field.

        Fixed-size fields (floats, doubles) are checked and skipped: no field read here is one.
        """
        try:
            for number, wire, value, stop in protowire.fields(buf, 0, len(buf), self):
                if wire == protowire.LEN:
                    yield number, buf[value:stop]
                elif wire == protowire.VARINT:
                    yield number, value
        except protowire.WireError as err:
            raise self.corrupt(err.why) from None

    def text(self, value: int | memoryview) -> str:
        if not isinstance(value, memoryview):
            raise self.corrupt("a string field holds a number")
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.corrupt(f"a string field is not UTF-8 ({err.reason})") from err

    def message(self, value: int | memoryview) -> memoryview:
        if not isinstance(value, memoryview):
            raise self.corrupt("a message field holds a number")
        return value

    def map_entry(self, value: int | memoryview) -> tuple[str, memoryview]:
        """``(key, value bytes)`` of a ``map<string, Message>`` entry."""
        key, found = "", memoryview(b"")
        for number, item in self.fields(self.message(value)):
            if number == 1:
                key = self.text(item)
            elif number == 2:
                found = self.message(item)
        return key, found


# --- the objects refused_ops reads (TensorFlow's message names and attributes) -------------------


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


class _AttrValue:
    """An ``AttrValue``: what ``refused_ops`` asks of it (its function references and its bytes)."""

    def __init__(self, wire: _Wire, buf: memoryview) -> None:
        self.s = b""
        self.i = 0
        self.shape: list[int | None] | None = None
        self.tensor = _Tensor()
        self._set = ""
        self.func = _Named("")
        self.list = _AttrList()
        for number, value in wire.fields(buf):
            if number == 2:  # a oneof: the last member set wins and clears the others, as in protobuf
                self.s, self._set = bytes(wire.message(value)), "s"
                continue
            # A message member read twice is merged (a name given again replaces it, a list is extended).
            if number == 10:
                name = _name_of(wire, value)
                self.func = _Named(name or (self.func.name if self._set == "func" else ""))
                self._set = "func"
            elif number == 1:
                self.list = self.list if self._set == "list" else _AttrList()
                self._set = "list"
                for inner, item in wire.fields(wire.message(value)):
                    if inner == 9:
                        self.list.func.append(_Named(_name_of(wire, item)))
            elif number == 7:  # a variable node's shape (TF1 graphs)
                self.shape, self._set = _shape(wire, value), "shape"
            elif number == 3 and isinstance(value, int):  # an int64, as a varint
                self.i, self._set = value - (1 << 64) if value >= 1 << 63 else value, "i"
            elif number == 8:  # a constant's tensor: only its declared shape is read
                self.tensor, self._set = _Tensor(wire, value), "tensor"
            elif number in (3, 4, 5, 6, 9):
                self._set = str(number)
            else:
                continue
            self.s = b""

    def HasField(self, name: str) -> bool:  # protobuf's method name
        return self._set == name


class _Dim:
    def __init__(self, size: int) -> None:
        self.size = size


class _TensorShape:
    def __init__(self, dims: list[int | None] | None) -> None:
        self.dim = [_Dim(-1 if d is None else d) for d in dims or []]


class _Tensor:
    """A ``TensorProto``: its declared shape (``tensor_shape``, field 2) only, not its values."""

    def __init__(self, wire: _Wire | None = None, value: int | memoryview = 0) -> None:
        self.tensor_shape = _TensorShape([])
        if wire is not None:
            for number, item in wire.fields(wire.message(value)):
                if number == 2:
                    self.tensor_shape = _TensorShape(_shape(wire, item))


class _AttrList:
    def __init__(self) -> None:
        self.func: list[_Named] = []


def _check_attr_depth(wire: _Wire, buf: memoryview, depth: int) -> None:
    """Refuse an ``AttrValue`` (at ``depth``) whose function references nest deeper than TensorFlow parses.

    ``AttrValue.func`` (a ``NameAttrList``) holds a map of ``AttrValue`` again, and so does each function of
    ``AttrValue.list.func``: TensorFlow's parser stops at :data:`MAX_MESSAGE_DEPTH` levels, so such a file never
    loads. Walked with a stack (a hostile file nests 100,000 deep), each nested message once, within the
    reader's field budget.
    """
    stack = [(buf, depth)]
    while stack:
        value, level = stack.pop()
        for number, item in wire.fields(value):
            if number in (1, 7, 8, 10):  # list, shape, tensor, func: messages at level + 1
                _check_depth(wire, level + 1)
            if number == 10:  # func: a NameAttrList
                names = [(wire.message(item), level + 1)]
            elif number == 1:  # list: a ListValue; its shape, tensor and func (fields 7 to 9) at level + 2
                listed = [(inner, f) for inner, f in wire.fields(wire.message(item)) if inner in (7, 8, 9)]
                if listed:
                    _check_depth(wire, level + 2)
                names = [(wire.message(f), level + 2) for inner, f in listed if inner == 9]
            else:
                continue
            for named, at in names:
                # its attr (field 2): map entries at at + 1, each one's AttrValue (field 2) at at + 2
                for entry in (e for inner, e in wire.fields(named) if inner == 2):
                    _check_depth(wire, at + 1)
                    for attr in (a for key, a in wire.fields(wire.message(entry)) if key == 2):
                        _check_depth(wire, at + 2)
                        stack.append((wire.message(attr), at + 2))


def _check_depth(wire: _Wire, depth: int) -> None:
    if depth > MAX_MESSAGE_DEPTH:
        raise wire.corrupt(
            f"function attributes nest messages {depth} deep, deeper than the {MAX_MESSAGE_DEPTH} levels "
            "TensorFlow's parser reads, so TensorFlow cannot load the graph"
        )


def _name_of(wire: _Wire, value: int | memoryview) -> str:
    """The ``name`` (field 1) of a ``NameAttrList``; its attributes are not read."""
    name = ""
    for number, item in wire.fields(wire.message(value)):
        if number == 1:
            name = wire.text(item)
    return name


class _Node:
    """A ``NodeDef``: name, op, inputs and attributes."""

    def __init__(self, wire: _Wire, buf: memoryview, depth: int) -> None:
        self.name = self.op = ""
        self.input: list[str] = []
        self.attr: dict[str, _AttrValue] = {}
        for number, value in wire.fields(buf):
            if number == 1:
                self.name = wire.text(value)
            elif number == 2:
                self.op = wire.text(value)
            elif number == 3:
                self.input.append(wire.text(value))
            elif number == 5:
                key, item = wire.map_entry(value)
                self.attr[key] = _AttrValue(wire, item)
                _check_attr_depth(wire, item, depth + 2)


class _Function:
    """A ``FunctionDef``: its signature's name and its nodes."""

    def __init__(self, wire: _Wire, buf: memoryview) -> None:
        self.signature = _Named("")
        self.node_def: list[_Node] = []
        for number, value in wire.fields(buf):
            if number == 1:
                self.signature = _Named(_name_of(wire, value) or self.signature.name)  # OpDef.name is field 1 too
            elif number == 3:
                self.node_def.append(_Node(wire, wire.message(value), _FUNCTION_NODE_DEPTH))


class _Library:
    def __init__(self) -> None:
        self.function: list[_Function] = []


class _Graph:
    """A ``GraphDef``: top-level nodes and the function library."""

    def __init__(self) -> None:
        self.node: list[_Node] = []
        self.library = _Library()

    def read(self, wire: _Wire, buf: memoryview) -> None:
        for number, value in wire.fields(buf):
            if number == 1:
                self.node.append(_Node(wire, wire.message(value), _GRAPH_NODE_DEPTH))
            elif number == 2:
                for inner, item in wire.fields(wire.message(value)):
                    if inner == 1:
                        self.library.function.append(_Function(wire, wire.message(item)))


class _Saver:
    def __init__(self) -> None:
        self.save_tensor_name = self.restore_op_name = ""

    def read(self, wire: _Wire, buf: memoryview) -> None:
        for number, value in wire.fields(buf):
            if number == 2:
                self.save_tensor_name = wire.text(value)
            elif number == 3:
                self.restore_op_name = wire.text(value)


class _Reference:
    def __init__(self, node_id: int, local_name: str) -> None:
        self.node_id, self.local_name = node_id, local_name


class _Saveable:
    def __init__(self, restore_function: int) -> None:
        self.restore_function = restore_function


class _FunctionNames:
    def __init__(self) -> None:
        self.concrete_functions: list[str] = []
        self.concrete_function_name = ""


class _Object:
    """A ``SavedObject``: what ``refused_ops`` asks of it (children, functions, saveables' restore functions)."""

    def __init__(self) -> None:
        self.children: list[_Reference] = []
        self.function = _FunctionNames()  # a SavedFunction's concrete_functions
        self.bare_concrete_function = _FunctionNames()  # a SavedBareConcreteFunction's concrete_function_name
        self.saveable_objects: dict[str, _Saveable] = {}


class _ObjectGraph:
    """A ``SavedObjectGraph``: the concrete functions' names, each object's children, the variables' shapes.

    ``nodes`` holds what :func:`~._graph_ops.refused_ops` reads of each object, by TensorFlow's names.
    """

    def __init__(self) -> None:
        self.concrete_functions: dict[str, None] = {}
        self.children: list[dict[str, int]] = []
        self.variables: dict[int, tuple[int, ...]] = {}
        self.nodes: list[_Object] = []

    def read(self, wire: _Wire, buf: memoryview) -> None:
        for number, value in wire.fields(buf):
            if number == 1:
                self._object(wire, wire.message(value))
            elif number == 2:
                self.concrete_functions[wire.map_entry(value)[0]] = None

    def _object(self, wire: _Wire, buf: memoryview) -> None:
        index = len(self.children)
        children: dict[str, int] = {}
        obj = _Object()
        for number, value in wire.fields(buf):
            if number == 1:  # ObjectReference: node_id 1, local_name 2
                node, name = 0, ""
                for inner, item in wire.fields(wire.message(value)):
                    if inner == 1 and isinstance(item, int):
                        node = item
                    elif inner == 2:
                        name = wire.text(item)
                children[name] = node
                obj.children.append(_Reference(node, name))
            elif number == 7:  # SavedVariable: shape 2
                for inner, item in wire.fields(wire.message(value)):
                    if inner == 2:
                        self.variables[index] = tuple(d or 0 for d in (_shape(wire, item) or ()))
            elif number == 6:  # SavedFunction: concrete_functions 1
                obj.function.concrete_functions += [
                    wire.text(item) for inner, item in wire.fields(wire.message(value)) if inner == 1
                ]
            elif number == 8:  # SavedBareConcreteFunction: concrete_function_name 1
                for inner, item in wire.fields(wire.message(value)):
                    if inner == 1:
                        obj.bare_concrete_function.concrete_function_name = wire.text(item)
            elif number == 11:  # map<string, SaveableObject>: restore_function 3
                key, item = wire.map_entry(value)
                restore = 0
                for inner, ref in wire.fields(item):
                    if inner == 3 and isinstance(ref, int):
                        restore = ref
                obj.saveable_objects[key] = _Saveable(restore)
        self.children.append(children)
        self.nodes.append(obj)


class _Values:
    def __init__(self) -> None:
        self.value: list[Any] = []


class _Collection:
    """A ``CollectionDef``: its node names (``node_list``) and serialized protos (``bytes_list``)."""

    def __init__(self, wire: _Wire, buf: memoryview) -> None:
        self.node_list, self.bytes_list = _Values(), _Values()
        for number, value in wire.fields(buf):
            if number in (1, 2):  # NodeList, BytesList: value 1
                for inner, item in wire.fields(wire.message(value)):
                    if inner == 1 and number == 1:
                        self.node_list.value.append(wire.text(item))
                    elif inner == 1:
                        self.bytes_list.value.append(bytes(wire.message(item)))


class _MetaGraph:
    """A ``MetaGraphDef``: what ``refused_ops`` reads, its signatures and its object graph.

    ``init_op_outputs`` holds the tensor names of the ``__saved_model_init_op``
    signature (TensorFlow's proto has them in ``signature_def``, which here
    keeps each signature's bytes for :func:`signatures`).
    """

    def __init__(self, wire: _Wire, buf: memoryview) -> None:
        self.wire = wire  # the signatures are decoded on demand, within the same budget of fields
        self.graph_def = _Graph()
        self.saver_def = _Saver()
        self.object_graph_def = _ObjectGraph()
        self.signature_def: dict[str, memoryview] = {}
        self.collection_def: dict[str, _Collection] = {}
        for number, value in wire.fields(buf):
            if number == 2:
                self.graph_def.read(wire, wire.message(value))
            elif number == 3:
                self.saver_def.read(wire, wire.message(value))
            elif number == 4:
                key, item = wire.map_entry(value)
                self.collection_def[key] = _Collection(wire, item)
            elif number == 5:
                key, item = wire.map_entry(value)
                self.signature_def[key] = item
            elif number == 7:
                self.object_graph_def.read(wire, wire.message(value))
        init = self.signature_def.get("__saved_model_init_op")
        self.init_op_outputs = [] if init is None else [str(row["name"]) for row in _tensor_names(wire, init)]


def _shape(wire: _Wire, value: int | memoryview) -> list[int | None] | None:
    """A ``TensorShapeProto`` as a list (None for an unknown size), or None for an unknown rank."""
    dims: list[int | None] = []
    for number, item in wire.fields(wire.message(value)):
        if number == 3 and item:
            return None
        if number == 2:
            size: int | None = 0
            for inner, dim in wire.fields(wire.message(item)):
                if inner == 1 and isinstance(dim, int):
                    size = dim - (1 << 64) if dim >= 1 << 63 else dim  # int64: -1 is "unknown"
            dims.append(None if size is not None and size < 0 else size)
    return dims


def read_saved_graph(path: str) -> list[_MetaGraph]:
    """The meta graphs of a SavedModel directory's ``saved_model.pb``, decoded without TensorFlow.

    Args:
        path: The SavedModel directory (its tree already checked).

    Returns:
        One object per ``MetaGraphDef``, with the attributes
        :func:`~._graph_ops.refused_ops` reads.

    Raises:
        UnsafeFileError: The graph file is over the size bound or not a regular file.
        FormatError: The protobuf is truncated or corrupt.
    """
    from ._meta import read_bounded
    from ._savedmodel import MAX_GRAPH_BYTES, graph_file

    file = graph_file(path)
    data = read_bounded(file, MAX_GRAPH_BYTES, f"the SavedModel graph ({os.path.basename(file)})")
    wire = _Wire(data, path)
    return [_MetaGraph(wire, wire.message(value)) for number, value in wire.fields(wire.data) if number == 2]


def _tensor_names(wire: _Wire, buf: memoryview) -> list[dict[str, Any]]:
    """``[{name}]`` of a signature's outputs: each ``TensorInfo``'s tensor ``name`` (field 1)."""
    rows = []
    for number, value in wire.fields(buf):
        if number == 2:
            for inner, item in wire.fields(wire.map_entry(value)[1]):
                if inner == 1:
                    rows.append({"name": wire.text(item)})
    return rows


def _tensors(wire: _Wire, buf: memoryview, field: int) -> list[dict[str, Any]]:
    """``[{name, dtype, shape}]`` of a signature's inputs (field 1) or outputs (2), sorted by name."""
    rows = []
    for number, value in wire.fields(buf):
        if number != field:
            continue
        key, info = wire.map_entry(value)
        row: dict[str, Any] = {"name": key, "dtype": None, "shape": None}
        for inner, item in wire.fields(info):
            if inner == 2 and isinstance(item, int):
                row["dtype"] = _DTYPES.get(item, str(item))
            elif inner == 3:
                row["shape"] = _shape(wire, item)
        rows.append(row)
    return sorted(rows, key=lambda r: str(r["name"]))


def signatures(meta: _MetaGraph) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{signature: {"inputs": [...], "outputs": [...]}}`` as ``tf.saved_model.load(path).signatures`` has them.

    TensorFlow keeps its init op among the signature defs
    (``__saved_model_init_op``); it is not a signature the model can be called by.
    """
    wire = meta.wire
    return {
        name: {"inputs": _tensors(wire, buf, 1), "outputs": _tensors(wire, buf, 2)}
        for name, buf in sorted(meta.signature_def.items())
        if name != "__saved_model_init_op"
    }


def _numel(shape: tuple[int | None, ...] | list[int | None]) -> int:
    n = 1
    for d in shape:
        n *= int(d or 0)
    return n


def variable_count(meta: _MetaGraph) -> int:
    """Scalars in the SavedModel's variables: those its root lists as ``variables``, else every variable object.

    Keras's ``model.export()`` tracks each variable twice (as ``variables``
    and under an inner name), so the root's ``variables`` list is what
    ``tf.saved_model.load(path).variables`` gives; a ``tf.Module`` saved by
    ``tf.saved_model.save`` has no such list, and each of its variables is
    one object of the graph; a TF1 SavedModel has none, and its variables
    are the variable nodes of its main graph.
    """
    graph = meta.object_graph_def
    listed = graph.children[0].get("variables") if graph.children else None
    if listed is not None and 0 <= listed < len(graph.children):
        ids = [i for i in graph.children[listed].values() if i in graph.variables]
        if ids:
            return sum(_numel(graph.variables[i]) for i in ids)
    if graph.children:
        return sum(_numel(shape) for shape in graph.variables.values())
    # A TF1 SavedModel has no object graph: TensorFlow lifts the main graph's variable nodes.
    shapes = {
        node.name: node.attr["shape"].shape or []
        for node in meta.graph_def.node
        if node.op in _VARIABLE_OPS and "shape" in node.attr
    }
    return sum(_numel(shape) for shape in shapes.values())


_VARIABLE_OPS = frozenset({"VarHandleOp", "VariableV2", "Variable"})


def describe_foreign(path: str, *, safe_mode: bool = True) -> dict[str, Any] | None:
    """What ``inspect`` reports of a SavedModel another tool wrote, after the checks loading it runs.

    In safe mode the graph's operations are checked against the same
    allow-list (:func:`~._graph_ops.refused_ops`) and refused with the same
    error as :func:`~._savedmodel.load_savedmodel`; the size bound holds in
    every mode, and so does the check of ``variables/variables.index`` and
    its data shards by netform's own reader
    (:func:`~._tensor_bundle.check_savedmodel_variables`), as loading runs it.

    Args:
        path: A SavedModel directory without netform's embedded model (its tree already checked).
        safe_mode: As for :func:`netform.load`.

    Returns:
        ``{"model_name", "signatures", "endpoint", "parameters"}``, or None
        where only TensorFlow reads the graph (``saved_model.pbtxt``, more
        than :data:`MAX_FIELDS` fields, or several meta graphs, between which
        ``tf.saved_model.load`` chooses by tags).

    Raises:
        FormatError: The graph or the variables' index is corrupt, or the graph has no signature to call.
        UnsafeFileError: An oversized graph, or (in safe mode) an operation that is not pure.
    """
    from ._graph_ops import refused_ops
    from ._meta import reading
    from ._savedmodel import _refusal, graph_file

    if not graph_file(path).endswith(".pb"):
        return None
    try:
        with reading(path, "savedmodel"):
            metas = read_saved_graph(path)
            found = signatures(metas[0]) if len(metas) == 1 else None
    except TooManyFields:
        return None
    if safe_mode:
        refused = [found for meta in metas for found in refused_ops(meta, where=path)]
        if refused:
            keras_2 = os.path.isfile(os.path.join(path, "keras_metadata.pb"))
            raise _refusal(path, "Keras 2 (tf_keras)" if keras_2 else "another tool", refused)
    if found is None:
        return None  # loading it with TensorFlow checks the variables' index first
    from ._tensor_bundle import check_savedmodel_variables

    # as loading does, in every mode: the index TensorFlow would abort the process on is read by netform's reader
    check_savedmodel_variables(path)
    if not found:
        raise FormatError(
            f"{path}: SavedModel has no signatures, so nothing can be called. Export it with a serving signature."
        )
    return {
        "model_name": os.path.basename(os.path.normpath(path)),
        "endpoint": "serving_default" if "serving_default" in found else sorted(found)[0],
        "signatures": found,
        "parameters": variable_count(metas[0]),
    }
