"""The native Keras 3 ``.keras`` zip archive.

netform writes the archive with Keras's own writer (so plain
``keras.models.load_model`` reads it) and adds one entry, ``netform.json``,
with its metadata. Reading checks the archive (entry names, bombs), the
config (no code, no unregistered imports) and the weights file (no links,
no bombs) before Keras deserializes anything.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, BinaryIO, Mapping

from netform.errors import FormatError

from ._atomic import atomic_file
from ._h5_source import keras_refusal
from ._meta import metadata, reading, register_netform_classes, writing
from ._safety import check_config, check_h5, check_zip

__all__ = ["save_keras", "write_keras", "load_keras", "read_keras_info", "NETFORM_ENTRY"]

NETFORM_ENTRY = "netform.json"
_WEIGHTS_ENTRY = "model.weights.h5"
_ASSETS_DIR = "assets/"


def write_keras(model: Any, target: str | BinaryIO) -> None:
    """Write a ``.keras`` archive to a path or an open ``w+b`` file (no atomicity)."""
    from keras.src.saving import saving_lib  # noqa: PLC0415

    if isinstance(target, str):
        with open(target, "w+b") as fh:
            write_keras(model, fh)
        return
    saving_lib.save_model(model, target)
    # Append to the same handle: zipfile rewrites only the central directory.
    with zipfile.ZipFile(target, "a") as zf:
        zf.writestr(NETFORM_ENTRY, json.dumps(metadata(model, "keras")))


def save_keras(model: Any, path: str) -> None:
    """Save ``model`` as a ``.keras`` archive, atomically.

    Raises:
        SaveError: Keras could not serialize the model.
    """
    with writing(path, "keras"), atomic_file(path) as fh:
        write_keras(model, fh)


def _checked_entries(zf: zipfile.ZipFile, where: str, *, safe_mode: bool,
                     custom_objects: Mapping[str, Any] | None) -> bytes:
    """Check an open archive's entry table and config; return the config's bytes.

    Only the central directory is scanned (names and declared sizes) and
    only ``config.json`` is read; the weights are checked where they are
    read, so each byte of the file is read once.
    """
    check_zip(zf, where)
    raw = zf.read("config.json")
    check_config(json.loads(raw), where=where, safe_mode=safe_mode, custom_objects=custom_objects)
    return raw


def load_keras(path: str | io.BytesIO, *, where: str | None = None, compile: bool = True,
               safe_mode: bool = True, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Load a model from a ``.keras`` archive (any file name).

    The archive is read once: entry table, config and weights are checked,
    then Keras builds the model and fills it from the weights already in
    memory (Keras's own steps, without its re-reading of the archive).

    Args:
        path: The archive, or its bytes in a BytesIO.
        where: Name used in messages (defaults to ``path``).
        compile: Restore the compile configuration and optimizer state.
        safe_mode: Refuse code and unregistered classes.
        custom_objects: Extra classes and functions allowed by name.

    Raises:
        FormatError: The archive is corrupt or not a Keras model.
        UnsafeFileError: The archive is hostile.
    """
    register_netform_classes()
    where = where or os.fspath(path)  # type: ignore[arg-type]
    with reading(where, "keras"), zipfile.ZipFile(path) as zf:
        config = _checked_entries(zf, where, safe_mode=safe_mode, custom_objects=custom_objects)
        if _WEIGHTS_ENTRY not in zf.namelist():  # e.g. Keras's npz weights: let Keras read it
            from keras.src.saving import saving_lib  # noqa: PLC0415

            if isinstance(path, io.BytesIO):
                path.seek(0)
                return saving_lib.load_model(path, custom_objects=custom_objects, compile=compile,
                                             safe_mode=safe_mode)
            with open(path, "rb") as fh:
                return saving_lib.load_model(fh, custom_objects=custom_objects, compile=compile,
                                             safe_mode=safe_mode)
        return _load_from_archive(zf, config, where, compile=compile, safe_mode=safe_mode,
                                  custom_objects=custom_objects)


def _load_from_archive(zf: zipfile.ZipFile, config: bytes, where: str, *, compile: bool,
                       safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> Any:
    """Keras's ``_load_model_from_fileobj``, on an archive already checked and open."""
    from keras.src.saving import saving_lib  # noqa: PLC0415

    weights = io.BytesIO(zf.read(_WEIGHTS_ENTRY))  # zipfile verifies the entry's CRC-32
    store = saving_lib.H5IOStore(weights, mode="r")
    assets = None
    try:
        check_h5(store.h5_file, f"{where}!{_WEIGHTS_ENTRY}", file_size=len(weights.getbuffer()))
        model = saving_lib._model_from_config(config, custom_objects, compile, safe_mode)
        # Keras extracts the whole archive to disk for assets whenever it holds more
        # than its three entries (netform.json is a fourth): do so only for real assets.
        if any(name.startswith(_ASSETS_DIR) for name in zf.namelist()):
            assets = saving_lib.DiskIOStore("assets", archive=zf, mode="r")
        failed: set[Any] = set()
        errors: dict[Any, Any] = {}
        saving_lib._load_state(model, weights_store=store, assets_store=assets, inner_path="",
                               visited_saveables=set(), failed_saveables=failed, error_msgs=errors)
    finally:
        store.close()
        if assets is not None:
            assets.close()
    if failed:
        refusal = keras_refusal(where, [str(v[1]) if isinstance(v, tuple) else str(v) for v in errors.values()])
        if refusal is not None:
            raise refusal
        saving_lib._raise_loading_failure(errors)
    return model


def weights_bytes(path: str | io.BytesIO, where: str) -> io.BytesIO:
    """The ``model.weights.h5`` of an archive, in memory (the caller checks it as HDF5)."""
    with reading(where, "keras"), zipfile.ZipFile(path) as zf:
        _checked_entries(zf, where, safe_mode=True, custom_objects=None)
        if _WEIGHTS_ENTRY not in zf.namelist():
            raise FormatError(f"{where}: the archive holds no {_WEIGHTS_ENTRY}, so there are no "
                              "weights to load.")
        return io.BytesIO(zf.read(_WEIGHTS_ENTRY))


def read_keras_info(path: str) -> dict[str, Any]:
    """Config, Keras metadata and netform metadata of an archive, without TensorFlow."""
    with reading(path, "keras"), zipfile.ZipFile(path) as zf:
        check_zip(zf, path)
        names = zf.namelist()
        info: dict[str, Any] = {"config": json.loads(zf.read("config.json"))}
        info["keras_metadata"] = json.loads(zf.read("metadata.json")) if "metadata.json" in names else {}
        info["netform"] = json.loads(zf.read(NETFORM_ENTRY)) if NETFORM_ENTRY in names else {}
        return info
