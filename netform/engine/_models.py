"""netform's model classes: Keras models that train on netform's engine.

``Model`` is ``keras.Model`` with :class:`~._trainer.Trainer` in front of it
in the method resolution order, so ``fit``/``evaluate``/``predict`` and the
step functions are netform's while layers, tracking, saving and ``compile``
stay Keras's. ``Model(inputs, outputs)`` returns a :class:`Functional`, the
way ``keras.Model(inputs, outputs)`` returns a Keras ``Functional``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import keras

from .._compat import _keras_engine as ki

from ._trainer import Trainer

__all__ = ["Model", "Functional", "Sequential"]


def _functional_init_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


@keras.saving.register_keras_serializable(package="netform")
class Model(ki.TrackListedSublayers, Trainer, keras.Model):
    """A Keras model trained by netform's engine.

    Subclass it exactly like ``keras.Model`` (override ``call``, and
    ``train_step``/``test_step``/``predict_step`` if you wish), or call it as
    ``Model(inputs, outputs)`` to get a functional model. Layers it keeps in
    lists and dicts are named in TensorFlow's object graph too, so
    ``tf.train.Checkpoint`` and SavedModel save all weights.

    Example:
        >>> inputs = keras.Input((4,))
        >>> model = Model(inputs, keras.layers.Dense(1)(inputs))
        >>> type(model).__name__
        'Functional'
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Model and _functional_init_arguments(args, kwargs):
            return Functional.__new__(Functional, *args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _functional_init_arguments(args, kwargs) and not isinstance(self, Functional):
            # A subclass called as Model(inputs, outputs), as in the Keras guide's
            # CustomModel: make the subclass functional the way Keras does, but with
            # netform's Functional (Keras's own injection would rewrite Model itself).
            _inject_functional(type(self))
            Functional.__init__(self, *args, **kwargs)
        else:
            keras.Model.__init__(self, *args, **kwargs)

    def save(self, filepath: Any, overwrite: bool = True, zipped: bool | None = None, **kwargs: Any) -> Any:
        """Keras's ``Model.save``, written by netform's atomic savers.

        A ``.keras`` archive, Keras's unzipped form (``zipped=False``) and a
        legacy ``.h5``/``.hdf5`` file are the files Keras writes, written as
        :func:`netform.save` writes them: beside the target and renamed into
        place, so a kill or a full disk never damages the earlier save, and a
        link or anything but an earlier save at the target is refused
        (``SaveError``, a ``ValueError``). Keras's ``ModelCheckpoint`` saves
        through this method. Keras's arguments (``overwrite``'s prompt,
        ``include_optimizer`` for HDF5, ``save_format``), warnings and errors
        are kept, and a folder missing above a ``.keras`` file is Keras's
        ``FileNotFoundError``; file objects and other destinations are Keras's.
        """
        fmt = _model_file_format(filepath, zipped, kwargs)
        if fmt is None:  # not a path netform writes (a file object, the Hub) or arguments Keras refuses first
            _check_target(filepath, weights=False)
            with _no_file_left(filepath):
                return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        path = os.fspath(filepath)
        if fmt == "keras_dir" and path.endswith(".keras"):  # Keras's own check and words
            raise ValueError(
                f"When using `zipped=False`, the `filepath` argument should not end in `.keras`. Received: filepath={path}"
            )
        include_optimizer = kwargs.pop("include_optimizer", True)
        if kwargs.pop("save_format", False):
            _keras_save_format_warning()
        if not _may_write(path, overwrite):
            return None
        if fmt == "keras":
            _keras_folder_must_exist(path)
        if fmt != "h5" and not self.built:
            import warnings

            warnings.warn(  # Keras's words, as keras.saving.save_model warns
                "You are saving a model that has not yet been built. It might not contain any weights yet. "
                "Consider building the model first by calling it on some data.",
                stacklevel=2,
            )
        from ..saving._api import save_as_model_method  # saving imports the engine

        save_as_model_method(self, path, fmt, include_optimizer=bool(include_optimizer))
        return None

    def save_weights(self, filepath: Any, overwrite: bool = True, max_shard_size: float | None = None) -> Any:
        """Keras's ``Model.save_weights``, written by netform's atomic savers, with :meth:`save`'s refusals.

        A ``.weights.h5`` file is written as :func:`netform.save_weights` writes
        it (in memory, then beside the target and renamed into place). Sharded weights (``max_shard_size``) are written by netform's sharded writer
        (:func:`netform.save_weights`): Keras's own layout and names, each file
        moved into place atomically, the index last, and the index's and every
        shard's name refused when a link or anything but an earlier save is
        there. A folder missing above the file is Keras's ``FileNotFoundError``,
        as with ``keras.Model``.
        """
        if max_shard_size is not None and isinstance(filepath, (str, os.PathLike)):
            return _save_sharded(self, filepath, overwrite, max_shard_size)
        if isinstance(filepath, (str, os.PathLike)) and os.fspath(filepath).endswith(".weights.h5"):
            path = os.fspath(filepath)
            if not _may_write(path, overwrite):
                return None
            _keras_folder_must_exist(path)
            from ..saving._api import save_weights  # saving imports the engine

            save_weights(self, path, format="weights_h5")
            return None
        _check_target(filepath, weights=True)
        with _no_file_left(filepath):
            return super().save_weights(filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def export(self, filepath: Any, format: str = "tf_saved_model", *args: Any, **kwargs: Any) -> Any:
        """Keras's ``Model.export``; a SavedModel is written beside the target and moved into place.

        ``format="tf_saved_model"`` to a path writes into a fresh folder that then replaces the target whole
        (:func:`netform.save`'s directory swap): a kill or a full disk leaves the earlier export as it was, and
        a link, a folder holding anything a SavedModel does not (a user's ``notes.txt``, a ``saved_model.pb``
        that is not TensorFlow's), or a SavedModel :func:`netform.save` wrote whole is refused with a
        ``SaveError`` before anything is written. ``format="onnx"`` and ``"litert"`` write their one file
        beside the target and rename it into place, replacing only an earlier export of the same format
        (a link, a folder or a user's file is a ``SaveError``). Write failures are a ``SaveError``; other
        formats (``openvino``, several files) and Keras's own errors are Keras's.
        """
        keras_export = super().export
        if not isinstance(filepath, (str, os.PathLike)):
            return keras_export(filepath, format, *args, **kwargs)
        path = os.fspath(filepath)
        if format == "tf_saved_model":
            from ..saving._savedmodel import export_savedmodel  # saving imports the engine

            export_savedmodel(path, lambda folder: keras_export(folder, format, *args, **kwargs))
            return None
        if format == "onnx" or (format == "litert" and path.endswith(".tflite")):  # else Keras's own refusal
            from ..saving._export import export_file  # saving imports the engine

            if format == "litert":
                _keras_folder_must_exist(path)  # Keras opens the file itself: a missing folder is its error
            export_file(
                path, "onnx" if format == "onnx" else "tflite", lambda tmp: keras_export(tmp, format, *args, **kwargs)
            )
            return None
        return keras_export(filepath, format, *args, **kwargs)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False, **kwargs: Any) -> None:
        """Keras's ``Model.load_weights``, read through :func:`netform.load_weights`'s checks.

        The same file loads the same weights as with ``keras.Model``, but a
        shard of sharded weights named with a path or linking out of its
        index's folder, a FIFO, socket, device or folder, and a hostile HDF5
        file are refused (``FormatError``/``UnsafeFileError``, both
        ``ValueError``s) instead of being opened. ``by_name=`` and
        ``objects_to_skip=`` are taken as Keras takes them.
        """
        import os

        if not isinstance(filepath, (str, os.PathLike)):
            # Not a path (Keras reads only paths here): Keras's own message for it.
            super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
            return
        from ..saving._api import load_weights  # saving imports the engine

        load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)


