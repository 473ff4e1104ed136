"""Small helpers shared by the static shape rules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Sequence, overload

from .._layer_base import ShapeError
from .._types import MAX_ELEMENTS, Shape
from .._types import format_shape as shape_str  # the one shape formatter: ``(None, 28, 28, 1)``, as Keras writes

__all__ = [
    "expect_rank",
    "as_tuple",
    "conv_out",
    "prod",
    "last_dim",
    "shape_str",
    "check_ints",
    "split_spatial",
    "join_spatial",
    "known_channels",
    "window_out",
    "check_constant",
    "check_weight",
]

#: Field descriptions shared by layer families (here, not in :mod:`.conv`, so a family that only needs the
#: words, such as :mod:`.regularization`'s Dropout, does not import the convolutions' schemas).
TYPE_DESCRIPTION = "The Keras layer class name."
DATA_FORMAT = (
    "Axis order: 'channels_last' (batch, ..., channels) or 'channels_first' (batch, channels, ...); "
    "null for Keras's global default (channels_last)."
)


def expect_rank(layer: str, shape: Shape, *ranks: int) -> None:
    """Raise :class:`ShapeError` unless ``len(shape)`` is one of ``ranks``."""
    if not isinstance(shape, tuple):
        raise ShapeError(f"{layer} takes one input, received {len(shape)} inputs")
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{layer} expects an input of rank {want} (batch included), received shape {shape_str(shape)}")


def as_tuple(value: int | Sequence[int] | None, n: int, what: str = "value") -> tuple[int, ...]:
    """Expand an int to an ``n``-tuple; check a sequence has length ``n``."""
    if value is None:
        raise ShapeError(f"{what} is required")
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ShapeError(f"{what} must be an int or a list of {n} ints, received {list(value)}")
    return value


def conv_out(size: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis."""
    if size is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        return (size + stride - 1) // stride
    if padding == "causal":
        return (size + stride - 1) // stride
    out = (size - effective) // stride + 1
    if out <= 0:
        raise ShapeError(
            f"the window ({effective}) is larger than the input ({size}) with padding 'valid'; "
            "use padding: same or a smaller kernel/pool size"
        )
    return out


@overload
def prod(values: Sequence[int]) -> int: ...
@overload
def prod(values: Sequence[int | None]) -> int | None: ...
def prod(values: Sequence[int | None]) -> int | None:
    """Product of dimensions, or ``None`` if any is unknown."""
    total = 1
    for v in values:
        if v is None:
            return None
        total *= v
    return total


def last_dim(layer: str, shape: Shape) -> int:
    """The last (feature) dimension, which must be known."""
    if not shape or shape[-1] is None:
        raise ShapeError(f"{layer} needs a known last dimension, received shape {shape_str(shape)}")
    return shape[-1]


