"""netform's own registered model classes (usable from ``kind: subclass`` specs).

Each class registers itself here with the configuration that the spec layer
declares for its type (:mod:`netform.spec._custom`), so that specs naming it
validate without TensorFlow while the spec layer never imports this module.
"""

from __future__ import annotations

from typing import Any

import keras

from ..engine import Model
from ..spec._custom import ResidualMLPConfig, register_model

__all__ = ["ResidualMLP"]


@register_model(config=ResidualMLPConfig)
class ResidualMLP(Model):
    """Dense projection, ``depth`` residual blocks (Dense → Dropout → Dense, added back), softmax head."""

    def __init__(self, config: ResidualMLPConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.netform_config = config
        self.project = keras.layers.Dense(config.hidden, activation="relu", name="project")
        self.blocks = [
            (
                keras.layers.Dense(config.hidden, activation="relu", name=f"block{i}.dense1"),
                keras.layers.Dropout(config.dropout, name=f"block{i}.dropout"),
                keras.layers.Dense(config.hidden, name=f"block{i}.dense2"),
                keras.layers.LayerNormalization(name=f"block{i}.norm"),
            )
            for i in range(config.depth)
        ]
        self.head = keras.layers.Dense(config.num_classes, activation="softmax", name="head")

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = self.project(inputs)
        for dense1, dropout, dense2, norm in self.blocks:
            h = dense2(dropout(dense1(x), training=training))
            x = norm(x + h)
        return self.head(x)
