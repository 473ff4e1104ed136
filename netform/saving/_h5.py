"""Full models in HDF5 (``.h5``), compatible with Keras 2 and Keras 3 readers.

The file is Keras's legacy layout (``model_config``, ``training_config``,
``model_weights``, ``optimizer_weights``) so plain ``keras.models.load_model``
and tf_keras read it. netform adds, as root attributes and one group:

* ``netform_model_config``: the Keras 3 config (round-trips every registered
  class, where the legacy config may not);
* ``netform_compile_config``: the Keras 3 compile config;
* ``netform_optimizer/``: every optimizer variable, in order (Keras's
  ``optimizer_weights`` is not restored by Keras 3 and differs in Keras 2);
* ``netform_checksums``: CRC-32 of every dataset, so a flipped bit in the
  weights is caught (HDF5 itself checksums only metadata);
* ``netform_metadata``: versions and time saved.

Keras writes losses by alias (``"mse"``), which its own reader then fails to
resolve; netform writes canonical names in ``training_config``.
"""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any, Mapping

from netform.errors import FormatError

from ._atomic import atomic_path
from ._meta import crc32, metadata, reading, writing
from ._safety import check_config, check_h5, file_size

__all__ = ["save_h5", "load_h5", "verify_checksums", "read_h5_info", "model_weights_group"]

_OPT_GROUP = "netform_optimizer"


def _json(value: Any) -> str:
    from keras.src.legacy.saving import json_utils  # noqa: PLC0415

    return json.dumps(value, default=json_utils.get_json_type)


def _canonical_losses(config: Any) -> Any:
    """Replace loss aliases (``"mse"``) by full names Keras's reader resolves."""
    import keras  # noqa: PLC0415

    if isinstance(config, str):
        try:
            fn = keras.losses.get(config)
        except (ValueError, TypeError):
            return config
        name = getattr(fn, "__name__", None)
        return name if isinstance(name, str) and hasattr(keras.losses, name) else config
    if isinstance(config, dict) and "class_name" not in config:
        return {k: _canonical_losses(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_canonical_losses(v) for v in config]
    return config


def _write_checksums(f: Any) -> None:
    import h5py  # noqa: PLC0415

    sums: dict[str, int] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            sums[name] = crc32(obj[()])

    f.visititems(visit)
    f.attrs["netform_checksums"] = json.dumps(sums)


def verify_checksums(f: Any, where: str) -> None:
    """Compare every dataset with the CRC-32 netform stored, if any.

    Raises:
        FormatError: A dataset's bytes changed since netform wrote them.
    """
    raw = f.attrs.get("netform_checksums")
    if raw is None:
        return
    sums = json.loads(raw)
    for name, expected in sums.items():
        if name not in f:
            raise FormatError(f"{where}: dataset '/{name}' is missing; the file is corrupt.")
        if crc32(f[name][()]) != expected:
            raise FormatError(
                f"{where}: dataset '/{name}' fails its checksum; the file is corrupt "
                "(a changed bit). Restore it from a good copy."
            )


def write_h5(model: Any, path: str) -> None:
    """Write a full-model HDF5 file at ``path`` (no atomicity)."""
    import h5py  # noqa: PLC0415
    import keras  # noqa: PLC0415
    from keras.src.legacy.saving import legacy_h5_format  # noqa: PLC0415

    compile_config = model.get_compile_config() if getattr(model, "compiled", False) else None
    if compile_config:
        compile_config = keras.saving.serialize_keras_object(compile_config)
    # Keras's HDF5 writer pops "optimizer" out of the model's live compile
    # config; keep a copy so the model (and later saves) stay intact.
    live = getattr(model, "_compile_config", None)
    kept = copy.deepcopy(live.config) if live is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with h5py.File(path, "w") as f:
            try:
                legacy_h5_format.save_model_to_hdf5(model, f, include_optimizer=True)
            finally:
                if live is not None:
                    live.config = kept
            if "training_config" in f.attrs:
                training = json.loads(f.attrs["training_config"])
                for key in ("loss",):
                    if key in training:
                        training[key] = _canonical_losses(training[key])
                f.attrs["training_config"] = _json(training).encode("utf8")
            f.attrs["netform_model_config"] = _json(keras.saving.serialize_keras_object(model))
            if compile_config:
                f.attrs["netform_compile_config"] = _json(compile_config)
            optimizer = getattr(model, "optimizer", None)
            if optimizer is not None and getattr(optimizer, "built", False):
                group = f.create_group(_OPT_GROUP)
                for i, var in enumerate(optimizer.variables):
                    group.create_dataset(str(i), data=keras.ops.convert_to_numpy(var))
                group.attrs["paths"] = json.dumps([v.path for v in optimizer.variables])
            f.attrs["netform_metadata"] = json.dumps(metadata(model, "h5"))
            _write_checksums(f)


def save_h5(model: Any, path: str) -> None:
    """Save ``model`` as a full-model HDF5 file, atomically.

    Raises:
        SaveError: The model could not be written.
    """
    with writing(path, "h5"), atomic_path(path) as tmp:
        write_h5(model, tmp)


def model_weights_group(f: Any) -> Any:
    """The group holding layer weights: ``model_weights`` or the root."""
    return f["model_weights"] if "model_weights" in f else f


def _attr_json(f: Any, key: str) -> Any:
    raw = f.attrs.get(key)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw)


