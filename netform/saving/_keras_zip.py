"""The native Keras 3 ``.keras`` format: the zip archive, and its unzipped directory form.

netform writes Keras's own entries with Keras's own steps, naming its
``Functional`` and ``Sequential`` by Keras's classes (so plain
``keras.saving.load_model`` reads the file without netform installed), and
adds one entry, ``netform.json``, with its metadata and the classes to name
back. Reading checks the archive (entry names, bombs), the config (no code,
no unregistered imports) and the weights file (no links, no bombs) before
Keras deserializes anything.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import zipfile
from typing import Any, BinaryIO, Iterator, Mapping

from netform.errors import FormatError

from ._atomic import atomic_file
from ._config_bounds import (
    check_compile_config,
    check_declared_weights,
    check_graph_bounds,
    check_layer_objects,
    check_metric_sizes,
    stored_weights,
)
from ._h5_source import keras_refusal
from ._meta import MAX_METADATA_BYTES, json_object, metadata, reading, register_netform_classes, writing
from ._safety import check_config, check_h5, check_zip

__all__ = [
    "save_keras",
    "write_keras",
    "load_keras",
    "read_keras_info",
    "NETFORM_ENTRY",
    "save_keras_dir",
    "write_keras_dir",
    "load_keras_dir",
    "is_keras_dir",
    "restore_netform_classes",
    "netform_config",
    "NETFORM_MODELS_MODULE",
    "WEIGHTS_ENTRY",
    "dir_file",
    "read_netform_entry",
]

NETFORM_ENTRY = "netform.json"
KERAS_METADATA = "metadata.json"
WEIGHTS_ENTRY = "model.weights.h5"
_ASSETS_DIR = "assets/"


#: netform's model classes and the Keras classes they are written as, so that plain
#: Keras (without netform) reads the archive; ``netform.json`` records which to restore.
_NETFORM_CLASSES = ("netform>Functional", "netform>Sequential")


def _keras_names(registered: str) -> dict[str, Any]:
    """The ``module``/``class_name``/``registered_name`` Keras writes for its own class of that name."""
    if registered == "netform>Sequential":
        return {"module": "keras", "class_name": "Sequential", "registered_name": None}
    from netform._compat._keras_engine import KerasFunctional
    import keras

    return {
        "module": KerasFunctional.__module__,
        "class_name": "Functional",
        "registered_name": keras.saving.get_registered_name(KerasFunctional),
    }


def _walk_models(node: Any, at: list[Any]) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Every ``(path, dict)`` of a config that serializes an object (has a ``class_name``)."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield at, node
        for key, value in node.items():
            yield from _walk_models(value, at + [key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_models(value, at + [i])


def keras_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Rename netform's ``Functional``/``Sequential`` to Keras's, in place; return the renames.

    The two classes differ from Keras's only in how they train (netform's
    engine); their config and weights are Keras's. Written under Keras's names
    the archive loads in plain Keras; :func:`netform_config` puts netform's
    names back when netform reads it.
    """
    renamed = []
    for at, node in list(_walk_models(config, [])):
        registered = node.get("registered_name")
        if registered in _NETFORM_CLASSES and str(node.get("module", "")).startswith("netform."):
            node.update(_keras_names(registered))
            renamed.append({"path": at, "registered_name": registered})
    return config, renamed


#: The module of netform's two model classes (``netform.engine._models``), named without importing it.
NETFORM_MODELS_MODULE = "netform.engine._models"


def restore_netform_classes(config: dict[str, Any], renamed: Any, where: str) -> dict[str, Any]:
    """Undo :func:`keras_config` with the renames ``netform.json`` recorded, in place (no TensorFlow).

    Only netform's two model classes are ever restored, and only where the
    config holds Keras's matching class, so the metadata can name nothing
    else. The one check of ``keras_classes``, shared by loading and by the
    readers that never import Keras.

    Raises:
        FormatError: An entry names another class, or a place the config does not hold.
    """
    if not isinstance(renamed, list):
        return config
    for entry in renamed:
        if not isinstance(entry, dict) or entry.get("registered_name") not in _NETFORM_CLASSES:
            raise FormatError(
                f"{where}: {NETFORM_ENTRY} names a model class netform does not write "
                f"({str(entry)[:200]}); the file is corrupt or hostile."
            )
        path = entry.get("path")
        if path is not None and not (
            isinstance(path, list) and all(isinstance(key, (str, int)) and not isinstance(key, bool) for key in path)
        ):
            raise FormatError(
                f"{where}: {NETFORM_ENTRY} records a netform model class at the config path {str(path)[:200]}, "
                "which is no list of keys and indexes; the file is corrupt or hostile."
            )
        node: Any = config
        for key in path or []:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        registered = entry["registered_name"]
        class_name = registered.split(">", 1)[1]
        if not isinstance(node, dict) or node.get("class_name") != class_name:
            raise FormatError(
                f"{where}: {NETFORM_ENTRY} records a netform {class_name} at "
                f"config path {entry.get('path')!r}, which the config does not hold; the file "
                "is corrupt."
            )
        node.update({"module": NETFORM_MODELS_MODULE, "class_name": class_name, "registered_name": registered})
    return config


