"""What a save may replace: only a saved model (or weights) of the format being written.

A save replaces what is at its target only when that is recognisably an
earlier save of the same format: a ``.keras`` zip, an HDF5 file, a SavedModel
directory whose every entry is one a SavedModel (or netform) writes, a TF
checkpoint, an ONNX or TFLite model (by content). Anything else (a directory
of other files, a text file named ``x.keras`` or ``x.onnx``, a directory where
a file is expected) is refused with a
:class:`SaveError` that says what is there, before anything is written.
An empty file or directory holds nothing to lose and is replaced.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from typing import Any

from netform.errors import SaveError

from ._atomic import BACKUP_SUFFIX
from ._detect import DEPLOY_HEAD_BYTES, HDF5_SIGNATURE, TABLE_MAGIC, deploy_kind, describe_content

__all__ = ["check_target", "is_savedmodel_dir", "is_checkpoint_state"]

#: Entries a SavedModel directory may hold at its top level (TensorFlow, tf_keras, netform).
SAVEDMODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets", "assets.extra",
                                "fingerprint.pb", "keras_metadata.pb"})
_ZIP_HEADS = (b"PK\x03\x04", b"PK\x05\x06")
_FIX = "Choose another path, or move or delete what is there yourself; netform never deletes files it did not write."


def _refuse(path: str, found: str, expected: str) -> SaveError:
    return SaveError(f"{path}: {found}, not {expected} netform would replace. {_FIX}")


def _foreign(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return shown


def _savedmodel_strangers(path: str) -> list[str]:
    """Entries of a directory that a SavedModel does not hold (relative paths)."""
    strangers = [n for n in os.listdir(path) if n not in SAVEDMODEL_ENTRIES]
    variables = os.path.join(path, "variables")
    if os.path.islink(variables) or (os.path.lexists(variables) and not os.path.isdir(variables)):
        strangers.append("variables")
    elif os.path.isdir(variables):
        strangers += [f"variables/{n}" for n in os.listdir(variables)
                      if not (n == "variables.index" or n.startswith("variables.data-"))]
    for name in ("assets", "assets.extra"):
        if os.path.islink(os.path.join(path, name)):
            strangers.append(name)
    strangers += _asset_strangers(path)
    for name in ("saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "keras_metadata.pb"):
        full = os.path.join(path, name)
        if os.path.lexists(full) and (os.path.islink(full) or not os.path.isfile(full)):
            strangers.append(name)
    return strangers


def _files_under(directory: str) -> list[str]:
    """Every entry below ``directory`` (files, links, special files), as relative paths; empty folders too."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        rel = os.path.relpath(root, directory)
        prefix = "" if rel == "." else rel + "/"
        found += [prefix + f for f in files]
        found += [prefix + d for d in dirs if os.path.islink(os.path.join(root, d))]
    return sorted(found)


def _asset_strangers(path: str) -> list[str]:
    """Files in ``assets/`` the graph does not name, and files in ``assets.extra/`` netform did not write.

    TensorFlow puts in ``assets/`` exactly the files its graph lists (``asset_file_def``);
    nothing but netform writes ``assets.extra/`` (its archive and metadata). A
    file a user put there is theirs: replacing the directory would delete it.
    """
    from ._savedmodel import ARCHIVE, EXTRA_DIR, META  # noqa: PLC0415 - avoids an import cycle

    strangers: list[str] = []
    extra = os.path.join(path, EXTRA_DIR)
    if os.path.isdir(extra) and not os.path.islink(extra):
        strangers += [f"{EXTRA_DIR}/{n}" for n in _files_under(extra) if n not in (ARCHIVE, META)]
    assets = os.path.join(path, "assets")
    if os.path.isdir(assets) and not os.path.islink(assets):
        held = _files_under(assets)
        if held:
            named = _graph_assets(path)
            strangers += [f"assets/{n}" for n in held
                          if n not in named or not os.path.isfile(os.path.join(assets, n))
                          or os.path.islink(os.path.join(assets, n))]
    return strangers


def _graph_assets(path: str) -> set[str]:
    """The asset file names the SavedModel's graph lists (none when it cannot be read)."""
    from ._savedmodel import read_graph  # noqa: PLC0415

    try:
        proto = read_graph(path)
    except Exception:  # noqa: BLE001 - any unreadable graph (netform, OS or protobuf error) names nothing
        return set()  # an unreadable graph names nothing: every asset file counts as the user's
    return {d.filename for meta in proto.meta_graphs for d in meta.asset_file_def}


