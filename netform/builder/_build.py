"""``build(spec, api=…)``: one spec → a Sequential, Functional or subclassed model.

All three forms name their layers after the spec's nodes (``stage1.2.conv``
for a node inside a block use), so weights move between them by name and the
three give the same numbers.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Any, Iterator, Literal

import keras

from .._compat._keras_graph import rebuild_sequential
from ..errors import BuildError, NetformError
from ..spec import ModelSpec, load_spec
from ..spec._graph import Graph, GraphNode, Slot
from ..spec._load import graph_of
from ._layers import to_keras_layer

__all__ = ["build", "Api", "POSITIONAL_CALL", "apply_node", "apply_op"]

Api = Literal["sequential", "functional", "subclass"]

# Layers whose call takes several tensors as positional arguments, not a list.
POSITIONAL_CALL = frozenset({"MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention"})


#: the top-level packages whose failures are Keras's (its backend and the libraries it calls)
_KERAS_PACKAGES = frozenset({"keras", "tensorflow", "tf_keras", "jax", "jaxlib", "torch", "optree", "numpy", "h5py"})


def _netform_failure(err: BaseException) -> bool:
    """Whether ``err`` is netform's own failure rather than Keras refusing something.

    It is netform's when it was raised in netform's code (the innermost frame of its traceback), or when
    no frame of Keras or its backend is on its way: such an error is a bug to report, not an answer
    about the spec's layers.
    """
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    if not frames:
        return False
    innermost = frames[-1]
    if innermost == "netform" or innermost.startswith("netform."):
        return True
    return not any(name.partition(".")[0] in _KERAS_PACKAGES for name in frames)


def _where(spec: ModelSpec, node: GraphNode | None) -> str:
    if node is None:
        return spec.source
    line, col = spec.locate(node.path)
    place = spec.source + (f":{line}:{col}" if line else "")
    return f"{place}: node '{node.name}'"


def call_layer(layer: keras.layers.Layer, layer_type: str, inputs: list[Any], **kwargs: Any) -> Any:
    """Call ``layer`` on ``inputs`` with the convention its type expects."""
    if layer_type in POSITIONAL_CALL:
        return layer(*inputs, **kwargs)
    if len(inputs) == 1 and (">" in layer_type or not _takes_list(layer)):
        return layer(inputs[0], **kwargs)
    return layer(list(inputs), **kwargs)


def _takes_list(layer: keras.layers.Layer) -> bool:
    from ..spec._layer_base import get_layer_spec

    try:
        return get_layer_spec(type(layer).__name__).arity == "many"
    except NetformError:
        return False


def input_tensors(spec: ModelSpec) -> dict[str, Any]:
    """One ``keras.Input`` per spec input, by name, in the spec's order."""
    return {
        name: keras.Input(shape=tuple(inp.shape), dtype=inp.dtype, sparse=inp.sparse, name=name)
        for name, inp in spec.inputs.items()
    }


class _LayerFactory:
    """Makes each owner's Keras layer once, so shared nodes reuse it."""

    def __init__(self, spec: ModelSpec, graph: Graph) -> None:
        self.spec = spec
        self.graph = graph
        self.layers: dict[str, keras.layers.Layer] = {}

    def get(self, node: GraphNode) -> keras.layers.Layer:
        if node.owner not in self.layers:
            owner = self.graph.nodes[node.owner]
            try:
                self.layers[node.owner] = to_keras_layer(owner.layer, name=owner.name)
            except BuildError as err:
                raise BuildError(f"{_where(self.spec, owner)}: {err}") from err
        return self.layers[node.owner]


def _nested_chain(graph: Graph, node: GraphNode) -> tuple[str, ...]:
    return tuple(s for s in node.scope if graph.scopes[s].nested)