def load_h5(path: str, *, compile: bool = True, safe_mode: bool = True,
            custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Load a full model from HDF5, with its compile config and optimizer state.

    Raises:
        FormatError: The file is corrupt or holds no model config.
        UnsafeFileError: The file holds code, links or a bomb.
    """
    import h5py  # noqa: PLC0415
    import keras  # noqa: PLC0415
    from keras.src.legacy.saving import legacy_h5_format, saving_options, saving_utils  # noqa: PLC0415
    from keras.src.saving import serialization_lib  # noqa: PLC0415

    custom = dict(custom_objects or {})
    with reading(path, "h5"), h5py.File(path, "r") as f:
        check_h5(f, path, file_size=file_size(path))
        native = _attr_json(f, "netform_model_config")
        legacy = _attr_json(f, "model_config")
        if native is None and legacy is None:
            raise FormatError(f"{path}: HDF5 file has no model config; load it with load_weights().")
        check_config(native if native is not None else legacy, where=path, safe_mode=safe_mode,
                     custom_objects=custom)
        verify_checksums(f, path)
        with serialization_lib.SafeModeScope(safe_mode), keras.saving.custom_object_scope(custom):
            if native is not None:
                native = {k: v for k, v in native.items() if k != "compile_config"}
                model = keras.saving.deserialize_keras_object(native, custom, safe_mode=safe_mode)
            else:
                with saving_options.keras_option_scope(use_legacy_config=True):
                    model = saving_utils.model_from_config(legacy, custom_objects=custom)
            legacy_h5_format.load_weights_from_hdf5_group(model_weights_group(f), model)
        if compile:
            _compile(model, f, path, custom)
    return model


def _compile(model: Any, f: Any, path: str, custom: dict[str, Any]) -> None:
    import keras  # noqa: PLC0415
    from keras.src.legacy.saving import legacy_h5_format, saving_utils  # noqa: PLC0415

    native = _attr_json(f, "netform_compile_config")
    if native is not None:
        check_config(native, where=path, custom_objects=custom)
        with keras.saving.custom_object_scope(custom):
            model.compile_from_config(native)
    else:
        training = _attr_json(f, "training_config")
        if training is None:
            return
        check_config(training, where=path, custom_objects=custom)
        if "loss" in training:
            training["loss"] = _canonical_losses(training["loss"])
        model.compile(**saving_utils.compile_args_from_training_config(training, custom))
    optimizer = model.optimizer
    if _OPT_GROUP in f:
        group = f[_OPT_GROUP]
        values = [group[str(i)][()] for i in range(len(group))]
    elif "optimizer_weights" in f:
        values = legacy_h5_format.load_optimizer_weights_from_hdf5_group(f)
    else:
        return
    optimizer.build(model.trainable_variables)
    shapes = [tuple(v.shape) for v in optimizer.variables]
    if len(values) != len(shapes) or any(tuple(a.shape) != s for a, s in zip(values, shapes)):
        warnings.warn(
            f"{path}: the saved optimizer state ({len(values)} variables) does not fit "
            f"{type(optimizer).__name__} ({len(shapes)} variables); training resumes with a fresh "
            "optimizer state.", stacklevel=3)
        return
    for var, value in zip(optimizer.variables, values):
        var.assign(value)


def read_h5_info(path: str) -> dict[str, Any]:
    """Configs and metadata of a full-model HDF5 file, without building it."""
    import h5py  # noqa: PLC0415

    with reading(path, "h5"), h5py.File(path, "r") as f:
        check_h5(f, path, file_size=file_size(path))
        kv = f.attrs.get("keras_version")
        info = {
            "config": _attr_json(f, "netform_model_config") or _attr_json(f, "model_config"),
            "training_config": _attr_json(f, "training_config"),
            "netform": _attr_json(f, "netform_metadata") or {},
            "keras_version": kv.decode() if isinstance(kv, bytes) else kv,
        }
        return info
