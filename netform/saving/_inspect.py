"""What a saved file holds (``netform inspect``) and format conversion (``netform convert``)."""

from __future__ import annotations

import os
from typing import Any

from netform.errors import FormatError

from ._api import load, save
from ._detect import detect_format
from ._meta import MAX_METADATA_BYTES, json_object, read_bounded, reading, register_netform_classes
from ._static_reader import read_model

__all__ = ["inspect", "convert"]


def _layers(model: Any) -> list[dict[str, Any]]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append({"name": layer.name, "class": type(layer).__name__,
                    "params": int(layer.count_params()) if layer.built else 0})
    return out


_TEXT_FIELDS = ("keras_version", "netform_version", "saved_at", "model_class", "model_name")


def _text_fields(meta: dict[str, Any], where: str, field: str) -> dict[str, Any]:
    """Keep the metadata fields ``inspect`` reports, refusing values of the wrong type."""
    for key in _TEXT_FIELDS:
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise FormatError(f"{where}: {field} field '{key}' holds {type(value).__name__} {str(value)[:60]!r}, "
                              "expected a string; the file is corrupt or was not written by netform or Keras.")
    return meta


def _h5_meta(f: Any, path: str) -> dict[str, Any]:
    """netform's metadata attribute of an open HDF5 file, with its Keras version."""
    import numpy as np  # noqa: PLC0415

    raw = f.attrs.get("netform_metadata")
    field = "attribute 'netform_metadata'"
    if isinstance(raw, np.void):
        raw = raw.tobytes()
    meta = _text_fields(json_object(raw, path, field), path, field) if raw is not None else {}
    kv = f.attrs.get("keras_version")
    if kv is not None:
        meta.setdefault("keras_version", kv.decode("utf-8", "replace") if isinstance(kv, bytes) else str(kv))
    return meta


def _zip_json(path: str, name: str) -> dict[str, Any]:
    """A JSON object entry of a ``.keras`` archive (``{}`` when absent), its size bounded."""
    import zipfile  # noqa: PLC0415

    from ._safety import check_zip  # noqa: PLC0415

    with reading(path, "keras"), zipfile.ZipFile(path) as zf:
        check_zip(zf, path)
        try:
            info = zf.getinfo(name)
        except KeyError:
            return {}
        if info.file_size > MAX_METADATA_BYTES:
            raise FormatError(f"{path}: archive entry {name} is {info.file_size:,} bytes, more than netform's "
                              f"limit of {MAX_METADATA_BYTES:,} for metadata; the file is corrupt or hostile.")
        raw = zf.read(info)
    return json_object(raw, path, name)


def _netform_meta(path: str, fmt: str) -> dict[str, Any]:
    if fmt == "keras":
        from ._keras_zip import NETFORM_ENTRY  # noqa: PLC0415

        meta = _text_fields(_zip_json(path, NETFORM_ENTRY), path, NETFORM_ENTRY)
        keras_meta = _zip_json(path, "metadata.json")
        for key, theirs in (("keras_version", "keras_version"), ("saved_at", "date_saved")):
            value = keras_meta.get(theirs)
            if value is not None and not isinstance(value, str):
                raise FormatError(f"{path}: metadata.json field '{theirs}' holds {type(value).__name__}, "
                                  "expected a string; the file is corrupt.")
            meta.setdefault(key, value)
        return meta
    if fmt == "h5":
        import h5py  # noqa: PLC0415

        from ._safety import check_h5, file_size  # noqa: PLC0415

        with reading(path, fmt), h5py.File(path, "r") as f:
            check_h5(f, path, file_size=file_size(path))
            return _h5_meta(f, path)
    if fmt == "savedmodel":
        from ._savedmodel import META, EXTRA_DIR  # noqa: PLC0415

        meta_path = os.path.join(path, EXTRA_DIR, META)
        if os.path.lexists(meta_path):
            raw = read_bounded(meta_path, MAX_METADATA_BYTES, "netform's metadata", error=FormatError)
            return _text_fields(json_object(raw, meta_path, META), meta_path, META)
    return {}


