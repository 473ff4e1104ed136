"""The built-in layer catalog: one Pydantic schema per Keras layer type.

Importing this package registers every schema. Modules are grouped by layer
family, as Keras groups its own layers.
"""

from __future__ import annotations

import importlib

_MODULES = (
    "core", "conv", "conv_transpose", "pooling", "reshaping", "normalization", "recurrent",
    "attention", "merge", "activation", "regularization", "preprocessing", "generic",
)

for _name in _MODULES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _err:  # a family not written yet
        if _err.name != f"{__name__}.{_name}":
            raise
