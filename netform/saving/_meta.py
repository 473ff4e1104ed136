"""Shared helpers: netform's own metadata, checksums and error wrapping."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import zlib
from typing import Any, Iterator

from netform.errors import FormatError, NetformError, SaveError

__all__ = ["metadata", "crc32", "reading", "writing", "check_built", "model_class_name",
           "register_netform_classes"]


def netform_version() -> str:
    """The installed netform version (without importing TensorFlow)."""
    try:
        from netform import __version__  # noqa: PLC0415
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
    import netform.builder  # noqa: F401, PLC0415 - imported for its registrations


def metadata(model: Any, fmt: str) -> dict[str, Any]:
    """The metadata netform stores beside every model it writes.

    Args:
        model: The model being saved.
        fmt: The format name.

    Returns:
        A JSON-ready dict: netform and Keras versions, time saved, model class.
    """
    import keras  # noqa: PLC0415

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
    import numpy as np  # noqa: PLC0415

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
        raise FormatError(f"{os.fspath(path)}: ran out of memory reading the {fmt} file; "
                          "it may be corrupt or hostile.") from err
    except Exception as err:  # noqa: BLE001 - every library's error becomes one FormatError
        text = " ".join(str(err).split())
        if len(text) > 400:
            text = text[:400] + " ..."
        raise FormatError(
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
    except Exception as err:  # noqa: BLE001
        text = " ".join(str(err).split())[:400]
        raise SaveError(
            f"{os.fspath(path)}: could not save as {fmt} ({type(err).__name__}: {text}). "
            "Any file that was there before is left intact."
        ) from err


def check_built(model: Any, action: str) -> None:
    """Refuse an unbuilt model with a message that says how to fix it.

    A model carrying a netform spec (``_netform_spec``) is built from it.
    """
    if getattr(model, "built", True) and (model.weights or not _has_unbuilt_layers(model)):
        return
    spec = getattr(model, "_netform_spec", None)
    if spec is not None:
        try:
            from netform import builder  # noqa: PLC0415

            hook = getattr(builder, "build_from_spec", None)
        except ImportError:
            hook = None
        if hook is not None:
            hook(model, spec)
            if model.built:
                return
    raise FormatError(
        f"Cannot {action} model '{getattr(model, 'name', model)}' ({type(model).__name__}): it is "
        "not built yet, so it has no weights. Build it first, e.g. model.build(input_shape) or "
        "call it once on a batch of data."
    )


def _has_unbuilt_layers(model: Any) -> bool:
    return not getattr(model, "built", False)
