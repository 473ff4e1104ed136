"""Safe-by-default checks run before anything in a file is deserialized.

A saved model is data, and netform treats it as untrusted. Before Keras sees
a config, :func:`check_config` walks it and refuses Python bytecode (Lambda
layers, ``__lambda__`` functions) and any class or function that is neither a
Keras built-in nor registered with ``keras.saving.register_keras_serializable``
(or passed in ``custom_objects``). Before an archive or HDF5 file is opened
for real, :func:`check_zip` and :func:`check_h5` refuse escaping entry names,
links, and bombs. ``safe_mode=False`` turns off the code checks, never the
structural ones.
"""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile
from typing import Any, Mapping

from netform.errors import UnsafeFileError

from ._h5_attrs import attribute_bytes, raw_reader

__all__ = ["check_config", "check_zip", "check_h5", "MAX_RATIO", "MAX_DATASET_BYTES", "VALUE_MARKERS"]

#: A zip entry that inflates more than this many times its stored size is a bomb.
MAX_RATIO = 200
#: ... but only when it inflates to more than this many bytes (tiny files compress well).
MIN_BOMB_BYTES = 16 * 2**20
#: No one zip entry or HDF5 dataset may declare more than this.
MAX_DATASET_BYTES = 32 * 2**30
#: Total declared HDF5 data may not exceed the file size by more than this factor (+ slack).
MAX_H5_EXPANSION = 64
#: How deep HDF5 groups may nest (a model nested in a model adds two levels).
MAX_H5_DEPTH = 512

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAFE_MODULE_ROOTS = ("keras",)
# Keras's own markers for values, not classes.
VALUE_MARKERS = {
    "__tuple__",
    "__numpy__",
    "__tensor__",
    "__bytes__",
    "__typespec__",
    "__ellipsis__",
    "__slice__",
    "__passive_serialization__",
    "__keras_tensor__",
}
_UNSAFE_HINT = "Load it with safe_mode=False only if you trust the file and wrote its code yourself."


#: The package of the classes netform registers with Keras when it loads a model.
_NETFORM_PACKAGE = "netform>"


def _registered(name: str, custom_objects: Mapping[str, Any]) -> bool:
    """Whether ``name`` is in ``custom_objects`` or Keras's registry of serializable objects.

    Keras's registry holds only what code that imported Keras put there. While
    Keras is not imported (``inspect``, ``summary``, ``export-spec`` and
    ``render`` read a config without it), the only names it will hold once
    netform loads the model are netform's own (package ``netform``): any other
    name is unregistered, decided without importing Keras, so a config naming
    ``builtins.eval`` or ``os>system`` is refused statically, with the message
    loading gives.
    """
    if name in custom_objects:
        return True
    if "keras" not in sys.modules and not name.startswith(_NETFORM_PACKAGE):
        return False
    from keras.saving import get_custom_objects

    return name in get_custom_objects()


def _keras_builtin(class_name: str) -> bool:
    import keras

    for namespace in (
        keras.layers,
        keras.models,
        keras.optimizers,
        keras.losses,
        keras.metrics,
        keras.initializers,
        keras.regularizers,
        keras.constraints,
        keras.activations,
        keras.optimizers.schedules,
        keras.dtype_policies,
        keras,
    ):
        if isinstance(getattr(namespace, class_name, None), type):
            return True
    return False


#: The namespaces where Keras looks up a function saved by name (its ``BUILTIN_MODULES``).
_FUNCTION_NAMESPACES = ("activations", "constraints", "initializers", "losses", "metrics", "optimizers", "regularizers")


def _keras_function(name: str, custom: Mapping[str, Any]) -> bool:
    """Whether Keras's safe mode resolves a function saved as ``name``: registered, or a Keras built-in."""
    import keras

    if _registered(name, custom):
        return True
    if _IDENTIFIER.match(name) and any(
        callable(getattr(getattr(keras, space), name, None)) for space in _FUNCTION_NAMESPACES
    ):
        return True
    # Keras 3.6 and earlier wrote a registered function by its bare name: Keras
    # matches it against the custom_objects passed in ("pkg>name").
    return ">" not in name and any(str(key).endswith(">" + name) for key in custom)


