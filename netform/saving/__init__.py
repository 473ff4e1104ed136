"""Save and load models in every format, detected by content, atomically and safely.

Formats: ``keras`` (the ``.keras`` zip), ``h5`` (full model in HDF5),
``savedmodel`` (a TensorFlow SavedModel directory), ``weights_h5``
(``.weights.h5``), ``legacy_h5_weights`` (Keras 2 weights layout) and
``tf_checkpoint`` (a checkpoint prefix). Importing this package does not
import TensorFlow; :func:`detect_format` never does.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING
from typing import Any as _Any

if TYPE_CHECKING:
    from ._api import load as load
    from ._api import load_weights as load_weights
    from ._api import save as save
    from ._api import save_weights as save_weights
    from ._atomic import atomic_path as atomic_path
    from ._detect import FORMATS as FORMATS
    from ._detect import detect_format as detect_format
    from ._inspect import convert as convert
    from ._inspect import inspect as inspect

# name → module holding it; imported on first access (PEP 562). ``export-spec``, ``render`` and ``summary`` of a
# saved file read its config through the static reader and never need the writers (``_api``, ``_target``).
_LAZY: dict[str, str] = {
    "load": "._api",
    "load_weights": "._api",
    "save": "._api",
    "save_weights": "._api",
    "atomic_path": "._atomic",
    "FORMATS": "._detect",
    "detect_format": "._detect",
    "convert": "._inspect",
    "inspect": "._inspect",
}

__all__ = [
    "FORMATS",
    "atomic_path",
    "convert",
    "detect_format",
    "inspect",
    "load",
    "load_weights",
    "save",
    "save_weights",
]


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netform.saving' has no attribute '{name}'")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
