"""Keras's layer classes exported under another name than the class's own (no imports: read by fast paths).

``keras.layers.GroupQueryAttention`` is the class ``GroupedQueryAttention``: configs and specs write the
exported name, while Keras names the layer (``grouped_query_attention``) and its path in a weights file after
the class's. It is the only such class in ``keras.layers`` (a test keeps the table in step with Keras).
"""

from __future__ import annotations

import re

__all__ = ["KERAS_CLASS_OF_EXPORT", "KERAS_EXPORT_OF_CLASS", "store_name"]

#: exported name -> the class's own name
KERAS_CLASS_OF_EXPORT = {"GroupQueryAttention": "GroupedQueryAttention"}
#: the class's own name -> its exported name
KERAS_EXPORT_OF_CLASS = {cls: export for export, cls in KERAS_CLASS_OF_EXPORT.items()}


def store_name(class_name: str) -> str:
    """A layer class name as Keras's saver names the layer's path in a weights file after it: the class's own
    name (:data:`KERAS_CLASS_OF_EXPORT`), snake-cased as ``keras.src.utils.naming.to_snake_case`` does."""
    name = re.sub(r"\W+", "", KERAS_CLASS_OF_EXPORT.get(class_name, class_name))
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