def is_savedmodel_dir(path: str) -> bool:
    """Whether ``path`` is a SavedModel directory holding nothing but SavedModel entries."""
    if os.path.islink(path) or not os.path.isdir(path):
        return False
    names = os.listdir(path)
    has_graph = "saved_model.pb" in names or "saved_model.pbtxt" in names
    return has_graph and not _savedmodel_strangers(path)


def _check_savedmodel(path: str, where: str) -> None:
    if os.path.islink(path):
        raise _refuse(where, f"is a symbolic link to {os.readlink(path)}", "a SavedModel directory")
    if not os.path.isdir(path):
        raise _refuse(where, f"is a file ({describe_content(path)})", "a SavedModel directory")
    names = os.listdir(path)
    if not names:
        return
    strangers = _savedmodel_strangers(path)
    if strangers:
        raise _refuse(where, f"is a directory holding files a SavedModel does not: {_foreign(strangers)}",
                      "a SavedModel directory")
    if "saved_model.pb" not in names and "saved_model.pbtxt" not in names:
        raise _refuse(where, f"is a directory without saved_model.pb (it holds {_foreign(names)})",
                      "a SavedModel directory")


def _head(path: str) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(8)
        if head != HDF5_SIGNATURE:  # a user block moves the HDF5 signature to 512, 1024, ...
            for offset in (512, 1024, 2048):
                fh.seek(offset)
                if fh.read(8) == HDF5_SIGNATURE:
                    return HDF5_SIGNATURE
    return head


def _check_deploy_file(path: str, fmt: str) -> None:
    """Refuse anything at ``path`` but an earlier ``.onnx`` or ``.tflite`` export (by content) or an empty file."""
    expected = "an ONNX model" if fmt == "onnx" else "a TFLite (LiteRT) model"
    if os.path.islink(path):
        raise _refuse(path, f"is a symbolic link to {os.readlink(path)}", expected)
    if os.path.isdir(path):
        names = os.listdir(path)
        held = f" holding {_foreign(names)}" if names else ""
        raise _refuse(path, f"is a directory{held}", expected)
    if not os.path.isfile(path):
        raise _refuse(path, "is not a regular file", expected)
    try:
        if os.path.getsize(path) == 0:
            return
        with open(path, "rb") as fh:
            head = fh.read(DEPLOY_HEAD_BYTES)
    except OSError as err:
        raise SaveError(f"{path}: cannot read what is there ({err.strerror or err}), so it is not "
                        f"replaced. {_FIX}") from err
    if deploy_kind(head, os.path.getsize(path)) != fmt:
        raise _refuse(path, f"is {describe_content(path)}", expected)


def _check_file(path: str, fmt: str) -> None:
    expected = "a .keras archive" if fmt == "keras" else "an HDF5 file"
    if os.path.islink(path):
        raise _refuse(path, f"is a symbolic link to {os.readlink(path)}", expected)
    if os.path.isdir(path):
        names = os.listdir(path)
        held = f" holding {_foreign(names)}" if names else ""
        raise _refuse(path, f"is a directory{held}", expected)
    if not os.path.isfile(path):
        raise _refuse(path, "is not a regular file", expected)
    try:
        if os.path.getsize(path) == 0:
            return
        head = _head(path)
    except OSError as err:
        raise SaveError(f"{path}: cannot read what is there ({err.strerror or err}), so it is not "
                        f"replaced. {_FIX}") from err
    if fmt == "keras" and head.startswith(_ZIP_HEADS):
        strangers = _keras_strangers(path)
        if not strangers:
            return
        raise _refuse(path, f"is a zip archive holding files a .keras archive does not: {_foreign(strangers)}",
                      expected)
    if fmt != "keras" and head == HDF5_SIGNATURE:
        other = _not_keras_hdf5(path)
        if other is None:
            return
        raise _refuse(path, other, "a Keras HDF5 file")
    raise _refuse(path, f"is {describe_content(path)}", expected)


#: Root attributes and groups of the HDF5 files Keras and netform write (models, weights, legacy weights).
_H5_ATTRS = ("model_config", "keras_version", "backend", "layer_names", "netform_format", "netform_metadata")
_H5_GROUPS = frozenset({"model_weights", "optimizer_weights", "layers", "vars", "optimizer"})