def _emit(
    spec: ModelSpec,
    graph: Graph,
    factory: _LayerFactory,
    level: tuple[str, ...],
    env: dict[str, Any],
    models: dict[str, keras.Model],
    nested: bool,
) -> None:
    """Connect every node at ``level`` of nested scopes, building nested models on the way."""
    from ..engine import Model

    done: set[str] = set()
    for node in graph.nodes.values():
        chain = _nested_chain(graph, node) if nested else ()
        if chain[: len(level)] != level:
            continue
        if len(chain) > len(level):
            scope_name = chain[len(level)]
            if scope_name in done:
                continue
            done.add(scope_name)
            scope = graph.scopes[scope_name]
            outer = [env[i] for i in scope.inputs]
            if scope.shares is not None:
                sub = models[scope.shares]
            elif _sequential_scope(spec, graph, scope_name) and len(outer) == 1:
                # a linear block (`layers:`) is a nested Sequential, as in the model it was exported from
                sub = _nested_sequential(spec, graph, factory, scope_name, outer[0])
                models[scope_name] = sub
            else:
                inner_inputs = [
                    keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=f"{scope_name}.in{i}")
                    for i, t in enumerate(outer)
                ]
                inner_env = dict(env)
                inner_env.update(dict(zip(scope.inputs, inner_inputs)))
                _emit(spec, graph, factory, level + (scope_name,), inner_env, models, nested)
                inner_outputs = [inner_env[o] for o in scope.outputs]
                sub = Model(
                    inner_inputs, inner_outputs if len(inner_outputs) > 1 else inner_outputs[0], name=scope_name
                )
                models[scope_name] = sub
            result = sub(outer if len(outer) > 1 else outer[0])
            results = result if isinstance(result, (list, tuple)) else [result]
            for name, tensor in zip(scope.outputs, results):
                env[name] = tensor
            continue
        env[node.name] = apply_node(spec, node, env, factory)


def _sequential_scope(spec: ModelSpec, graph: Graph, scope_name: str) -> bool:
    """Whether a nested block use is a linear block (``layers:``) whose nested blocks are linear too."""

    def linear(name: str) -> bool:
        block = spec.blocks.get(graph.scopes[name].block) if spec.blocks else None
        return block is not None and block.layers is not None

    inner = [n for n, s in graph.scopes.items() if scope_name in s.parent and s.nested]
    plain = all(
        not node.shared and not node.call and node.layer.type not in ("Op", "Pick")
        for node in graph.nodes.values()
        if scope_name in node.scope
    )
    return linear(scope_name) and plain and all(linear(n) for n in inner)


def apply_node(spec: ModelSpec, node: GraphNode, env: dict[str, Any], factory: _LayerFactory) -> Any:
    """Connect one node (a layer call, an op or a pick of one output) to the tensors in ``env``."""
    kind = node.layer.type
    if kind == "Pick":
        return _pick(spec, node, env[node.inputs[0]])
    if kind == "Op":
        return apply_op(spec, node, [env[i] for i in node.inputs])
    kwargs = {k: _fill(v, node, env) for k, v in node.call.items()}
    layer = factory.get(node)
    try:
        return call_layer(layer, kind, [env[i] for i in node.args], **kwargs)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, NotImplementedError, ArithmeticError) as err:
        if _netform_failure(err):
            raise
        shapes = ", ".join(str(tuple(env[i].shape)) for i in node.args)
        raise BuildError(
            f"{_where(spec, node)}: Keras refused to connect {kind} to input shape(s) {shapes}"
            + (f" with call arguments {', '.join(node.call)}" if node.call else "")
            + f": {err}"
        ) from err


def _fill(value: Any, node: GraphNode, env: dict[str, Any]) -> Any:
    """A call argument with its :class:`Slot` s replaced by the tensors they stand for."""
    if isinstance(value, Slot):
        return env[node.inputs[value.index]]
    if isinstance(value, list):
        return [_fill(v, node, env) for v in value]
    return value


def _pick(spec: ModelSpec, node: GraphNode, value: Any) -> Any:
    index, source = getattr(node.layer, "index"), getattr(node.layer, "source")
    if not isinstance(value, (list, tuple)):
        raise BuildError(
            f"{_where(spec, node)}: '{source}' has one output, so '{source}.{index}' names nothing; write '{source}'"
        )
    if index >= len(value):
        names = ", ".join(f"{source}.{i}" for i in range(len(value)))
        raise BuildError(
            f"{_where(spec, node)}: '{source}' has {len(value)} outputs ({names}); "
            f"'{source}.{index}' is not one of them"
        )
    return value[index]


#: The ``keras.ops`` parameters that take an array (an operand), not sizes or axes.
_OPERANDS = frozenset({"x", "x1", "x2", "y", "condition"})
#: ops whose Keras functions read each operand's ``dtype``, so fail on a Python number (``'float' object has
#: no attribute 'dtype'``) where the other two-operand ops take one (checked against Keras by a test)
_TENSOR_OPERANDS = frozenset({"heaviside", "hypot"})


