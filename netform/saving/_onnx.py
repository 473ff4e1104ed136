"""Export a Keras model to ONNX with ``tf2onnx``, checked and written atomically.

``tf2onnx`` converts the model's inference function in memory (frozen, then
``tf2onnx.convert.from_graph_def``); netform then refuses a graph with any node ONNX does not define (the
converter leaves an op it cannot map as a TensorFlow node, which no ONNX
runtime runs), records the opset in the model's metadata and writes the bytes
through its atomic writer. Keras's own ``model.export(format="onnx")`` calls
the same converter but writes straight to the path and patches ``numpy`` and
``tf2onnx`` for the rest of the process, so netform does not use it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Final

from netform.errors import FormatError

from ._atomic import write_bytes
from ._export import keras_layer_path, require, serving_function
from ._meta import writing

__all__ = ["DEFAULT_OPSET", "save_onnx", "ONNX_READER"]

#: The ONNX opset written unless ``opset=`` says otherwise (onnxruntime >= 1.14 runs it).
DEFAULT_OPSET: Final[int] = 17
ONNX_READER: Final[str] = "onnxruntime (onnxruntime.InferenceSession(path)) or any ONNX runtime"


def _unsupported_nodes(proto: Any) -> list[tuple[str, str]]:
    """``(op, node name)`` of every node ONNX's operator sets do not define."""
    import onnx

    found = []
    for node in proto.graph.node:
        domain = node.domain or ""
        if domain in ("", "ai.onnx", "ai.onnx.ml") and onnx.defs.has(node.op_type, domain):
            continue
        if domain.startswith("com.microsoft"):
            continue  # onnxruntime's contrib ops, which tf2onnx emits only on request
        found.append((node.op_type, node.name))
    return found


class _BriefFailures(logging.Filter):
    """tf2onnx's optimizer logs a pass it skips with the exception's whole traceback ("Failed to apply
    optimize_transpose", then ``ValueError: max() arg is an empty sequence``): the conversion goes on and its
    result is sound, but a user read a Python traceback on a run that worked. Said here in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} (tf2onnx skipped that optimization: {type(error).__name__}: {error})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


@contextlib.contextmanager
def _brief_optimizer_failures() -> Iterator[None]:
    """Within the block, tf2onnx's optimizer failures are logged in one line (the filter is removed after)."""
    logger = logging.getLogger("tf2onnx.optimizer")
    brief = _BriefFailures()
    logger.addFilter(brief)
    try:
        yield
    finally:
        logger.removeFilter(brief)


def _convert(function: Any, n_inputs: int, opset: int, name: str) -> Any:
    """``tf2onnx.convert.from_function``, with only the model's own inputs as the graph's inputs.

    ``from_function`` makes every input of the concrete function a graph
    input, the tensors a layer captures from Python (an un-adapted
    ``Normalization``'s mean and variance) included, so that the ONNX model
    would ask for them at run time. Here the function is frozen with
    ``tf2onnx.tf_loader.from_function`` (captured tensors become constants)
    and converted with ``from_graph_def`` naming the model's inputs alone.
    """
    import tensorflow as tf
    from tf2onnx import convert, tf_loader

    concrete = function.get_concrete_function()
    inputs = [t.name for t in concrete.inputs[:n_inputs]]
    outputs = [t.name for t in concrete.outputs if t.dtype != tf.dtypes.resource]
    rename = convert.tensor_names_from_structed(concrete, inputs, outputs)
    with tf.device("/cpu:0"):
        frozen = tf_loader.from_function(concrete, inputs, outputs)
    with _brief_optimizer_failures():
        proto, _ = convert.from_graph_def(
            frozen,
            name=name,
            input_names=inputs,
            output_names=outputs,
            opset=opset,
            tensors_to_rename=rename,
            custom_op_handlers=EXTRA_OPS,
        )
    return proto


