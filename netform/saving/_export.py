"""What the deployment exports (ONNX, LiteRT) share: the model's serving function and the converters' imports."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from types import ModuleType
from typing import Any, Callable

from netform.errors import FormatError, SaveError, UnsafeFileError

from . import _protowire as protowire

__all__ = [
    "all_layers",
    "describe_export",
    "export_file",
    "keras_layer_path",
    "require",
    "run_keras_export",
    "serving_function",
]


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional converter, or say which ``pip install`` brings it.

    Raises:
        SaveError: The package is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise SaveError(
            f"{what} needs the '{module.split('.')[0]}' package, which is not installed "
            f"({err}). Install it with: pip install netform[{extra}]"
        ) from err


def run_keras_export(export: Callable[[str], Any], tmp: str, target: str, what: str) -> None:
    """Run Keras's ``export(tmp)``, a fresh path beside ``target`` that then replaces it, as if it wrote ``target``.

    Keras's "Saved artifact at …" line names ``target``, not ``tmp``. A write that fails (a full disk, a
    file-size limit, an unwritable folder: an ``OSError`` or a TensorFlow ``OpError``) is a ``SaveError``
    naming ``target``; Keras's own errors (an unbuilt model, a bad argument) are raised as Keras raises them.

    Raises:
        SaveError: The export could not be written.
    """
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            export(tmp)
    except Exception as err:
        import tensorflow as tf

        if not isinstance(err, (OSError, tf.errors.OpError)):
            raise
        text = " ".join(str(err).split())[:400]
        raise SaveError(
            f"{target}: could not export {what} ({type(err).__name__}: {text}). What was there before is left intact."
        ) from err
    finally:
        out = printed.getvalue().replace(os.path.abspath(tmp), os.path.abspath(target))
        sys.stdout.write(out.replace(tmp, target))


def export_file(path: str, fmt: str, export: Callable[[str], Any]) -> None:
    """Keras's one-file ``export`` (``onnx``, ``litert``), written beside ``path`` and renamed into place.

    What is at ``path`` is replaced only when it is an earlier export of the same format
    (:func:`~._target.check_target`): a link, a folder or a user's file is refused before anything is
    written. A kill or a failed write leaves the earlier file as it was.

    Args:
        path: The file to write.
        fmt: ``"onnx"`` or ``"tflite"``.
        export: Keras's export, given the path to write.

    Raises:
        SaveError: Something other than an earlier export is at ``path``, or the file could not be written.
    """
    from ._atomic import atomic_path
    from ._target import check_target

    check_target(path, fmt)
    what = "the ONNX model" if fmt == "onnx" else "the LiteRT model"
    try:
        with atomic_path(path) as tmp:
            run_keras_export(export, tmp, path, what)
    except OSError as err:  # naming or moving the new file (a disk out of space or inodes)
        raise SaveError(
            f"{path}: could not export {what} ({type(err).__name__}: {err}). What was there before is left intact."
        ) from err


def all_layers(model: Any) -> list[Any]:
    """``model`` and every layer inside it: nested models' layers and wrapped layers (``Bidirectional``...)."""
    found: list[Any] = []
    stack = [model]
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "layers", None) or [])
        for attr in ("layer", "forward_layer", "backward_layer"):
            inner = getattr(layer, attr, None)
            if inner is not None and hasattr(inner, "name") and hasattr(inner, "call"):
                stack.append(inner)
    return found


def keras_layer_path(model: Any, scope: str) -> str:
    """The Keras layer a TensorFlow op scope comes from, by the layers' names.

    TensorFlow scopes a traced op by the layers it runs in, with ``_1``-style
    suffixes where names repeat (``functional_1/odd_layer_1/Igamma``); the
    result names the layers as Keras does (``odd_layer``), nested ones joined
    by ``/``. A scope naming no layer comes back as it is.
    """
    import re

    names = {layer.name for layer in all_layers(model)}
    found = []
    for part in scope.split("/")[:-1] if "/" in scope else [scope]:
        if part in names and part != model.name:
            found.append(part)
            continue
        base = re.sub(r"_\d+$", "", part)
        while base not in names and re.search(r"_\d+$", base):
            base = re.sub(r"_\d+$", "", base)
        if base in names and base != model.name:
            found.append(base)
    return "/".join(found) or scope.rsplit("/", 1)[0]