def _leaves(value: Any) -> list[Any]:
    return [leaf for v in value for leaf in _leaves(v)] if isinstance(value, (list, tuple)) else [value]


def apply_op(spec: ModelSpec, node: GraphNode, tensors: list[Any]) -> Any:
    """Call the ``keras.ops`` function of an op node on ``tensors`` (one per name in its ``in``)."""
    op = node.layer
    name = getattr(op, "op")
    args = op.bind(tensors)  # type: ignore[attr-defined]
    # A constant array in `in` (e.g. the mean preprocess_input adds) is YAML lists; keras.ops takes it as a tensor.
    arrays = [a for a in getattr(op, "args") if isinstance(a, list)]
    if arrays:

        def tensor(value: Any) -> Any:
            return keras.ops.convert_to_tensor(value) if any(value is a for a in arrays) else value

        args = {
            k: [tensor(x) for x in v] if isinstance(v, list) and not any(v is a for a in arrays) else tensor(v)
            for k, v in args.items()
        }
    # An operand given by name as a YAML list (x2: [1, 2, 3]) is a constant array as in `in`; Keras's ops infer
    # no dtype from a Python list. Lists of tensors (concatenate's xs) and of sizes (newshape, axis) stay lists.
    for key in _OPERANDS.intersection(args):
        value = args[key]
        if isinstance(value, list) and not any(isinstance(v, keras.KerasTensor) for v in _leaves(value)):
            args[key] = keras.ops.convert_to_tensor(value)
    if name in _TENSOR_OPERANDS:  # a number operand as a tensor of the other operand's dtype
        dtypes = [v.dtype for v in args.values() if isinstance(v, keras.KerasTensor)]
        for key in _OPERANDS.intersection(args):
            value = args[key]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and dtypes:
                args[key] = keras.ops.convert_to_tensor(value, dtype=dtypes[0])
    try:
        if isinstance(args.get("weights"), list):  # average's weights: Keras reads their shape, so a tensor
            args["weights"] = keras.ops.convert_to_tensor(args["weights"])
        if name == "getitem":
            from ..spec.layers.ops import parse_index

            return args["x"][parse_index(args["index"])]
        fn = keras.ops
        for part in name.split("."):
            fn = getattr(fn, part)
        if "operands" in args:  # einsum(subscripts, *operands)
            operands = args.pop("operands")
            return fn(*args.values(), *operands)
        return fn(**args)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, NotImplementedError, ArithmeticError) as err:
        shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
        raise BuildError(
            f"{_where(spec, node)}: keras.ops.{name} refused its arguments (input shapes {shapes}): "
            f"{err}; check them against keras.ops.{name}'s documentation"
        ) from err
    except Exception as err:
        if isinstance(err, NetformError):
            raise
        # Keras fails with other errors on some arguments (a StopIteration for an axis given twice to
        # expand_dims, TensorFlow's errors for values it checks while tracing): each is the arguments' fault
        shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
        raise BuildError(
            f"{_where(spec, node)}: keras.ops.{name} failed on its arguments (input shapes {shapes}) with "
            f"{type(err).__name__}: {err}; check them against keras.ops.{name}'s documentation"
        ) from err


def _functional(spec: ModelSpec, graph: Graph) -> keras.Model:
    from ..engine import Model

    inputs = input_tensors(spec)
    env: dict[str, Any] = dict(inputs)
    _emit(spec, graph, _LayerFactory(spec, graph), (), env, {}, nested=True)
    outputs = [env[o] for o in graph.outputs]
    ins = list(inputs.values())
    return Model(ins if len(ins) > 1 else ins[0], outputs if len(outputs) > 1 else outputs[0], name=spec.name)


def _check_linear(spec: ModelSpec, graph: Graph) -> None:
    if len(graph.inputs) != 1:
        raise BuildError(
            f"{spec.source}: api='sequential' needs exactly one input, the spec has "
            f"{len(graph.inputs)}; use api='functional'"
        )
    previous = next(iter(graph.inputs))
    for node in graph.nodes.values():
        _check_plain(spec, node, "sequential")
        if node.inputs != (previous,):
            raise BuildError(
                f"{_where(spec, node)}: api='sequential' needs a linear graph, but this node takes "
                f"{', '.join(node.inputs)} instead of only '{previous}' (the graph branches here); use api='functional'"
            )
        if node.shared:
            raise BuildError(f"{_where(spec, node)}: api='sequential' cannot share layers; use api='functional'")
        previous = node.name
    if graph.outputs != (previous,):
        raise BuildError(f"{spec.source}: api='sequential' needs one output, the last node; use api='functional'")


