"""The generic form of a Keras built-in layer that has no schema of its own.

``from_keras`` writes such a layer as ``{type: KerasLayer, class_name: …,
config: {…}}`` so that it is never dropped. Only Keras's own layer classes
resolve; nothing is imported by path.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .._access import UNBUILDABLE_LAYERS, file_argument_problems
from .._layer_base import LayerSpec, register_layer_spec


@register_layer_spec
class KerasLayer(LayerSpec):
    """Any Keras built-in layer, by class name and its ``get_config()``; shapes are inferred at build time."""

    type: Literal["KerasLayer"] = "KerasLayer"
    class_name: str = Field(description="The class name of a layer in keras.layers, e.g. 'Lambda' is not allowed.")
    config: dict[str, Any] = Field(default_factory=dict, description="The layer's get_config(), passed to from_config.")
    family = "core"

    @field_validator("class_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", value):
            raise ValueError(f"class_name must be a Keras layer class name such as 'Dense'; received {value!r}")
        if value in ("Lambda", "TFSMLayer"):
            raise ValueError(f"{value} layers run code from their configuration and are not allowed in specs")
        if value in UNBUILDABLE_LAYERS:
            raise ValueError(f"{value} cannot be built from a spec: it {UNBUILDABLE_LAYERS[value]}")
        return value

    @model_validator(mode="after")
    def _no_files(self) -> KerasLayer:
        # A spec is untrusted: a layer config may not make Keras read a local file.
        problems = file_argument_problems(self.class_name, self.config, ("config",))
        if problems:
            where, message = problems[0]
            raise ValueError(f"{'.'.join(str(p) for p in where)}: {message}")
        return self
