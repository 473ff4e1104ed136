"""Keras's own saving steps, for the saving package's one-pass readers and writers.

``netform.saving`` reads and writes exactly Keras's formats, but checks a file
before Keras deserializes it, reads its bytes once, writes through its own
atomic writer and records its own metadata. Keras's public functions
(``keras.saving.save_model``, ``load_model``, ``save_weights``,
``load_weights``) do each of those steps at once on a path, so netform calls
the steps themselves. Every name below is private Keras (``keras.src``); each
says why, and what the public alternative is where one exists. A Keras upgrade
that moves them breaks this module only.

Import this module only from inside a function: it imports TensorFlow.
"""

from __future__ import annotations

import json
from typing import Any, ContextManager

# keras.src.saving.saving_lib: the .keras archive's parts. Public alternative:
# keras.saving.save_model/load_model, which write or read a whole archive from a
# path or file object with no room for netform's checks and metadata.
from keras.src.saving import saving_lib as _saving_lib

# keras.src.saving.serialization_lib.ObjectSharingScope: Keras serializes a model
# inside it so that an object used twice is written once (public API has no scope).
from keras.src.saving.serialization_lib import ObjectSharingScope as _ObjectSharingScope

# keras.src.legacy.saving: the Keras 2 HDF5 layout. Public alternative:
# keras.saving.save_model(model, "x.h5"), which writes with HDF5 straight to disk
# (a full disk can crash HDF5) and with loss aliases its own reader cannot resolve.
from keras.src.legacy.saving import json_utils as _json_utils
from keras.src.legacy.saving import legacy_h5_format as _legacy_h5
from keras.src.legacy.saving import saving_options as _saving_options
from keras.src.legacy.saving import saving_utils as _saving_utils

# keras.src.utils.io_utils.ask_to_proceed_with_overwrite: the prompt keras.Model.save_weights(overwrite=False)
# shows over an existing file, which netform's model method shows as Keras does (no public name for it).
from keras.src.utils.io_utils import ask_to_proceed_with_overwrite

__all__ = [
    "H5IOStore",
    "DiskIOStore",
    "ShardedH5IOStore",
    "save_state",
    "load_state",
    "model_config",
    "model_from_config",
    "raise_loading_failure",
    "safe_get_h5_group",
    "safe_get_h5_dataset",
    "json_default",
    "legacy_config_scope",
    "legacy_model_metadata",
    "legacy_model_from_config",
    "compile_args_from_training_config",
    "save_weights_to_hdf5_group",
    "save_attributes_to_hdf5_group",
    "load_attributes_from_hdf5_group",
    "legacy_weights",
    "set_legacy_weights",
    "live_compile_config",
    "own_variables",
    "checkpoint_children",
    "ask_to_proceed_with_overwrite",
]

#: The HDF5 weights store of a ``.keras`` archive or ``.weights.h5``; it also takes a file object.
H5IOStore = _saving_lib.H5IOStore
#: The assets folder of a ``.keras`` archive (inside the zip or on disk).
DiskIOStore = _saving_lib.DiskIOStore
#: Keras's sharded weights store (``.weights.json`` plus ``_00000.weights.h5`` shards).
ShardedH5IOStore = _saving_lib.ShardedH5IOStore
#: Keras's own guarded accessors (they refuse external links and absurd shapes).
safe_get_h5_group = _saving_lib.safe_get_h5_group
safe_get_h5_dataset = _saving_lib.safe_get_h5_dataset
#: Keras's failure report after ``load_state`` (the message Keras itself raises).
raise_loading_failure = _saving_lib._raise_loading_failure


def save_state(model: Any, weights_store: Any, assets_store: Any = None, *, skip: set[int] | None = None) -> None:
    """Write every variable (and asset) of ``model`` into the stores, as Keras does.

    ``skip`` holds ``id()`` of objects left out. Private ``saving_lib._save_state``:
    the body of ``save_model`` and ``save_weights``; the public functions take
    only a path.
    """
    _saving_lib._save_state(
        model, weights_store=weights_store, assets_store=assets_store, inner_path="", visited_saveables=set(skip or ())
    )


class _SeenOrFailed(set):
    """Keras's ``visited_saveables`` set, in which a saveable that failed to load also counts as seen.

    With ``skip_mismatch``, a layer whose weights do not fit fails, stays
    unvisited, and Keras's pass over a Functional model's second list of the
    same layers (``_operations_by_depth``) tries it again and warns "Skipping
    nested container". netform reports exactly what it skipped itself; counting
    a failure as seen stops the duplicate warning at its source, instead of
    silencing warnings with ``warnings.catch_warnings``, which changes
    process-wide state and is not thread-safe.
    """

    def __init__(self, seen: set[int], failed: set[int]) -> None:
        super().__init__(seen)
        self.failed = failed

    def __contains__(self, item: object) -> bool:
        return set.__contains__(self, item) or item in self.failed

    def __bool__(self) -> bool:
        return True  # Keras tests ``if visited_saveables and id(x) in visited_saveables``