def _check_plain(spec: ModelSpec, node: GraphNode, api: str) -> None:
    """Op nodes, picked outputs and call arguments are connections of the functional API only."""
    what = {"Op": f"op node ({getattr(node.layer, 'op', '')})", "Pick": "pick of one output"}.get(node.layer.type)
    if what is None and node.call:
        what = f"node with call arguments ({', '.join(node.call)})"
    if what is not None:
        raise BuildError(f"{_where(spec, node)}: api='{api}' cannot build a {what}; use api='functional'")


def _sequential(spec: ModelSpec, graph: Graph) -> keras.Model:
    from ..engine import Sequential

    _check_linear(spec, graph)
    name, inp = next(iter(spec.inputs.items()))
    factory = _LayerFactory(spec, graph)
    model = Sequential(name=spec.name)
    first = keras.Input(shape=tuple(inp.shape), dtype=inp.dtype, name=name)
    model.add(first)
    built: set[str] = set()
    for node in graph.nodes.values():
        chain = _nested_chain(graph, node)
        if chain:
            top = chain[0]
            if top in built:
                continue
            built.add(top)
            model.add(_nested_sequential(spec, graph, factory, top, _current_output(model, first)), rebuild=False)
            continue
        model.add(factory.get(node), rebuild=False)
    rebuild_sequential(model)  # once: rebuilding on every add() is quadratic in the depth
    return model


def _current_output(model: keras.Sequential, first: Any) -> Any:
    """The symbolic output of ``model`` so far (``first``, its input, when it has no layers yet)."""
    if not model.layers:
        return first
    rebuild_sequential(model)
    return model.outputs[0]


def _nested_sequential(spec: ModelSpec, graph: Graph, factory: _LayerFactory, scope: str, feed: Any) -> keras.Model:
    from ..engine import Sequential

    sub = Sequential(name=scope)
    # Give the nested model its input up front so it is built as it is made
    # (an unbuilt nested Sequential is not built when the outer one calls it).
    sub_input = keras.Input(batch_shape=tuple(feed.shape), dtype=feed.dtype, name=f"{scope}.in0")
    sub.add(sub_input)
    done: set[str] = set()
    for node in graph.nodes.values():
        chain = _nested_chain(graph, node)
        if scope not in chain:
            continue
        deeper = chain[chain.index(scope) + 1 :]
        if deeper:
            if deeper[0] not in done:
                done.add(deeper[0])
                sub.add(
                    _nested_sequential(spec, graph, factory, deeper[0], _current_output(sub, sub_input)), rebuild=False
                )
            continue
        sub.add(factory.get(node), rebuild=False)
    rebuild_sequential(sub)
    return sub


def frozen_as_written(model: keras.Model) -> keras.Model:
    """``model``, with every layer made with ``trainable=False`` frozen whole, the layers it made in ``build``
    included.

    Keras 3 freezes what a layer holds when its ``trainable`` changes, but a layer made frozen (``trainable=False``
    in its constructor or config) makes its sublayers in ``build`` afterwards, trainable: a frozen
    ``MultiHeadAttention`` (its query, key, value and output projections) was gathered by the model as
    trainable and trained, while ``summary`` counted it frozen. Setting it again does nothing (the value is
    unchanged), so the property's setter is called itself, which passes the value on to every sublayer.
    """
    for layer in _all_layers(model):
        if not layer.trainable:
            keras.layers.Layer.trainable.fset(layer, False)
    return model


def _all_layers(model: keras.Model) -> Iterator[Any]:
    """Every layer of ``model`` and of the models among them, each once."""
    stack: list[Any] = list(model.layers)
    seen: set[int] = set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)