def _name_outputs(proto: Any, model: Any) -> None:
    """Give the graph's outputs the Keras outputs' names (tf2onnx names them ``Identity:0``, ``Identity_1:0``...).

    Done only when the model names as many distinct outputs as the graph has
    and no tensor of the graph has one of those names already.
    """
    try:
        names = [str(n) for n in (getattr(model, "output_names", None) or [])]
    except (AttributeError, ValueError):
        return
    graph = proto.graph
    old = [o.name for o in graph.output]
    if len(names) != len(old) or len(set(names)) != len(names) or names == old:
        return
    taken = (
        {t for node in graph.node for t in (*node.input, *node.output)}
        | {i.name for i in graph.input}
        | {i.name for i in graph.initializer}
    )
    if any(n in taken and n not in old for n in names):
        return
    rename = dict(zip(old, names, strict=True))
    for node in graph.node:
        for i, tensor in enumerate(node.input):
            if tensor in rename:
                node.input[i] = rename[tensor]
        for i, tensor in enumerate(node.output):
            if tensor in rename:
                node.output[i] = rename[tensor]
    for output in graph.output:
        output.name = rename[output.name]


def _erfc(ctx: Any, node: Any, name: str, args: Any) -> None:
    """TensorFlow's ``Erfc`` (``gelu(approximate=False)``) as ONNX ``1 - Erf(x)``; tf2onnx has no mapping of its own.

    The absolute error of ``1 - erf(x)`` is float32's rounding of ``erf(x)``
    (under 1e-7), far inside the 1e-4 netform's parity tests hold ONNX to.
    """
    import numpy as np
    from tf2onnx import utils

    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    erf = ctx.make_node("Erf", [node.input[0]])
    one = ctx.make_const(utils.make_name(f"{name}_one"), np.array(1, dtype=dtype))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


#: TensorFlow ops tf2onnx does not map, with netform's ONNX equivalents (tf2onnx's ``custom_op_handlers``).
EXTRA_OPS: Final[dict[str, tuple[Any, list[Any]]]] = {"Erfc": (_erfc, [])}


def save_onnx(model: Any, path: str, *, opset: int | None = None) -> None:
    """Write ``model`` as an ONNX file at ``path`` (atomically), with its opset in the metadata.

    Raises:
        SaveError: ``tf2onnx``/``onnx`` is missing (the message names the
            extra to install), or the write failed.
        FormatError: The converter cannot map an op; the message names the
            op and the layer it comes from.
    """
    tf2onnx = require("tf2onnx", "onnx", "Exporting to ONNX")
    require("onnx", "onnx", "Exporting to ONNX")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    function, specs = serving_function(model, path)
    with writing(path, "onnx"):
        try:
            proto = _convert(function, len(specs), opset, model.name)
        except Exception as err:
            text = " ".join(str(err).split())[:300]
            raise FormatError(
                f"{path}: tf2onnx {tf2onnx.__version__} cannot convert model '{model.name}' "
                f"to ONNX opset {opset} ({type(err).__name__}: {text}). Try another opset=, or "
                "deploy the SavedModel instead."
            ) from err
        missing = _unsupported_nodes(proto)
        if missing:
            shown = "; ".join(f"op {op} in layer '{keras_layer_path(model, name)}'" for op, name in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise FormatError(
                f"{path}: model '{model.name}' cannot be exported to ONNX opset {opset}: "
                f"tf2onnx has no ONNX equivalent for {shown}{more}. Replace that layer "
                "(or the op in it), try another opset=, or deploy the SavedModel instead."
            )
        _name_outputs(proto, model)
        from netform import __version__ as version

        for key, value in (
            ("netform_format", "onnx"),
            ("onnx_opset", str(opset)),
            ("netform_version", str(version)),
            ("keras_model_name", str(model.name)),
        ):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = proto.producer_name or "tf2onnx"
        write_bytes(path, proto.SerializeToString())