def serving_function(model: Any, path: str, batch: int | None = None) -> tuple[Any, list[Any]]:
    """A ``tf.function`` running ``model`` in inference mode, and its flat input signature.

    The signature is the one ``model.export()`` computes (from the model's
    inputs, or the shapes a subclassed model was built with); the function
    takes the inputs as positional tensors in that order. ``batch`` fixes the
    first dimension of every input (None leaves it as the model has it).

    Raises:
        FormatError: The model is not built, so it has no input signature.
    """
    import tensorflow as tf

    from netform._compat._keras_export import deploy_input_signature

    from ._meta import check_built

    check_built(model, "export")
    try:
        signature = deploy_input_signature(model)
    except (ValueError, TypeError, AttributeError) as err:
        raise FormatError(
            f"{path}: cannot tell the inputs of model '{model.name}' ({err}). Build it "
            "with an input shape (model.build(...)) or call it once on data."
        ) from err
    flat = tf.nest.flatten(signature)
    specs = [
        tf.TensorSpec(_batched(s.shape, batch), s.dtype, name=getattr(s, "name", None) or f"input_{i}")
        for i, s in enumerate(flat)
    ]

    def serve(*args: Any) -> Any:
        packed = tf.nest.pack_sequence_as(signature, list(args))
        return model(*packed, training=False)

    return tf.function(serve, input_signature=specs, autograph=False), specs


def _batched(shape: Any, batch: int | None) -> Any:
    if batch is None or not shape:
        return shape
    return (batch, *tuple(shape)[1:])


#: ONNX TensorProto element types by number, as ``inspect`` names them.
_ONNX_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
}


#: The most fields ``inspect`` walks in one ONNX message (about 10 s of Python): a graph of a few million
#: nodes and initializers is far past any real model's, and bounds the time a file of tiny fields costs.
MAX_ONNX_FIELDS = 5_000_000

_Span = tuple[int, int]  # (offset, length) of a length-delimited field in the file


def _proto_fields(view: memoryview, start: int, end: int, path: str) -> list[tuple[int, int | _Span]]:
    """``(field, value)`` of the protobuf message in ``view[start:end]``: an int, or ``(offset, length)``.

    The file is memory-mapped, so a 2 GB graph's nodes and weights are never read; fixed-size fields are skipped.
    """
    try:
        return [
            (number, value if wire == protowire.VARINT else (value, stop - value))
            for number, wire, value, stop in protowire.fields(view, start, end, protowire.Budget(MAX_ONNX_FIELDS))
            if wire == protowire.VARINT or wire == protowire.LEN
        ]
    except protowire.TooManyFields:
        raise FormatError(
            f"{path}: a message of the ONNX file holds more than {MAX_ONNX_FIELDS:,} fields; a model's "
            "graph holds far fewer, so the file is refused as corrupt or hostile."
        ) from None
    except protowire.WireError as err:
        if err.kind == "wire":
            raise FormatError(f"{path}: the ONNX file is corrupt (protobuf wire type {err.wire}).") from None
        if err.kind == "number":
            raise FormatError(f"{path}: the ONNX file is corrupt (protobuf field number 0).") from None
        raise FormatError(f"{path}: the ONNX file is truncated or corrupt (a field runs past its end).") from None


def _text(view: memoryview, span: _Span, limit: int = 4096) -> str:
    return bytes(view[span[0] : span[0] + min(span[1], limit)]).decode("utf-8", "replace")


