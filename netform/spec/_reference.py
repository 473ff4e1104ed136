"""The spec reference (Markdown), generated from the schemas themselves.

``python -m netform.spec._reference > docs/spec-reference.md`` regenerates it;
a test fails when the file and the schemas disagree.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ._layer_base import LayerSpec, layer_specs
from ._model import BlockSpec, InputSpec, ModelSpec
from ._training import DistributionSpec, TrainingSpec

__all__ = ["reference_markdown"]


def _type_name(annotation: Any) -> str:
    return _render_type(annotation).replace("|", "\\|")


def _render_type(tp: Any) -> str:
    import types
    import typing

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin is typing.Annotated:
        inner = _render_type(args[0])
        for meta in args[1:]:
            gt = getattr(meta, "gt", None)
            ge = getattr(meta, "ge", None)
            if gt == 0 and inner == "int":
                inner = "positive int"
            elif ge == 0 and inner == "int":
                inner = "int ≥ 0"
            for item in getattr(meta, "metadata", []) or []:
                if getattr(item, "gt", None) == 0 and inner == "int":
                    inner = "positive int"
        return inner
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_render_type(a) for a in args))
    if origin is typing.Literal:
        return " / ".join(repr(a) for a in args)
    if origin in (tuple,):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_render_type(args[0])}"
        return "[" + ", ".join(_render_type(a) for a in args) + "]"
    if origin in (list,):
        return f"list of {_render_type(args[0])}" if args else "list"
    if origin in (dict,):
        return f"mapping of {_render_type(args[1])}" if len(args) == 2 else "mapping"
    if isinstance(tp, type):
        return {"TypedObject": "{type: …}", "NoneType": "null", "LayerSpec": "layer"}.get(tp.__name__, tp.__name__)
    text = str(tp)
    for noise in ("typing.", "pydantic.types."):
        text = text.replace(noise, "")
    return text


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default
    if value is PydanticUndefined:
        value = info.default_factory() if info.default_factory else None  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        value = value.model_dump()
    import json

    return f"`{json.dumps(value, default=str)}`".replace("|", "\\|")


def _table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        alias = info.alias or name
        desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{alias}` | {_type_name(info.annotation)} | {_default(info)} | {desc} |")
    return rows


_GRAPH_GRAMMAR = """\
## Graph grammar (`nodes:`)

A functional spec is a graph: `nodes:` maps each node name to what it computes and where its inputs
come from; `outputs:` lists the nodes that leave the model. Names are letters, digits and `_`, not
starting with a digit; nodes may be written in any order (they are sorted by their inputs). Every
example below is a whole spec that loads as it is (a test loads each one).

### `in`: the node's inputs

`in` names a model input or an earlier node, or lists several (a merge layer takes a list).

```yaml
netform: 1
kind: functional
inputs: {a: {shape: [8]}, b: {shape: [8]}}
nodes:
  sum: {type: Add, in: [a, b]}
  out: {type: Dense, units: 2, in: sum}
outputs: [out]
```

### Output references: `node.N`

