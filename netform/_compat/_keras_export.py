"""The input signature of a model for the deployment exports (ONNX, LiteRT).

Private ``keras.src.export.export_utils.get_input_signature``: the public
``model.export`` computes it internally and no public function returns it.
A subclassed model that was built (``model.build(shape)``) but never called
has its build shapes recorded in the private ``_build_shapes_dict``; Keras's
exporter refuses it, so netform calls it once on zeros of those shapes (in
inference mode, changing no weight) and asks again.
"""

from __future__ import annotations

from typing import Any

__all__ = ["deploy_input_signature"]


def deploy_input_signature(model: Any) -> Any:
    """``get_input_signature(model)``, calling a built, never-called subclassed model once first."""
    from keras.src.export.export_utils import get_input_signature

    try:
        return get_input_signature(model)
    except ValueError:
        shapes = getattr(model, "_build_shapes_dict", None)
        if not shapes or getattr(model, "_called", True) or len(shapes) != 1:
            raise
    import numpy as np

    (shape,) = shapes.values()
    if not isinstance(shape, (tuple, list)) or not all(isinstance(d, (int, type(None))) for d in shape):
        return get_input_signature(model)
    dims = tuple(1 if d is None else d for d in shape)
    model(np.zeros(dims, dtype=model.input_dtype), training=False)
    return get_input_signature(model)
