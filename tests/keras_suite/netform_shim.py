"""The one shim that runs Keras's own tests on netform.

Loaded by ``suite_conftest.py`` in the netform run only. It changes no test
file and no assertion; it changes what the names a test file imports from
Keras refer to:

* **Model classes.** While a test file is imported and when its functions run,
  ``import``/``from … import`` of ``keras`` or any ``keras.*`` module gives the
  test a view of that module in which ``keras.Model`` (= ``keras.models.Model``
  = ``keras.src.models.Model`` = ``keras.src.models.model.Model``) is
  ``netform.Model``, ``Sequential`` is ``netform.Sequential`` and
  ``Functional`` is ``netform.Functional``, under every alias. So
  ``Model(inputs, outputs)``, ``Sequential([...])``, ``Functional(...)`` and
  ``class MyModel(keras.Model)`` in a test all make netform models. Keras's
  own modules are not changed: Keras internals (and netform, which subclasses
  Keras's classes) see Keras's classes as usual.
* **Keras's backend trainer.** ``TensorFlowTrainer`` (which Keras's
  ``trainer_test.py`` mixes into layers as ``class ExampleModel(Trainer,
  layers.Dense)``) is :class:`NetformTensorFlowTrainer`: netform's engine in
  front of it, as ``nf.Model`` puts it in front of ``keras.Model``.
* **Saving functions.** In the same view, ``keras.saving.save_model`` /
  ``load_model`` (and their aliases in ``keras.models`` and
  ``keras.src.saving.saving_api``) and ``keras.src.saving.saving_lib``'s
  ``save_model`` / ``load_model`` / ``save_weights_only`` /
  ``load_weights_only`` call ``nf.save`` / ``nf.load`` / ``nf.save_weights`` /
  ``nf.load_weights``; the methods ``save``, ``save_weights`` and
  ``load_weights`` of netform's models do the same (in this test process only).
  A Keras keyword is passed on when the netform function has a parameter of
  that name (or takes ``**kwargs``, judging any keyword itself), dropped when the test passes Keras's default value, and otherwise
  refused with ``TypeError("netform shim: … has no option …")``, so a missing
  option shows as such in the report.

It also records, per test, whether a netform model was made or a netform
saving function was called; a test that passes on plain Keras but never
touches netform is left out of the comparison (it only exercises Keras).
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import inspect
import sys
import types
from pathlib import Path
from typing import Any, Callable

import keras
from keras.src.backend.tensorflow import trainer as _keras_tf_trainer
from keras.src.models import functional as _keras_functional
from keras.src.models import model as _keras_model
from keras.src.models import sequential as _keras_sequential
from keras.src.saving import saving_api as _saving_api
from keras.src.saving import saving_lib as _saving_lib

import netform as nf
from netform.engine import _models as _nf_models
from netform.engine import _trainer as _nf_trainer

_USED = False
_SUBSTITUTES: dict[int, Any] = {}
_PROXIES: dict[int, types.ModuleType] = {}
_REAL_IMPORT = builtins.__import__


def take_used() -> bool:
    """Whether netform was used since the last call (and reset the flag)."""
    global _USED
    used, _USED = _USED, False
    return used


def _mark_used() -> None:
    global _USED
    _USED = True


# --- saving functions ------------------------------------------------------


def _call_netform(keras_fn: Callable[..., Any], nf_fn: Callable[..., Any], args: tuple[Any, ...],
                  kwargs: dict[str, Any], *, fixed: dict[str, Any] | None = None) -> Any:
    """Call ``nf_fn`` with the arguments a test passed to ``keras_fn``."""
    _mark_used()
    keras_sig = inspect.signature(keras_fn)
    bound = keras_sig.bind(*args, **kwargs)
    given = dict(bound.arguments)
    extra = {}
    for name, param in keras_sig.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            extra = given.pop(name, {})
    given.update(extra)
    nf_params = inspect.signature(nf_fn).parameters
    call: dict[str, Any] = dict(fixed or {})
    for name, value in given.items():
        name = {"filepath": "path", "self": "model"}.get(name, name)
        if name in nf_params:
            call[name] = value
            continue
        if _is_keras_default(keras_sig, name, value):
            continue
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in nf_params.values()):
            call[name] = value  # netform takes (and judges) any keyword itself
            continue
        raise TypeError(f"netform shim: nf.{nf_fn.__name__} has no option {name!r} "
                        f"(the test passed {name}={value!r} to Keras's {keras_fn.__qualname__})")
    return nf_fn(**call)


def _is_keras_default(signature: inspect.Signature, name: str, value: Any) -> bool:
    param = signature.parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        return False
    return value is param.default or (type(value) is type(param.default) and value == param.default)


def _wrap(keras_fn: Callable[..., Any], nf_fn: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    def shimmed(*args: Any, **kwargs: Any) -> Any:
        return _call_netform(keras_fn, nf_fn, args, kwargs, fixed=fixed)

    shimmed.__name__ = keras_fn.__name__
    shimmed.__qualname__ = f"netform_shim.{keras_fn.__qualname__}"
    shimmed.__doc__ = f"{keras_fn.__qualname__} → nf.{nf_fn.__name__}"
    return shimmed


def _patch_model_methods() -> None:
    """``model.save`` / ``save_weights`` / ``load_weights`` of netform models call nf's."""
    keras_model = _keras_model.Model
    for name, nf_fn in (("save", nf.save), ("save_weights", nf.save_weights), ("load_weights", nf.load_weights)):
        keras_method = getattr(keras_model, name)

        def method(self: Any, *args: Any, _k: Any = keras_method, _n: Any = nf_fn, **kwargs: Any) -> Any:
            result = _call_netform(_k, _n, (self, *args), kwargs)
            return None if _n is nf.load_weights else result

        method.__name__ = name
        setattr(_nf_models.Model, name, method)


