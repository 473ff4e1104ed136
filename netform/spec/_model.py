"""The spec's containers: inputs, nodes, blocks and the model itself.

These are plain data (frozen Pydantic models). Building them from YAML with
located errors is :mod:`._parse`; turning them into a resolved graph is
:mod:`._graph`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, SerializeAsAny, field_validator

from ._layer_base import LAYER_NAME_PATTERN, LayerSpec, get_layer_spec
from ._training import TrainingSpec
from ._types import StrictScalars

__all__ = [
    "InputSpec",
    "Node",
    "BlockSpec",
    "SubclassSpec",
    "ModelSpec",
    "NAME_PATTERN",
    "NODE_META_KEYS",
    "DTYPES",
    "SPEC_VERSION",
]

SPEC_VERSION = 1
NAME_PATTERN = LAYER_NAME_PATTERN
#: The most characters of a model's name: ``train`` saves a run stopped with Ctrl-C as
#: ``<name>.interrupted-100.keras`` at most, and a file's name is at most 255 bytes.
MAX_MODEL_NAME = 255 - len(".interrupted-100.keras")
_NAME_RE = re.compile(NAME_PATTERN)
NODE_META_KEYS = ("in", "shares", "block", "repeat", "nested")
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "string")


class _Frozen(StrictScalars):  # int, float and bool fields take only their own type, as in the JSON Schema
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class InputSpec(_Frozen):
    """One model input: its shape without the batch dimension, and its dtype."""

    shape: tuple[PositiveInt | None, ...] = Field(
        description="Shape without the batch dimension; null for a dimension of unknown size, e.g. [null, 8]."
    )
    dtype: Literal[DTYPES] = Field("float32", description="The input's dtype.")  # type: ignore[valid-type]
    sparse: bool = Field(False, description="Whether the input is a sparse tensor.")

    def to_dict(self) -> dict[str, Any]:
        """The input as written in YAML."""
        return self.model_dump(mode="json", exclude_defaults=True) | {"shape": list(self.shape)}


def _layer_from_dict(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, LayerSpec):
        name = value.get("type")
        if not isinstance(name, str):
            raise ValueError("a layer needs a `type`, e.g. type: Dense")
        return get_layer_spec(name).model_validate(value)
    return value


class Node(_Frozen):
    """One node of a graph (or one item of a sequential ``layers:`` list).

    Exactly one of ``layer`` (a new layer), ``shares`` (reuse the layer of an
    earlier node, so weights are shared) or ``block`` (a use of a block) is set.
    """

    layer: SerializeAsAny[LayerSpec] | None = Field(None, description="The layer this node makes.")
    shares: str | None = Field(None, description="Reuse the layer (and weights) of this earlier node.")
    block: str | None = Field(None, description="Use the block of this name.")
    inputs: tuple[str, ...] = Field((), alias="in", description="Names of the nodes or inputs feeding this node.")
    repeat: PositiveInt = Field(1, description="For a block: how many copies to chain, each with its own weights.")
    nested: bool | None = Field(None, description="For a block: build it as a nested model (true) or inline (false).")
    args: dict[str, Any] = Field(default_factory=dict, description="For a block: its parameters.")
    call: dict[str, Any] = Field(
        default_factory=dict,
        description="Named arguments of the layer's call (node names for tensors, e.g. initial_state: [enc.1, enc.2]).",
    )

    _validate_layer = field_validator("layer", mode="before")(classmethod(lambda cls, v: _layer_from_dict(v)))

    @property
    def kind(self) -> Literal["layer", "shared", "block"]:
        """Which of the three forms the node has."""
        if self.block is not None:
            return "block"
        if self.shares is not None:
            return "shared"
        return "layer"

    def to_dict(self) -> dict[str, Any]:
        """The node as written in YAML: layer fields inline, then ``in``."""
        out: dict[str, Any] = {}
        if self.layer is not None:
            out.update(self.layer.to_dict())
        if self.shares is not None:
            out["shares"] = self.shares
        if self.block is not None:
            out["block"] = self.block
            out.update(self.args)
            if self.repeat != 1:
                out["repeat"] = self.repeat
            if self.nested is not None:
                out["nested"] = self.nested
        if self.inputs and "in" not in out:  # an op node writes its own `in` (constants among the names)
            out["in"] = self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)
        if self.call:
            out["call"] = dict(self.call)
        return out


class BlockSpec(_Frozen):
    """A reusable sub-graph with parameters.

    The body is kept as written (``$name`` marks a parameter) and is validated
    each time the block is used, with that use's arguments.
    """

    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameter names and defaults; a null default makes it required."
    )
    nested: bool = Field(False, description="Build each use as a nested model (one unit in summaries).")
    inputs: tuple[str, ...] = Field(("x",), description="Names of the block's inputs, used by its nodes' `in`.")
    nodes: dict[str, dict[str, Any]] | None = Field(None, description="The block's nodes, as in a functional spec.")
    layers: tuple[dict[str, Any], ...] | None = Field(None, description="A linear block: a list of layers.")
    outputs: tuple[str, ...] = Field((), description="The nodes whose outputs leave the block (default: the last).")
    description: str | None = Field(None, description="What the block is, for readers and diagrams.")

    def to_dict(self) -> dict[str, Any]:
        """The block as written in YAML."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        return data


