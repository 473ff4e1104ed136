"""What a saved file holds (``netform inspect``) and format conversion (``netform convert``)."""

from __future__ import annotations

import os
from typing import Any


from ._api import load, save
from ._detect import FULL_MODEL_FORMATS, detect_format
from ._meta import reading, register_netform_classes
from ._static_reader import KerasParts, h5_meta, read_model, savedmodel_meta

__all__ = ["inspect", "convert"]


def _layers(model: Any) -> list[dict[str, Any]]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(
            {
                "name": layer.name,
                "class": type(layer).__name__,
                "params": int(layer.count_params()) if layer.built else 0,
            }
        )
    return out


def _netform_meta(path: str, fmt: str) -> dict[str, Any]:
    """The metadata ``inspect`` reports, for a file described by loading it with Keras."""
    if fmt == "keras":
        return KerasParts(path).meta
    if fmt == "h5":
        from ._h5_source import open_h5
        from ._safety import check_h5

        with reading(path, fmt), open_h5(path) as opened:
            check_h5(opened.file, path, file_size=opened.size, raw=opened.raw)
            return h5_meta(opened.file, path)
    if fmt == "savedmodel":
        return savedmodel_meta(path)
    return {}


def inspect(path: str | os.PathLike[str], *, safe_mode: bool = True, with_keras: bool = False) -> dict[str, Any]:
    """Describe a saved model: format, class, layers, parameters, optimizer, versions.

    A ``.keras`` archive or full-model ``.h5`` file is read directly (its
    config and the shapes of its weights) without importing TensorFlow,
    after the same safety checks :func:`netform.saving.load` runs; so is a
    SavedModel netform wrote (through the model it embeds). A SavedModel
    another tool wrote is described from ``saved_model.pb`` (its signatures
    under ``signatures``, the serving one as ``endpoint``, and the scalars
    of its variables), after the same graph-operation check a safe-mode
    load runs. A weights-only file or an ONNX file never needs TensorFlow.
    Anything that only Keras can describe for certain (a subclassed model,
    a layer class with variables netform does not know) is loaded with Keras.

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
    from ._atomic import read_settled

    # a folder a save replaces meanwhile is read whole, once the save's swap has ended
    return read_settled(os.fspath(path), lambda: _inspect(os.fspath(path), safe_mode, with_keras))


def _inspect(path: str, safe_mode: bool, with_keras: bool) -> dict[str, Any]:
    path = os.fspath(path)
    # An index of sharded weights is parsed, and its size checked, once, before the format detection walks it.
    index = None if os.path.isdir(path) else _sharded_index(path)
    fmt = detect_format(path)
    result: dict[str, Any] = {"path": path, "format": fmt}
    if fmt in ("onnx", "tflite"):
        from ._export import describe_export  # only for deployment files

        result.update(describe_export(path, fmt))
        if fmt == "onnx":
            for key in ("inputs", "outputs"):
                result[key] = [_onnx_dims(row) for row in result.get(key) or []]
        return result
    if fmt not in ("keras", "h5", "savedmodel"):
        result.update(_weights_summary(path, fmt, index))
        return result
    static = None if with_keras else read_model(path, fmt, safe_mode=safe_mode)
    if static is not None:
        meta = static["meta"]
        result.update(
            {
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
            }
        )
        return result
    if fmt == "savedmodel" and not with_keras and _foreign(path):
        from ._savedmodel_reader import describe_foreign

        meta = _netform_meta(path, fmt)
        foreign = describe_foreign(path, safe_mode=safe_mode)
        if foreign is not None:
            result.update(_inference_only(foreign, meta))
            return result
    meta = _netform_meta(path, fmt)
    register_netform_classes()
    model = load(path, safe_mode=safe_mode)
    if getattr(model, "inference_only", False):
        result.update(_inference_only(_loaded_foreign(model), meta))
        return result
    optimizer = getattr(model, "optimizer", None)
    result.update(
        {
            "model_name": model.name,
            "model_class": meta.get("model_class") or f"{type(model).__module__}.{type(model).__qualname__}",
            "layers": _layers(model),
            "parameters": int(sum(int(_numel(v.shape)) for v in model.weights)),
            "trainable_parameters": int(sum(int(_numel(v.shape)) for v in model.trainable_variables)),
            "optimizer": type(optimizer).__name__ if optimizer is not None else None,
            "iterations": int(optimizer.iterations.numpy()) if optimizer is not None else None,
            "keras_version": meta.get("keras_version"),
            "netform_version": meta.get("netform_version"),
            "saved_at": meta.get("saved_at"),
            "inference_only": False,
        }
    )
    return result


#: ONNX writes a dim as an int64 varint: one at or past 2**63 is a negative number written as unsigned.
_INT64_LIMIT = 1 << 63


def _onnx_dims(row: dict[str, Any]) -> dict[str, Any]:
    """An ONNX graph input or output as ``inspect`` shows it: a negative dim (some writers' word for "any
    size") is unknown, None, as a dim with neither a number nor a name; a number or name is shown as written.
    """
    shape = row.get("shape")
    if isinstance(shape, list):
        row = {**row, "shape": [None if isinstance(d, int) and d >= _INT64_LIMIT else d for d in shape]}
    return row


def _foreign(path: str) -> bool:
    """Whether a SavedModel directory lacks netform's embedded model (another tool wrote it).

    Only whether the copy is there: the graph is checked by what reads the directory next
    (:func:`~._savedmodel_reader.describe_foreign`, or loading), as ``safe_mode`` asks.
    """
    from ._savedmodel import embedded_archive

    return embedded_archive(path, check=False) is None


def _inference_only(found: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """``inspect``'s answer for a SavedModel another tool wrote (loaded as an :class:`InferenceModel`)."""
    return {
        "model_name": found["model_name"],
        "model_class": meta.get("model_class") or _INFERENCE_MODEL,
        "layers": [],
        "parameters": found["parameters"],
        "trainable_parameters": None,
        "optimizer": None,
        "iterations": None,
        "keras_version": meta.get("keras_version"),
        "netform_version": meta.get("netform_version"),
        "saved_at": meta.get("saved_at"),
        "inference_only": True,
        "endpoint": found["endpoint"],
        "signatures": found["signatures"],
    }


#: The class ``load`` gives a SavedModel another tool wrote.
_INFERENCE_MODEL = "netform.saving._savedmodel.InferenceModel"


def _loaded_foreign(model: Any) -> dict[str, Any]:
    """Signatures and variables of a loaded :class:`InferenceModel`, from TensorFlow's own objects.

    The variables are those the SavedModel's root lists as ``variables``
    (Keras's export lists each once, though it saves each twice), else every
    variable object reachable from the root (a ``tf.Module`` lists none).
    """
    import tensorflow as tf

    loaded = model._loaded  # the tf.saved_model.load object InferenceModel wraps (netform's own class)
    variables = list(getattr(loaded, "variables", None) or [])
    if not variables:
        unique = {id(v): v for v in tf.train.TrackableView(loaded).descendants() if isinstance(v, tf.Variable)}
        variables = list(unique.values())

    def rows(specs: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "dtype": spec.dtype.name,
                "shape": spec.shape.as_list() if spec.shape.rank is not None else None,
            }
            for name, spec in sorted(specs.items())
        ]

    signatures = {
        name: {"inputs": rows(fn.structured_input_signature[1]), "outputs": rows(fn.structured_outputs)}
        for name, fn in sorted(loaded.signatures.items())
    }
    return {
        "model_name": model.name,
        "endpoint": model.endpoint,
        "signatures": signatures,
        "parameters": int(sum(_numel(v.shape) for v in variables)),
    }