@contextlib.contextmanager
def _no_file_left(filepath: Any) -> Iterator[None]:
    """Remove the file a failed Keras save created at ``filepath`` (Keras opens it before it writes).

    Only a file this save made is removed: nothing was at ``filepath`` when it began, and what is there
    after it failed is a regular file with that one name (not a link, no other hard link), written no
    earlier than the save began. Anything else (a file that was there, a link) is left as it is.
    """
    import os
    import stat
    import time

    if not isinstance(filepath, (str, os.PathLike)) or os.path.lexists(filepath):
        yield
        return
    began = time.time_ns()
    try:
        yield
    except BaseException:
        try:
            info = os.lstat(filepath)
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_mtime_ns >= began - 2 * 10**9:
                os.remove(filepath)
        except OSError:  # gone already, or cannot be removed: the save's own error is the one to report
            pass
        raise


def _model_file_format(filepath: Any, zipped: bool | None, kwargs: dict[str, Any]) -> str | None:
    """The format ``keras.Model.save`` writes at ``filepath`` (``"keras"``, ``"keras_dir"``, ``"h5"``), in Keras's
    order; None where netform leaves the call to Keras (not a path, the Hub, or arguments Keras refuses)."""
    if not isinstance(filepath, (str, os.PathLike)):
        return None
    path = os.fspath(filepath)
    if path.startswith("hf://") or set(kwargs) - {"include_optimizer", "save_format"}:
        return None
    if kwargs.get("save_format") and not path.endswith((".h5", ".hdf5", ".keras")):
        return None  # Keras refuses save_format= for another name, before it writes
    if zipped is not False and path.endswith(".keras"):
        return "keras"
    if zipped is False:
        return "keras_dir"
    if path.endswith((".h5", ".hdf5")):
        return "h5"
    return None  # Keras's "Invalid filepath extension", before it writes