def heavy_regularizer(model: keras.Model) -> str | None:
    """What is wrong where an ``OrthogonalRegularizer`` of one of ``model``'s weights would make a matrix larger
    than netform takes each step (:func:`netform.spec.layers._util.gram_problem`), else None.

    A 177 KB ``.keras`` (one ``Dense(1)`` on 40,000 inputs, ``mode: rows``) cost ``evaluate`` 7 GB and 30 s.
    """
    from netform.spec.layers._util import gram_problem

    for variable in model.weights:
        regularizer = getattr(variable, "regularizer", None)
        if not isinstance(regularizer, keras.regularizers.OrthogonalRegularizer) or len(variable.shape) != 2:
            continue
        problem = gram_problem(tuple(variable.shape), getattr(regularizer, "mode", "rows"))
        if problem is not None:
            return f"the OrthogonalRegularizer of weight '{variable.path}' {problem}"
    # an activity regularizer takes each call's output: (batch, units), columns x columns with mode columns
    for layer in _all_layers(model):
        regularizer = getattr(layer, "activity_regularizer", None)
        if not isinstance(regularizer, keras.regularizers.OrthogonalRegularizer):
            continue
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError, RuntimeError):
            continue  # a layer called more than once, or not at all: its output has no one shape
        mode = getattr(regularizer, "mode", "rows")
        problem = gram_problem(shape, mode, "each output") if len(shape) == 2 else None
        if problem is not None:
            return f"the activity_regularizer OrthogonalRegularizer of layer '{layer.name}' {problem}"
    return None


#: Keras's operations that sum products over axes of two tensors (besides ``Matmul`` and ``Einsum``).
_CONTRACTIONS = ("Dot", "Tensordot", "Inner", "Vdot")
#: Keras's matrix factorizations and solvers, each about m x n x min(m, n) operations on an m x n matrix.
_FACTORIZATIONS = (
    "SVD",
    "Inv",
    "Eig",
    "Eigh",
    "Qr",
    "Solve",
    "SolveTriangular",
    "LuFactor",
    "Cholesky",
    "CholeskyInverse",
    "Det",
    "Slogdet",
    "Lstsq",
    "Pinv",
    "MatrixRank",
    "Norm",
)


def _known(shape: tuple[Any, ...]) -> int:
    """The values of one sample of ``shape``: its known axes (a batch axis, the first or, after ``dot`` of two
    batched tensors, another, is one sample's)."""
    return math.prod(d for d in shape if d is not None)


#: Keras's window operations: pooling, and convolutions with a kernel given as a tensor.
_WINDOWS = ("MaxPool", "AveragePool", "Conv", "DepthwiseConv", "SeparableConv", "ConvTranspose")
#: Other operations whose cost is not their output's size: a correlation (a kernel slid over a signal), attention
#: (a score matrix of queries x keys), a partition (TensorFlow's one-hot of kth + 1 rows), a short-time Fourier
#: transform (its frames).
_HIDDEN_COSTS = (
    "Correlate",
    "DotProductAttention",
    "Argpartition",
    "STFT",
    "Bincount",
    "SegmentSum",
    "SegmentMax",
    "MapCoordinates",
    "ScaleAndTranslate",
)
#: The most axes ``keras.ops.image.map_coordinates`` interpolates: TensorFlow's backend gathers every corner of
#: the cell around a point, 2**axes of them (a 13 KB file of 14 axes of size 1 traced for minutes).
MAX_MAP_AXES = 7


