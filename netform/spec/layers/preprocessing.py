"""Preprocessing layers with static shapes: Rescaling, Normalization, Resizing, CenterCrop.

``data_format: null`` means Keras's global image data format, taken to be
``channels_last`` (Keras's default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union

from pydantic import Field, PositiveInt, model_validator

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import DataFormat, Shape
from ._util import expect_rank, prod, shape_str
from .conv import DATA_FORMAT, TYPE_DESCRIPTION

if TYPE_CHECKING:
    from ...errors import Diagnostic
    from .._graph import Graph
    from .._yaml import SourceMap

__all__ = ["Rescaling", "Normalization", "Resizing", "CenterCrop", "adapt_errors"]

Floats = Union[float, tuple[float, ...]]
NestedFloats = Union[float, tuple[float, ...], tuple[tuple[float, ...], ...], tuple[tuple[tuple[float, ...], ...], ...]]
"""A scalar, or an array written as nested lists (up to rank 3)."""

BOUNDING_BOX_FORMATS = Literal[
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
]


class PreprocessingSpec(LayerSpec):
    """Base of the preprocessing schemas."""

    family: ClassVar[str] = "preprocessing"

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0


@register_layer_spec
class Rescaling(PreprocessingSpec):
    """Computes ``inputs * scale + offset``, e.g. ``scale: 0.00392156862`` maps [0, 255] to [0, 1]."""

    type: Literal["Rescaling"] = Field("Rescaling", description=TYPE_DESCRIPTION)
    scale: Floats = Field(description="Factor applied to the inputs: a float, or one per channel (last axis).")
    offset: Floats = Field(0.0, description="Value added after scaling: a float, or one per channel (last axis).")

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, *range(1, 9))
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != 1 and input_shape[-1] not in (None, len(value)):
                raise ShapeError(
                    f"Rescaling has {len(value)} `{name}` values but the input has {input_shape[-1]} channels "
                    f"(shape {shape_str(input_shape)}); give one value or one per channel"
                )
        return input_shape


def _array_shape(value: NestedFloats) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(value, tuple):
        shape.append(len(value))
        value = value[0] if value else 0.0
    return tuple(shape)


@register_layer_spec
class Normalization(PreprocessingSpec):
    """Shifts and scales inputs to mean 0 and variance 1 with a fixed or adapted ``mean`` and ``variance``."""

    type: Literal["Normalization"] = Field("Normalization", description=TYPE_DESCRIPTION)
    axis: int | tuple[int, ...] | None = Field(
        -1, description="Axis or axes that keep their own mean and variance (e.g. -1: one per feature); null for none."
    )
    mean: NestedFloats | None = Field(
        None, description="Fixed mean, broadcast to the kept axes; null to compute it with adapt()."
    )
    variance: NestedFloats | None = Field(
        None, description="Fixed variance, same shape as mean; null to compute it with adapt()."
    )
    invert: bool = Field(False, description="Apply the inverse transformation (de-normalize) instead.")
    adapt: bool = Field(
        False,
        description="Compute `mean` and `variance` from the training data before training (Keras's adapt()); "
        "the layer must be fed directly by a model input. The adapted values are saved with the model.",
    )

    @model_validator(mode="after")
    def _check_moments(self) -> Normalization:
        if self.adapt and self.mean is not None:
            raise ValueError(
                "`adapt: true` computes `mean` and `variance` from the training data; give them, or adapt, not both"
            )
        if (self.mean is None) != (self.variance is None):
            raise ValueError(
                "give both `mean` and `variance`, or neither (to compute them with adapt()); "
                f"received mean={self.mean!r} and variance={self.variance!r}"
            )
        if self.mean is not None and self.variance is not None:  # both or neither, checked above
            mean_shape, var_shape = _array_shape(self.mean), _array_shape(self.variance)
            if mean_shape != var_shape:
                raise ValueError(
                    f"`mean` and `variance` must have the same shape, received {list(mean_shape)} and {list(var_shape)}"
                )
            if len(mean_shape) > len(self._axes()):
                raise ValueError(
                    f"`mean` has rank {len(mean_shape)} but only {len(self._axes())} axes are kept "
                    f"(axis={self.axis!r}); give a mean of rank <= {len(self._axes())}"
                )
        return self

    def arguments(self) -> dict[str, Any]:
        """The Keras constructor arguments: ``adapt`` is netform's, done before training, not Keras's."""
        data = super().arguments()
        data.pop("adapt", None)
        return data

    def _axes(self) -> tuple[int, ...]:
        if self.axis is None:
            return ()
        return (self.axis,) if isinstance(self.axis, int) else self.axis

    def _kept(self, input_shape: Shape) -> tuple[int, ...]:
        expect_rank(self.type, input_shape, *range(1, 9))
        ndim = len(input_shape)
        for a in self._axes():
            if not -ndim <= a < ndim:
                raise ShapeError(
                    f"Normalization axis {a} is out of range for input shape {shape_str(input_shape)}; "
                    f"expected an axis in [{-ndim}, {ndim})"
                )
        keep = sorted(a % ndim for a in self._axes())
        if len(set(keep)) != len(keep):
            raise ShapeError(
                f"Normalization axis={self.axis!r} names the same axis twice for input shape {shape_str(input_shape)}"
            )
        sizes = [input_shape[a] for a in keep]
        unknown = [a for a, d in zip(keep, sizes) if d is None]
        if unknown:
            raise ShapeError(
                f"Normalization keeps axis {unknown[0]} of input shape {shape_str(input_shape)}, whose size is "
                "unknown; kept axes need a known size"
            )
        return tuple(d for d in sizes if d is not None)

    def output_shape(self, input_shape: Shape) -> Shape:
        kept = self._kept(input_shape)
        if self.mean is not None:
            mean_shape = _array_shape(self.mean)
            for i in range(1, len(mean_shape) + 1):
                if mean_shape[-i] not in (1, kept[-i]):
                    raise ShapeError(
                        f"Normalization `mean` of shape {list(mean_shape)} does not broadcast to the kept axes "
                        f"{list(kept)} of input shape {shape_str(input_shape)}"
                    )
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        if self.mean is not None:
            return 0, 0  # fixed values are constants, not weights
        # adapt() state: mean and variance over the kept axes, plus a scalar sample count.
        return 0, 2 * (prod(self._kept(input_shape)) or 0) + 1


class ImageSizeSpec(PreprocessingSpec):
    """Base of the layers that output images of a fixed ``height`` × ``width``."""

    height: PositiveInt = Field(description="Height of the output images.")
    width: PositiveInt = Field(description="Width of the output images.")
    data_format: DataFormat = Field(None, description=DATA_FORMAT)
    bounding_box_format: BOUNDING_BOX_FORMATS | None = Field(
        None, description="Format of bounding boxes passed with the images; null when there are none."
    )

    def output_shape(self, input_shape: Shape) -> Shape:
        if isinstance(input_shape, tuple) and len(input_shape) == 3:
            raise ShapeError(
                f"{self.type} expects a batch of images of rank 4 (batch, height, width, channels), received shape "
                f"{shape_str(input_shape)}; Keras would read a rank-3 input as one unbatched image"
            )
        expect_rank(self.type, input_shape, 4)
        if self.data_format == "channels_first":
            return (input_shape[0], input_shape[1], self.height, self.width)
        return (input_shape[0], self.height, self.width, input_shape[3])


@register_layer_spec
class Resizing(ImageSizeSpec):
    """Resizes images to ``height`` × ``width``."""

    type: Literal["Resizing"] = Field("Resizing", description=TYPE_DESCRIPTION)
    interpolation: Literal["bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area"] = Field(
        "bilinear", description="Interpolation method."
    )
    crop_to_aspect_ratio: bool = Field(
        False, description="Crop the largest centred window with the target aspect ratio first (no distortion)."
    )
    pad_to_aspect_ratio: bool = Field(
        False, description="Pad the images to the target aspect ratio first, with fill_value (no distortion)."
    )
    fill_mode: Literal["constant"] = Field("constant", description="How pad_to_aspect_ratio fills: only 'constant'.")
    fill_value: float = Field(0.0, description="Value of the padding when pad_to_aspect_ratio is true.")
    antialias: bool = Field(False, description="Use an anti-aliasing filter when downsampling.")

    @model_validator(mode="after")
    def _check_aspect(self) -> Resizing:
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be true")
        return self


@register_layer_spec
class CenterCrop(ImageSizeSpec):
    """Crops the centre ``height`` × ``width`` of images (smaller images are resized first)."""

    type: Literal["CenterCrop"] = Field("CenterCrop", description=TYPE_DESCRIPTION)


def adapt_errors(graph: Graph, smap: SourceMap) -> list[Diagnostic]:
    """Located errors for ``adapt: true`` where netform cannot adapt the layer from the training data.

    A layer is adapted from the data of the model input that feeds it, so it
    must take that input directly (in a block too, when the block's input is a
    model input), and be a node of the graph, not a layer nested inside another.
    """
    out = []
    for node in graph.nodes.values():
        path = node.path + ("adapt",)
        if getattr(node.layer, "adapt", False) is True and not node.shared:
            fed = node.inputs[0] if len(node.inputs) == 1 else None
            if fed not in graph.inputs:
                what = f"the node '{fed}'" if fed is not None else "several tensors"
                out.append(
                    smap.diagnostic(
                        f"{node.layer.type} with `adapt: true` is fed by {what}; netform adapts a layer from the "
                        "training data of the model input that feeds it, so it must take an input directly. Move it "
                        "right after the input, or give `mean` and `variance`",
                        path,
                    )
                )
        for where, nested in _nested_layers(node.layer, ()):
            if getattr(nested, "adapt", False) is True:
                out.append(
                    smap.diagnostic(
                        f"{nested.type} with `adapt: true` is nested inside {node.layer.type}; netform adapts only a "
                        "layer that is a node of the model, fed directly by an input. Give `mean` and `variance`",
                        node.path + where,
                    )
                )
    return out


def _nested_layers(layer: LayerSpec, where: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], LayerSpec]]:
    """Layers held in the fields of ``layer`` (wrappers such as Bidirectional or TimeDistributed), with their paths."""
    found: list[tuple[tuple[Any, ...], LayerSpec]] = []
    for name in type(layer).model_fields:
        value = getattr(layer, name, None)
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            if isinstance(item, LayerSpec):
                path = where + (name,) + (() if index is None else (index,))
                found += [(path, item)] + _nested_layers(item, path)
    return found
