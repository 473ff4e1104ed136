"""The saving API: decide the format, then hand over to the module that does it."""

from __future__ import annotations

import io
import math
import os
from typing import IO, Any, Mapping

from netform.errors import FormatError, SaveError
from netform._files import system_path

from ._detect import DEPLOY_FORMATS, FORMATS, FULL_MODEL_FORMATS, detect_format
from ._atomic import folders_made_for, read_settled, recover, settled_read
from ._target import check_target

__all__ = ["save", "load", "save_weights", "load_weights", "format_from_path", "check_save_path", "SAVE_FORMATS"]

#: Formats ``save`` writes, with the extensions that select them.
SAVE_FORMATS: dict[str, tuple[str, ...]] = {
    "keras": (".keras",),
    "h5": (".h5", ".hdf5"),
    "savedmodel": (".savedmodel", "_savedmodel", ".tf", "/"),
    "weights_h5": (".weights.h5",),
    "legacy_h5_weights": (),
    "tf_checkpoint": (".ckpt",),
    "onnx": (".onnx",),
    "tflite": (".tflite",),
}
_WEIGHT_SAVE_FORMATS = ("weights_h5", "legacy_h5_weights", "tf_checkpoint")


def format_from_path(
    path: str, format: str | None, *, allowed: tuple[str, ...] = FORMATS, offered: tuple[str, ...] | None = None
) -> str:
    """Pick the format to write from ``format=`` or the path's extension.

    Args:
        path: Where the file goes.
        format: The format asked for, or None to read it from ``path``'s extension.
        allowed: The formats recognised (a caller may refuse some of them with its own words).
        offered: The formats the messages name as choices (``allowed`` when None).

    Raises:
        SaveError: The format is unknown, or the path does not say and
            ``format=`` was not given.
    """
    offered = allowed if offered is None else offered
    choices = ", ".join(f"'{f}'" for f in offered)
    if format is not None:
        if format not in allowed:
            from netform.errors import did_you_mean

            raise SaveError(f"Unknown format '{format}'{did_you_mean(format, allowed)}. Choose one of: {choices}.")
        return format
    lowered = path.lower()
    for fmt in ("weights_h5", "keras", "h5", "tf_checkpoint", "onnx", "tflite", "savedmodel"):
        if fmt in allowed and any(lowered.endswith(ext) for ext in SAVE_FORMATS[fmt]):
            return fmt
    if "savedmodel" in allowed and os.path.isdir(path):
        return "savedmodel"
    extensions = ", ".join(ext for fmt in offered if fmt != "savedmodel" for ext in SAVE_FORMATS.get(fmt, ()))
    folder = "a directory ending in '/' or '_savedmodel' for a SavedModel" if "savedmodel" in offered else ""
    raise SaveError(
        f"{path}: Invalid filepath extension for saving: cannot tell the format from this name. "
        f"Pass format= with one of: {choices} "
        f"(or use an extension: {', or '.join(filter(None, (extensions, folder)))})."
    )


def _file_object(path: Any) -> bool:
    """Whether ``path`` is an open binary file (``io.BytesIO``, ``open(..., "wb")``) rather than a name."""
    return not isinstance(path, (str, bytes, os.PathLike)) and (hasattr(path, "write") or hasattr(path, "read"))


def _save_to_file_object(model: Any, fileobj: IO[bytes], format: str | None) -> str:
    """Write a ``.keras`` archive (or, with ``format="h5"``, an HDF5 file) into an open binary file."""
    fmt = format or "keras"
    if fmt not in ("keras", "h5"):
        raise SaveError(
            f"An open file holds one file: save to it as format='keras' (the default) or "
            f"'h5', not '{fmt}'; give a path for the other formats."
        )
    where = str(getattr(fileobj, "name", "<file object>"))
    if getattr(model, "inference_only", False):
        raise SaveError(
            f"{where}: an inference-only model (from a foreign SavedModel) cannot be saved as "
            f"{fmt}; it has no Keras architecture."
        )
    from ._meta import writing

    with writing(where, fmt):
        image = io.BytesIO()
        if fmt == "keras":
            from ._keras_zip import write_keras

            write_keras(model, image)
        else:
            from ._h5 import write_h5

            write_h5(model, image)
        # Built whole in memory first: a failure leaves nothing half-written in the caller's file.
        fileobj.write(image.getbuffer())
    return fmt