def _not_keras_hdf5(path: str) -> str | None:
    """What an HDF5 file holds when it is not one Keras or netform wrote (None when it is, or is empty).

    Only names, attribute names and data types are read: Keras keeps every
    array as a number dataset inside a layer's group (``vars/0`` in Keras 3's
    layout, a name listed in the group's ``weight_names`` in the legacy one),
    and nothing else at the root. Anything beyond that is someone's data.
    """
    import h5py  # noqa: PLC0415

    try:
        with h5py.File(path, "r") as f:
            attrs, members = list(f.attrs.keys()), list(f.keys())
            if not attrs and not members:
                return None
            if not (any(a.startswith(_H5_ATTRS) for a in attrs) or _H5_GROUPS.intersection(members)):
                return f"is an HDF5 file holding no Keras model or weights (its root holds {_foreign(members + attrs)})"
            strangers = [f"@{a}" for a in attrs if not a.startswith(_H5_ROOT_ATTRS)]
            if "model_config" in attrs or "model_weights" in members:
                strangers += [m for m in members if m not in ("model_weights", "optimizer_weights")]
            datasets: list[tuple[str, Any]] = []
            f.visititems(lambda name, obj: datasets.append((name, obj)) if isinstance(obj, h5py.Dataset) else None)
            for name, obj in datasets:
                if obj.dtype.kind not in "biufc":
                    strangers.append(f"{name} ({obj.dtype})")
                elif not _keras_dataset(f, name):
                    strangers.append(name)
    except Exception as err:  # noqa: BLE001 - any HDF5 the library cannot open is not a save of ours
        return f"is an HDF5 file netform cannot open ({str(err)[:80]})"
    if strangers:
        return f"is an HDF5 file holding data Keras never writes ({_foreign(strangers)})"
    return None


#: Root attributes of Keras's and netform's HDF5 files.
_H5_ROOT_ATTRS = ("model_config", "training_config", "keras_version", "backend", "layer_names", "netform_")


def _keras_dataset(f: Any, name: str) -> bool:
    """Whether a dataset sits where Keras puts weights: ``…/vars/N``, or listed in its layer's weight_names."""
    parts = name.split("/")
    if len(parts) >= 2 and parts[-2] == "vars" and parts[-1].isdigit():
        return True
    for depth in range(len(parts) - 1, 0, -1):  # the nearest group above that lists weight_names
        group = f["/".join(parts[:depth])]
        listed = group.attrs.get("weight_names")
        if listed is not None:
            names = {n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in listed}
            return "/".join(parts[depth:]) in names
    return False


#: What a ``.keras`` archive holds (Keras writes the first four; netform adds its metadata).
KERAS_ENTRIES = frozenset({"metadata.json", "config.json", "model.weights.h5", "model.weights.npz",
                           "assets", "netform.json"})


def _keras_strangers(path: str) -> list[str]:
    """Entries of a zip that a ``.keras`` archive does not hold (all of them when it is no readable zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            strangers = [n for n in names if n.split("/", 1)[0] not in KERAS_ENTRIES]
            if strangers or "config.json" not in names:
                return strangers or names or [os.path.basename(path)]  # no config.json: no Keras archive
            # Names alone are not enough: a user's zip can hold a config.json of its own.
            return [f"{n} (not what Keras writes there)" for n in ("config.json", "model.weights.h5")
                    if n in names and not _keras_entry(archive, n)]
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError):
        return [os.path.basename(path)]


def _keras_entry(archive: zipfile.ZipFile, name: str) -> bool:
    """Whether an entry holds what Keras writes under its name: a model config, HDF5 weights."""
    if name == "model.weights.h5":
        with archive.open(name) as fh:
            return fh.read(8) == HDF5_SIGNATURE
    info = archive.getinfo(name)
    if info.file_size > 64 * 2**20:
        return False
    try:
        config = json.loads(archive.read(name))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(config, dict) and isinstance(config.get("class_name"), str)


def _check_keras_dir(path: str) -> None:
    """Refuse anything but a directory in Keras's unzipped ``.keras`` form (or an empty one)."""
    expected = "a Keras model directory (save_model(..., zipped=False))"
    if os.path.islink(path):
        raise _refuse(path, f"is a symbolic link to {os.readlink(path)}", expected)
    if not os.path.isdir(path):
        raise _refuse(path, f"is a file ({describe_content(path)})", expected)
    names = os.listdir(path)
    if not names:
        return
    strangers = [n for n in names if n not in KERAS_ENTRIES]
    strangers += [n for n in names if n in KERAS_ENTRIES and n != "assets"
                  and (os.path.islink(os.path.join(path, n)) or not os.path.isfile(os.path.join(path, n)))]
    assets = os.path.join(path, "assets")
    if os.path.islink(assets) or (os.path.lexists(assets) and not os.path.isdir(assets)):
        strangers.append("assets")
    if strangers:
        raise _refuse(path, f"is a directory holding files a Keras model directory does not: "
                            f"{_foreign(strangers)}", expected)
    if "config.json" not in names:
        raise _refuse(path, f"is a directory without config.json (it holds {_foreign(names)})", expected)