def netform_config(config: dict[str, Any], renamed: Any, where: str) -> dict[str, Any]:
    """:func:`restore_netform_classes`, for loading (netform's classes registered with Keras first)."""
    register_netform_classes()
    return restore_netform_classes(config, renamed, where)


def write_keras(model: Any, target: str | BinaryIO) -> None:
    """Write a ``.keras`` archive to a path or an open binary file (no atomicity).

    Keras's own steps (its config, metadata and weights writers), with
    netform's two model classes written under Keras's names and ``netform.json``
    added, all in one pass.
    """
    from netform._compat import _keras_saving as ks

    if isinstance(target, str):
        with open(target, "w+b") as fh:
            write_keras(model, fh)
        return
    config, renamed = keras_config(ks.model_config(model))
    meta = metadata(model, "keras")
    if renamed:
        meta["keras_classes"] = renamed
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr("metadata.json", json.dumps(keras_metadata()))
        zf.writestr("config.json", json.dumps(config))
        weights = ks.H5IOStore(WEIGHTS_ENTRY, archive=zf, mode="w")
        assets = ks.DiskIOStore(_ASSETS_DIR.rstrip("/"), archive=zf, mode="w")
        try:
            ks.save_state(model, weights, assets)
        except BaseException:
            weights.archive = None  # Keras's own rule: no half-written weights entry
            raise
        finally:
            try:
                weights.close()
            finally:
                _close_assets(assets)
        zf.writestr(NETFORM_ENTRY, json.dumps(meta))


def _close_assets(assets: Any) -> None:
    """Close Keras's asset store; its temporary folder goes even when closing fails (a full disk, a size limit)."""
    try:
        assets.close()
    finally:
        tmp_dir = getattr(assets, "tmp_dir", None)
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def write_keras_dir(model: Any, directory: str) -> None:
    """Keras's unzipped form (``save_model(..., zipped=False)``) into an empty directory, plus ``netform.json``.

    The weights file is built in memory and written with plain writes (HDF5
    never meets a full disk, where it can crash).
    """
    from netform._compat import _keras_saving as ks

    config, renamed = keras_config(ks.model_config(model))
    meta = metadata(model, "keras")
    if renamed:
        meta["keras_classes"] = renamed
    os.makedirs(directory, exist_ok=True)
    image = io.BytesIO()
    weights = ks.H5IOStore(image, mode="w")
    assets = ks.DiskIOStore(os.path.join(directory, _ASSETS_DIR.rstrip("/")), mode="w")
    try:
        ks.save_state(model, weights, assets)
    finally:
        try:
            weights.close()
        finally:
            _close_assets(assets)
    for name, data in (
        ("metadata.json", json.dumps(keras_metadata()).encode()),
        ("config.json", json.dumps(config).encode()),
        (WEIGHTS_ENTRY, image.getbuffer()),
        (NETFORM_ENTRY, json.dumps(meta).encode()),
    ):
        with open(os.path.join(directory, name), "xb") as fh:
            fh.write(data)


def save_keras_dir(model: Any, path: str) -> None:
    """Save ``model`` in Keras's unzipped ``.keras`` form (a directory), atomically.

    Raises:
        SaveError: Keras could not serialize the model (what was there is kept).
    """
    from ._atomic import atomic_path, folder_lock, swap_guard
    from ._target import check_parked

    target = path.rstrip(os.sep) or path
    parked_check = functools.partial(check_parked, target=target, fmt="keras_dir")
    directory = os.path.dirname(os.path.abspath(target))
    with writing(path, "keras"):
        os.makedirs(directory, exist_ok=True)
        # the save lock of the folder holding it, shared: a reader puts back no parked copy while a save runs
        with folder_lock(directory, lambda: None), atomic_path(path, parked_check, swap_guard(target)) as tmp:
            write_keras_dir(model, tmp)