def _load_file_object(fileobj: IO[bytes], **kwargs: Any) -> Any:
    """Load a ``.keras`` archive or full-model HDF5 file from an open binary file (read whole, as Keras does)."""
    from ._detect import HDF5_SIGNATURE

    where = str(getattr(fileobj, "name", "<file object>"))
    data = io.BytesIO(fileobj.read())
    head = data.getvalue()[:8]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        from ._keras_zip import load_keras

        return load_keras(data, where=where, **kwargs)
    if head == HDF5_SIGNATURE:
        from ._h5 import load_h5

        return load_h5(data, where=where, **kwargs)
    raise FormatError(
        f"{where}: the file object holds neither a .keras archive nor an HDF5 file "
        f"(it starts with {head!r}). Pass a path for a SavedModel or a checkpoint."
    )


def _save_unzipped(model: Any, path: str, format: str | None) -> str:
    """Keras's unzipped ``.keras`` form: a directory of the archive's files."""
    if format not in (None, "keras"):
        raise SaveError(
            f"{path}: zipped=False writes the .keras format unzipped, not '{format}'. Drop "
            "zipped=False, or pass format='keras'."
        )
    path = path.rstrip("/") or path
    if path.lower().endswith(".keras"):
        raise SaveError(
            f"{path}: with zipped=False the model is written as a directory, whose name should "
            "not end in .keras (as in Keras). Choose a name such as 'model_dir'."
        )
    recover(path)  # a copy this path's own interrupted swap parked is checked and replaced like any save there
    check_target(path, "keras_dir")
    if getattr(model, "inference_only", False):
        raise SaveError(
            f"{path}: an inference-only model (from a foreign SavedModel) cannot be saved as "
            "keras; it has no Keras architecture."
        )
    from ._config_bounds import check_saved_costs
    from ._keras_zip import save_keras_dir

    check_saved_costs(model, path)
    save_keras_dir(model, path)
    return "keras"


def _deploy_reader(fmt: str) -> str:
    """What reads a deployment format, for messages."""
    if fmt == "onnx":
        from ._onnx import ONNX_READER

        return ONNX_READER
    from ._tflite import TFLITE_READER

    return TFLITE_READER


def _check_export_options(path: str, fmt: str, opset: int | None, quantize: str | None) -> None:
    """Refuse ``opset=`` for anything but ONNX and ``quantize=`` for anything but TFLite."""
    if opset is not None and fmt != "onnx":
        raise SaveError(f"{path}: opset= applies to ONNX exports only, not to {fmt}. Drop it, or save to a .onnx path.")
    if quantize is not None and fmt != "tflite":
        raise SaveError(
            f"{path}: quantize= applies to TFLite exports only, not to {fmt}. Drop it, or save to a .tflite path."
        )
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or not 9 <= opset <= 21):
        raise SaveError(
            f"{path}: opset={opset!r} is not an ONNX opset tf2onnx writes; give an integer from 9 to 21 (default 17)."
        )
    if quantize is not None:
        from ._tflite import check_quantize

        check_quantize(quantize, path)


