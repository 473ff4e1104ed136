"""Keras's HDF5 weights store, for loading weights netform has already opened and checked.

``keras.Model.load_weights`` (and ``keras.saving.load_weights``) take only a
path, and open the file themselves: netform's checks (links, bombs,
checksums) would run on one opening and Keras would read another, and the
file would be parsed twice. The two stores below subclass Keras's private
``keras.src.saving.saving_lib.H5IOStore`` (the store Keras's own
``load_weights_only`` reads through); no public API takes an open file or
reports the weights' layout without writing them.

Import this module only from inside a function: it imports TensorFlow.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

# keras.src.backend.common.global_state: Keras's per-thread cache, where its saving walk looks for the
# attributes it skips (see walk_cache). No public API reaches it.
from keras.src.backend.common import global_state as _global_state

# keras.src.saving.saving_lib.H5IOStore: the store behind Keras's load_weights_only / save_weights_only;
# public keras.saving.load_weights/save_weights accept only a path.
from keras.src.saving import saving_lib as _saving_lib

from ._keras_saving import save_state

__all__ = ["OpenH5Store", "weight_shapes", "walk_cache"]

# The object kinds (``saveable._obj_type()``) of a model, its optimizer, losses and metrics.
_WALKED_TYPES = ("Layer", "Functional", "Sequential", "Optimizer", "Metric", "Loss", "Operation")


@contextlib.contextmanager
def walk_cache() -> Iterator[None]:
    """Let Keras's saving walk find the attribute skip-sets it caches, for the duration of a call.

    Keras 3.15's ``saving_lib.get_attr_skipset`` stores each kind's skip-set
    under ``saving_attr_skipset_<kind>`` but looks it up under
    ``saving_attr_skiplist_<kind>``, so its cache never hits: every object
    visited by a save or load walk builds a throw-away ``Layer()`` (or
    ``Optimizer``, ``Metric``…) to list its attributes, about half of a
    weights load. Inside this block the key it looks for holds the very set
    it computed (so the walk visits exactly what it visits without the
    block); afterwards the keys this block added are removed. Keras's
    global state is per thread, so other threads never see them.
    """
    added: list[str] = []
    try:
        for kind in _WALKED_TYPES:
            key = f"saving_attr_skiplist_{kind}"
            if _global_state.get_global_attribute(key) is not None:
                continue
            skipset = _global_state.get_global_attribute(f"saving_attr_skipset_{kind}")
            if skipset is None:
                skipset = _saving_lib.get_attr_skipset(kind)  # Keras stores it under its own key
            _global_state.set_global_attribute(key, skipset)
            added.append(key)
        yield
    finally:
        for key in added:
            with contextlib.suppress(AttributeError):
                delattr(_global_state.GLOBAL_STATE_TRACKER, key)


class OpenH5Store(_saving_lib.H5IOStore):
    """Keras's reading store over an ``h5py.File`` that is already open (and stays open after ``close``).

    Keras's loader then reads exactly the file netform checked, through
    Keras's own guarded accessors (``safe_get_h5_group``/``safe_get_h5_dataset``).
    """

    def __init__(self, h5_file: Any) -> None:  # no super().__init__: it opens a file by path
        self.path_or_io = None
        self.mode = "r"
        self.archive = None
        self.io_file = None
        self.h5_file = h5_file
        self._h5_entry_path = None
        self._h5_entry_group: Any = {}
        self._h5_entry_metadata = None
        self._h5_entry_initialized = False

    def close(self) -> None:
        """Leave the file open: its opener closes it."""


class _ShapeStore(_saving_lib.H5IOStore):
    """A writing store that records each variable's path and shape, and writes nothing."""

    def __init__(self) -> None:  # no super().__init__: it creates an HDF5 file
        self.mode = "w"
        self.archive = None
        self.io_file = None
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._prefix = "vars"

    def __bool__(self) -> bool:
        return True

    def make(self, path: str, metadata: dict[str, Any] | None = None) -> _ShapeStore:
        self._prefix = f"{path}/vars" if path else "vars"
        return self

    def __setitem__(self, key: str, value: Any) -> None:
        shape = getattr(value, "shape", None)
        if shape is None:  # what Keras's store would write: the value as a NumPy array
            shape = np.shape(np.asarray(value))
        self.shapes[f"{self._prefix}/{key}"] = tuple(int(d) for d in shape)

    def __len__(self) -> int:
        return sum(1 for name in self.shapes if name.rpartition("/")[0] == self._prefix)

    def keys(self) -> list[str]:
        return [name.rpartition("/")[2] for name in self.shapes if name.rpartition("/")[0] == self._prefix]

    def __contains__(self, key: object) -> bool:
        return f"{self._prefix}/{key}" in self.shapes

    def close(self) -> None:
        """Nothing to close."""


def weight_shapes(model: Any, skip: set[int] | None = None) -> dict[str, tuple[int, ...]]:
    """``{dataset path: shape}`` of what ``model.save_weights`` would write, without writing any value.

    Args:
        model: A Keras model (or any Keras saveable).
        skip: ``id()`` of objects left out, as Keras's ``objects_to_skip``.

    Returns:
        The paths Keras's ``.weights.h5`` layout gives each variable
        (``layers/dense/vars/0``, ``optimizer/vars/1``…) and their shapes.
    """
    store = _ShapeStore()
    save_state(model, store, skip=skip)
    return store.shapes
