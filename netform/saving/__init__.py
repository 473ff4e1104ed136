"""Save and load models in every format, detected by content, atomically and safely.

Formats: ``keras`` (the ``.keras`` zip), ``h5`` (full model in HDF5),
``savedmodel`` (a TensorFlow SavedModel directory), ``weights_h5``
(``.weights.h5``), ``legacy_h5_weights`` (Keras 2 weights layout) and
``tf_checkpoint`` (a checkpoint prefix). Importing this package does not
import TensorFlow; :func:`detect_format` never does.
"""

from __future__ import annotations

from ._api import load as load
from ._api import load_weights as load_weights
from ._api import save as save
from ._api import save_weights as save_weights
from ._atomic import atomic_path as atomic_path
from ._detect import FORMATS as FORMATS
from ._detect import detect_format as detect_format
from ._inspect import convert as convert
from ._inspect import inspect as inspect

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
