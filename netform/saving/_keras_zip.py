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
from typing import Any, Mapping

from ._atomic import atomic_path
from ._meta import metadata, reading, writing
from ._safety import check_config, check_h5, check_zip

__all__ = ["save_keras", "write_keras", "load_keras", "read_keras_info", "NETFORM_ENTRY"]

NETFORM_ENTRY = "netform.json"
_WEIGHTS_ENTRY = "model.weights.h5"


def write_keras(model: Any, path: str) -> None:
    """Write a ``.keras`` archive at ``path`` (no atomicity; callers add it)."""
    from keras.src.saving import saving_lib  # noqa: PLC0415

    with open(path, "wb") as fh:
        saving_lib.save_model(model, fh)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(NETFORM_ENTRY, json.dumps(metadata(model, "keras")))


def save_keras(model: Any, path: str) -> None:
    """Save ``model`` as a ``.keras`` archive, atomically.

    Raises:
        SaveError: Keras could not serialize the model.
    """
    with writing(path, "keras"), atomic_path(path) as tmp:
        write_keras(model, tmp)


def open_checked(source: str | io.BytesIO, where: str, *, safe_mode: bool,
                 custom_objects: Mapping[str, Any] | None) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    """Open an archive, run every safety check, and return it with its config."""
    zf = zipfile.ZipFile(source)
    try:
        check_zip(zf, where)
        config = json.loads(zf.read("config.json"))
        check_config(config, where=where, safe_mode=safe_mode, custom_objects=custom_objects)
        if _WEIGHTS_ENTRY in zf.namelist():
            import h5py  # noqa: PLC0415

            info = zf.getinfo(_WEIGHTS_ENTRY)
            with zf.open(info) as member, h5py.File(member, "r") as h5:
                check_h5(h5, f"{where}!{_WEIGHTS_ENTRY}", file_size=info.compress_size)
    except BaseException:
        zf.close()
        raise
    return zf, config


def load_keras(path: str | io.BytesIO, *, where: str | None = None, compile: bool = True,
               safe_mode: bool = True, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Load a model from a ``.keras`` archive (any file name).

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
    from keras.src.saving import saving_lib  # noqa: PLC0415

    where = where or os.fspath(path)  # type: ignore[arg-type]
    with reading(where, "keras"):
        zf, _config = open_checked(path, where, safe_mode=safe_mode, custom_objects=custom_objects)
        zf.close()
        if isinstance(path, io.BytesIO):
            path.seek(0)
            return saving_lib.load_model(path, custom_objects=custom_objects, compile=compile,
                                         safe_mode=safe_mode)
        with open(path, "rb") as fh:
            return saving_lib.load_model(fh, custom_objects=custom_objects, compile=compile,
                                         safe_mode=safe_mode)


def weights_bytes(path: str | io.BytesIO, where: str) -> io.BytesIO:
    """The ``model.weights.h5`` of an archive, in memory, checked."""
    with reading(where, "keras"):
        zf, _config = open_checked(path, where, safe_mode=True, custom_objects=None)
        with zf:
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