def dir_file(path: str, name: str, limit: int) -> bytes:
    """One file of a Keras model directory, read whole after its size is checked against ``limit``."""
    from ._meta import read_bounded, regular_file

    full = os.path.join(path, name)
    # read_bounded reads up to limit + 1 bytes at once: bound it by the file's own size.
    return read_bounded(full, min(limit, regular_file(full, name) + 1), name)


def load_keras_dir(
    path: str, *, compile: bool = True, safe_mode: bool = True, custom_objects: Mapping[str, Any] | None = None
) -> Any:
    """Load Keras's unzipped ``.keras`` form: a directory with ``config.json`` and ``model.weights.h5``.

    Every entry must be a regular file or folder inside the directory (no
    FIFO, device or link out); the config is checked as in an archive.

    Raises:
        FormatError: A file is missing, corrupt, or too large.
        UnsafeFileError: The directory or its config is hostile.
    """
    from netform._compat import _keras_saving as ks

    from ._meta import check_tree
    from ._safety import MAX_DATASET_BYTES

    register_netform_classes()
    check_tree(path, "Keras model")
    with reading(path, "keras"):
        config = json_object(dir_file(path, "config.json", MAX_METADATA_BYTES), path, "config.json")
        found = {
            name: json_object(dir_file(path, name, MAX_METADATA_BYTES), path, name, text=True)
            for name in (NETFORM_ENTRY, KERAS_METADATA)
            if os.path.lexists(os.path.join(path, name))
        }
        meta = found.get(NETFORM_ENTRY)
        if meta is not None:
            config = netform_config(config, meta.get("keras_classes"), path)
        check_metadata(meta, found.get(KERAS_METADATA), path)
        if meta is not None:
            _same_model(meta, config, path)
        check_config(config, where=path, safe_mode=safe_mode, custom_objects=custom_objects)
        check_layer_objects(config, path)
        weights = io.BytesIO(dir_file(path, WEIGHTS_ENTRY, MAX_DATASET_BYTES))
        assets_dir = os.path.join(path, _ASSETS_DIR.rstrip("/"))
        has_assets = os.path.isdir(assets_dir) and bool(os.listdir(assets_dir))
        return _build_and_fill(
            config,
            weights,
            path,
            compile=compile,
            safe_mode=safe_mode,
            custom_objects=custom_objects,
            assets=lambda: ks.DiskIOStore(assets_dir, mode="r") if has_assets else None,
        )


def keras_metadata() -> dict[str, str]:
    """Keras's ``metadata.json`` (its version and the time saved, in its own format)."""
    import datetime

    import keras

    return {"keras_version": keras.__version__, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}


def is_keras_dir(path: str) -> bool:
    """Whether ``path`` is a directory in Keras's unzipped ``.keras`` form (config and weights files)."""
    return (
        os.path.isdir(path)
        and os.path.isfile(os.path.join(path, "config.json"))
        and any(os.path.isfile(os.path.join(path, n)) for n in (WEIGHTS_ENTRY, "model.weights.npz"))
    )


def save_keras(model: Any, path: str) -> None:
    """Save ``model`` as a ``.keras`` archive, atomically.

    Raises:
        SaveError: Keras could not serialize the model.
    """
    with writing(path, "keras"), atomic_file(path) as fh:
        write_keras(model, fh)


