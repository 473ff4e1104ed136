"""Find a saved file's format from its content, never from its name.

Only the standard library and (for HDF5 files) h5py are used, so detection is
fast and never imports TensorFlow.
"""

from __future__ import annotations

import os
import zipfile
from typing import Final

from netform.errors import FormatError

__all__ = [
    "FORMATS",
    "FULL_MODEL_FORMATS",
    "WEIGHTS_FORMATS",
    "HDF5_SIGNATURE",
    "TABLE_MAGIC",
    "detect_format",
    "checkpoint_prefix",
    "describe_content",
]

#: Every format netform reads; ``nf.save`` writes all except ``legacy_h5_weights``.
FORMATS: Final[tuple[str, ...]] = (
    "keras",
    "h5",
    "savedmodel",
    "weights_h5",
    "legacy_h5_weights",
    "tf_checkpoint",
)
FULL_MODEL_FORMATS: Final[tuple[str, ...]] = ("keras", "h5", "savedmodel")
WEIGHTS_FORMATS: Final[tuple[str, ...]] = ("weights_h5", "legacy_h5_weights", "tf_checkpoint")

HDF5_SIGNATURE: Final[bytes] = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE: Final[bytes] = b"PK\x03\x04"
#: Last 8 bytes of a TensorFlow table file (a checkpoint's ``.index``).
TABLE_MAGIC: Final[bytes] = (0xDB4775248B80FB57).to_bytes(8, "little")
_SUPPORTED = ", ".join(FORMATS)


def _unsupported(path: str, found: str) -> FormatError:
    return FormatError(
        f"{path}: not a model or weights file netform can read; found {found}. "
        f"Supported formats: {_SUPPORTED}."
    )


def describe_content(path: str) -> str:
    """Say briefly what a path holds, for error messages."""
    if os.path.isdir(path):
        names = sorted(os.listdir(path))[:8]
        return f"a directory containing {names}" if names else "an empty directory"
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        size = os.path.getsize(path)
    except OSError as err:
        return f"an unreadable path ({err.strerror or err})"
    if not head:
        return "an empty file"
    printable = all(32 <= b < 127 or b in (9, 10, 13) for b in head)
    shown = head.decode("ascii") if printable else head.hex(" ")
    kind = "text" if printable else "bytes"
    return f"a {size}-byte file starting with {kind} {shown!r}"


def checkpoint_prefix(path: str) -> str | None:
    """Return the checkpoint prefix ``path`` names, or None.

    Accepts the prefix itself, its ``.index`` or a data shard, or a directory
    holding a ``checkpoint`` state file.
    """
    candidates = [path]
    base = os.path.basename(path)
    if base.endswith(".index"):
        candidates.insert(0, path[: -len(".index")])
    elif ".data-" in base:
        candidates.insert(0, path[: path.rindex(".data-")])
    if os.path.isdir(path):
        state = os.path.join(path, "checkpoint")
        if os.path.isfile(state):
            try:
                with open(state, encoding="utf-8") as fh:
                    for line in fh:
                        if line.startswith("model_checkpoint_path:"):
                            name = line.split(":", 1)[1].strip().strip('"')
                            candidates.insert(0, os.path.join(path, name))
                            break
            except (OSError, UnicodeDecodeError):
                return None
    for prefix in candidates:
        index = prefix + ".index"
        if os.path.isfile(index) and _is_table(index):
            return prefix
    return None


def _is_table(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() < 48:
                return False
            fh.seek(-8, os.SEEK_END)
            return fh.read(8) == TABLE_MAGIC
    except OSError:
        return False


def _hdf5_kind(path: str) -> str:
    import h5py  # noqa: PLC0415 - only when the signature says HDF5

    try:
        with h5py.File(path, "r") as f:
            attrs = f.attrs
            if "model_config" in attrs:
                return "h5"
            if "layer_names" in attrs:
                return "legacy_h5_weights"
            if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
                return "h5"
            keys = set(f.keys())
            if keys & {"layers", "vars", "optimizer", "_layer_checkpoint_dependencies"} or (
                not keys and attrs.get("netform_format") == "weights_h5"
            ):
                return "weights_h5"
            found = f"an HDF5 file with groups {sorted(keys)[:8]} and attributes {sorted(attrs)[:8]}"
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        # h5py raises RuntimeError/KeyError for damaged metadata, OSError for truncation.
        raise FormatError(f"{path}: HDF5 file is corrupt or truncated ({type(err).__name__}: {err}).") from err
    raise _unsupported(path, found)


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return the format of a saved model or weights file, read from its content.

    Args:
        path: A file, a SavedModel directory, or a checkpoint prefix.

    Returns:
        One of ``"keras"``, ``"h5"``, ``"savedmodel"``, ``"weights_h5"``,
        ``"legacy_h5_weights"``, ``"tf_checkpoint"``.

    Raises:
        FormatError: The path is missing or holds none of these formats.

    Example:
        >>> detect_format("model.bin")  # doctest: +SKIP
        'keras'
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(
            os.path.join(path, "saved_model.pbtxt")
        ):
            return "savedmodel"
        if checkpoint_prefix(path) is not None:
            return "tf_checkpoint"
        raise _unsupported(path, describe_content(path))
    if not os.path.exists(path):
        if checkpoint_prefix(path) is not None:
            return "tf_checkpoint"
        from ._atomic import BACKUP_SUFFIX  # noqa: PLC0415

        if os.path.exists(path.rstrip(os.sep) + BACKUP_SUFFIX) or os.path.exists(
            path + BACKUP_SUFFIX + ".index"
        ):
            from ._atomic import recover  # noqa: PLC0415

            recover(path)
            return detect_format(path)
        raise FormatError(f"{path}: no such file or directory. Expected one of: {_SUPPORTED}.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head != HDF5_SIGNATURE:  # a user block moves the signature to 512, 1024, ...
                for offset in (512, 1024, 2048):
                    fh.seek(offset)
                    if fh.read(8) == HDF5_SIGNATURE:
                        head = HDF5_SIGNATURE
                        break
    except OSError as err:
        raise FormatError(f"{path}: cannot read ({err.strerror or err}).") from err
    if head.startswith(ZIP_SIGNATURE):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as err:
            raise FormatError(f"{path}: zip archive is corrupt or truncated ({err}).") from err
        if "config.json" in names:
            return "keras"
        raise _unsupported(path, f"a zip archive without config.json (entries: {sorted(names)[:8]})")
    if head == HDF5_SIGNATURE:
        return _hdf5_kind(path)
    if checkpoint_prefix(path) is not None:
        return "tf_checkpoint"
    raise _unsupported(path, describe_content(path))