def check_config(
    config: Any, *, where: str, safe_mode: bool = True, custom_objects: Mapping[str, Any] | None = None
) -> None:
    """Refuse a model config that would import or run code.

    Args:
        config: The decoded JSON config (Keras 3 or legacy Keras 2 style).
        where: The file name, for messages.
        safe_mode: When False, only nothing is checked (the caller trusts the file).
        custom_objects: Extra names the caller allows.

    Raises:
        UnsafeFileError: The config names bytecode or an unregistered import.
    """
    if not safe_mode:
        return
    _walk(config, where, custom_objects or {}, "")


def _refuse(where: str, at: str, what: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"{where}: {what} at config path '{at or '/'}'; refused in safe mode, as it could "
        f"allow arbitrary code execution. {_UNSAFE_HINT}"
    )


def _walk(node: Any, where: str, custom: Mapping[str, Any], at: str) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, where, custom, f"{at}[{i}]")
        return
    if not isinstance(node, dict):
        return
    class_name = node.get("class_name")
    if isinstance(class_name, str):
        _check_class(node, class_name, where, custom, at)
    for key, value in node.items():
        here = f"{at}.{key}" if at else str(key)
        if isinstance(value, str) and key.endswith(
            ("activation", "_initializer", "_regularizer", "_constraint", "initializer")
        ):
            if not _IDENTIFIER.match(value) and not _registered(value, custom):
                raise _refuse(where, here, f"'{value}' is not a Keras built-in name")
        _walk(value, where, custom, here)


def _check_class(node: dict[str, Any], class_name: str, where: str, custom: Mapping[str, Any], at: str) -> None:
    module = node.get("module")
    registered = node.get("registered_name")
    if class_name == "__lambda__" or (
        class_name == "function" and isinstance(node.get("config"), dict) and "code" in node["config"]
    ):
        raise _refuse(where, at, "Python bytecode (a lambda)")
    if class_name == "Lambda" and not _registered("Lambda", custom):
        raise _refuse(where, at, "a Lambda layer (it carries Python code)")
    if class_name == "TFSMLayer" and not _registered("TFSMLayer", custom):
        raise _refuse(where, at, "a TFSMLayer (it loads and runs an external SavedModel's graph)")
    config = node.get("config")
    if isinstance(config, dict) and isinstance(config.get("vocabulary"), str):
        raise _refuse(
            where,
            f"{at}.config.vocabulary" if at else "config.vocabulary",
            f"a {class_name} reading its vocabulary from the file '{config['vocabulary'][:200]}' "
            "outside the model file",
        )
    if class_name in VALUE_MARKERS:
        return
    if class_name == "function" and module == "builtins" and isinstance(config, str):
        # How Keras writes a plain function (a loss, a metric, an activation):
        # by its registered name only. Keras's safe mode resolves it among
        # registered objects and its own built-in functions, never by import.
        if _keras_function(config, custom):
            return
        raise _refuse(where, at, f"function '{config[:200]}' is neither a Keras built-in nor registered")
    if class_name.startswith("Custom>") and _keras_builtin(class_name[len("Custom>") :]):
        return  # how Keras 2 names its own optimizers
    if isinstance(registered, str) and registered not in (class_name, "function") and _registered(registered, custom):
        return
    if _registered(class_name, custom):
        return
    if isinstance(module, str):
        root = module.split(".", 1)[0]
        if root in _SAFE_MODULE_ROOTS:
            return
        if module.startswith("netform.") and "." not in class_name:
            return
        raise _refuse(where, at, f"'{module}.{class_name}' is neither a Keras built-in nor registered")
    if module is None and _IDENTIFIER.match(class_name) and _keras_builtin(class_name):
        return
    if module is None and _IDENTIFIER.match(class_name) and "config" in node and "module" not in node:
        # Legacy Keras 2 configs name only the class; an unknown name fails to
        # resolve later without importing anything, so only dotted names are refused.
        return
    raise _refuse(where, at, f"class '{class_name}' is neither a Keras built-in nor registered")


def check_zip(archive: zipfile.ZipFile, where: str) -> None:
    """Refuse escaping entry names, and zip bombs, before reading any entry.

    Raises:
        UnsafeFileError: An entry is absolute, climbs out with ``..``, or would
            inflate far beyond its stored size.
    """
    infos = archive.infolist()
    for info in infos:
        name = info.filename
        parts = re.split(r"[\\/]", name)
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise UnsafeFileError(
                f"{where}: archive entry '{name}' points outside the archive folder; refused. "
                "A .keras file only holds relative names such as 'config.json'."
            )
        if info.file_size > MAX_DATASET_BYTES or (
            info.file_size > MIN_BOMB_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1)
        ):
            raise UnsafeFileError(
                f"{where}: archive entry '{name}' would inflate from {info.compress_size} to "
                f"{info.file_size} bytes (a zip bomb); refused."
            )
    _check_zip_total(archive, infos, where)