class SubclassSpec(BaseModel):
    """``kind: subclass``: a registered model class and its configuration."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(description="The registered model class name (see @netform.register_model).")

    @property
    def config(self) -> dict[str, Any]:
        """The configuration fields given beside ``type``."""
        return dict(self.model_extra or {})


class ModelSpec(_Frozen):
    """A whole model: its inputs, its layers or graph, its blocks and training set-up.

    Use :func:`netform.load_spec` to make one from YAML with located errors.
    """

    netform: Literal[1] = Field(description="The spec format version; write `netform: 1`.")
    name: str = Field(
        "model",
        pattern=NAME_PATTERN,
        max_length=MAX_MODEL_NAME,
        description="The model's name (letters, digits and _, not starting with a digit, at most 233 characters).",
    )
    kind: Literal["sequential", "functional", "subclass"] = Field(
        description="sequential (a `layers:` list), functional (`nodes:` and `outputs:`) or subclass (a registered class)."
    )
    description: str | None = Field(None, description="What the model is, for readers.")
    inputs: dict[str, InputSpec] = Field(default_factory=dict, description="Named model inputs.")
    layers: tuple[Node, ...] | None = Field(None, description="For kind: sequential, the layers in order.")
    nodes: dict[str, Node] | None = Field(None, description="For kind: functional, the named nodes.")
    outputs: tuple[str, ...] | None = Field(None, description="For kind: functional, the nodes that are outputs.")
    blocks: dict[str, BlockSpec] = Field(default_factory=dict, description="Reusable sub-graphs, used by name.")
    model: SubclassSpec | None = Field(None, description="For kind: subclass, the registered class and its config.")
    training: TrainingSpec | None = Field(None, description="How to compile and fit the model.")

    _source: str = PrivateAttr("<string>")
    _smap: Any = PrivateAttr(None)
    # Only what can be computed again from the fields ("graph", "shapes"): every copy starts empty.
    _cache: dict[str, Any] = PrivateAttr(default_factory=dict)
    # For a spec made by `from_keras`: spec layer name -> the Keras model's layer name.
    _keras_names: dict[str, str] | None = PrivateAttr(None)

    def __copy__(self) -> ModelSpec:
        copied = super().__copy__()
        copied._cache = {}
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> ModelSpec:
        memo = {} if memo is None else memo
        # the deep copy of the cache is a new empty dict, so the cached graph is neither copied nor shared
        memo[id(self._cache)] = {}
        return super().__deepcopy__(memo)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> ModelSpec:
        """A copy of the spec, with ``update`` replacing fields (not validated, as in Pydantic).

        The copy computes its own graph and shapes. A copy with ``update`` no
        longer matches the text it came from or the Keras model it was
        exported from, so it keeps the source name but not the line numbers
        or Keras layer names; ``load_spec(copy)`` checks it.
        """
        copied = super().model_copy(update=update, deep=deep)
        copied._cache = {}
        if update:
            copied._smap = None
            copied._keras_names = None
        return copied

    @property
    def source(self) -> str:
        """The file the spec was loaded from, or ``"<string>"``."""
        return self._source

    def locate(self, path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
        """The (line, column) of ``path`` in the source, when known."""
        if self._smap is None:
            return None, None
        return self._smap.locate(path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelSpec):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_yaml())

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, as it would be written (no default values repeated)."""
        out: dict[str, Any] = {"netform": self.netform, "name": self.name, "kind": self.kind}
        if self.description is not None:
            out["description"] = self.description
        if self.inputs:
            out["inputs"] = {k: v.to_dict() for k, v in self.inputs.items()}
        if self.blocks:
            out["blocks"] = {k: v.to_dict() for k, v in self.blocks.items()}
        if self.model is not None:
            out["model"] = {"type": self.model.type, **self.model.config}
        if self.layers is not None:
            out["layers"] = [n.to_dict() for n in self.layers]
        if self.nodes is not None:
            out["nodes"] = {k: v.to_dict() for k, v in self.nodes.items()}
        if self.outputs is not None:
            out["outputs"] = list(self.outputs)
        if self.training is not None:
            out["training"] = self.training.to_dict()
        return out

    def to_yaml(self) -> str:
        """Readable, stable YAML; ``load_spec(spec.to_yaml()) == spec``."""
        from ._yaml import dump_yaml

        return dump_yaml(self.to_dict())
