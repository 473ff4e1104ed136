"""netform: Keras models as validated YAML specs.

The spec layer (``load_spec``, ``summary``, ``register_layer``, …) is pure
Python. Everything that needs TensorFlow (``build``, ``Model``, ``save``, …) is
imported lazily, the first time it is used, so ``import netform`` is instant.

Example::

    import netform as nf
    spec = nf.load_spec("models/mlp.yaml")
    print(nf.summary(spec))
    model = nf.build(spec)
"""

import importlib as _importlib
from typing import Any as _Any

from .errors import BuildError as BuildError
from .errors import DataError as DataError
from .errors import EngineError as EngineError
from .errors import FormatError as FormatError
from .errors import NetformError as NetformError
from .errors import RenderError as RenderError
from .errors import SaveError as SaveError
from .errors import SpecError as SpecError
from .errors import UnsafeFileError as UnsafeFileError
from .spec import LayerSpec as LayerSpec
from .spec import ModelSpec as ModelSpec
from .spec import Summary as Summary
from .spec import load_spec as load_spec
from .spec import register_layer as register_layer
from .spec import register_model as register_model
from .spec import summary as summary
from .spec._schema import json_schema as json_schema

__version__ = "0.1.0"

# name → module holding it; imported on first access (these need TensorFlow).
_LAZY: dict[str, str] = {
    "build": "netform.builder",
    "from_keras": "netform.builder",
    "Model": "netform.engine",
    "Sequential": "netform.engine",
    "Functional": "netform.engine",
    "TrainingBackup": "netform.engine",
    "Telemetry": "netform.engine",
    "save": "netform.saving",
    "load": "netform.saving",
    "detect_format": "netform.saving",
    "save_weights": "netform.saving",
    "load_weights": "netform.saving",
    "inspect": "netform.saving",
    "convert": "netform.saving",
    "render": "netform.render",
}

__all__ = [
    "BuildError", "DataError", "EngineError", "FormatError", "LayerSpec", "ModelSpec", "NetformError",
    "RenderError", "SaveError", "SpecError", "Summary", "UnsafeFileError", "json_schema", "load_spec",
    "register_layer", "register_model", "summary", *_LAZY,
]


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netform' has no attribute '{name}'")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