A layer with several outputs (an `LSTM` with `return_state: true`, a `split` op, attention with
`return_attention_scores`) is referred to as a whole by its name, and output N (from 0) as
`name.N`, in `in`, in call arguments and in `outputs:`. A block use with several outputs is
`use.OUTPUT` (the block's output name) or `use.N`.

```yaml
netform: 1
kind: functional
inputs: {x: {shape: [5, 3]}}
nodes:
  enc: {type: LSTM, units: 4, return_state: true, in: x}
  state: {type: Concatenate, in: [enc.1, enc.2]}
outputs: [enc.0, state]
```

### `call`: named call arguments

`call` passes arguments of the layer's `call` beside its input: node names for tensors
(`initial_state`, `mask`, `key`, `attention_mask`), constants for settings (`training`,
`use_causal_mask`, `return_attention_scores`). A layer's valid names are listed in the error when a
name is wrong. Attention layers take their query and value in `in`.

Validate checks the tensors as Keras uses them, and refuses a shape Keras refuses at build or at its
first batches (an axis of unknown size passes):

| Layer | Call tensor | Shape (batch first) |
|---|---|---|
| LSTM, GRU, SimpleRNN | `initial_state` | one (batch, units) per state, exactly: 2 for LSTM (h, c), 1 otherwise; both directions' in Bidirectional |
| ConvLSTM1D/2D/3D | `initial_state` | 2 (h, c), each exactly one step of the output, e.g. (batch, rows, cols, filters); both directions' in Bidirectional |
| MultiHeadAttention, GroupQueryAttention | `attention_mask` | (batch, T, S) or (batch, heads, T, S), T query steps and S value steps, a size of 1 broadcasting; a rank-2 mask is refused, as Keras lines its batch axis up with T |
| MultiHeadAttention, GroupQueryAttention | `value_mask`, `key_mask` | (batch, S), a size of 1 broadcasting |
| GroupQueryAttention | `query_mask` | (batch, T), a size of 1 broadcasting; MultiHeadAttention ignores its `query_mask` (it uses the query's own Keras mask) |
| MultiHeadAttention, GroupQueryAttention | `key` | the value's shape but the last axis: the layer's third input |
| Attention, AdditiveAttention | `mask` | a list: the query's mask (batch, Tq), then the value's (batch, Tv), a size of 1 broadcasting |
| Softmax | `mask` | broadcasts to the input from the last axis, each size 1 or the same |
| GlobalAveragePooling1D | `mask` | (batch, steps), a size of 1 broadcasting |
| BatchNormalization | `mask` | the input's shape without its last axis, a size of 1 broadcasting (Keras reads it when training) |
| TimeDistributed | `mask` | (batch, time steps, …): the time steps exactly; each step goes on to the inner layer's own mask rule |

Keras combines the masks given (and the causal and sliding-window masks) by broadcasting from the last
axis, so a mask with a heads axis cannot go with a `value_mask` or `key_mask`. With `attention_axes`,
the scores are (batch, other axes, heads, query attention axes, key attention axes), and a mask needs
at least the query and key attention axes.

```yaml
netform: 1
kind: functional
inputs: {source: {shape: [5, 3]}, target: {shape: [4, 2]}, x: {shape: [4, 8]}}
nodes:
  enc: {type: LSTM, units: 6, return_state: true, in: source}
  dec: {type: LSTM, units: 6, in: target, call: {initial_state: [enc.1, enc.2]}}
  att:
    type: MultiHeadAttention
    num_heads: 2
    key_dim: 4
    in: [x, x]
    call: {use_causal_mask: true, return_attention_scores: true}
outputs: [dec, att.0, att.1]
```

### `op`: keras.ops functions

An op node applies a `keras.ops` function, as Keras records `keras.ops.add(a, b)` or `x * 0.5` in
a functional model: `op` is the function's name (`image.resize` for `keras.ops.image.resize`),
`in` lists its leading arguments in order (names are tensors; numbers and lists of numbers are
constants), and the other arguments are written by the function's own parameter names. Ops have no
weights. `getitem` is indexing, `x[:, 0]`, with the index written as text.

```yaml
netform: 1
kind: functional
inputs: {x: {shape: [4, 6]}}
nodes:
  plus3: {op: add, in: [x, 3.0]}
  gate: {op: multiply, in: [plus3, 0.5]}
  first: {op: getitem, in: gate, index: "[:, 0]"}
  flat: {op: reshape, in: gate, newshape: [-1, 24]}
  both: {op: concatenate, in: [first, flat], axis: -1}
  mean: {op: mean, in: gate, axis: 1}
outputs: [both, mean]
```

Axes count the batch axis as 0. As in Keras, an op may work across the batch: a reduction over axis 0
or over every axis (`axis: null`: `mean`, `sum`, `max`, `std`, `argmax`, `count_nonzero`, `logsumexp`,
`median`, `moments`…), `softmax`, `normalize`, `sort`, `cumsum`, `cumprod`, `flip`, `roll` or `diff`
along axis 0, `cumsum`, `sort` or `ravel` of the whole tensor, `transpose`, `swapaxes` and
`moveaxis` moving axis 0, `stack` or `concatenate` on axis 0, `einsum` such as `'ab->ba'`, `outer`,
and a constant of a higher rank broadcast against a batched tensor. Keras builds these, and netform
takes them with Keras's static shape; their results depend on the whole batch, not on one sample,
and `predict`, `evaluate` and `train` split the data into batches (`batch_size`), so each batch is
computed on its own and the rows need not be one per sample. netform refuses, as a located error,
the ops on the batch axis that fail for some batch sizes or give a fixed number of results whatever
the batch: `squeeze` of axis 0, `matmul` summing over it, `broadcast_to` (it fixes the batch size),
`tile` or `repeat` along it (or without an axis), `split`, `take`, `pad`, `slice` or `getitem` of
it, `take` without an axis with indices that are a constant or a tensor without the batch axis (it
picks from the flattened tensor, batch included: as many results whatever the batch), a `reshape`
whose `newshape` does not start with -1 (or whose sizes do not divide a sample), `matmul` or
`einsum` summing over it, pairing it with another axis or broadcasting it against a fixed size, a
constant of a size other than 1 where a tensor has its batch axis (`add`, `multiply`, `where`…: the
model would run only for batches of that size), and the image ops on a tensor of rank 3 with its
batch axis: Keras takes a rank-3 tensor as one image, so `image.resize` with channels last would
resize the batch axis as the height and `image.rgb_to_grayscale` with channels first would take it
as the channels (add a channels axis first with `expand_dims`; `image.resize` with channels first
and `image.rgb_to_grayscale` with channels last work on each sample of a rank-3 tensor).

Settings that name a choice take only the values Keras runs with, written in lowercase: `mode` of
`pad` (`constant`, `reflect`, `symmetric`; `constant_values` only with `constant`, and `reflect`
pads each side by less than the axis's size, `symmetric` by at most its size), `padding` of the
pooling ops (`valid`, `same`), `data_format` (`channels_last`, `channels_first`), and
`interpolation` and `fill_mode` of `image.resize`. True/false settings (`keepdims`, `antialias`,
`sorted`, `approximate`…) take only true or false, and `one_hot` takes no `sparse: true` (Keras's
TensorFlow one_hot makes a sparse result only for a batch of known size). The ops TensorFlow
computes with floats only (`erfinv`, `softmax`, `sigmoid`, `gelu`, `hard_shrink`…) refuse integer
and bool tensors, and those it computes with numbers only (`add`, `multiply`, `greater`, `relu`,
`round`…) refuse bool ones: cast first (`{op: cast, in: x, dtype: float32}`). Keras checks most of
these only when the model runs, so a model built with any of them would fail on every input.

Two ops have limits of their own. `diff` takes an order `n` from 0 to the size of its axis (each
difference leaves one value fewer) and at most 32: Keras takes the differences one by one, each a
step of the model's graph (`n: 100` took 5 s before the first batch). `split` makes at most 10,000
parts, one output each (`indices_or_sections` up to 10,000, or a list of up to 9,999 indices).

### `shares`: reuse a layer and its weights

A node with `shares: other` calls the layer of node `other` again on its own `in` (the same
weights, as calling one Keras layer twice).

```yaml
netform: 1
kind: functional
inputs: {left: {shape: [8]}, right: {shape: [8]}}
nodes:
  embed: {type: Dense, units: 4, in: left}
  embed_right: {shares: embed, in: right}
  distance: {type: Subtract, in: [embed, embed_right]}
outputs: [distance]
```

### `block`, `repeat` and `$param`: reusable sub-graphs

A block under `blocks:` is a sub-graph with `inputs`, `nodes` (or a linear `layers:` list) and
`outputs`. A node uses it with `block: NAME`, its parameters beside it (`$name` in the body is
replaced by the value; `params` gives the defaults, a null default makes a parameter required),
and `repeat: N` chains N copies, each with its own weights. `nested: true` builds each use as a
nested Keras model.

```yaml
netform: 1
kind: functional
inputs: {x: {shape: [16]}}
blocks:
  residual:
    params: {units: 16, scale: 1.0}
    inputs: [x]
    nodes:
      dense: {type: Dense, units: $units, activation: relu, in: x}
      scaled: {op: multiply, in: [dense, $scale]}
      sum: {type: Add, in: [x, scaled]}
    outputs: [sum]
nodes:
  body: {block: residual, repeat: 3, scale: 0.5, in: x}
  head: {type: Dense, units: 1, in: body}
outputs: [head]
```
"""


def _graph_grammar() -> list[str]:
    """The graph grammar section, with the list of supported ops from their table."""
    from .layers.ops import OPS

    names = ", ".join(f"`{name}`" for name in sorted(OPS))
    return [*_GRAPH_GRAMMAR.splitlines(), "", f"Supported ops ({len(OPS)}): {names}.", ""]


def reference_markdown() -> str:
    """The whole reference: model sections, then every layer type by family."""
    out = [
        "# netform spec reference",
        "",
        "Generated from netform's schemas by `python -m netform.spec._reference`; do not edit by hand",
        "(a test fails when it is out of date). Every layer also takes `name`, `trainable` and `dtype`.",
        "A layer's `name`, like a node's, is letters, digits and `_`, not starting with a digit, at most",
        "1,024 characters (with the names of the blocks it is in); a CSVLogger `separator` is one character,",
        "not a quote, a line break or another control character (the log is read back on the next run).",
        "An unknown name (a field, a layer type, an op, a node or input in `in`…) is refused with the known",
        "names closest to it (`(Did you mean 'kernel_size'?)`); a name longer than 64 characters gets that",
        "suggestion only when it differs from a known name in case alone.",
        "",
        "Types are strict, as in the JSON Schema (`netform schema`): an int field takes only whole numbers",
        '(`units: 64` or `64.0`; `units: "64"` and `units: true` are refused), a float field takes a number',
        "(`rate: 1` too) but not a string or a boolean, and a bool field takes only `true` or `false`.",
        "YAML 1.1's dates (`2024-01-02`) and base-60 numbers (`1:20`, read as 80) are refused: quote them for text.",
        "",
        "## Model",
        "",
        *_table(ModelSpec),
        "",
        "## Inputs (`inputs.NAME`)",
        "",
        *_table(InputSpec),
        "",
        "## Blocks (`blocks.NAME`)",
        "",
        *_table(BlockSpec),
        "",
        *_graph_grammar(),
        "## Training (`training`)",
        "",
        "The keys of a per-output `loss`, `loss_weights`, `metrics` or `weighted_metrics` are output names",
        "(`outputs:`; a sequential spec has one, named after its last layer, and takes one loss, not a mapping)",
        "and are checked against them; a per-output `loss` needs every output. A spec without `optimizer` trains with Adam;",
        "`netform.Model.compile()` called without one keeps Keras's default, RMSprop. `netform validate` also warns (exit 0) about",
        "settings that make training fail silently: a softmax/sigmoid output whose loss has `from_logits: true`,",
        "a linear output with a crossentropy loss that reads probabilities, an `EarlyStopping` patience not",
        "longer than `ReduceLROnPlateau`'s, a `monitor` that training never logs (`val_…` without",
        "`validation_split`), and `restore_best_weights` without validation data.",
        "",
        "A loss or metric the program registered with Keras",
        '(`@keras.saving.register_keras_serializable(package="pkg")` on a `keras.losses.Loss` or',
        '`keras.metrics.Metric` subclass, or on a function `fn(y_true, y_pred)`) is named `"pkg>Name"`:',
        '`loss: "pkg>Name"` makes the class with its defaults (a function is used as it is), and',
        '`loss: {type: "pkg>Name", scale: 2.0}` passes the arguments, checked against the constructor (`**kwargs`',
        "are the base class's: `name`, `reduction`, `dtype` for a loss). The name resolves only to what the program",
        "or a `--plugin` module registered in Keras's registry; a spec never imports anything. `from_keras` of a model",
        "compiled with such a loss or metric writes it this way.",
        "",
        *_table(TrainingSpec),
        "",
        "### `training.distribution`",
        "",
        *_table(DistributionSpec),
        "",
        "## Layers",
        "",
    ]
    by_family: dict[str, list[tuple[str, type[LayerSpec]]]] = {}
    from .layers import MODULE_OF

    for name, cls in sorted(layer_specs().items()):
        if name not in MODULE_OF:  # users' registered layers are theirs to document
            continue
        by_family.setdefault(cls.family, []).append((name, cls))
    for family in sorted(by_family):
        out += [f"### {family.capitalize()}", ""]
        for name, cls in by_family[family]:
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            out += [f"#### `{name}`", "", doc, "", *_table(cls, skip=("type", "name", "trainable", "dtype")), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