def _onnx_value_info(view: memoryview, span: _Span, path: str) -> dict[str, Any]:
    """``{name, dtype, shape}`` of an ONNX ``ValueInfoProto`` (an input or output of the graph)."""
    info: dict[str, Any] = {"name": "", "dtype": None, "shape": None}
    fields = _proto_fields(view, span[0], span[0] + span[1], path)
    for field, value in fields:
        if field == 1 and isinstance(value, tuple):
            info["name"] = _text(view, value)
        elif field == 2 and isinstance(value, tuple):  # TypeProto
            for f2, tensor in _proto_fields(view, value[0], value[0] + value[1], path):
                if f2 != 1 or not isinstance(tensor, tuple):
                    continue
                for f3, v3 in _proto_fields(view, tensor[0], tensor[0] + tensor[1], path):
                    if f3 == 1 and isinstance(v3, int):
                        info["dtype"] = _ONNX_TYPES.get(v3, str(v3))
                    elif f3 == 2 and isinstance(v3, tuple):
                        dims: list[Any] = []
                        for f4, dim in _proto_fields(view, v3[0], v3[0] + v3[1], path):
                            if f4 != 1 or not isinstance(dim, tuple):
                                continue
                            size: Any = None
                            for f5, v5 in _proto_fields(view, dim[0], dim[0] + dim[1], path):
                                size = (
                                    v5
                                    if f5 == 1 and isinstance(v5, int)
                                    else (_text(view, v5) if f5 == 2 and isinstance(v5, tuple) else size)
                                )
                            dims.append(size)
                        info["shape"] = dims
    return info


#: ONNX stores a tensor's dims as int64 varints: one at or past 2**63 is a negative number written as unsigned.
_INT64_LIMIT = 1 << 63


def _onnx_tensor_size(view: memoryview, span: _Span, path: str) -> int:
    """The number of elements of an ONNX ``TensorProto`` (the product of its ``dims``), its data not read.

    Raises:
        FormatError: A dimension is negative, or the element count does not fit in int64 (ONNX's size
            type): no writer makes such a tensor, and its count would be reported as a parameter count.
    """
    dims: list[int] = []
    name: _Span | None = None
    external: list[_Span] = []
    location = 0
    stored = 0  # bytes of data the tensor holds (raw_data, typed data, packed or not)
    data_type = 0
    for field, value in _proto_fields(view, span[0], span[0] + span[1], path):
        if field == 8 and isinstance(value, tuple):
            name = value
        elif field == 13 and isinstance(value, tuple):  # external_data: {key, value} entries
            external.append(value)
        elif field == 14 and isinstance(value, int):
            location = value
        elif field == 2 and isinstance(value, int):
            data_type = value
        elif field == 6:  # string_data: one entry per string, an empty one included
            stored += max(value[1], 1) if isinstance(value, tuple) else 1
        elif field in _DATA_FIELDS:
            stored += value[1] if isinstance(value, tuple) else 1
        if field != 1:
            continue
        if isinstance(value, int):
            dims.append(value)
            continue
        packed = bytes(view[value[0] : value[0] + min(value[1], 1024)])  # dims packed by a proto3 writer; 100+ dims
        dim, at = protowire.varint_or_none(packed, 0)
        while dim is not None:
            dims.append(dim)
            dim, at = protowire.varint_or_none(packed, at)
    size = 1
    for dim in dims:
        size *= dim
        if dim >= _INT64_LIMIT or size >= _INT64_LIMIT:
            label = repr(_text(view, name, 200)) if name is not None else "without a name"
            shown = [d - (1 << 64) if d >= _INT64_LIMIT else d for d in dims[:8]]
            more = ", ..." if len(dims) > 8 else ""
            why = "a negative dimension" if dim >= _INT64_LIMIT else "more elements than int64 can count"
            raise FormatError(
                f"{path}: initializer {label} of the ONNX graph has dims [{', '.join(map(str, shown))}{more}], "
                f"{why}; no ONNX writer makes such a tensor, so the file is refused as corrupt or edited."
            )
    label = repr(_text(view, name, 200)) if name is not None else "without a name"
    if external or location == 1:
        target = next(
            (_text(view, v, 300) for k, v in (_entry(view, e, path) for e in external) if k == "location"), None
        )
        place = f" ({target!r})" if target is not None else ""
        raise UnsafeFileError(
            f"{path}: initializer {label} of the ONNX graph keeps its data in an external file{place}; a model "
            "file never makes netform read other files, so it is refused. netform writes self-contained ONNX "
            "files (onnx.load_model(..., load_external_data=True) and onnx.save_model make one)."
        )
    fixed = _FIXED_SIZES.get(data_type)
    # Every element takes stored bytes: its fixed size in raw_data or a packed field, at least a byte as a
    # varint, half a byte for 4-bit types; a tensor declaring more elements than that is a lie
    most = stored * 2 if data_type in (21, 22) else stored
    if size > most or (fixed is not None and raw_only(view, span, path) and size * fixed != stored):
        raise FormatError(
            f"{path}: initializer {label} of the ONNX graph declares {size:,} elements but stores {stored:,} "
            "bytes of data; the file is refused as corrupt or edited (its parameter count would be a lie)."
        )
    return size


