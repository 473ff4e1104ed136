"""Export a Keras model to LiteRT (TensorFlow Lite) with TensorFlow's own converter, written atomically.

As Keras's ``model.export(format="litert")`` does, the model's inference
function is written with ``keras.export.ExportArchive`` to a temporary
SavedModel, which ``tf.lite.TFLiteConverter.from_saved_model`` converts with
the weights frozen in (``from_concrete_functions`` leaves Keras 3's variables
uninitialised, and ``from_keras_model`` prints to standard output); netform
writes the flatbuffer through its atomic writer. Float32 by default;
``quantize="dynamic"`` stores weights as int8 (dynamic-range quantization),
``quantize="float16"`` as float16.
"""

from __future__ import annotations

import mmap
import tempfile
import warnings
from typing import Any, Final

from netform.errors import FormatError, SaveError

from ._atomic import write_bytes
from ._detect import TFLITE_IDENTIFIER
from ._export import all_layers, keras_layer_path, serving_function
from ._meta import writing

__all__ = ["QUANTIZE", "check_quantize", "save_tflite", "TFLITE_READER", "tflite_problem"]

#: The ``quantize=`` choices (None: float32).
QUANTIZE: Final[tuple[str, ...]] = ("dynamic", "float16")
TFLITE_READER: Final[str] = (
    "the LiteRT interpreter (tf.lite.Interpreter(model_path=...) or ai_edge_litert.interpreter.Interpreter)"
)


#: The schema version every LiteRT model carries in its ``version`` field.
_SCHEMA_VERSION: Final[int] = 3
#: The fields of the flatbuffer root table ``Model`` that are vectors: operator_codes, subgraphs, buffers.
_MODEL_VECTORS: Final[tuple[tuple[int, str], ...]] = ((1, "operator_codes"), (2, "subgraphs"), (4, "buffers"))


def tflite_problem(data: bytes | bytearray | memoryview | mmap.mmap) -> str | None:
    """What keeps ``data`` from being a LiteRT flatbuffer model (None when its structure holds).

    The flatbuffer is walked as LiteRT's schema lays it out: the root
    offset leads to the ``Model`` table inside the file, its vtable lies in
    the file and is well formed, ``version`` is the schema's version (3),
    and the ``operator_codes``, ``subgraphs`` (at least one) and
    ``buffers`` vectors, with each of their element offsets, lie in the
    file. Only a few dozen bytes per element are read, never the weights.
    A file carrying the ``TFL3`` identifier over anything else (text, random
    bytes) fails one of these.
    """
    with memoryview(data) as view:
        return _walk_model(view)


def _walk_model(view: memoryview) -> str | None:
    """:func:`tflite_problem` over a view of the bytes."""
    size = len(view)

    def u32(at: int) -> int:
        if at < 0 or at + 4 > size:
            raise IndexError(at)
        return int.from_bytes(view[at : at + 4], "little")

    def u16(at: int) -> int:
        if at < 0 or at + 2 > size:
            raise IndexError(at)
        return int.from_bytes(view[at : at + 2], "little")

    try:
        if size < 8 or bytes(view[4:8]) != TFLITE_IDENTIFIER:
            return "it does not carry the TFLite identifier TFL3 at byte 4"
        root = u32(0)
        if root < 8 or root % 4 or root + 4 > size:
            return f"its root offset {root} points outside the file"
        vtable = root - int.from_bytes(view[root : root + 4], "little", signed=True)
        vt_size, table_size = u16(vtable), u16(vtable + 2)
        if vt_size < 4 or vt_size % 2 or vtable + vt_size > size or table_size < 4 or root + table_size > size:
            return "the vtable of its root table is malformed"

        def field(index: int) -> int:
            slot = 4 + 2 * index
            at = u16(vtable + slot) if slot < vt_size else 0
            if at and (at < 4 or at + 4 > table_size):
                raise IndexError(at)
            return root + at if at else 0

        at = field(0)
        version = u32(at) if at else 0
        if version != _SCHEMA_VERSION:
            return f"its schema version is {version}, not {_SCHEMA_VERSION}"
        for index, name in _MODEL_VECTORS:
            at = field(index)
            if not at:
                if name == "subgraphs":
                    return "it has no subgraphs"
                continue
            vector = at + u32(at)
            count = u32(vector)
            if vector % 4 or vector + 4 + 4 * count > size:
                return f"its {name} vector runs past the end of the file"
            if name == "subgraphs" and count == 0:
                return "it has no subgraphs"
            for i in range(count):
                element = vector + 4 + 4 * i
                target = element + u32(element)
                if target + 4 > size:
                    return f"element {i} of its {name} vector points outside the file"
    except IndexError:
        return "an offset in it points outside the file"
    return None