def _checked_entries(
    zf: zipfile.ZipFile, where: str, *, safe_mode: bool, custom_objects: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Check an open archive's entry table and config; return the config, netform's classes restored.

    Only the central directory is scanned (names and declared sizes) and
    only ``config.json`` (and ``netform.json``) is read; the weights are
    checked where they are read, so each byte of the file is read once.
    """
    check_zip(zf, where)
    config = json_object(zf.read("config.json"), where, "config.json")
    meta = read_netform_entry(zf, where)
    keras_entry = read_keras_metadata(zf, where)
    if meta is not None:
        config = netform_config(config, meta.get("keras_classes"), where)
    check_metadata(meta, keras_entry, where)
    if meta is not None:
        _same_model(meta, config, where)
    check_graph_bounds(config, where)  # first: cheap, and bounds what the safety walk reads
    check_config(config, where=where, safe_mode=safe_mode, custom_objects=custom_objects)
    check_layer_objects(config, where)
    return config


def _same_model(meta: dict[str, Any], config: Any, where: str) -> None:
    """Refuse a ``netform.json`` naming another model than ``config.json`` holds, as ``inspect`` does."""
    from ._static_reader import same_model

    same_model(meta, config, where, NETFORM_ENTRY, "config.json")


def read_keras_metadata(zf: zipfile.ZipFile, where: str) -> dict[str, Any] | None:
    """Keras's ``metadata.json`` of an archive whose entry table is checked (None when absent), its size bounded.

    Raises:
        FormatError: The entry declares more than :data:`MAX_METADATA_BYTES`, or is not a JSON object.
    """
    if KERAS_METADATA not in zf.namelist():
        return None
    info = zf.getinfo(KERAS_METADATA)
    if info.file_size > MAX_METADATA_BYTES:
        raise FormatError(
            f"{where}: archive entry {KERAS_METADATA} is {info.file_size:,} bytes, more than netform's "
            f"limit of {MAX_METADATA_BYTES:,} for metadata; the file is corrupt or hostile."
        )
    return json_object(zf.read(info), where, KERAS_METADATA, text=True)


def check_metadata(netform_entry: dict[str, Any] | None, keras_entry: dict[str, Any] | None, where: str) -> None:
    """Refuse ``netform.json`` or ``metadata.json`` fields of the wrong type, as ``inspect`` refuses them.

    Loading does not use them, but the readers that describe a file (``inspect``, ``summary``,
    ``export-spec``, ``render``) report them: each reader refuses a file whose metadata lies, with the same
    :class:`~netform.errors.FormatError`.
    """
    from ._static_reader import keras_meta

    keras_meta(netform_entry, keras_entry, where)


def read_netform_entry(zf: zipfile.ZipFile, where: str) -> dict[str, Any] | None:
    """``netform.json`` of an archive whose entry table is checked (None when absent), its size bounded.

    Raises:
        FormatError: The entry declares more than :data:`MAX_METADATA_BYTES`, or is not a JSON object.
    """
    if NETFORM_ENTRY not in zf.namelist():
        return None
    if zf.getinfo(NETFORM_ENTRY).file_size > MAX_METADATA_BYTES:
        raise FormatError(
            f"{where}: {NETFORM_ENTRY} declares {zf.getinfo(NETFORM_ENTRY).file_size:,} "
            f"bytes, more than netform's limit of {MAX_METADATA_BYTES:,} for metadata; "
            "the file is corrupt or hostile."
        )
    return json_object(zf.read(NETFORM_ENTRY), where, NETFORM_ENTRY, text=True)


def load_keras(
    path: str | io.BytesIO,
    *,
    where: str | None = None,
    compile: bool = True,
    safe_mode: bool = True,
    custom_objects: Mapping[str, Any] | None = None,
) -> Any:
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
        if WEIGHTS_ENTRY not in zf.namelist():
            raise _no_h5_weights(zf, where)
        return _load_from_archive(
            zf, config, where, compile=compile, safe_mode=safe_mode, custom_objects=custom_objects
        )


_NPZ_ENTRY = "model.weights.npz"


def _no_h5_weights(zf: zipfile.ZipFile, where: str) -> FormatError:
    """Why an archive without ``model.weights.h5`` cannot be loaded.

    Keras's other weights format, ``model.weights.npz``
    (``saving_lib.save_model(..., weights_format="npz")``), stores each
    layer's variables as a pickled Python dict. Unpickling runs code named by
    the file, so netform never does it, and Keras itself cannot read these
    files back: it opens them with ``allow_pickle=False`` and fails with
    "Object arrays cannot be loaded when allow_pickle=False".
    """
    if _NPZ_ENTRY in zf.namelist():
        return FormatError(
            f"{where}: the archive holds its weights as {_NPZ_ENTRY}, Keras's npz format, which "
            "stores each layer's variables as pickled Python objects; neither netform nor Keras "
            "unpickles a model file (Keras fails with 'Object arrays cannot be loaded when "
            "allow_pickle=False'). Save the model again with model.save() or netform.save(), which "
            f"write {WEIGHTS_ENTRY}."
        )
    return FormatError(
        f"{where}: the archive holds no {WEIGHTS_ENTRY} (entries: {sorted(zf.namelist())[:8]}), "
        "so the model has no weights to load; the file is incomplete or not a Keras model."
    )


def _load_from_archive(
    zf: zipfile.ZipFile,
    config: dict[str, Any],
    where: str,
    *,
    compile: bool,
    safe_mode: bool,
    custom_objects: Mapping[str, Any] | None,
) -> Any:
    """Keras's ``_load_model_from_fileobj``, on an archive already checked and open."""
    from netform._compat import _keras_saving as ks

    weights = io.BytesIO(zf.read(WEIGHTS_ENTRY))  # zipfile verifies the entry's CRC-32
    # Keras extracts the whole archive to disk for assets whenever it holds more
    # than its three entries (netform.json is a fourth): do so only for real assets.
    has_assets = any(name.startswith(_ASSETS_DIR) for name in zf.namelist())
    return _build_and_fill(
        config,
        weights,
        where,
        compile=compile,
        safe_mode=safe_mode,
        custom_objects=custom_objects,
        assets=lambda: ks.DiskIOStore(_ASSETS_DIR.rstrip("/"), archive=zf, mode="r") if has_assets else None,
    )


def _build_and_fill(
    config: dict[str, Any],
    weights: io.BytesIO,
    where: str,
    *,
    compile: bool,
    safe_mode: bool,
    custom_objects: Mapping[str, Any] | None,
    assets: Any,
) -> Any:
    """Build the model from a checked config and fill it from the weights' bytes (checked first)."""
    from netform._compat import _keras_saving as ks

    store = ks.H5IOStore(weights, mode="r")
    assets_store = None
    try:
        datasets: dict[str, Any] = {}
        check_h5(store.h5_file, f"{where}!{WEIGHTS_ENTRY}", file_size=len(weights.getbuffer()), datasets=datasets)
        check_archive_weights_layout(store.h5_file, where)
        # Keras allocates every variable the config declares before it reads a weight.
        check_declared_weights(config, ((name, d.shape) for name, d in datasets.items()), where, loading=True)
        if compile:
            check_compile_config(config, where)
            stored = stored_weights((name, d.shape) for name, d in datasets.items())
            check_metric_sizes(config.get("compile_config"), stored, where)
        model = ks.model_from_config(config, custom_objects, compile, safe_mode)
        assets_store = assets()
        failed, errors = ks.load_state(model, store, assets_store)
    finally:
        store.close()
        if assets_store is not None:
            assets_store.close()
    if failed:
        refusal = keras_refusal(where, [str(v[1]) if isinstance(v, tuple) else str(v) for v in errors.values()])
        if refusal is not None:
            raise refusal
        ks.raise_loading_failure(errors)
    return model


def check_archive_weights_layout(f: Any, where: str) -> None:
    """Refuse a ``.keras`` archive's ``model.weights.h5`` that is a full-model HDF5 file (``model_weights``).

    Keras writes an archive's weights as ``layers/<name>/vars/<i>``; a full-model ``.h5`` put in their place
    holds the same datasets under ``model_weights``, which Keras cannot assign to the layers ("objects could
    not be loaded"), so every reader refuses it as ``load`` does.

    Raises:
        FormatError: The weights entry holds a ``model_weights`` group or a ``model_config``.
    """
    if "model_weights" in f or "model_config" in f.attrs:
        raise FormatError(
            f"{where}: the archive's {WEIGHTS_ENTRY} is a full-model HDF5 file (a model_weights group), not the "
            "weights Keras writes into a .keras archive (layers/<name>/vars), so Keras cannot load its weights; "
            "the file is corrupt or was edited. Save the model again, or load the .h5 file itself."
        )


def weights_bytes(path: str | io.BytesIO, where: str) -> io.BytesIO:
    """The ``model.weights.h5`` of an archive, in memory (the caller checks it as HDF5).

    Only the entry table is checked: the config is never deserialized when
    only weights are read (as in Keras's ``load_weights``), so what it names
    cannot run, and a model with a Lambda layer loads its weights in safe mode.
    """
    if isinstance(path, str) and os.path.isdir(path):
        from ._meta import check_tree
        from ._safety import MAX_DATASET_BYTES

        check_tree(path, "Keras model")
        with reading(where, "keras"):
            return io.BytesIO(dir_file(path, WEIGHTS_ENTRY, MAX_DATASET_BYTES))
    with reading(where, "keras"), zipfile.ZipFile(path) as zf:
        check_zip(zf, where)
        if WEIGHTS_ENTRY not in zf.namelist():
            raise FormatError(f"{where}: the archive holds no {WEIGHTS_ENTRY}, so there are no weights to load.")
        return io.BytesIO(zf.read(WEIGHTS_ENTRY))


def read_keras_info(path: str) -> dict[str, Any]:
    """Config, Keras metadata and netform metadata of an archive, without TensorFlow."""
    with reading(path, "keras"), zipfile.ZipFile(path) as zf:
        check_zip(zf, path)
        names = zf.namelist()
        info: dict[str, Any] = {"config": json.loads(zf.read("config.json"))}
        info["keras_metadata"] = json.loads(zf.read("metadata.json")) if "metadata.json" in names else {}
        info["netform"] = json.loads(zf.read(NETFORM_ENTRY)) if NETFORM_ENTRY in names else {}
        return info