#: TensorProto fields that hold data: float 4, int32 5, string 6, int64 7, raw 9, double 10, uint64 11.
_DATA_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11})
#: Bytes of one element of an ONNX data type in raw_data (FLOAT 1, UINT8 2, ..., BFLOAT16 16, FLOAT8 17-20).
_FIXED_SIZES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2}
_FIXED_SIZES.update(dict.fromkeys((17, 18, 19, 20), 1))


def raw_only(view: memoryview, span: _Span, path: str) -> bool:
    """Whether a TensorProto's data are all in ``raw_data`` (field 9)."""
    fields = {f for f, _ in _proto_fields(view, span[0], span[0] + span[1], path)}
    return 9 in fields and not (fields & (_DATA_FIELDS - {9}))


def _entry(view: memoryview, span: _Span, path: str) -> tuple[str, _Span]:
    """``(key, value span)`` of a StringStringEntryProto."""
    key, value = "", (span[0], 0)
    for f, v in _proto_fields(view, span[0], span[0] + span[1], path):
        if f == 1 and isinstance(v, tuple):
            key = _text(view, v, 64)
        elif f == 2 and isinstance(v, tuple):
            value = v
    return key, value


def _onnx_parameters(view: memoryview, span: _Span, field: int, path: str) -> int:
    """Elements of a graph initializer (field 5, ``TensorProto``) or sparse initializer (15, its ``values``)."""
    if field == 5:
        return _onnx_tensor_size(view, span, path)
    return sum(
        _onnx_tensor_size(view, v, path)
        for f, v in _proto_fields(view, span[0], span[0] + span[1], path)
        if f == 1 and isinstance(v, tuple)
    )


def _describe_onnx(path: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "opset": None,
        "ir_version": None,
        "producer": None,
        "inputs": [],
        "outputs": [],
        "parameters": 0,
        "metadata": {},
    }
    with open(path, "rb") as fh, protowire.mapped(fh) as view:
        producer = ["", ""]
        for field, value in _proto_fields(view, 0, len(view), path):
            if field == 1 and isinstance(value, int):
                result["ir_version"] = value
            elif field in (2, 3) and isinstance(value, tuple):
                producer[field - 2] = _text(view, value)
            elif field == 8 and isinstance(value, tuple):  # OperatorSetIdProto
                domain, version = "", None
                for f2, v2 in _proto_fields(view, value[0], value[0] + value[1], path):
                    domain = _text(view, v2) if f2 == 1 and isinstance(v2, tuple) else domain
                    version = v2 if f2 == 2 and isinstance(v2, int) else version
                if domain in ("", "ai.onnx"):
                    result["opset"] = version
            elif field == 14 and isinstance(value, tuple):  # metadata_props
                entry = ["", ""]
                for f2, v2 in _proto_fields(view, value[0], value[0] + value[1], path):
                    if f2 in (1, 2) and isinstance(v2, tuple):
                        entry[f2 - 1] = _text(view, v2)
                result["metadata"][entry[0]] = entry[1]
            elif field == 7 and isinstance(value, tuple):  # GraphProto: inputs 11, outputs 12, initializers 5, 15
                for f2, v2 in _proto_fields(view, value[0], value[0] + value[1], path):
                    if f2 in (11, 12) and isinstance(v2, tuple):
                        result["inputs" if f2 == 11 else "outputs"].append(_onnx_value_info(view, v2, path))
                    elif f2 in (5, 15) and isinstance(v2, tuple):
                        result["parameters"] += _onnx_parameters(view, v2, f2, path)
        result["producer"] = " ".join(p for p in producer if p) or None
    return result