def _check_zip_total(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], where: str) -> None:
    """Refuse entries that share their stored bytes, and bombs made of many modest entries."""
    stored = sum(info.compress_size for info in infos)
    inflated = sum(info.file_size for info in infos)
    size = _archive_size(archive)
    offsets = {info.header_offset for info in infos}
    hdf5 = _hdf5_inside(archive, infos, size)
    if hdf5 is not None:
        raise UnsafeFileError(
            f"{where}: the archive is also an HDF5 file (its signature at byte {hdf5}), so one file holds two "
            "models (plain Keras reads a .h5 name as HDF5); refused. Keras and netform never write such a file."
        )
    if offsets and min(offsets) > 0:
        # zipfile reads an archive appended to other bytes; an HDF5 file before it makes one file two models
        # (plain Keras reads a .h5 name as HDF5, netform the archive): Keras and netform start at the first entry
        raise UnsafeFileError(
            f"{where}: {min(offsets)} bytes come before the archive's first entry (another file's: a file "
            "that is both an archive and, e.g., an HDF5 model is two models); refused. An archive written by "
            "Keras or netform starts with its first entry."
        )
    if len(offsets) < len(infos) or (size is not None and stored > size):
        raise UnsafeFileError(
            f"{where}: archive entries overlap ({len(infos)} entries declare {stored} stored bytes "
            f"in a {size}-byte file), a zip bomb; refused. An archive written by Keras or netform "
            "stores each entry once."
        )
    if inflated > MAX_DATASET_BYTES or (inflated > MIN_BOMB_BYTES and inflated > MAX_RATIO * max(stored, 1)):
        raise UnsafeFileError(
            f"{where}: the {len(infos)} archive entries would inflate from {stored} to {inflated} "
            f"bytes in all (more than {MAX_RATIO} times), a zip bomb; refused."
        )


#: Where HDF5 looks for its superblock's signature: byte 0, then 512 and each power of two after it.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _hdf5_inside(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], size: int | None) -> int | None:
    """The offset of an HDF5 superblock signature where HDF5 would find one in the archive's file, outside the
    stored bytes of every entry, or None.

    One inside an entry is the start of that entry's own file (a ``.keras`` archive's ``model.weights.h5``,
    stored, may begin at byte 1024): HDF5 reads it as that file, the archive's own weights.
    """
    fp = archive.fp
    if fp is None or size is None:
        return None
    here = fp.tell()
    try:
        found = []
        offset = 0
        while offset + 8 <= size:
            fp.seek(offset)
            if fp.read(8) == _HDF5_SIGNATURE:
                found.append(offset)
            offset = 512 if offset == 0 else offset * 2
        if not found:
            return None
        spans = []
        for info in infos:
            fp.seek(info.header_offset)
            header = fp.read(30)
            if len(header) < 30:
                continue
            start = info.header_offset + 30 + int.from_bytes(header[26:28], "little")
            start += int.from_bytes(header[28:30], "little")
            spans.append((start, start + info.compress_size))
        return next((o for o in found if not any(a <= o < b for a, b in spans)), None)
    except (OSError, ValueError):
        return None
    finally:
        fp.seek(here)


def zip_tail(read: Any, size: int) -> bool:
    """Whether the last bytes of a file of ``size`` bytes (``read(offset, n)``) are a zip archive's end record."""
    span = min(size, 22 + 0xFFFF)
    tail = read(size - span, span)
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0:
        if at + 22 <= len(tail) and at + 22 + int.from_bytes(tail[at + 20 : at + 22], "little") == len(tail):
            return True
        at = tail.rfind(b"PK\x05\x06", 0, at)
    return False


def _archive_size(archive: zipfile.ZipFile) -> int | None:
    """Size of the file an open archive reads, None when it cannot be told."""
    fp = archive.fp
    if fp is None:  # a closed archive
        return None
    try:
        here = fp.tell()
        size = fp.seek(0, os.SEEK_END)
        fp.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return int(size)