def load_state(
    model: Any,
    weights_store: Any,
    assets_store: Any = None,
    *,
    skip_mismatch: bool = False,
    skip: set[int] | None = None,
) -> tuple[set[Any], dict[Any, Any]]:
    """Fill ``model`` from the stores, as Keras does; return ``(failed, error_messages)``.

    ``skip`` holds ``id()`` of objects not to load (Keras's ``objects_to_skip``).
    Private ``saving_lib._load_state``; public ``load_weights`` takes only a path.
    """
    failed: set[Any] = set()
    errors: dict[Any, Any] = {}
    _saving_lib._load_state(
        model,
        weights_store=weights_store,
        assets_store=assets_store,
        inner_path="",
        skip_mismatch=skip_mismatch,
        visited_saveables=_SeenOrFailed(set(skip or ()), failed),
        failed_saveables=failed,
        error_msgs=errors,
    )
    return failed, errors


def model_config(model: Any) -> dict[str, Any]:
    """``keras.saving.serialize_keras_object(model)`` the way ``save_model`` calls it (shared objects once)."""
    import keras

    with _ObjectSharingScope():
        return keras.saving.serialize_keras_object(model)


def model_from_config(config: dict[str, Any], custom_objects: Any, compile: bool, safe_mode: bool) -> Any:
    """Build (and compile) a model from an archive's config, as ``load_model`` does.

    Private ``saving_lib._model_from_config``: public ``deserialize_keras_object``
    lacks the object-sharing scope that restores shared layers once.
    """
    return _saving_lib._model_from_config(json.dumps(config), custom_objects, compile, safe_mode)


def json_default(value: Any) -> Any:
    """JSON encoder fallback Keras uses for HDF5 attributes (NumPy values, TensorShapes)."""
    return _json_utils.get_json_type(value)


def legacy_config_scope() -> ContextManager[Any]:
    """Keras's legacy (Keras 2) config style for the length of a ``with`` block.

    Private ``saving_options.keras_option_scope``: no public switch (Keras's own
    ``save_model_to_hdf5`` sets it the same way).
    """
    return _saving_options.keras_option_scope(use_legacy_config=True)


def legacy_model_metadata(model: Any, include_optimizer: bool = True) -> dict[str, Any]:
    """The root attributes Keras writes into a full-model HDF5 file (``model_config``, ``training_config``)."""
    return _saving_utils.model_metadata(model, include_optimizer)


def legacy_model_from_config(config: dict[str, Any], custom_objects: Any) -> Any:
    """A model from a Keras 2 style ``model_config`` (no public reader of that layout)."""
    return _saving_utils.model_from_config(config, custom_objects=custom_objects)


def compile_args_from_training_config(training: dict[str, Any], custom_objects: Any) -> dict[str, Any]:
    """``compile()`` arguments from an HDF5 file's ``training_config`` (Keras's own reading of it)."""
    return _saving_utils.compile_args_from_training_config(training, custom_objects)


def save_weights_to_hdf5_group(group: Any, model: Any) -> None:
    """Keras's layer weights layout (``layer_names``, one group per layer) into an open HDF5 group."""
    _legacy_h5.save_weights_to_hdf5_group(group, model)


def save_attributes_to_hdf5_group(group: Any, name: str, data: Any) -> None:
    """An attribute list as Keras writes it (chunked when it passes HDF5's 64 KiB header limit)."""
    _legacy_h5.save_attributes_to_hdf5_group(group, name, data)


def load_attributes_from_hdf5_group(group: Any, name: str) -> Any:
    """An attribute list as Keras reads it (joining the chunks)."""
    return _legacy_h5.load_attributes_from_hdf5_group(group, name)


def legacy_weights(layer: Any) -> list[Any]:
    """A layer's weights in the Keras 2 file order (trainable first), as Keras's HDF5 reader pairs them."""
    return _legacy_h5._legacy_weights(layer)


def set_legacy_weights(layer: Any, symbolic: list[Any], values: list[Any], name: str) -> None:
    """Assign saved values with Keras's shape checks and its one conversion (Keras 2 recurrent layouts)."""
    _legacy_h5._set_weights(layer, symbolic, values, name=name)


def export_input_signature(model: Any) -> Any:
    """The input signature ``model.export()`` computes for a built model.

    Private ``keras.src.export.export_utils.get_input_signature``: the public
    ``model.export`` computes it internally; ``keras.export.ExportArchive``
    (public) needs it passed in, and netform uses that class to name outputs.
    """
    from keras.src.export.export_utils import get_input_signature

    return get_input_signature(model)


def live_compile_config(model: Any) -> Any:
    """The model's live compile config object (``None`` when not compiled).

    Private: ``Model._compile_config``. Keras's legacy HDF5 metadata pops the
    optimizer out of this object; netform hands it a copy first. The public
    ``get_compile_config()`` returns a serialized copy, which cannot protect
    the live object.
    """
    return getattr(model, "_compile_config", None)


def own_variables(model: Any) -> list[Any]:
    """The variables a model tracks itself (not through its layers), trainable first.

    Private: ``Layer._trainable_variables`` / ``_non_trainable_variables``,
    what Keras's legacy HDF5 loader writes as ``top_level_model_weights``;
    the public ``weights`` mixes in every layer's variables.
    """
    return list(model._trainable_variables) + list(model._non_trainable_variables)


def checkpoint_children(obj: Any) -> dict[str, Any]:
    """The children a TF checkpoint reaches from ``obj`` (name → object).

    Private: ``Trackable._trackable_children(save_type="checkpoint")``, the
    edges ``tf.train.Checkpoint`` follows; TensorFlow has no public walk of
    an object graph.
    """
    return dict(obj._trackable_children(save_type="checkpoint"))