def _track_model_creation() -> None:
    original = _nf_models.Model.__dict__["__new__"]
    original = getattr(original, "__func__", original)

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        _mark_used()
        return original(cls, *args, **kwargs)

    _nf_models.Model.__new__ = staticmethod(__new__)  # type: ignore[method-assign]


class NetformTensorFlowTrainer(_nf_trainer.Trainer, _keras_tf_trainer.TensorFlowTrainer):
    """Keras's backend ``TensorFlowTrainer`` with netform's engine in front, as in ``nf.Model``.

    ``trainer_test.py`` makes its models as ``class ExampleModel(Trainer,
    layers.Dense)``; in the netform run ``Trainer`` is this class, so their
    ``fit``/``evaluate``/``predict``, step functions and ``compile`` are
    netform's, exactly as ``nf.Model`` puts them in front of ``keras.Model``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _mark_used()
        super().__init__(*args, **kwargs)


# --- the view of Keras's modules that test files see ------------------------


class _ModuleView(types.ModuleType):
    """A Keras module as test files see it: every attribute the same except substitutes."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__, real.__doc__)
        object.__setattr__(self, "_real", real)

    def __getattr__(self, name: str) -> Any:
        return _view(getattr(object.__getattribute__(self, "_real"), name))

    def __setattr__(self, name: str, value: Any) -> None:  # mock.patch.object(module, ...)
        setattr(object.__getattribute__(self, "_real"), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_real"), name)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_real"))


def _view(value: Any) -> Any:
    substitute = _SUBSTITUTES.get(id(value))
    if substitute is not None:
        return substitute
    if isinstance(value, types.ModuleType) and not isinstance(value, _ModuleView) and (
            value.__name__ == "keras" or value.__name__.startswith("keras.")):
        proxy = _PROXIES.get(id(value))
        if proxy is None:
            proxy = _PROXIES[id(value)] = _ModuleView(value)
        return proxy
    return value


def _shim_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    module = _REAL_IMPORT(name, globals, locals, fromlist, level)
    return _view(module) if level == 0 else module


_BUILTINS = dict(builtins.__dict__, __import__=_shim_import)


class _ViewLoader(importlib.abc.Loader):
    """Runs a test file with ``__import__`` giving it views of Keras's modules."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = _BUILTINS
        self._loader.exec_module(module)


class _TestFileFinder(importlib.abc.MetaPathFinder):
    """Finds the copied test files (through pytest's finders) and wraps their loader."""

    def __init__(self, names: set[str]) -> None:
        self._names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self._names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = _ViewLoader(spec.loader)
                return spec
        return None


def install(suite_dir: Path) -> None:
    """Put the substitutes in place for the test files under ``suite_dir``."""
    for keras_obj, nf_obj in (
        (_keras_model.Model, nf.Model),
        (_keras_sequential.Sequential, nf.Sequential),
        (_keras_functional.Functional, nf.Functional),
        (_keras_tf_trainer.TensorFlowTrainer, NetformTensorFlowTrainer),
        (_saving_api.save_model, _wrap(_saving_api.save_model, nf.save)),
        (_saving_api.load_model, _wrap(_saving_api.load_model, nf.load)),
        (_saving_lib.save_model, _wrap(_saving_lib.save_model, nf.save, format="keras")),
        (_saving_lib.load_model, _wrap(_saving_lib.load_model, nf.load)),
        (_saving_lib.save_weights_only, _wrap(_saving_lib.save_weights_only, nf.save_weights, format="weights_h5")),
        (_saving_lib.load_weights_only, _wrap(_saving_lib.load_weights_only, nf.load_weights)),
    ):
        _SUBSTITUTES[id(keras_obj)] = nf_obj
    assert keras.Model is _keras_model.Model and keras.Sequential is _keras_sequential.Sequential
    _patch_model_methods()
    _track_model_creation()
    names = {path.stem for path in suite_dir.rglob("*_test.py")}
    sys.meta_path.insert(0, _TestFileFinder(names))