def _check_tflite(path: str) -> None:
    """Refuse a file whose flatbuffer structure is not a LiteRT model's, before any interpreter reads it.

    Raises:
        FormatError: The structure does not hold (the message says where it breaks).
    """
    import mmap

    from ._tflite import tflite_problem

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            problem = tflite_problem(mapped)
    except (OSError, ValueError) as err:
        problem = f"it cannot be read: {err}"
    if problem is not None:
        raise FormatError(
            f"{path}: carries the TFLite identifier but is not a valid TFLite (LiteRT) model "
            f"({problem}); export it again from the .keras file."
        )


def _describe_tflite(path: str) -> dict[str, Any]:
    """Inputs and outputs of a ``.tflite`` file, from the LiteRT interpreter (``ai-edge-litert`` or ``tf.lite``)."""
    import numpy as np

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            import tensorflow as tf
        except ImportError:
            return {"inputs": None, "outputs": None, "note": "install netform[litert] to list the inputs and outputs"}
        Interpreter = tf.lite.Interpreter
    try:
        interpreter = Interpreter(model_path=path)  # tf.lite's warns that it is deprecated: its own warning, left alone
    except ValueError as err:  # the interpreter's word for a flatbuffer it cannot verify
        raise FormatError(
            f"{path}: not a valid TFLite (LiteRT) model ({' '.join(str(err).split())[:200]}); "
            "export it again from the .keras file."
        ) from err

    def rows(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "name": d["name"],
                "dtype": np.dtype(d["dtype"]).name,
                "shape": [None if s < 0 else int(s) for s in d.get("shape_signature", d["shape"])],
            }
            for d in details
        ]

    try:
        return {"inputs": rows(interpreter.get_input_details()), "outputs": rows(interpreter.get_output_details())}
    except Exception as err:
        # The interpreter decodes names and reads the tensor table only here: a name that is not UTF-8 raises
        # UnicodeDecodeError, other damage whatever its bindings raise; the file is what is wrong in each case.
        raise FormatError(
            f"{path}: not a valid TFLite (LiteRT) model: its inputs and outputs cannot be read "
            f"({type(err).__name__}: {' '.join(str(err).split())[:200]}); export it again from the .keras file."
        ) from err


def describe_export(path: str, fmt: str) -> dict[str, Any]:
    """What ``inspect`` reports of an ONNX or TFLite file: size, opset (ONNX), inputs and outputs.

    ONNX files are read with netform's own protobuf walk (no ``onnx``, no
    TensorFlow), seeking past the graph's nodes and weights; ``parameters``
    is the number of elements of the graph's initializers (the weights and
    the constants the converter kept; it can differ from Keras's count
    where the converter folded a bias or a normalization into a kernel).

    TFLite files have their flatbuffer structure checked before the LiteRT
    interpreter reads them.

    Raises:
        FormatError: The file is truncated or corrupt.
    """
    result: dict[str, Any] = {"size_bytes": os.path.getsize(path)}
    if fmt == "tflite":
        _check_tflite(path)
    if fmt == "onnx":
        result.update(_describe_onnx(path))
    else:
        result.update(_describe_tflite(path))
    return result