#: How TensorFlow names a checkpoint's data shards, after the prefix.
_SHARD = re.compile(r"\.data-\d{5}-of-\d{5}")


def is_checkpoint_state(path: str) -> bool:
    """Whether ``path`` is a TF ``checkpoint`` state file (a small text proto)."""
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 1 << 20:
            return False
        with open(path, encoding="utf-8") as fh:
            lines = [line.strip() for line in fh if line.strip()]
    except (OSError, UnicodeDecodeError):
        return False
    keys = ("model_checkpoint_path:", "all_model_checkpoint_paths:", "all_model_checkpoint_timestamps:",
            "last_preserved_timestamp:")
    return bool(lines) and all(line.startswith(keys) for line in lines)


def _check_checkpoint(prefix: str) -> None:
    directory, base = os.path.split(os.path.abspath(prefix))
    if not os.path.isdir(directory):
        return
    names = [n for n in os.listdir(directory) if n == base + ".index" or n.startswith(base + ".data-")]
    for name in names:
        full = os.path.join(directory, name)
        if os.path.islink(full) or not os.path.isfile(full):
            raise _refuse(full, "is a link or a directory", "a TF checkpoint file")
        if name.endswith(".index"):
            with open(full, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(size - 8, 0))
                if size and fh.read(8) != TABLE_MAGIC:
                    raise _refuse(full, f"is {describe_content(full)}", "a TF checkpoint index")
    # A data file has no signature of its own: it is a checkpoint's only beside
    # that checkpoint's index, and only under the names TensorFlow gives shards.
    data = [n for n in names if n != base + ".index"]
    for name in data:
        full = os.path.join(directory, name)
        if base + ".index" not in names:
            raise _refuse(full, f"is {describe_content(full)}, with no {base}.index beside it",
                          "a TF checkpoint data file")
        if not _SHARD.fullmatch(name[len(base):]):
            raise _refuse(full, f"is {describe_content(full)}, not named as TensorFlow names checkpoint shards",
                          "a TF checkpoint data file")


def check_target(path: str | os.PathLike[str], fmt: str) -> None:
    """Refuse to save over anything that is not an earlier save of format ``fmt``.

    Args:
        path: The file, directory (SavedModel) or prefix (checkpoint) to write.
        fmt: The format about to be written.

    Raises:
        SaveError: Something else is there; the message lists what and how to fix it.
    """
    path = os.fspath(path)
    if fmt == "tf_checkpoint":
        _check_checkpoint(path)
        return
    if fmt == "savedmodel":
        path = path.rstrip(os.sep) or path
        backup = path + BACKUP_SUFFIX
        if os.path.lexists(backup) and os.path.lexists(path) and not is_savedmodel_dir(backup):
            _check_savedmodel(backup, backup)  # raises with what is there, unless it is empty
        if os.path.lexists(path):
            _check_savedmodel(path, path)
        return
    if fmt == "keras_dir":
        path = path.rstrip(os.sep) or path
        backup = path + BACKUP_SUFFIX
        if os.path.lexists(backup) and os.path.lexists(path):
            _check_keras_dir(backup)
        if os.path.lexists(path):
            _check_keras_dir(path)
        return
    if fmt in ("onnx", "tflite"):
        if os.path.lexists(path):
            _check_deploy_file(path, fmt)
        return
    if os.path.lexists(path):
        _check_file(path, fmt)