def check_h5(
    file: Any,
    where: str,
    *,
    file_size: int | None = None,
    datasets: dict[str, Any] | None = None,
    raw: io.BytesIO | int | None = None,
) -> None:
    """Refuse HDF5 links, data kept outside the file, and datasets that declare absurd sizes.

    Variable-length data (strings, sequences) is measured before anything
    reads it whole: its elements may all name one large heap object, so a
    small file can expand into gigabytes. Datasets are read in bounded
    slices; attributes, which HDF5 reads whole, are measured from the
    descriptors in the file's bytes (see :mod:`._h5_attrs`).

    Args:
        file: An open ``h5py.File`` (or group).
        where: The file name, for messages.
        file_size: Size of the file on disk, to bound declared data.
        datasets: When given, filled with ``{name: h5py.h5d.DatasetID}`` of
            every dataset, so checksums need no second walk of the file.
        raw: The file's bytes (a ``BytesIO``) or an open descriptor of it, to
            measure attributes from; found from ``file`` when not given.

    Raises:
        UnsafeFileError: The file holds an external or soft link, an external
            or virtual dataset, or a bomb.
    """
    import h5py

    limit = MAX_H5_EXPANSION * file_size + MIN_BOMB_BYTES if file_size else MAX_DATASET_BYTES
    total = 0
    attributes = 0
    problems: list[Exception] = []
    read = raw_reader(file, raw)
    measured: set[int] = set()

    def measure_attributes(oid: Any, what: str) -> None:
        nonlocal attributes
        addr = int(h5py.h5o.get_info(oid).addr)
        if addr in measured:
            return
        measured.add(addr)
        attributes += attribute_bytes(file, oid, read, file_size=file_size, where=where, what=what)
        if attributes > limit:
            raise UnsafeFileError(
                f"{where}: HDF5 attributes expand to more than {attributes} bytes when read (up to "
                f"'{what}'), in a {file_size}-byte file: their elements name the same stored data over "
                "and over; refused as a bomb."
            )

    def visit(raw: bytes, info: Any) -> int | None:
        try:
            return check_link(raw, info)
        except Exception as err:  # raised after the walk; HDF5 callbacks must not raise
            problems.append(err)
            return 1

    groups: dict[bytes, Any] = {}  # open groups by path: each object opens from its parent, not from the root

    def check_link(raw: bytes, info: Any) -> int | None:
        # Low-level link walk: far cheaper than h5py's high-level objects.
        nonlocal total
        name = raw.decode("utf-8", "replace")
        depth = raw.count(b"/") + 1
        if depth > MAX_H5_DEPTH:
            problems.append(
                UnsafeFileError(
                    f"{where}: HDF5 groups nested more than {MAX_H5_DEPTH} deep (at '/{name[:80]}…'); Keras and "
                    "netform files nest a few dozen levels at most, so the file is refused."
                )
            )
            return 1
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            target_file, target_path = (v.decode("utf-8", "replace") for v in file.id.links.get_val(raw))
            problems.append(
                UnsafeFileError(
                    f"{where}: HDF5 external link '/{name}' -> '{target_file}:{target_path}' (an ExternalLink); "
                    "links out of the file are refused."
                )
            )
        elif info.type != h5py.h5l.TYPE_HARD:
            target = file.id.links.get_val(raw)
            shown = target.decode("utf-8", "replace") if isinstance(target, bytes) else target
            problems.append(
                UnsafeFileError(
                    f"{where}: HDF5 soft link '/{name}' -> '{shown}' (a SoftLink); netform and Keras never "
                    "write links, so the file is refused."
                )
            )
        else:
            parent, _, leaf = raw.rpartition(b"/")
            # Opening by the full path walks every level again: quadratic in the depth.
            oid = h5py.h5o.open(groups[parent], leaf) if parent in groups else h5py.h5o.open(file.id, raw)
            if isinstance(oid, h5py.h5g.GroupID):
                groups[raw] = oid
            measure_attributes(oid, f"/{name}")
            if isinstance(oid, h5py.h5d.DatasetID):
                problem = _outside_data(oid, name, where)
                if problem is not None:
                    problems.append(problem)
                    return 1
                if datasets is not None:
                    datasets[name] = oid
                dtype = oid.get_type()
                n = _declared_bytes(oid, dtype)
                if n > MAX_DATASET_BYTES:
                    problems.append(
                        UnsafeFileError(
                            f"{where}: HDF5 dataset '/{name}' declares shape {tuple(oid.shape or ())} "
                            f"({n} bytes); refused as a bomb."
                        )
                    )
                    return 1
                total += n
                if dtype.detect_class(h5py.h5t.VLEN) or (
                    dtype.get_class() == h5py.h5t.STRING and dtype.is_variable_str()
                ):
                    total += _vlen_dataset_bytes(oid, f"/{name}", where, file_size, limit - total)
        return 1 if problems else None  # anything but None stops the walk

    if file_size is not None and file_size >= 22 and isinstance(file, h5py.File):
        try:
            also_zip = zip_tail(read, file_size)
        except Exception:  # an unreadable tail: the checks below read the file again and say why
            also_zip = False
        if also_zip:
            raise UnsafeFileError(
                f"{where}: the HDF5 file ends with a zip archive's end record, so one file holds two models "
                "(plain Keras reads a .keras name as a zip); refused. Keras and netform never write such a file."
            )
    measure_attributes(h5py.h5o.open(file.id, b"/"), "/")
    file.id.links.visit(visit, info=True)
    if problems:
        raise problems[0]
    if file_size is not None and total > limit:
        raise UnsafeFileError(
            f"{where}: HDF5 datasets declare {total} bytes in a {file_size}-byte file; refused as a bomb."
        )