def _value_shape(value: Any, depth: int = 0) -> tuple[int, ...] | None:
    """The shape of a number or a (nested) list of numbers; ``None`` for a ragged list or anything else
    (and past 64 levels of lists, more axes than any weight has)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ()
    if not isinstance(value, (list, tuple)) or not value or depth > 64:
        return (0,) if isinstance(value, (list, tuple)) and not value else None
    inner = [_value_shape(v, depth + 1) for v in value]
    if inner[0] is None or any(i != inner[0] for i in inner):
        return None
    return (len(value),) + inner[0]


def check_constant(layer: str, field: str, initializer: Any, shape: tuple[int, ...]) -> None:
    """Raise :class:`ShapeError` where a ``{type: Constant, value: …}`` initializer cannot fill a weight of ``shape``.

    Keras makes the weight as ``value * ones(shape)``: a value whose shape does not broadcast with the
    weight's (NumPy's rules) fails when the model is built, and one that widens the product (a bias of shape
    (3, 1) for 2 units makes a (3, 2) weight) gives a layer of other shapes, which fails when it is called.
    """
    if getattr(initializer, "type", None) not in ("Constant", "constant"):
        return
    value = initializer.arguments.get("value", 0.0)
    got = _value_shape(value)
    if got is None:
        return
    if len(got) > len(shape) or any(a not in (b, 1) for a, b in zip(reversed(got), reversed(shape))):
        raise ShapeError(
            f"{layer}'s {field} is a Constant of shape {shape_str(got)}, which does not broadcast to the "
            f"weight it fills, of shape {shape_str(shape)}: give a number, or a list of one of the shapes "
            f"that broadcast to {shape_str(shape)} (such as {shape_str(shape[-1:])})"
        )


def _kind_name(value: Any) -> Any:
    return value if isinstance(value, str) else getattr(value, "type", None)


#: Keras's variance-scaling initializers by every name a spec gives them: (scale, mode), drawn uniformly
_UNIFORM_SCALING = {
    "GlorotUniform": (1.0, "fan_avg"),
    "glorot_uniform": (1.0, "fan_avg"),
    "HeUniform": (2.0, "fan_in"),
    "he_uniform": (2.0, "fan_in"),
    "LecunUniform": (1.0, "fan_in"),
    "lecun_uniform": (1.0, "fan_in"),
}
_INTEGERS = frozenset({"int32", "int64"})


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Keras's ``compute_fans``."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = prod(shape[:-2]) if len(shape) > 2 else 1
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def integer_fill_problem(dtype: str, name: Any, arguments: dict[str, Any], shape: tuple[int, ...]) -> str | None:
    """Why Keras cannot fill an int32/int64 weight of ``shape`` with the initializer ``name`` (None: it can).

    A uniform variance-scaling initializer draws between ``-limit`` and ``limit``, which TensorFlow cuts to
    integers: below a limit of 1 both bounds are 0 and the draw fails. Identity's ones are floats, which an
    integer or bool weight does not take. (Other random draws in such dtypes are refused without a shape.)
    """
    if name in ("Identity", "identity") and dtype in (*_INTEGERS, "bool"):
        return "Identity writes the float 1.0, which Keras cannot store in it"
    if dtype not in _INTEGERS:
        return None
    if name in _UNIFORM_SCALING:
        scale, mode = _UNIFORM_SCALING[name]
    elif name in ("VarianceScaling", "variance_scaling") and arguments.get("distribution") == "uniform":
        scale, mode = arguments.get("scale", 1.0), arguments.get("mode", "fan_in")
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
            return None  # the argument check refuses it
    else:
        return None
    fan_in, fan_out = _fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out}.get(mode, (fan_in + fan_out) / 2)
    limit = (3.0 * scale / max(1.0, n)) ** 0.5
    if limit >= 1:
        return None
    return f"it draws between -{limit:.3g} and {limit:.3g}, and TensorFlow cuts both bounds to the integer 0"


def check_weight(
    layer: str,
    shape: tuple[int, ...],
    initializer: tuple[str, Any],
    regularizer: tuple[str, Any] | None = None,
    dtype: str | None = None,
) -> None:
    """Raise :class:`ShapeError` where Keras cannot make (or regularize) a weight of ``shape`` as the spec asks.

    ``initializer`` and ``regularizer`` are ``(field, value)``. A Constant must broadcast to the weight
    (:func:`check_constant`); Orthogonal makes weights of rank 2 or more, Identity of rank 2 only (Keras
    refuses others when it builds the layer); OrthogonalRegularizer reads a weight of rank 2 only (Keras
    refuses others at the first training step).
    """
    field, init = initializer
    check_constant(layer, field, init, shape)
    name = _kind_name(init)
    if dtype is not None:
        problem = integer_fill_problem(dtype, name, getattr(init, "arguments", None) or {}, shape)
        if problem is not None:
            raise ShapeError(
                f"{layer}'s {field} {name} cannot fill a weight of shape {shape_str(shape)} in {dtype}: {problem}; "
                "give the layer float16, float32 or float64, or another initializer (zeros, ones, "
                "{type: Constant, value: …})"
            )
    if name in ("Orthogonal", "orthogonal") and len(shape) < 2:
        raise ShapeError(
            f"{layer}'s {field} {name} fills only weights of two or more axes, and this one has shape "
            f"{shape_str(shape)}: give it another initializer (e.g. zeros)"
        )
    if name in ("Identity", "identity") and len(shape) != 2:
        raise ShapeError(
            f"{layer}'s {field} {name} fills only weights of two axes (a matrix), and this one has shape "
            f"{shape_str(shape)}: give it another initializer (e.g. zeros, or orthogonal)"
        )
    if regularizer is not None and len(shape) != 2:
        reg_field, reg = regularizer
        reg_name = _kind_name(reg)
        if reg_name in ("OrthogonalRegularizer", "orthogonal_regularizer"):
            raise ShapeError(
                f"{layer}'s {reg_field} {reg_name} reads only weights of two axes (a matrix), and this one has "
                f"shape {shape_str(shape)}: Keras refuses it at the first training step; use L2 (or none)"
            )
    if regularizer is not None and len(shape) == 2:
        reg_field, reg = regularizer
        reg_name = _kind_name(reg)
        mode = (getattr(reg, "arguments", None) or {}).get("mode", "rows")
        problem = gram_problem(shape, mode) if reg_name in ("OrthogonalRegularizer", "orthogonal_regularizer") else None
        if problem is not None:
            raise ShapeError(f"{layer}'s {reg_field} {reg_name} {problem}; use L2 (or none), or a smaller layer")


#: The most values of the matrix an OrthogonalRegularizer makes of a weight each step (1 GiB of float32).
MAX_GRAM_ELEMENTS = 2**28


def gram_problem(shape: tuple[Any, ...], mode: Any, what: str = "the weight") -> str | None:
    """Why an ``OrthogonalRegularizer`` of ``mode`` on a weight of ``shape`` (rank 2) costs too much, or None.

    Keras multiplies the weight by its own transpose each step: a ``rows`` x ``rows`` matrix (``columns``:
    ``columns`` x ``columns``) whatever the batch. One ``Dense(1)`` on 40,000 inputs with ``mode: rows`` (40,000
    honest weights) made a 40,000 x 40,000 matrix, 6.4 GB, for every evaluation.
    """
    side = shape[1] if mode == "columns" else shape[0]
    if not isinstance(side, int) or isinstance(side, bool) or side * side <= MAX_GRAM_ELEMENTS:
        return None
    return (
        f"(mode {mode}) multiplies {what} of shape {shape_str(tuple(shape))} by its transpose each step, a "
        f"{side:,} x {side:,} matrix ({side * side:,} values, more than the {MAX_GRAM_ELEMENTS:,} netform takes)"
    )


# --- spatial layers (conv, pooling, reshaping) --------------------------------


def check_ints(value: Any, n: int, what: str) -> Any:
    """Validator helper: a tuple ``value`` must have ``n`` entries (one per spatial axis).

    Raises:
        ValueError: The tuple has the wrong length (a Pydantic validator turns it
            into a ``ValidationError`` located at the field).
    """
    if isinstance(value, tuple) and len(value) != n:
        raise ValueError(
            f"`{what}` must be an int or a list of {n} ints (one per spatial axis), "
            f"received {list(value)} with {len(value)} entries"
        )
    return value


def split_spatial(layer: str, shape: Shape, n_spatial: int, data_format: str | None) -> tuple[list[Any], Any]:
    """Check an input has rank ``n_spatial + 2``; return its spatial dims and channels.

    ``data_format=None`` means Keras's default image data format, ``channels_last``.
    """
    expect_rank(layer, shape, n_spatial + 2)
    if data_format == "channels_first":
        return list(shape[2:]), shape[1]
    return list(shape[1:-1]), shape[-1]


def join_spatial(batch: Any, spatial: Sequence[Any], channels: Any, data_format: str | None) -> Shape:
    """Assemble a full shape from batch, spatial dims and channels in ``data_format`` order."""
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def known_channels(layer: str, shape: Shape, channels: Any, data_format: str | None) -> int:
    """The channel dimension, which must be known to create weights."""
    if channels is None:
        where = "axis 1" if data_format == "channels_first" else "the last axis"
        raise ShapeError(
            f"{layer} needs a known number of channels ({where} for data_format "
            f"{data_format or 'channels_last'}), received shape {shape_str(shape)}"
        )
    return channels


def window_out(
    layer: str, shape: Shape, axis: int, size: int | None, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int | None:
    """:func:`conv_out` for spatial axis ``axis``, naming the layer and input shape on error."""
    try:
        return conv_out(size, kernel, stride, padding, dilation)
    except ShapeError as err:
        raise ShapeError(
            f"{layer} cannot slide its window along spatial axis {axis} of input shape {shape_str(shape)}: {err}"
        ) from None


# --- helpers for axis-based and multi-input rules -------------------------------

__all__ += ["norm_axis", "expect_inputs", "check_products"]


def check_products(what: str, values: Sequence[int | None], summed: Sequence[int | None]) -> None:
    """Refuse a product without weights taking more than :data:`MAX_PRODUCTS` multiply-adds a sample: the
    ``values`` it makes (per sample) times the ``summed`` length each sums over (unknown sizes: not checked)."""
    from .._layer_base import LimitError
    from .._types import MAX_PRODUCTS

    if any(d is None for d in (*values, *summed)):
        return
    made, length = prod([d for d in values if d is not None]), prod([d for d in summed if d is not None])
    if made * length <= MAX_PRODUCTS:
        return
    raise LimitError(
        f"{what} makes {made:,} values a sample, each a sum over {length:,} products: {made * length:,} "
        f"multiply-adds a sample, growing much faster than its inputs (two 16,384 x 16,384 matrices made from 64 KB "
        f"took 98 s of CPU a sample); the limit is {MAX_PRODUCTS:,} (2**36): multiply smaller tensors, or reduce "
        "them first"
    )


def norm_axis(layer: str, shape: Shape, axis: int, *, what: str = "axis") -> int:
    """Turn ``axis`` (negative counts from the end) into a non-batch index of ``shape``."""
    rank = len(shape)
    index = axis + rank if axis < 0 else axis
    if not 1 <= index < rank:
        raise ShapeError(
            f"{layer}: {what}={axis} does not fit an input of rank {rank}, received shape {shape_str(shape)}; "
            f"expected an axis in 1..{rank - 1} or -{rank - 1}..-1 (axis 0 is the batch)"
        )
    return index


def expect_inputs(layer: str, shapes: Any, low: int, high: int) -> list[Shape]:
    """Check a multi-input layer got a list of ``low``..``high`` shapes; return it."""
    if not isinstance(shapes, list) or not all(isinstance(s, tuple) for s in shapes):
        raise ShapeError(f"{layer} takes a list of inputs, received one input of shape {shape_str(shapes)}")
    if not low <= len(shapes) <= high:
        want = str(low) if low == high else f"{low} to {high}" if high < 1000 else f"at least {low}"
        raise ShapeError(f"{layer} takes {want} inputs, received {len(shapes)}: {shape_str(shapes)}")
    return shapes


#: The most time steps a recurrent layer with ``unroll: true`` (or a ``TimeDistributed`` over fixed steps) may
#: repeat: Keras writes each step into the graph of every call (1,000 steps of an LSTM took 19 s to trace one call,
#: 3,000 took 69 s; a ``TimeDistributed`` Dense over 1,000 fixed steps took ``train`` about a minute; netform's limit)
MAX_UNROLL_STEPS = 256
#: The most copies of a step a model's layers may write into the graph of a call, added up (unrolled time steps,
#: a TimeDistributed's fixed steps): each layer's own are bounded at MAX_UNROLL_STEPS, and a chain of them adds up
#: (10 unrolled LSTMs over 255 steps kept ``train`` tracing past 200 s at 5.2 GB)
MAX_TRACED_STEPS = 1_024


def unroll_problem(layer: str, input_shape: Any, cells: int = 1) -> str | None:
    """Why ``layer`` cannot unroll over ``input_shape``'s time steps (axis 1), or ``None``; ``cells``: the cells
    each step runs (a ``StackedRNNCells``'), each one a copy in the graph per step."""
    steps = input_shape[1] if len(input_shape) > 1 else None
    if steps is None:
        return f"{layer} with unroll: true needs a known number of time steps, received shape {shape_str(input_shape)}"
    if steps * cells > MAX_UNROLL_STEPS and cells > 1:
        return (
            f"{layer} with unroll: true over {steps:,} time steps of {cells:,} stacked cells: {steps * cells:,} cell "
            f"steps in the graph of every call; netform unrolls at most {MAX_UNROLL_STEPS:,}: leave unroll out (Keras "
            "loops over the steps), or shorten the sequences"
        )
    if steps > MAX_UNROLL_STEPS:
        return (
            f"{layer} with unroll: true over {steps:,} time steps: Keras writes each step into the graph of every "
            f"call (1,000 steps of an LSTM take about 20 s to trace one call); netform unrolls at most {MAX_UNROLL_STEPS:,} "
            "steps: leave unroll out (Keras loops over the steps), or shorten the sequences"
        )
    return None


def unrolls(config: dict[str, Any], depth: int = 0) -> bool:
    """Whether a Keras recurrent layer's config (or the one a ``Bidirectional`` holds) unrolls its time steps."""
    if config.get("unroll") is True:
        return True
    return depth < 4 and any(
        isinstance(config.get(key), dict)
        and isinstance(config[key].get("config"), dict)
        and unrolls(config[key]["config"], depth + 1)
        for key in ("layer", "backward_layer")
    )


def traced_copies(class_name: str, config: dict[str, Any], input_shape: Any, depth: int = 0) -> int:
    """How many copies of a step Keras writes into the graph of one call of a layer, from its config (as Keras
    serializes it) and input shape: a ``TimeDistributed``'s fixed time steps times those of the layer it wraps (a
    nested ``TimeDistributed``, an unrolled recurrent layer), a recurrent layer's unrolled steps; else 1."""
    steps = input_shape[1] if len(input_shape) > 1 else None
    fixed = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else 1
    inner = config.get("layer")
    if class_name == "TimeDistributed":
        if depth > 8 or not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
            return fixed
        step_shape = (input_shape[0], *input_shape[2:])
        return fixed * traced_copies(str(inner.get("class_name")), inner["config"], step_shape, depth + 1)
    return fixed * stacked_cells(config) if unrolls(config) else 1


def stacked_cells(config: dict[str, Any]) -> int:
    """The cells one step of a generic ``RNN`` runs: a ``StackedRNNCells``' count, else 1."""
    cell = config.get("cell")
    inner = cell.get("config") if isinstance(cell, dict) else None
    cells = inner.get("cells") if isinstance(inner, dict) else None
    return max(len(cells), 1) if isinstance(cells, list) else 1


def distributed_steps_problem(layer: str, input_shape: Any, copies: int | None = None) -> str | None:
    """Why a ``TimeDistributed`` cannot run over ``input_shape``'s time steps (axis 1), or ``None``: Keras calls
    the wrapped layer once per step in a Python loop when their number is fixed, each call a copy in the graph.
    ``copies``: the steps times those of the layers it wraps (:func:`traced_copies`), when known."""
    steps = input_shape[1] if len(input_shape) > 1 else None
    total = copies if copies is not None else steps
    if total is None or total <= MAX_UNROLL_STEPS:
        return None
    if steps is not None and total > steps:
        return (
            f"{layer} over {steps:,} fixed time steps of a layer that itself repeats its step: {total:,} copies of "
            f"the innermost layer in the graph of every call (Keras loops over each fixed time axis in Python); "
            f"netform takes at most {MAX_UNROLL_STEPS:,}: shorten the sequences, or apply the layer without "
            "TimeDistributed where it takes the extra axes itself (Dense acts on the last axis of any rank)"
        )
    return (
        f"{layer} over {total:,} fixed time steps: Keras calls the wrapped layer once per step in a Python loop "
        f"when their number is fixed, each call a copy in the graph of every call (3,000 steps took train 78 s "
        f"and 2.1 GB); netform takes at most {MAX_UNROLL_STEPS:,} fixed steps: shorten the sequences, or apply the "
        "layer without TimeDistributed where it takes the time axis itself (Dense acts on the last axis of any rank)"
    )


#: The most channels a RandomElasticTransform may distort: Keras writes a copy of its resampling for each channel
#: and each sample of the batch into the graph of every training call (30 channels at batch 8 took fit 13.6 s,
#: 2,000 channels at batch 4 kept train tracing past 5 minutes; netform's limit)
MAX_ELASTIC_CHANNELS = 64


def elastic_channels_problem(layer: str, config: dict[str, Any], input_shape: Any) -> str | None:
    """Why a ``RandomElasticTransform`` cannot distort ``input_shape``'s channels, or ``None``."""
    if len(input_shape) < 3:
        return None
    channels = input_shape[1] if config.get("data_format") == "channels_first" else input_shape[-1]
    if channels is None or channels <= MAX_ELASTIC_CHANNELS:
        return None
    return (
        f"{layer} over {channels:,} channels: Keras writes a copy of its resampling for each channel and each sample "
        f"of the batch into the graph of every training call (30 channels at batch 8 took fit 13.6 s); netform "
        f"takes at most {MAX_ELASTIC_CHANNELS} channels"
    )


def spectrogram_frames_problem(layer: str, config: dict[str, Any], input_shape: Any) -> str | None:
    """Why a ``MelSpectrogram`` cannot frame ``input_shape``'s signal (axis 1), or ``None``: Keras frames it
    into (length + stride + 1) // stride windows of ``fft_length`` values each, for every sample."""
    length = input_shape[1] if len(input_shape) > 1 else None
    stride, fft = config.get("sequence_stride", 512), config.get("fft_length", 2048)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (length, stride, fft)):
        return None
    frames = (length + stride + 1) // stride
    if frames * fft <= MAX_ELEMENTS:
        return None
    return (
        f"{layer} frames each sample into {frames:,} windows of {fft:,} values ({frames * fft:,}); netform "
        f"takes at most {MAX_ELEMENTS:,} values a sample, as for any tensor: raise sequence_stride or lower "
        "fft_length"
    )


