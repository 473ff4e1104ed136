"""netform: Keras models as validated YAML specs.

The spec layer (``load_spec``, ``summary``, ``register_layer``, …) is pure
Python. It and everything that needs TensorFlow (``build``, ``Model``,
``save``, …) are imported lazily (PEP 562), the first time a name is used, so
``import netform`` imports only the error classes.

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

__version__ = "0.1.0"

# name → module holding it; imported on first access. The spec layer is pure Python but its
# schemas cost a few tenths of a second to import, which commands that only read a saved file
# (inspect, export-spec, render of a .keras file) never need; the rest need TensorFlow.
_LAZY: dict[str, str] = {
    "LayerSpec": "netform.spec",
    "ModelSpec": "netform.spec",
    "Summary": "netform.spec",
    "load_spec": "netform.spec",
    "register_layer": "netform.spec",
    "register_model": "netform.spec",
    "summary": "netform.spec",
    "json_schema": "netform.spec._schema",
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
    "BuildError",
    "DataError",
    "EngineError",
    "FormatError",
    "NetformError",
    "RenderError",
    "SaveError",
    "SpecError",
    "UnsafeFileError",
    *_LAZY,
]


#: Subpackages reachable as attributes of the package (``netform.spec``) before anything imported them.
_SUBPACKAGES = frozenset({"spec", "builder", "engine", "saving", "render", "cli", "errors"})


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBPACKAGES:
            return _importlib.import_module(f"netform.{name}")
        raise AttributeError(f"module 'netform' has no attribute '{name}'")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