def _declared_bytes(oid: Any, dtype: Any) -> int:
    n = int(dtype.get_size())
    for dim in oid.shape or ():
        n *= int(dim)
    return n


#: HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit, scaleoffset) and h5py's own LZF.
_BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})


def _outside_data(oid: Any, name: str, where: str) -> UnsafeFileError | None:
    """The refusal for a dataset whose values live in other files, or need a filter plugin, if it is one."""
    import h5py

    plist = oid.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in _BUILTIN_FILTERS:
            # HDF5 looks for an unknown filter in plugin libraries on its search path and loads every one it
            # finds there (a relative folder when TensorFlow set HDF5_PLUGIN_PATH=disable): code from the disk
            return UnsafeFileError(
                f"{where}: HDF5 dataset '/{name}' is compressed with filter {code}, which is not one HDF5 or "
                "h5py builds in (gzip, shuffle, fletcher32, szip, nbit, scaleoffset, lzf); reading it would load "
                "a plugin library from the disk, so the file is refused. Netform and Keras never write one."
            )
    if plist.get_external_count() > 0:
        return UnsafeFileError(
            f"{where}: HDF5 dataset '/{name}' keeps its data in an external file; data outside the file is refused."
        )
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        sources = sorted(
            {
                f"{plist.get_virtual_filename(i)}:{plist.get_virtual_dsetname(i)}"
                for i in range(plist.get_virtual_count())
            }
        )
        shown = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
        return UnsafeFileError(
            f"{where}: HDF5 dataset '/{name}' is a virtual dataset, which reads other files "
            f"({shown}); data outside the file is refused. Netform and Keras never write one."
        )
    return None


def _value_bytes(value: Any) -> int:
    """Bytes a value read from variable-length HDF5 data holds in memory."""
    if isinstance(value, (bytes, str)):
        return len(value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return sum(_value_bytes(v) for v in value) if isinstance(value, (list, tuple)) else 8
    if not dtype.hasobject:
        return int(value.nbytes)
    if dtype.names:
        return sum(_value_bytes(value[field]) for field in dtype.names)
    return sum(_value_bytes(v) for v in value.flat)


def _vlen_bomb(where: str, what: str, total: int, file_size: int | None) -> UnsafeFileError:
    return UnsafeFileError(
        f"{where}: variable-length HDF5 data {what} expands to more than {total} bytes in a "
        f"{file_size}-byte file (its elements name the same stored data over and over); refused "
        "as a bomb."
    )


def _vlen_dataset_bytes(oid: Any, what: str, where: str, file_size: int | None, budget: int) -> int:
    """Bytes a variable-length dataset holds, read in slices that never exceed ``budget``.

    Each element's data is stored once in the file, so it is at most the
    file's size: slices of ``budget // file_size`` elements bound every read.
    """
    import h5py

    dataset = h5py.Dataset(oid)
    shape = dataset.shape or ()
    if not shape:
        n = _value_bytes(dataset[()])
        if n > budget:
            raise _vlen_bomb(where, f"'{what}'", n, file_size)
        return n
    per_row = 1
    for dim in shape[1:]:
        per_row *= int(dim)
    step = max(1, budget // (max(file_size or MAX_DATASET_BYTES, 1) * max(per_row, 1)))
    total = 0
    for start in range(0, int(shape[0]), step):
        total += _value_bytes(dataset[start : start + step])
        if total > budget:
            raise _vlen_bomb(where, f"'{what}'", total, file_size)
    return total


def file_size(path: str) -> int:
    """Size of a file, 0 when unknown."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
