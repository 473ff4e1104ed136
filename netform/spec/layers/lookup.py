"""Lookup layers: StringLookup maps strings (categories) to integer indices or one-hot/multi-hot vectors.

A model input with ``dtype: string`` feeds it; ``netform train`` passes a CSV
column of text to such an input as strings. The vocabulary is written in the
spec (a list, never a file path: a spec does not read files) or computed
from the training data with ``adapt: true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from .._layer_base import LayerSpec, NoStaticRule, register_layer_spec
from .._types import Shape
from ._util import expect_rank

if TYPE_CHECKING:
    from ...errors import Diagnostic
    from .._graph import Graph
    from .._yaml import SourceMap

__all__ = ["StringLookup", "lookup_errors"]


@register_layer_spec
class StringLookup(LayerSpec):
    """Maps strings to indices (``output_mode: int``) or to one-hot, multi-hot or count vectors."""

    family: ClassVar[str] = "preprocessing"

    type: Literal["StringLookup"] = Field("StringLookup", description="The Keras layer class name.")
    vocabulary: tuple[str, ...] | None = Field(
        None,
        description="The strings, in index order (after the OOV and mask indices); null with adapt: true "
        "(one or the other is needed: a lookup layer without a vocabulary fails when it is called).",
    )
    max_tokens: PositiveInt | None = Field(
        None, description="Largest vocabulary size (OOV and mask included) that adapt() keeps; null for no limit."
    )
    num_oov_indices: NonNegativeInt = Field(1, description="Indices for strings not in the vocabulary.")
    mask_token: str | None = Field(None, description="A string that maps to index 0 (masked); null for none.")
    oov_token: str = Field("[UNK]", description="The string that index of out-of-vocabulary strings stands for.")
    invert: bool = Field(False, description="Map indices back to strings instead.")
    output_mode: Literal["int", "one_hot", "multi_hot", "count"] = Field(
        "int", description="int: one index per string; one_hot, multi_hot or count: vectors of vocabulary size."
    )
    pad_to_max_tokens: bool = Field(False, description="Pad the vectors to max_tokens (multi_hot and count).")
    sparse: bool = Field(False, description="Return sparse tensors (multi_hot and count, TensorFlow only).")
    encoding: Literal["utf-8"] = Field("utf-8", description="The text encoding of the strings.")
    adapt: bool = Field(
        False,
        description="Compute the vocabulary from the training data before training (Keras's adapt()); the layer "
        "must be fed directly by a model input. The vocabulary is saved with the model.",
    )

    @model_validator(mode="after")
    def _check_vocabulary(self) -> StringLookup:
        if self.adapt and self.vocabulary is not None:
            raise ValueError(
                "`adapt: true` computes the vocabulary from the training data; give `vocabulary`, or adapt, not both"
            )
        if self.vocabulary is not None:
            seen: set[str] = set()
            for word in self.vocabulary:
                if word in seen:
                    raise ValueError(f"the vocabulary holds {word!r} twice; each string once")
                if word in (self.oov_token, self.mask_token):
                    raise ValueError(f"the vocabulary holds {word!r}, which is the OOV or mask token; leave it out")
                seen.add(word)
        return self

    def arguments(self) -> dict[str, Any]:
        """The Keras constructor arguments: ``adapt`` is netform's, done before training, not Keras's."""
        data = super().arguments()
        data.pop("adapt", None)
        if "vocabulary" in data:
            data["vocabulary"] = list(data["vocabulary"])
        return data

    def _size(self) -> int | None:
        """The length of the vectors of the non-int modes: the mask token has no place in them (Keras)."""
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return self.max_tokens
        if self.vocabulary is None:
            return None
        return len(self.vocabulary) + self.num_oov_indices

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, *range(1, 9))
        if self.invert or self.output_mode == "int":
            return input_shape
        size = self._size()
        if size is None:
            raise NoStaticRule(self.type)  # the vocabulary comes with adapt(): its size at build time
        if len(input_shape) == 1 or (self.output_mode == "one_hot" and input_shape[-1] != 1):
            return (*input_shape, size)
        return (*input_shape[:-1], size)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0  # a lookup table, not weights


def lookup_errors(graph: Graph, smap: SourceMap) -> list[Diagnostic]:
    """Located errors for a StringLookup without a vocabulary (nor ``adapt: true``), or fed directly by a
    model input that does not hold strings.

    Keras would fail when the model is built, far from the spec's line; the
    input's ``dtype`` is the fix, so the error names it.
    """
    out = []
    for node in graph.nodes.values():
        layer = node.layer
        if isinstance(layer, StringLookup) and not layer.adapt and not layer.vocabulary:
            # Keras makes such a layer, but it fails when called, and a saved one does not load
            empty = " (an empty list is no vocabulary)" if layer.vocabulary is not None else ""
            out.append(
                smap.diagnostic(
                    "StringLookup needs its vocabulary: give it as a list (e.g. vocabulary: [red, green, blue]) "
                    f"or set `adapt: true` to learn it from the training data{empty}",
                    node.path,
                )
            )
            continue
        if not isinstance(layer, StringLookup) or layer.invert or len(node.inputs) != 1:
            continue
        source = graph.inputs.get(node.inputs[0])
        if source is not None and source.dtype != "string":
            out.append(
                smap.diagnostic(
                    f"StringLookup maps strings, but the input '{node.inputs[0]}' that feeds it has dtype "
                    f"{source.dtype}; give it `dtype: string` (a CSV column of categories then reaches it as text)",
                    node.path,
                )
            )
    return out