def _keras_save_format_warning() -> None:
    """Keras's log line for ``save_format=`` given with a ``.keras``/``.h5`` name (its words, through absl)."""
    from absl import logging as absl_logging

    absl_logging.warning(
        "The `save_format` argument is deprecated in Keras 3. We recommend removing this argument as it can be "
        "inferred from the file path. "
    )


def _may_write(path: str, overwrite: bool) -> bool:
    """Keras's ``overwrite=False``: ask before writing over an existing ``path``; whether to go on."""
    if overwrite or not os.path.exists(path):
        return True
    from .._compat._keras_saving import ask_to_proceed_with_overwrite

    return bool(ask_to_proceed_with_overwrite(path))


def _keras_folder_must_exist(path: str) -> None:
    """Keras opens a ``.keras`` or ``.weights.h5`` file where it is and makes no folder: its FileNotFoundError."""
    import errno

    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)


def _save_sharded(model: Any, filepath: Any, overwrite: bool, max_shard_size: Any) -> None:
    """``Model.save_weights(filepath, max_shard_size=...)`` as Keras takes it, written by netform's sharded writer."""
    import warnings

    from ..saving._api import save_weights  # saving imports the engine

    path = os.fspath(filepath)
    if not path.endswith(("weights.h5", "weights.json")):  # Keras's own check and words
        raise ValueError(
            f"The filename must end in `.weights.json` when `max_shard_size` is specified. Received: filepath={path}"
        )
    if not _may_write(path, overwrite):
        return
    if not path.endswith(".json"):  # Keras saves ``x.weights.h5`` sharded as ``x.weights.json``, and says so
        index = os.path.splitext(path)[0] + ".json"
        warnings.warn(
            f"Saving sharded weights requires `*.json` as the extension. The original path: {path} will be "
            f"renamed to {index}.",
            stacklevel=3,
        )
        path = index
    _keras_folder_must_exist(path)
    save_weights(model, path, max_shard_size=max_shard_size)


def _check_target(filepath: Any, *, weights: bool) -> None:
    """Refuse a link, or anything but an earlier save, at a path Keras is about to write."""
    import os

    from ..errors import SaveError
    from ..saving._target import check_target  # the savers' own rule

    if not isinstance(filepath, (str, os.PathLike)):
        return  # a file object: nothing on disk to protect
    path = os.fspath(filepath)
    if os.path.islink(path):
        raise SaveError(
            f"{path}: is a symbolic link to {os.readlink(path)}; netform never writes through a "
            "link. Choose another path, or remove the link yourself."
        )
    if path.endswith(".keras"):
        check_target(path, "keras")
    elif path.endswith((".h5", ".hdf5")):
        check_target(path, "weights_h5" if weights else "h5")


def _inject_functional(cls: type) -> None:
    """Put :class:`Functional` in place of :class:`Model` among ``cls``'s ancestors."""
    if cls is Model or cls is object or not issubclass(cls, Model):
        return
    bases: list[type] = []
    for base in cls.__bases__:
        if base is Model:
            bases.append(Functional)
        else:
            _inject_functional(base)
            bases.append(base)
    cls.__bases__ = tuple(bases)


@keras.saving.register_keras_serializable(package="netform")
class Functional(Model, ki.KerasFunctional):
    """A functional (graph of layers) model trained by netform's engine."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any) -> None:
        ki.KerasFunctional.__init__(self, inputs, outputs, name=name, **kwargs)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> "Functional":
        """Rebuild from ``get_config()`` output (as Keras's ``Functional`` does)."""
        return ki.functional_from_config(cls, config, custom_objects=custom_objects)


@keras.saving.register_keras_serializable(package="netform")
class Sequential(Model, keras.Sequential):
    """A linear stack of layers trained by netform's engine.

    Example:
        >>> model = Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    """

    def __init__(self, layers: list[Any] | None = None, trainable: bool = True, name: str | None = None) -> None:
        keras.Sequential.__init__(self, layers=layers, trainable=trainable, name=name)

    def build(self, input_shape: Any = None) -> None:
        """Build as ``keras.Sequential.build`` does, with a netform :class:`Functional` inside.

        Keras's ``Sequential`` runs its layers through an inner ``Functional``
        (``model._functional``); here that inner model is netform's, so the
        whole stack is netform's classes, as Keras's own is Keras's.
        """
        keras.Sequential.build(self, input_shape)
        ki.sequential_inner_as(self, Functional)
