"""Keras's layer classes exported under another name than the class's own (no imports: read by fast paths).

``keras.layers.GroupQueryAttention`` is the class ``GroupedQueryAttention``: configs and specs write the
exported name, while Keras names the layer (``grouped_query_attention``) and its path in a weights file after
the class's. It is the only such class in ``keras.layers`` (a test keeps the table in step with Keras).
"""

from __future__ import annotations

__all__ = ["KERAS_CLASS_OF_EXPORT", "KERAS_EXPORT_OF_CLASS"]

#: exported name -> the class's own name
KERAS_CLASS_OF_EXPORT = {"GroupQueryAttention": "GroupedQueryAttention"}
#: the class's own name -> its exported name
KERAS_EXPORT_OF_CLASS = {cls: export for export, cls in KERAS_CLASS_OF_EXPORT.items()}
