"""Full models in HDF5 (``.h5``), compatible with Keras 2 and Keras 3 readers.

The file is Keras's legacy layout (``model_config``, ``training_config``,
``model_weights``, ``optimizer_weights``) so plain ``keras.models.load_model``
and tf_keras read it. netform adds, as root attributes and one group:

* ``netform_model_config``: the Keras 3 config (round-trips every registered
  class, where the legacy config may not);
* ``netform_compile_config``: the Keras 3 compile config;
* ``netform_checksums``: CRC-32 of every dataset, so a flipped bit in the
  weights is caught (HDF5 itself checksums only metadata);
* ``netform_metadata``: versions and time saved.

The optimizer state is restored from Keras's own ``optimizer_weights``
(every ``optimizer.variables``, in order, named by path); files from
earlier netform versions carry a second copy, ``netform_optimizer/``,
which is still read. Checksums are computed from the bytes HDF5 wrote
(found by each dataset's offset), not by reading every dataset back.

Keras writes losses by alias (``"mse"``), which its own reader then fails to
resolve; netform writes canonical names in ``training_config``.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
import zlib
from typing import Any, BinaryIO, Callable, Mapping

from netform.errors import FormatError

from ._atomic import atomic_file
from ._meta import crc32, metadata, reading, register_netform_classes, writing
from ._safety import check_config, check_h5, file_size

__all__ = ["save_h5", "load_h5", "verify_checksums", "read_h5_info", "model_weights_group"]

#: Where netform before 0.1.1 kept a second copy of the optimizer state (read, no longer written).
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


def _dataset_ids(f: Any) -> dict[str, Any]:
    """``{name: DatasetID}`` of every dataset, via the cheap low-level API."""
    import h5py  # noqa: PLC0415

    out: dict[str, Any] = {}

    def visit(raw: bytes, info: Any) -> None:
        if info.type == h5py.h5o.TYPE_DATASET:
            out[raw.decode("utf-8")] = h5py.h5o.open(f.id, raw)

    h5py.h5o.visit(f.id, visit, info=True)
    return out


def _raw_reader(source: Any) -> Callable[[int, int], Any] | None:
    """``read(offset, size)`` on the file's bytes: a path, an open file or a BytesIO."""
    if isinstance(source, io.BytesIO):
        view = source.getbuffer()
        return lambda offset, size: view[offset:offset + size]
    if isinstance(source, int):
        return lambda offset, size: os.pread(source, size, offset)
    return None


def _dataset_crc(dsid: Any, read: Callable[[int, int], Any] | None) -> int:
    """CRC-32 of a dataset's values, from its stored bytes when they are the values.

    A contiguous dataset of a plain numeric type in native byte order is
    stored exactly as ``np.ascontiguousarray(values).tobytes()``, so its CRC
    is taken from the file's bytes; any other dataset is read.
    """
    import h5py  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    dtype = dsid.dtype
    if read is not None and dtype.kind in "biufc?" and dtype.isnative:
        offset = dsid.get_offset()
        size = int(np.prod(dsid.shape, dtype=np.int64)) * dtype.itemsize
        if offset is not None and size and dsid.get_storage_size() == size:
            chunk = read(offset, size)
            if len(chunk) == size:  # a truncated file falls through to HDF5's own read
                return zlib.crc32(chunk) & 0xFFFFFFFF
    return crc32(h5py.Dataset(dsid)[()])


def _write_checksums(f: Any, read: Callable[[int, int], Any] | None = None) -> None:
    """Store the CRC-32 of every dataset in ``netform_checksums``.

    Args:
        f: The open, writable file; flushed first when ``read`` is given.
        read: Reads the file's bytes (see :func:`_raw_reader`); without it
            every dataset is read back.
    """
    if read is not None:
        f.flush()
    sums = {name: _dataset_crc(dsid, read) for name, dsid in _dataset_ids(f).items()}
    f.attrs["netform_checksums"] = json.dumps(sums)


def verify_checksums(f: Any, where: str, *, datasets: dict[str, Any] | None = None,
                     source: Any = None) -> None:
    """Compare every dataset with the CRC-32 netform stored, if any.

    Args:
        f: The open file.
        where: The file name, for messages.
        datasets: ``{name: DatasetID}`` from :func:`check_h5`, to skip a walk.
        source: The file's path, open descriptor or BytesIO, to checksum
            stored bytes directly instead of reading every dataset.

    Raises:
        FormatError: A dataset's bytes changed since netform wrote them.
    """
    import h5py  # noqa: PLC0415

    raw = f.attrs.get("netform_checksums")
    if raw is None:
        return
    sums = json.loads(raw)
    fd = os.open(source, os.O_RDONLY) if isinstance(source, str) else None
    try:
        read = _raw_reader(fd if fd is not None else source)
        for name, expected in sums.items():
            dsid = (datasets or {}).get(name)
            if dsid is None:
                try:
                    dsid = h5py.h5o.open(f.id, name.encode())
                except KeyError:
                    dsid = None
                if not isinstance(dsid, h5py.h5d.DatasetID):
                    raise FormatError(f"{where}: dataset '/{name}' is missing; the file is corrupt.")
            if _dataset_crc(dsid, read) != expected:
                raise FormatError(
                    f"{where}: dataset '/{name}' fails its checksum; the file is corrupt "
                    "(a changed bit). Restore it from a good copy."
                )
    finally:
        if fd is not None:
            os.close(fd)


def write_h5(model: Any, fh: BinaryIO) -> None:
    """Write a full-model HDF5 file into the open file ``fh`` (no atomicity)."""
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
        # HDF5 opens the name with O_TRUNC: the same file (inode) as ``fh``.
        with h5py.File(fh.name, "w") as f:
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
            f.attrs["netform_metadata"] = json.dumps(metadata(model, "h5"))
            _write_checksums(f, _raw_reader(fh.fileno()))


def save_h5(model: Any, path: str) -> None:
    """Save ``model`` as a full-model HDF5 file, atomically.

    Raises:
        SaveError: The model could not be written.
    """
    with writing(path, "h5"), atomic_file(path) as fh:
        write_h5(model, fh)


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

    register_netform_classes()
    custom = dict(custom_objects or {})
    with reading(path, "h5"), h5py.File(path, "r") as f:
        datasets: dict[str, Any] = {}
        check_h5(f, path, file_size=file_size(path), datasets=datasets)
        native = _attr_json(f, "netform_model_config")
        legacy = _attr_json(f, "model_config")
        if native is None and legacy is None:
            raise FormatError(f"{path}: HDF5 file has no model config; load it with load_weights().")
        check_config(native if native is not None else legacy, where=path, safe_mode=safe_mode,
                     custom_objects=custom)
        verify_checksums(f, path, datasets=datasets, source=path)
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
        values = [d[()] for d in legacy_h5_format.load_optimizer_weights_from_hdf5_group(f)]
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