def _numel(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _sharded_index(path: str) -> dict[str, Any] | None:
    """The sharded weights index at ``path``, its size checked (None: the file is no index)."""
    if not os.path.isfile(path):  # a FIFO would block the open; the format detection refuses it
        return None
    try:
        with open(path, "rb") as fh:
            if not fh.read(64).lstrip().startswith(b"{"):
                return None
    except OSError:
        return None  # the format detection says why
    from ._weights import read_sharded_index_bounded

    return read_sharded_index_bounded(path)


def _weights_summary(path: str, fmt: str, index: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``inspect`` reports of a weights file (``index``: the sharded weights index ``path`` holds, read)."""
    if fmt == "tf_checkpoint":
        from ._checkpoint import checkpoint_variables
        from ._detect import checkpoint_prefix

        with reading(path, fmt):
            shapes = checkpoint_variables(checkpoint_prefix(path) or path)
        meta: dict[str, Any] = {}
    else:
        if fmt != "weights_h5" or _is_hdf5(path):
            index = None
        elif index is None:
            index = _sharded_index(path)
        if index is not None:
            shapes, meta = {}, {}
            for shard in _shards(path, index):
                found, shard_meta = _h5_shapes(shard, fmt)
                shapes.update(found)
                meta = meta or shard_meta
        else:
            shapes, meta = _h5_shapes(path, fmt)
    return {
        "variables": len(shapes),
        "parameters": sum(_numel(s) for s in shapes.values()),
        "keras_version": meta.get("keras_version"),
        "netform_version": meta.get("netform_version"),
        "saved_at": meta.get("saved_at"),
        "model_class": meta.get("model_class"),
        "model_name": meta.get("model_name"),
    }


def _is_hdf5(path: str) -> bool:
    from ._detect import HDF5_SIGNATURE

    with open(path, "rb") as fh:
        return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def _h5_shapes(path: str, fmt: str) -> tuple[dict[str, tuple[int, ...]], dict[str, Any]]:
    """``({dataset: shape}, metadata)`` of a weights file, after the loading path's HDF5 checks."""
    from ._h5_source import open_h5
    from ._meta import regular_file
    from ._safety import check_h5

    regular_file(path, "a weights file")
    shapes: dict[str, tuple[int, ...]] = {}
    with reading(path, fmt), open_h5(path) as opened:
        f = opened.file
        check_h5(f, path, file_size=opened.size, raw=opened.raw)
        f.visititems(lambda n, o: shapes.__setitem__(n, tuple(o.shape)) if hasattr(o, "shape") else None)
        return shapes, h5_meta(f, path)


def _shards(path: str, index: dict[str, Any]) -> list[str]:
    """The shard files a sharded weights index names (see :func:`shard_paths`: no path, no link out)."""
    from ._detect import shard_paths

    return shard_paths(path, index)


def convert(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], format: str | None = None, *, safe_mode: bool = True
) -> str:
    """Convert a full model between ``keras``, ``h5`` and ``savedmodel``.

    Args:
        src: Any full-model file (format read from the content).
        dst: Destination; its format comes from ``format=`` or its extension.
        format: Target format.
        safe_mode: As for :func:`netform.saving.load`.

    Returns:
        The format written.
    """
    from netform.errors import SaveError

    from ._api import check_save_path, format_from_path

    fmt = format_from_path(os.fspath(dst), format, offered=FULL_MODEL_FORMATS)
    if fmt not in FULL_MODEL_FORMATS:
        raise SaveError(
            f"{os.fspath(dst)}: convert writes whole models (keras, h5, savedmodel), "
            f"not {fmt}; use save_weights for weights only, or save for an onnx or tflite export."
        )
    check_save_path(dst, fmt)  # a target save would refuse is refused before the model is read
    model = load(src, safe_mode=safe_mode)
    return save(model, dst, format=fmt)