def blur_problem(layer: str, config: dict[str, Any], input_shape: Any) -> str | None:
    """Why a ``RandomGaussianBlur`` cannot blur ``input_shape``'s images, or ``None``: Keras blurs each channel with
    a depthwise convolution of a ``kernel_size`` window, which TensorFlow computes from a copy of every pixel's
    window (height x width x channels x kernel area values a sample; kernel_size 2,001 on 32 x 32 x 3 images cost
    ``train`` 10.9 GB, 4,001 killed it)."""
    size = config.get("kernel_size", 3)
    kernel = (size, size) if isinstance(size, int) else tuple(size) if isinstance(size, (list, tuple)) else ()
    if len(kernel) != 2 or not all(isinstance(k, int) and not isinstance(k, bool) for k in kernel):
        return None
    dims = input_shape[1:] if len(input_shape) == 4 else ()
    if not dims or any(d is None for d in dims):
        return None
    values = prod(dims) * kernel[0] * kernel[1]
    if values <= MAX_ELEMENTS:
        return None
    return (
        f"{layer} with kernel_size {size!r:.40} on {' x '.join(f'{d:,}' for d in dims)} images: TensorFlow copies "
        f"each pixel's window to blur it ({values:,} values a sample); the limit is {MAX_ELEMENTS:,}, as for any "
        "tensor: a smaller kernel_size"
    )


#: Where a model file is counted before Keras loads it: the output shape Keras's own class gives a generic
#: layer no static rule knows (``(class name, config, input shape)``; None where it cannot say).
_KERAS_SHAPES: ContextVar[Callable[[str, dict[str, Any], Any], Shape | None] | None] = ContextVar(
    "netform_keras_shapes", default=None
)


@contextmanager
def keras_shapes(oracle: Callable[[str, dict[str, Any], Any], Shape | None]) -> Iterator[None]:
    """Within the block, a generic layer without a static rule takes its output shape from ``oracle``.

    Used only where Keras is loaded anyway (counting a model file's weights before Keras builds it): the
    layers after a ``CategoryEncoding`` or a ``MelSpectrogram`` are then counted on the shapes they receive.
    """
    token = _KERAS_SHAPES.set(oracle)
    try:
        yield
    finally:
        _KERAS_SHAPES.reset(token)
