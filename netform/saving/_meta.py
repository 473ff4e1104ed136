"""Shared helpers: netform's own metadata, checksums and error wrapping."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import stat
import zlib
from typing import Any, Iterator

from netform.errors import (
    CorruptFileError,
    FormatError,
    IncompatibleFileError,
    NetformError,
    SaveError,
    UnsafeFileError,
)

__all__ = [
    "metadata",
    "crc32",
    "reading",
    "writing",
    "check_built",
    "model_class_name",
    "register_netform_classes",
    "regular_file",
    "check_tree",
    "read_bounded",
    "json_object",
    "MAX_METADATA_BYTES",
]

#: netform reads no metadata file (JSON, a checkpoint's state file) larger than this.
MAX_METADATA_BYTES = 16 * 2**20
#: A SavedModel directory may hold at most this many files and folders.
MAX_TREE_ENTRIES = 100_000
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _special(path: str, mode: int, what: str) -> UnsafeFileError:
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return UnsafeFileError(
        f"{path}: {what} is {kind}, not a regular file; netform opens only regular files and "
        "directories (reading a FIFO or a device can block forever). Pass the saved file itself."
    )


def regular_file(path: str, what: str = "the path") -> int:
    """Refuse anything but a regular file (a FIFO, socket or device), before it is opened.

    Symbolic links are followed: what counts is the file that would be read.

    Args:
        path: The file.
        what: How messages name it.

    Returns:
        The file's size in bytes.

    Raises:
        UnsafeFileError: ``path`` is a FIFO, socket or device.
        FormatError: ``path`` cannot be examined (missing, no permission).
    """
    try:
        info = os.stat(path)
    except OSError as err:
        raise FormatError(f"{path}: cannot read {what} ({err.strerror or err}).") from err
    if not stat.S_ISREG(info.st_mode):
        raise _special(path, info.st_mode, what)
    return info.st_size


def check_tree(path: str, what: str) -> None:
    """Refuse special files, and links that leave the folder, anywhere under a directory.

    Used before TensorFlow opens any file of a SavedModel directory.

    Args:
        path: The directory.
        what: How messages name it (e.g. ``"SavedModel"``).

    Raises:
        UnsafeFileError: An entry is a FIFO, socket or device, a link points
            outside ``path``, or the tree holds more than
            :data:`MAX_TREE_ENTRIES` entries.
    """
    top = os.path.realpath(path)
    count = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            count += 1
            if count > MAX_TREE_ENTRIES:
                raise UnsafeFileError(
                    f"{path}: the {what} directory holds more than {MAX_TREE_ENTRIES} files and folders; refused."
                )
            entry = os.path.join(root, name)
            if os.path.islink(entry):
                target = os.path.realpath(entry)
                if os.path.commonpath([top, target]) != top:
                    raise UnsafeFileError(
                        f"{entry}: a link in the {what} directory points outside it (to '{target}'); "
                        "refused, a saved model reads only its own files."
                    )
            try:
                mode = os.stat(entry).st_mode
            except OSError as err:
                raise FormatError(
                    f"{entry}: cannot read a file of the {what} directory ({err.strerror or err})."
                ) from err
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise _special(entry, mode, f"a file of the {what} directory")


def read_bounded(path: str, limit: int, what: str, *, error: type[FormatError] = UnsafeFileError) -> bytes:
    """Read a whole regular file whose size is bounded, checking the size first.

    Args:
        path: The file.
        limit: The most bytes accepted.
        what: How messages name it (e.g. ``"the SavedModel graph"``).
        error: The error raised for a file over ``limit``.

    Raises:
        UnsafeFileError: Not a regular file, or (by default) larger than ``limit``.
        FormatError: It cannot be read.
    """
    size = regular_file(path, what)
    if size > limit:
        raise error(
            f"{path}: {what} is {size:,} bytes, more than netform's limit of "
            f"{limit:,} bytes; refused without reading it (a real one is far smaller)."
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as err:
        raise FormatError(f"{path}: cannot read {what} ({err.strerror or err}).") from err
    if len(data) > limit:  # it grew after the check
        raise error(f"{path}: {what} is more than netform's limit of {limit:,} bytes; refused.")
    return data


def json_object(
    raw: str | bytes | Any, where: str, field: str, *, parsed: bool = False, text: bool = False
) -> dict[str, Any]:
    """Decode metadata that must be a JSON object, or say exactly what is wrong.

    Args:
        raw: JSON text (or, with ``parsed=True``, an already decoded value).
        where: The file, for messages.
        field: The entry, attribute or file name inside ``where``.
        parsed: ``raw`` is already decoded.
        text: Refuse a key or string that is not text (a lone UTF-16
            surrogate, JSON's ``"\\ud800"``), naming the place: for metadata
            (a model config's own check,
            :func:`~._config_bounds.check_graph_bounds`, names the place in the
            model; an index names its shards).

    Returns:
        The object as a dict.

    Raises:
        FormatError: The text is too large, not JSON, too deeply nested, not
            an object, or (with ``text``) holds a string that is not text.
    """
    value = raw
    if not parsed:
        if isinstance(raw, (bytes, bytearray, str)) and len(raw) > MAX_METADATA_BYTES:
            raise FormatError(
                f"{where}: {field} is {len(raw):,} bytes, more than netform's limit of "
                f"{MAX_METADATA_BYTES:,} for metadata; the file is corrupt or hostile."
            )
        if isinstance(raw, (bytes, bytearray, str)):
            from ._config_bounds import check_json_containers

            check_json_containers(raw, where, field)  # before parsing: a small file can inflate to millions
        try:
            if isinstance(raw, (bytes, bytearray)):
                raw = bytes(raw).decode("utf-8")
            if not isinstance(raw, str):
                raise TypeError(f"a stored {type(raw).__name__}")
            value = json.loads(raw)
        except RecursionError as err:
            raise FormatError(
                f"{where}: {field} is nested too deeply to be metadata; the file is corrupt or hostile."
            ) from err
        except (ValueError, TypeError) as err:
            raise FormatError(
                f"{where}: {field} is not valid JSON ({' '.join(str(err).split())[:200]}); "
                "expected a JSON object. The file is corrupt or was not written by "
                "netform or Keras."
            ) from err
    if not isinstance(value, dict):
        kind = {
            list: "a list",
            str: "a string",
            int: "a number",
            float: "a number",
            bool: "a boolean",
            type(None): "null",
        }.get(type(value), type(value).__name__)
        raise FormatError(
            f'{where}: {field} holds {kind}, expected a JSON object ({{"key": value, ...}}); '
            "the file is corrupt or was not written by netform or Keras."
        )
    if text:
        from ._config_bounds import check_text

        check_text(value, where, field)
    return value


def netform_version() -> str:
    """The installed netform version (without importing TensorFlow)."""
    try:
        from netform import __version__
    except ImportError:  # pragma: no cover - partial checkouts
        return "unknown"
    return str(__version__)


def model_class_name(model: Any) -> str:
    """``module.Class`` of a model, e.g. ``keras.src.models.sequential.Sequential``."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def register_netform_classes() -> None:
    """Make netform's own model classes known to Keras before a config is deserialized.

    A file saved from ``nf.build(...)`` names ``netform.engine.Sequential``,
    ``netform.builder.SpecModel`` and the like; Keras finds a class only once
    the module that registers it has been imported, which the caller of
    ``nf.load`` may not have done. ``netform.builder`` imports
    ``netform.engine`` and registers every netform class. Only loaders call
    this, never :func:`~netform.saving.detect_format`, which stays free of
    TensorFlow.
    """
    import netform.builder  # noqa: F401 - imported for its registrations


def metadata(model: Any, fmt: str) -> dict[str, Any]:
    """The metadata netform stores beside every model it writes.

    Args:
        model: The model being saved.
        fmt: The format name.

    Returns:
        A JSON-ready dict: netform and Keras versions, time saved, model class.
    """
    import keras

    return {
        "netform_version": netform_version(),
        "keras_version": keras.__version__,
        "format": fmt,
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model_class": model_class_name(model),
        "model_name": getattr(model, "name", None),
    }


def crc32(data: Any) -> int:
    """CRC-32 of an array's bytes (or of bytes)."""
    import numpy as np

    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = np.ascontiguousarray(data).tobytes()
    return zlib.crc32(data) & 0xFFFFFFFF


@contextlib.contextmanager
def reading(path: str | os.PathLike[str], fmt: str) -> Iterator[None]:
    """Turn any low-level failure while reading into a :class:`FormatError`.

    netform's own errors pass through unchanged; anything else (h5py,
    zipfile, JSON, TensorFlow, Keras) is wrapped with the file name.
    """
    try:
        yield
    except NetformError:
        raise
    except MemoryError as err:
        raise FormatError(
            f"{os.fspath(path)}: ran out of memory reading the {fmt} file; it may be corrupt or hostile."
        ) from err
    except Exception as err:  # every library's error becomes one FormatError
        text = " ".join(str(err).split())
        if len(text) > 400:
            # Keras nests the error that started it all after "Exception encountered:"; keep it.
            cause = text.rsplit("Exception encountered:", 1)[1][:400] if "Exception encountered:" in text else ""
            text = text[:400] + " ..." + (f" Exception encountered: {cause}" if cause else "")
        # Also the built-in class Keras raises here: a class that cannot rebuild an object from
        # its config is a TypeError; h5py failing to open or read a file, an OSError.
        error = (
            IncompatibleFileError
            if isinstance(err, TypeError)
            else CorruptFileError
            if isinstance(err, OSError)
            else FormatError
        )
        raise error(
            f"{os.fspath(path)}: cannot load the {fmt} file, it is corrupt, truncated or "
            f"incompatible ({type(err).__name__}: {text})."
        ) from err


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], fmt: str) -> Iterator[None]:
    """Turn any failure while writing into a :class:`SaveError` (old file kept)."""
    try:
        yield
    except NetformError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:
        text = " ".join(str(err).split())[:400]
        raise SaveError(
            f"{os.fspath(path)}: could not save as {fmt} ({type(err).__name__}: {text}). "
            "Any file that was there before is left intact."
        ) from err