def _refuse_save_kwargs(path: Any, kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments nf.save does not take, in Keras's words and netform's."""
    if "save_format" in kwargs:
        raise SaveError(
            f"{path}: The `save_format` argument is deprecated in Keras 3 and netform does not take "
            "it: the path's extension (.keras, .h5, ...) or format= chooses the format."
        )
    raise SaveError(
        f"{path}: The following argument(s) are not supported: {sorted(kwargs)}. nf.save takes "
        "format=, zipped=, opset= and quantize=."
    )


def save(
    model: Any,
    path: str | os.PathLike[str] | IO[bytes],
    format: str | None = None,
    *,
    zipped: bool | None = None,
    opset: int | None = None,
    quantize: str | None = None,
    **kwargs: Any,
) -> str:
    """Save a whole model (architecture, weights, compile config, optimizer state).

    Every format is written beside the target and renamed into place, so a
    failure never damages the file that was there before. What is at the
    target is replaced only when it is an earlier save of the same format
    (or empty); anything else is refused, never deleted.

    Args:
        model: A Keras model (any serializable ``keras.Model`` subclass).
        path: Destination file, directory (SavedModel) or prefix (checkpoint),
            or an open binary file (``io.BytesIO``), as ``keras.saving.save_model``
            takes: a ``.keras`` archive (or ``format="h5"``) is written into it.
        format: ``"keras"``, ``"h5"``, ``"savedmodel"``, ``"weights_h5"``,
            ``"legacy_h5_weights"`` (the weight formats write the weights only,
            as :func:`save_weights` does),
            ``"tf_checkpoint"``, or the deployment formats ``"onnx"`` (needs
            ``pip install netform[onnx]``) and ``"tflite"`` (LiteRT); by
            default from the extension (``.onnx``, ``.tflite``...).
        zipped: ``False`` writes the ``.keras`` content unzipped into a
            directory (whose name must not end in ``.keras``), as
            ``keras.saving.save_model(..., zipped=False)`` does.
        opset: ONNX only: the opset to write (default 17); it is recorded in
            the file's metadata (``onnx_opset``).
        quantize: TFLite only: ``None`` (float32, the default),
            ``"dynamic"`` (int8 weights, dynamic-range quantization) or
            ``"float16"`` (float16 weights).
        **kwargs: Refused, as ``keras.saving.save_model`` refuses them
            (``save_format`` names Keras 2's argument; the path or ``format=``
            chooses the format).

    Returns:
        The format written.

    Raises:
        SaveError: An unknown keyword argument; ambiguous path, unknown format, something other than a
            saved model of this format at ``path``, or the model cannot be
            written (a full disk included); a missing ONNX converter (the
            message names the extra to install).
        FormatError: An ONNX or TFLite converter cannot take an op of the
            model (the message names the op and its layer).

    Example:
        >>> nf.save(model, "out/model.keras")  # doctest: +SKIP
        'keras'
    """
    if kwargs:
        _refuse_save_kwargs(path, kwargs)
    if _file_object(path):
        if opset is not None or quantize is not None:
            raise SaveError(
                "opset= and quantize= apply to ONNX and TFLite exports, which are written to a "
                "path; give a path ending in .onnx or .tflite."
            )
        return _save_to_file_object(model, path, format)  # type: ignore[arg-type]
    path = _system_target(path)  # type: ignore[arg-type]
    with folders_made_for(path.rstrip("/") or path):  # a failed save leaves no folder it made
        return _save_path(model, path, format, zipped=zipped, opset=opset, quantize=quantize)


def _system_target(path: str | os.PathLike[str]) -> str:
    """The target as the system reads it (``link/..`` climbs from where the link leads: :func:`system_path`).

    Raises:
        SaveError: The path climbs with ``..`` out of a folder that does not exist (nothing was written).
    """
    try:
        return system_path(path)
    except OSError as err:
        raise SaveError(f"{os.fspath(path)}: {err.strerror}; nothing was written.") from None


def _save_path(
    model: Any, path: str, format: str | None, *, zipped: bool | None, opset: int | None, quantize: str | None
) -> str:
    """:func:`save` to a path: the checks of :func:`check_save_path` first, then the writer of the format."""
    if zipped is False:
        _check_export_options(path, "keras", opset, quantize)
        return _save_unzipped(model, path, format)
    fmt = format_from_path(path, format, allowed=FORMATS + DEPLOY_FORMATS)
    _check_export_options(path, fmt, opset, quantize)
    if fmt in _WEIGHT_SAVE_FORMATS:
        save_weights(model, path, format=fmt)
        return fmt
    path = path.rstrip("/") or path
    if fmt == "savedmodel":
        recover(path)  # as for the unzipped form
    check_target(path, fmt)
    if getattr(model, "inference_only", False) and fmt != "savedmodel":
        raise SaveError(
            f"{path}: an inference-only model (from a foreign SavedModel) cannot be "
            f"saved as {fmt}; it has no Keras architecture."
        )
    if fmt in ("keras", "h5", "savedmodel") and not getattr(model, "inference_only", False):
        from ._config_bounds import check_saved_costs

        check_saved_costs(model, path)
    if fmt == "keras":
        from ._keras_zip import save_keras

        save_keras(model, path)
    elif fmt == "onnx":
        from ._onnx import save_onnx

        save_onnx(model, path, opset=opset)
    elif fmt == "tflite":
        from ._tflite import save_tflite

        save_tflite(model, path, quantize=quantize)
    elif fmt == "h5":
        from ._h5 import save_h5

        save_h5(model, path)
    else:
        from ._savedmodel import save_savedmodel

        save_savedmodel(model, path)
    return fmt


def save_as_model_method(model: Any, path: str, fmt: str, *, include_optimizer: bool = True) -> None:
    """What ``nf.Model.save`` writes: :func:`save`'s checks and atomic writers, and Keras's ``include_optimizer``.

    Args:
        model: The model.
        path: The target.
        fmt: ``"keras"``, ``"keras_dir"`` (Keras's unzipped form) or ``"h5"``, as Keras chose it.
        include_optimizer: HDF5 only (as in Keras): False leaves out the training config and the optimizer's
            state.

    Raises:
        SaveError: As :func:`save`.
    """
    if fmt == "keras_dir":
        save(model, path, zipped=False)
        return
    if fmt == "keras" or include_optimizer:
        save(model, path, format=fmt)
        return
    path = _system_target(path)
    with folders_made_for(path):
        check_target(path, "h5")
        from ._config_bounds import check_saved_costs
        from ._h5 import save_h5

        check_saved_costs(model, path)
        save_h5(model, path, include_optimizer=False)


def check_save_path(path: str | os.PathLike[str], format: str | None = None) -> str:
    """Refuse, without a model, a path :func:`save` would refuse before writing: its checks, in its order.

    The format the name (or ``format``) says, then whether any save can write the path (a name or path too
    long, a file where a folder should be, a folder not writable: ``check_path``) and whether what is at the
    target may be replaced (only an earlier save of that format, or nothing); for the weight formats, :func:`save_weights`'s target
    (a checkpoint's prefix, also when named by its ``.index`` file). Nothing is changed; ``save`` checks again.

    Returns:
        The format ``save`` would write.

    Raises:
        SaveError: What ``save`` would raise for ``path``.
    """
    path = _system_target(path)
    fmt = format_from_path(path, format, allowed=FORMATS + DEPLOY_FORMATS)
    if fmt in _WEIGHT_SAVE_FORMATS:
        check_target(path[: -len(".index")] if fmt == "tf_checkpoint" and path.endswith(".index") else path, fmt)
    else:
        check_target(path.rstrip("/") or path, fmt)
    return fmt


def load(
    path: str | os.PathLike[str] | IO[bytes],
    *,
    compile: bool = True,
    safe_mode: bool = True,
    custom_objects: Mapping[str, Any] | None = None,
) -> Any:
    """Load a whole model; the format is read from the content, not the name.

    Args:
        path: A ``.keras`` archive, full-model HDF5 file or SavedModel directory,
            or an open binary file holding a ``.keras`` archive or HDF5 file.
        compile: Restore the compile configuration and optimizer state.
        safe_mode: Refuse Python code and unregistered classes in the file.
            Pass False only for files you trust.
        custom_objects: Extra classes or functions allowed by name.

    Returns:
        The model, of its original class (or an inference-only wrapper for a
        SavedModel that netform did not write).

    Raises:
        FormatError: The file is missing, corrupt, weights only, or unknown.
        UnsafeFileError: The file would run code, follow links, or is a bomb.
    """
    kwargs: dict[str, Any] = {"compile": compile, "safe_mode": safe_mode, "custom_objects": custom_objects}
    model = _load(path, kwargs)
    if not getattr(model, "inference_only", False):
        from netform.builder._build import frozen_as_written, heavy_product, heavy_regularizer

        frozen_as_written(model)  # a layer saved frozen is frozen whole, as the build makes it (see there)
        heavy = heavy_regularizer(model) or heavy_product(model)
        if heavy is not None:
            shown = path if isinstance(path, (str, os.PathLike)) else "the file"
            raise FormatError(
                f"{os.fspath(shown)}: {heavy}; the model is refused (Keras would do that work for every sample "
                "it runs, whatever the batch)"
            )
    return model


def _load(path: str | os.PathLike[str] | IO[bytes], kwargs: dict[str, Any]) -> Any:
    """:func:`load`'s reading of the file, by its format."""
    if _file_object(path):
        return _load_file_object(path, **kwargs)  # type: ignore[arg-type]
    path = os.fspath(path)  # type: ignore[arg-type]
    fmt = read_settled(path, lambda: detect_format(path))
    if fmt in DEPLOY_FORMATS:
        raise FormatError(
            f"{path}: is a {'TFLite (LiteRT)' if fmt == 'tflite' else 'ONNX'} model, a deployment "
            f"format netform writes but does not load as a Keras model; run it with "
            f"{_deploy_reader(fmt)}, or load the .keras file it was exported from."
        )
    if fmt not in FULL_MODEL_FORMATS:
        raise FormatError(
            f"{path}: holds only weights ({fmt}), not a model. Build the model and use load_weights(model, path)."
        )
    if fmt == "keras":
        from ._keras_zip import load_keras, load_keras_dir

        # (whether it is a folder is read again with it: a swap's two renames leave no name for an instant)
        return read_settled(
            path, lambda: load_keras_dir(path, **kwargs) if os.path.isdir(path) else load_keras(path, **kwargs)
        )
    if fmt == "h5":
        from ._h5 import load_h5

        return load_h5(path, **kwargs)
    from ._savedmodel import load_savedmodel

    return read_settled(path, lambda: load_savedmodel(path, **kwargs))


def save_weights(
    model: Any, path: str | os.PathLike[str], format: str | None = None, *, max_shard_size: float | None = None
) -> str:
    """Save only the weights, atomically.

    Args:
        model: A built model.
        path: Destination.
        format: ``"weights_h5"`` (default for ``.weights.h5``), ``"legacy_h5_weights"``
            (Keras 2 layout) or ``"tf_checkpoint"`` (a prefix).
        max_shard_size: Split the weights into files of at most this many GB,
            as ``keras.Model.save_weights`` does: ``path`` (ending in
            ``.weights.json``) is the index, beside it ``<name>_00000.weights.h5``
            and on. Each file is moved into place atomically, the index last.

    Returns:
        The format written.

    Raises:
        SaveError: Something other than weights of this format is at
            ``path``, or the weights cannot be written (a full disk included).
    """
    path = _system_target(path)
    with folders_made_for(path):  # a failed save leaves no folder it made
        return _save_weights_path(model, path, format, max_shard_size)


def _shard_size(path: str, max_shard_size: Any) -> float:
    """``max_shard_size`` as the number of GB Keras reads from it (``float()``), refused unless it is over 0."""
    try:
        size = float(max_shard_size)
    except (TypeError, ValueError):
        size = math.nan
    if not size > 0:  # NaN included
        raise SaveError(
            f"{path}: max_shard_size must be a number of GB over 0 (as Keras reads it), received "
            f"{max_shard_size!r}; nothing was written."
        )
    return size


def _save_weights_path(model: Any, path: str, format: str | None, max_shard_size: float | None) -> str:
    """:func:`save_weights` to ``path``: its target checked first, then the writer of the format."""
    from ._meta import check_built
    from ._target import check_path

    if max_shard_size is not None:
        if format not in (None, "weights_h5") or not path.endswith(".weights.json"):
            raise SaveError(
                f"{path}: with max_shard_size the weights are sharded in Keras's layout, whose "
                "index name must end in .weights.json (as in Keras), and format must be "
                "'weights_h5' or left out."
            )
        size = _shard_size(path, max_shard_size)
        check_path(path, "weights_h5")
        check_built(model, "save the weights of")
        from ._weights import save_weights_sharded

        save_weights_sharded(model, path, size)
        return "weights_h5"
    fmt = format_from_path(path, format, allowed=_WEIGHT_SAVE_FORMATS)
    check_built(model, "save the weights of")
    check_target(path[: -len(".index")] if fmt == "tf_checkpoint" and path.endswith(".index") else path, fmt)
    if fmt == "weights_h5":
        from ._weights import save_weights_h5

        save_weights_h5(model, path)
    elif fmt == "legacy_h5_weights":
        from ._weights import save_legacy_weights

        save_legacy_weights(model, path)
    else:
        from ._checkpoint import save_checkpoint

        save_checkpoint(model, path)
    return fmt


@settled_read("path")
def load_weights(
    model: Any,
    path: str | os.PathLike[str],
    by_name: bool = False,
    skip_mismatch: bool = False,
    *,
    objects_to_skip: Any = None,
    **kwargs: Any,
) -> list[str]:
    """Load weights into a built model from any weights-bearing file.

    Works with ``.weights.h5``, sharded weights (the ``.weights.json`` index
    of ``save_weights(..., max_shard_size=...)``), legacy HDF5 weights, TF
    checkpoints, and the weights inside full-model files (``.keras`` archives
    and directories, ``.h5``, netform SavedModels).

    Args:
        model: A built model of the same architecture.
        path: The file (format read from its content).
        by_name: Match layers by name (legacy HDF5 layouts; Keras 3 weights
            files always match by structure).
        skip_mismatch: Load what fits; warn about and return what does not.
        objects_to_skip: Layers (or other saveables) to leave as they are, as
            in Keras's ``load_weights``: weights files only (``.weights.h5``,
            sharded weights; also netform SavedModels), refused for ``.keras``
            and legacy HDF5 files as Keras refuses them.
        **kwargs: Refused, as Keras refuses keywords it does not know
            ("Invalid keyword arguments").

    The weights are read as data only: a file's model config is never
    deserialized here, so no ``safe_mode`` is needed (the structural checks
    on links, bombs and entry names always run).

    Returns:
        The differences that were skipped (empty when everything fit).

    Raises:
        FormatError: The weights do not fit (the message lists every layer and
            shape that differs), the model is not built, or the file is bad;
            ``by_name`` for a Keras 3 layout or ``objects_to_skip`` for a
            ``.keras`` or legacy file (in Keras's words), or an unknown keyword.
    """
    from ._meta import check_built

    path = os.fspath(path)
    if kwargs:
        raise FormatError(
            f"{path}: Invalid keyword arguments: {kwargs}. nf.load_weights takes by_name=, "
            "skip_mismatch= and objects_to_skip=, as Keras's load_weights does."
        )
    from ._weights import is_sharded_index

    if is_sharded_index(path):
        if by_name:
            raise FormatError(
                f"{path}: `by_name` only supports loading legacy '.h5' or '.hdf5' files (as in "
                "Keras); sharded weights are always matched by the model's structure."
            )
        check_built(model, "load weights into")
        from ._weights import load_weights_sharded

        return load_weights_sharded(model, path, skip_mismatch=skip_mismatch, objects_to_skip=objects_to_skip)
    fmt = detect_format(path)
    if fmt in DEPLOY_FORMATS:
        raise FormatError(
            f"{path}: is a {'TFLite (LiteRT)' if fmt == 'tflite' else 'ONNX'} model, whose weights "
            f"netform does not read back into a Keras model; run it with {_deploy_reader(fmt)}, "
            "or load the weights from the .keras file it was exported from."
        )
    check_built(model, "load weights into")
    if objects_to_skip is not None and fmt in ("keras", "h5", "legacy_h5_weights", "tf_checkpoint"):
        raise FormatError(
            f"{path}: `objects_to_skip` only supports loading '.weights.h5' files, as in Keras: "
            "objects_to_skip works with Keras 3 weights (.weights.h5, sharded weights, a netform "
            f"SavedModel), not with {fmt} files. Load it without objects_to_skip, or save the "
            "weights with save_weights() as .weights.h5."
        )
    if by_name and fmt in ("keras", "weights_h5", "savedmodel"):
        raise FormatError(
            f"{path}: `by_name` only supports loading legacy '.h5' or '.hdf5' files (as in "
            f"Keras); {fmt} files hold Keras 3 weights, always matched by the model's structure. "
            "Load it without by_name."
        )
    if fmt in ("h5", "legacy_h5_weights"):
        from ._weights import load_legacy_weights

        return load_legacy_weights(model, path, path, by_name=by_name, skip_mismatch=skip_mismatch)
    if fmt == "tf_checkpoint":
        from ._checkpoint import load_checkpoint

        return load_checkpoint(model, path, skip_mismatch=skip_mismatch)
    from ._weights import load_weights_h5

    if fmt == "weights_h5":
        return load_weights_h5(model, path, path, skip_mismatch=skip_mismatch, objects_to_skip=objects_to_skip)
    archive: str | io.BytesIO = path
    if fmt == "savedmodel":
        from ._meta import check_tree
        from ._savedmodel import embedded_archive

        # The folder's tree first, as nf.load checks it: no FIFO or device to block on, no link out of it.
        check_tree(path, "SavedModel")
        found = embedded_archive(path)
        if found is None:
            raise FormatError(
                f"{path}: this SavedModel was not written by netform, so its "
                "variables cannot be matched to a Keras model's layers."
            )
        archive = found
    from ._keras_zip import weights_bytes

    return load_weights_h5(
        model, weights_bytes(archive, path), path, skip_mismatch=skip_mismatch, objects_to_skip=objects_to_skip
    )