def inspect(path: str | os.PathLike[str], *, safe_mode: bool = True, with_keras: bool = False) -> dict[str, Any]:
    """Describe a saved model: format, class, layers, parameters, optimizer, versions.

    A ``.keras`` archive or full-model ``.h5`` file is read directly (its
    config and the shapes of its weights) without importing TensorFlow,
    after the same safety checks :func:`netform.saving.load` runs; a
    weights-only file never needs TensorFlow. Anything that only Keras can
    describe for certain (a SavedModel, a subclassed model, a layer class
    with variables netform does not know) is loaded with Keras.

    Args:
        path: Any file or directory netform can load, or an ONNX or TFLite
            export (its opset, inputs and outputs).
        safe_mode: As for :func:`netform.saving.load`.
        with_keras: Load the model with Keras even where the file can be
            read without it (same result, slower; for comparison).

    Returns:
        A JSON-ready dict with keys ``path``, ``format``, ``model_name``,
        ``model_class``, ``layers``, ``parameters``, ``trainable_parameters``,
        ``optimizer``, ``iterations``, ``keras_version``, ``netform_version``,
        ``saved_at`` and ``inference_only``. Weights-only files report the
        variables they hold instead of layers.
    """
    path = os.fspath(path)
    fmt = detect_format(path)
    result: dict[str, Any] = {"path": path, "format": fmt}
    if fmt in ("onnx", "tflite"):
        from ._export import describe_export  # noqa: PLC0415 - only for deployment files

        result.update(describe_export(path, fmt))
        return result
    if fmt not in ("keras", "h5", "savedmodel"):
        result.update(_weights_summary(path, fmt))
        return result
    meta = _netform_meta(path, fmt)
    static = None if with_keras or fmt == "savedmodel" else read_model(path, fmt, safe_mode=safe_mode)
    if static is not None:
        result.update({
            "model_name": static["model_name"],
            "model_class": meta.get("model_class") or static["model_class"],
            "layers": static["layers"],
            "parameters": static["parameters"],
            "trainable_parameters": static["trainable_parameters"],
            "optimizer": static["optimizer"],
            "iterations": static["iterations"],
            "keras_version": meta.get("keras_version"),
            "netform_version": meta.get("netform_version"),
            "saved_at": meta.get("saved_at"),
            "inference_only": False,
        })
        return result
    register_netform_classes()
    model = load(path, safe_mode=safe_mode)
    optimizer = getattr(model, "optimizer", None)
    inference_only = bool(getattr(model, "inference_only", False))
    result.update({
        "model_name": model.name,
        "model_class": meta.get("model_class") or f"{type(model).__module__}.{type(model).__qualname__}",
        "layers": _layers(model),
        "parameters": int(sum(int(_numel(v.shape)) for v in model.weights)),
        "trainable_parameters": None if inference_only else int(
            sum(int(_numel(v.shape)) for v in model.trainable_variables)),
        "optimizer": type(optimizer).__name__ if optimizer is not None else None,
        "iterations": int(optimizer.iterations.numpy()) if optimizer is not None else None,
        "keras_version": meta.get("keras_version"),
        "netform_version": meta.get("netform_version"),
        "saved_at": meta.get("saved_at"),
        "inference_only": inference_only,
    })
    return result


def _numel(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _weights_summary(path: str, fmt: str) -> dict[str, Any]:
    if fmt == "tf_checkpoint":
        from ._checkpoint import checkpoint_variables  # noqa: PLC0415
        from ._detect import checkpoint_prefix  # noqa: PLC0415

        with reading(path, fmt):
            shapes = checkpoint_variables(checkpoint_prefix(path) or path)
        meta: dict[str, Any] = {}
    else:
        import h5py  # noqa: PLC0415

        from ._safety import check_h5, file_size  # noqa: PLC0415

        shapes = {}
        with reading(path, fmt), h5py.File(path, "r") as f:
            check_h5(f, path, file_size=file_size(path))
            f.visititems(lambda n, o: shapes.__setitem__(n, tuple(o.shape)) if hasattr(o, "shape") else None)
            meta = _h5_meta(f, path)
    return {
        "variables": len(shapes),
        "parameters": sum(_numel(s) for s in shapes.values()),
        "keras_version": meta.get("keras_version"),
        "netform_version": meta.get("netform_version"),
        "saved_at": meta.get("saved_at"),
        "model_class": meta.get("model_class"),
        "model_name": meta.get("model_name"),
    }


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], format: str | None = None, *,
            safe_mode: bool = True) -> str:
    """Convert a full model between ``keras``, ``h5`` and ``savedmodel``.

    Args:
        src: Any full-model file (format read from the content).
        dst: Destination; its format comes from ``format=`` or its extension.
        format: Target format.
        safe_mode: As for :func:`netform.saving.load`.

    Returns:
        The format written.
    """
    from netform.errors import SaveError  # noqa: PLC0415

    model = load(src, safe_mode=safe_mode)
    from ._api import format_from_path  # noqa: PLC0415

    fmt = format_from_path(os.fspath(dst), format)
    if fmt not in ("keras", "h5", "savedmodel"):
        raise SaveError(f"{os.fspath(dst)}: convert writes whole models (keras, h5, savedmodel), "
                        f"not {fmt}; use save_weights for weights only.")
    return save(model, dst, format=fmt)