def check_built(model: Any, action: str) -> None:
    """Refuse an unbuilt model with a message that says how to fix it.

    A model carrying a netform spec (``_netform_spec``) is built from it. An inference-only model (what
    :func:`netform.load` gives for a SavedModel another tool wrote) has a graph, not Keras weights: refused
    (saving it raises :class:`SaveError`, loading into it :class:`FormatError`).
    """
    if getattr(model, "inference_only", False):
        error = SaveError if action.startswith("save") else FormatError
        raise error(
            f"Cannot {action} {model!r}: an inference-only model (from a SavedModel another tool wrote) holds a "
            "TensorFlow graph, not Keras weights; save the original folder as it is, or load the weights into "
            "a Keras model of its architecture"
        )
    if getattr(model, "built", True) and (model.weights or not _has_unbuilt_layers(model)):
        return
    spec = getattr(model, "_netform_spec", None)
    if spec is not None:
        try:
            from netform import builder

            hook = getattr(builder, "build_from_spec", None)
        except ImportError:
            hook = None
        if hook is not None:
            hook(model, spec)
            if model.built:
                return
    # Keras's own sentence first (Keras's tests match it), then netform's explanation.
    keras_words = {
        "load weights into": "You are loading weights into a model that has not yet been built. ",
        "save the weights of": "You are saving a model that has not yet been built. ",
    }.get(action, "")
    raise FormatError(
        f"{keras_words}Cannot {action} model '{getattr(model, 'name', model)}' ({type(model).__name__}): it is "
        "not built yet, so it has no weights. Build it first, e.g. model.build(input_shape) or "
        "call it once on a batch of data."
    )


def _has_unbuilt_layers(model: Any) -> bool:
    return not getattr(model, "built", False)