def check_quantize(quantize: str | None, where: str) -> None:
    """Refuse an unknown ``quantize=`` value.

    Raises:
        SaveError: ``quantize`` is not None, ``"dynamic"`` or ``"float16"``.
    """
    if quantize is not None and quantize not in QUANTIZE:
        raise SaveError(f"{where}: quantize='{quantize}' is not one of {', '.join(QUANTIZE)} (or None for float32).")


def _failed_op(text: str, model: Any) -> str:
    """The op (and the Keras layer it belongs to) a converter error names, when it names one."""
    import re

    found = re.search(r"'tf\.([A-Za-z0-9_]+)' op", text) or re.search(r'fused\["([A-Za-z0-9_]+):', text)
    place = re.search(r'fused\["[A-Za-z0-9_]+:", "([^"@]+)@', text)
    parts = []
    if found:
        parts.append(f"op {found.group(1)}")
    if place:
        parts.append(f"in layer '{keras_layer_path(model, place.group(1))}'")
    return " ".join(parts)


class _NeedsStaticBatch(Exception):
    """The converter cannot lower a recurrent layer's loop over a batch of unknown size."""


def save_tflite(model: Any, path: str, *, quantize: str | None = None) -> None:
    """Write ``model`` as a ``.tflite`` flatbuffer at ``path`` (atomically).

    The batch dimension stays dynamic, except for a model whose recurrent
    layers (``LSTM``, ``GRU``...) LiteRT's built-in ops can run only with a
    known batch size: that model is converted for one example per call,
    with a warning saying so.

    Raises:
        SaveError: ``quantize`` is unknown, or the write failed.
        FormatError: The converter cannot take an op of the model; the
            message names the op and layer where the converter says them.
    """
    check_quantize(quantize, path)
    with writing(path, "tflite"):
        batch = 1 if _recurrent(model) else None
        try:
            data = _convert(model, path, quantize, batch=batch)
        except _NeedsStaticBatch:
            batch = 1
            data = _convert(model, path, quantize, batch=batch)
        if data[4:8] != TFLITE_IDENTIFIER:
            raise FormatError(
                f"{path}: the LiteRT converter returned no TFLite model (it starts with {bytes(data[:8])!r})."
            )
        write_bytes(path, data)
    if batch is not None:
        warnings.warn(
            f"{path}: model '{model.name}' has recurrent layers that LiteRT's built-in ops run "
            "only with a fixed batch size, so the .tflite file takes one example per call "
            "(input shape [1, ...]); run the examples one at a time.",
            UserWarning,
            stacklevel=3,
        )


def _recurrent(model: Any) -> bool:
    """Whether ``model`` holds a recurrent layer (``keras.layers.RNN`` and its subclasses)."""
    import keras

    return any(isinstance(layer, keras.layers.RNN) for layer in all_layers(model))


def _convert(model: Any, path: str, quantize: str | None, batch: int | None) -> bytes:
    """Convert ``model`` with the quantization asked for; a failure names the op and layer where it can.

    Raises:
        _NeedsStaticBatch: ``batch`` is None and a recurrent loop needs it.
        FormatError: Anything else the converter refuses.
    """
    import keras
    import tensorflow as tf

    function, _ = serving_function(model, path, batch=batch)
    with tempfile.TemporaryDirectory(prefix="netform-litert-") as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", function)
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            data = converter.convert()
        except Exception as err:
            text = str(err)
            if batch is None and "tf.TensorListReserve' op requires element_shape to be static" in text:
                raise _NeedsStaticBatch from err
            where = _failed_op(text, model)
            brief = " ".join(text.split())[:400]
            raise FormatError(
                f"{path}: model '{model.name}' cannot be converted to LiteRT"
                f"{' (' + where + ')' if where else ''}: {type(err).__name__}: {brief}. "
                "Replace that layer, or deploy the SavedModel or ONNX file instead."
            ) from err
    return bytes(data)