def _ints(value: Any, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (int(value),) * n


def _window_cost(operation: Any, kind: str, inputs: list[tuple[Any, ...]], out: tuple[Any, ...]) -> None:
    """Hold a window operation of ``keras.ops`` to the bounds of its layer (raises ``LimitError``)."""
    from netform.spec.layers.conv import check_kernel_steps
    from netform.spec.layers.pooling import check_pool_cost

    first = (getattr(operation, "data_format", None) or "channels_last") == "channels_first"
    shape = inputs[0]
    n = len(shape) - 2
    spatial = list(shape[2:] if first else shape[1:-1])
    made = list(out[2:] if first else out[1:-1])
    what = f"the operation '{operation.name}' (keras.ops.{_OP_NAMES.get(kind, kind.lower())})"
    if kind in ("MaxPool", "AveragePool"):
        pool = _ints(operation.pool_size, n)
        strides = pool if operation.strides is None else _ints(operation.strides, n)
        channels = shape[1] if first else shape[-1]
        check_pool_cost(what, spatial, made, pool, strides, str(operation.padding).lower(), channels)
        return
    kernel = inputs[1]
    cells = math.prod(d for d in kernel[:n] if d is not None)
    check_kernel_steps(what, spatial if kind == "ConvTranspose" else made, cells)


def _hidden_cost(operation: Any, kind: str, inputs: list[tuple[Any, ...]], out: tuple[Any, ...]) -> None:
    """Hold an operation whose cost is not its output's size to the bound of its layer (raises ``LimitError``)."""
    from netform.spec._types import MAX_ELEMENTS
    from netform.spec.layers.conv import check_kernel_steps
    from netform.spec._layer_base import LimitError
    from netform.spec.layers._util import check_products

    what = f"the operation '{operation.name}' (keras.ops.{_OP_NAMES.get(kind, kind.lower())})"
    if kind == "Correlate":  # TensorFlow runs it as a 1-D convolution: the second signal slid over the first
        check_kernel_steps(what, [out[-1]], inputs[1][-1])
        return
    if kind == "DotProductAttention":  # (batch, queries, heads, depth) x (batch, keys, heads, depth)
        query, key, value = inputs[:3]
        heads, queries, keys = query[-2], query[1], key[1]
        check_products(f"{what} (its scores)", [heads, queries, keys], [query[-1]])
        check_products(what, [heads, queries, value[-1]], [keys])
        scores = _known((heads, queries, keys))
        if scores > MAX_ELEMENTS:
            raise LimitError(
                f"{what} makes a score matrix of {scores:,} values a sample ({heads} heads x {queries:,} queries x "
                f"{keys:,} keys); the limit is {MAX_ELEMENTS:,} values, as for any tensor: use shorter sequences"
            )
        return
    if kind == "Argpartition":  # TensorFlow marks the kth + 1 smallest with a one-hot of kth + 1 rows of the axis
        shape = inputs[0]
        values = _known(shape[1:] if shape and shape[0] is None else shape)
        rows = int(operation.kth) + 1
        if values * rows > MAX_ELEMENTS:
            raise LimitError(
                f"{what} with kth {operation.kth:,} makes a one-hot of {values * rows:,} values a sample (kth + 1 "
                f"rows of its {values:,} values); the limit is {MAX_ELEMENTS:,} values, as for any tensor: use "
                "keras.ops.top_k for a few values, or a smaller kth"
            )
        return
    if kind == "Bincount" or (kind in ("SegmentSum", "SegmentMax") and operation.num_segments is None):
        raise LimitError(
            f"{what} makes an output as long as the largest value (or segment id) of its input plus one: only the data "
            "decide its "
            "size, so no limit holds it before it runs (an 11 KB file asked one sample for 2,000,000,001 values, "
            "24 GB); refused: give segment ops num_segments, and count with keras.ops.one_hot or a CategoryEncoding "
            "layer of a fixed num_tokens"
        )
    if kind in ("SegmentSum", "SegmentMax"):
        made = _known(out)
        if made > MAX_ELEMENTS:
            raise LimitError(f"{what} makes {made:,} values; the limit is {MAX_ELEMENTS:,}, as for any tensor")
        return
    if kind == "MapCoordinates":
        axes = len(inputs[0])
        if axes > MAX_MAP_AXES:
            raise LimitError(
                f"{what} interpolates over {axes} axes, gathering 2**{axes} corners of each point; the limit is "
                f"{MAX_MAP_AXES} axes"
            )
        return
    if kind == "ScaleAndTranslate":  # a weight matrix of input x output positions for each spatial axis
        images = inputs[0]
        for axis in operation.spatial_dims:
            size, made = images[axis], out[axis]
            if size is not None and made is not None and size * made > MAX_ELEMENTS:
                raise LimitError(
                    f"{what} resamples axis {axis} of {size:,} positions to {made:,} through a matrix of "
                    f"{size * made:,} values; the limit is {MAX_ELEMENTS:,} values, as for any tensor"
                )
        return
    if kind == "STFT":  # frames x fft_length values, made before the transform: (..., frames, fft_length // 2 + 1)
        frames = out[-2] if len(out) >= 2 else None
        if frames is not None:
            many = _known(out[1:-2] if out and out[0] is None else out[:-2])
            values = many * frames * int(operation.fft_length)
            if values > MAX_ELEMENTS:
                raise LimitError(
                    f"{what} frames its signal into {values:,} values a sample ({frames:,} frames of "
                    f"{operation.fft_length:,}); the limit is {MAX_ELEMENTS:,} values, as for any tensor: use a "
                    "larger sequence_stride or a shorter fft_length"
                )


#: ``keras.ops`` names of the operation classes whose name is not the lower-cased class name.
_OP_NAMES = {
    "MaxPool": "max_pool",
    "AveragePool": "average_pool",
    "DepthwiseConv": "depthwise_conv",
    "SeparableConv": "separable_conv",
    "ConvTranspose": "conv_transpose",
    "DotProductAttention": "nn.dot_product_attention",
    "SegmentSum": "segment_sum",
    "SegmentMax": "segment_max",
    "MapCoordinates": "image.map_coordinates",
    "ScaleAndTranslate": "image.scale_and_translate",
}


def _oversized_output(operation: Any) -> str | None:
    """What is wrong where a call of ``operation`` (a layer or a ``keras.ops`` operation of a built model) makes
    a tensor of more values a sample than netform takes, else None. The static rules hold netform's layers to
    it; this holds every operation of a plain Keras graph (``ops.tile``, ``ops.outer``, ``Resizing``), read from
    the shapes Keras recorded when it built the model."""
    from netform._compat._graph_nodes import call_shapes
    from netform.spec._types import MAX_ELEMENTS

    try:
        calls = call_shapes(operation)
    except (AttributeError, TypeError):
        return None
    for _, outputs in calls:
        for shape in outputs:
            try:
                values = _known(shape[1:] if shape and shape[0] is None else shape)
            except TypeError:
                continue
            if values > MAX_ELEMENTS:
                shown = " x ".join("?" if d is None else f"{d:,}" for d in shape)
                return (
                    f"'{operation.name}' ({type(operation).__name__}) makes a tensor of {values:,} values a sample "
                    f"({shown}); the limit is {MAX_ELEMENTS:,} values, as for any tensor"
                )
    return None


def heavy_product(model: keras.Model) -> str | None:
    """What is wrong where a ``keras.ops`` product of ``model`` (``matmul``, ``einsum``: operations a Functional
    model written by plain Keras calls on its tensors) would take more multiply-adds a sample than netform takes
    (:func:`netform.spec.layers._util.check_products`), else None. Read from the shapes Keras gave each call
    when it built the model: nothing runs. (netform's own op layers, ``Dot`` and ``Attention`` are checked on
    the config before the model is built.)"""
    from netform._compat._graph_nodes import call_shapes
    from netform.spec._layer_base import LimitError
    from netform.spec.layers._util import check_products

    stack: list[Any] = list(getattr(model, "operations", model.layers))
    seen: set[int] = set()
    while stack:
        operation = stack.pop()
        if id(operation) in seen:
            continue
        seen.add(id(operation))
        if isinstance(operation, keras.Model):
            stack.extend(getattr(operation, "operations", operation.layers))
            continue
        kind = type(operation).__name__
        oversized = _oversized_output(operation)
        if oversized is not None:
            return oversized
        if kind not in ("Matmul", "Einsum", *_CONTRACTIONS, *_FACTORIZATIONS, *_WINDOWS, *_HIDDEN_COSTS):
            continue
        if not type(operation).__module__.startswith("keras."):
            continue  # (a class of the same name that is not Keras's)
        for inputs, outputs in call_shapes(operation):
            try:
                out = outputs[0]
                values = out[1:] if out and out[0] is None else out
                what = f"the operation '{operation.name}' (keras.ops.{kind.lower()})"
                if kind in _WINDOWS:
                    _window_cost(operation, kind, inputs, out)
                    continue
                if kind in _HIDDEN_COSTS:
                    _hidden_cost(operation, kind, inputs, out)
                    continue
                if kind == "Matmul":
                    check_products(what, values, (inputs[0][-1],))
                    continue
                if kind in _CONTRACTIONS:  # A (m x k) . B (k x n) -> m x n: k**2 = |A| |B| / |out|
                    a, b, made = (_known(shape) for shape in (*inputs[:2], out))
                    if made:
                        check_products(what, [made], (math.isqrt(a * b // made),))
                    continue
                if kind in _FACTORIZATIONS:  # (..., m, n): about m x n x min(m, n) operations each
                    if kind == "Norm" and getattr(operation, "ord", None) not in (2, -2, "nuc"):
                        continue  # (other norms sum the values once)
                    shape = inputs[0]
                    if len(shape) >= 2 and None not in shape[-2:]:
                        m, n = shape[-2], shape[-1]
                        many = [d for d in (shape[1:-2] if shape[0] is None else shape[:-2])]
                        check_products(f"{what}, a factorization,", [*many, m, n], (min(m, n),))
                    continue
                text = str(getattr(operation, "subscripts", "")).replace(" ", "")
                terms, _, result = text.partition("->")
                if "..." in text or not result:
                    continue  # (TensorFlow's own reading of '...' and implicit outputs: not measured here)
                sizes = {
                    letter: dim for term, shape in zip(terms.split(","), inputs) for letter, dim in zip(term, shape)
                }
                check_products(what, values, [sizes.get(c) for c in sizes if c not in result])
            except LimitError as err:
                return str(err)
            except (AttributeError, IndexError, TypeError, ValueError):
                continue  # a call whose shapes Keras does not record: left to Keras
    return None


def build(spec: ModelSpec | str | os.PathLike[str], api: Api | None = None) -> keras.Model:
    """Build a Keras model of netform's engine classes from a spec.

    Args:
        spec: A ModelSpec or anything :func:`netform.load_spec` takes.
        api: ``"sequential"``, ``"functional"`` or ``"subclass"``; defaults
            from the spec's ``kind``.

    Returns:
        An ``nf.Sequential``, a functional ``nf.Model`` or an ``nf.Model``
        subclass, built (weights created), with layers named after the nodes.

    Raises:
        BuildError: The spec cannot be built with that API (naming the file,
            line and node), or Keras refused a layer.
        SpecError: The spec is not valid.

    Example::

        model = netform.build("models/mlp.yaml", api="functional")
    """
    model_spec = spec if isinstance(spec, ModelSpec) else load_spec(spec)
    if api is None:
        api = "subclass" if model_spec.kind == "subclass" else model_spec.kind
    if api not in ("sequential", "functional", "subclass"):
        raise BuildError(f"unknown api '{api}'; expected 'sequential', 'functional' or 'subclass'")
    if model_spec.kind == "subclass":
        if api != "subclass":
            raise BuildError(
                f"{model_spec.source}: a kind: subclass spec builds only with api='subclass' "
                f"(its graph lives in the registered class's Python code), not api='{api}'"
            )
        from ._subclass import build_registered

        return build_registered(model_spec)
    graph = graph_of(model_spec)
    try:
        if api == "sequential":
            built = frozen_as_written(_sequential(model_spec, graph))
        elif api == "functional":
            built = frozen_as_written(_functional(model_spec, graph))
        else:
            from ._subclass import build_generated

            for node in graph.nodes.values():
                _check_plain(model_spec, node, "subclass")
            built = frozen_as_written(build_generated(model_spec))
        heavy = heavy_regularizer(built)
        if heavy is not None:
            raise BuildError(f"{model_spec.source}: {heavy}; use L2 (or none), or a smaller layer")
        return built
    except RecursionError as err:
        # Keras maps a functional graph recursively, one call per layer of depth. The recursion limit is the
        # program's to set (a library call leaves process-wide state alone), so the error names the fix.
        raise BuildError(
            f"{model_spec.source}: the graph ({len(graph.nodes):,} nodes) is too deep for Keras to build under "
            f"Python's recursion limit ({sys.getrecursionlimit():,}): Keras walks a graph recursively, about one "
            f"call per layer of depth. Raise the limit in your program before building, e.g. "
            f"sys.setrecursionlimit({len(graph.nodes) + 1_000}), or split the graph into nested blocks"
        ) from err
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, NotImplementedError, ArithmeticError) as err:
        if isinstance(err, NetformError) or _netform_failure(err):
            raise
        # Keras building a layer of a Sequential (connected as the model is rebuilt, not node by node)
        raise BuildError(
            f"{model_spec.source}: Keras refused to build the {api} model ({type(err).__name__}): {err}; "
            "check the layers' arguments against the input shapes (netform.summary(spec) shows them)"
        ) from err
    except MemoryError as err:
        raise BuildError(
            f"{model_spec.source}: not enough memory to build the model's weights; make the layers "
            "smaller (netform.summary(spec) gives each layer's parameter count)"
        ) from err
    except Exception as err:
        import tensorflow as tf

        if not isinstance(err, tf.errors.OpError):
            raise
        # e.g. ResourceExhaustedError while allocating a large weight: a TensorFlow error is no answer to a spec
        # (its message starts with the wrapped function's node, `{{function_node …}}`, which says nothing to a user)
        message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", err.message or "").strip()
        fix = (
            "make the layers smaller (netform.summary(spec) gives each layer's parameter count)"
            if isinstance(err, tf.errors.ResourceExhaustedError)
            else "check the layers' initializers and arguments (an initializer's values must be numbers)"
        )
        raise BuildError(
            f"{model_spec.source}: TensorFlow could not make the model's weights "
            f"({type(err).__name__}: {message}); {fix}"
        ) from err
