"""Find a saved file's format from its content, never from its name.

Only the standard library and (for HDF5 files) h5py are used, so detection is
fast and never imports TensorFlow.
"""

from __future__ import annotations

import functools
import glob
import os
import stat
import zipfile
from typing import Any, Final

from netform.errors import CorruptFileError, FormatError, UnsafeFileError

from ._meta import read_bounded, regular_file
from ._protowire import varint_or_none as _varint  # also read by ._target

__all__ = [
    "FORMATS",
    "FULL_MODEL_FORMATS",
    "WEIGHTS_FORMATS",
    "HDF5_SIGNATURE",
    "TABLE_MAGIC",
    "DEPLOY_FORMATS",
    "DEPLOY_HEAD_BYTES",
    "TFLITE_IDENTIFIER",
    "detect_format",
    "is_onnx_bytes",
    "checkpoint_prefix",
    "check_checkpoint_files",
    "describe_content",
    "read_sharded_index",
    "shard_paths",
    "MAX_INDEX_BYTES",
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
#: Deployment formats ``nf.save`` writes and ``detect_format`` recognises; their runtimes read them, not ``nf.load``.
DEPLOY_FORMATS: Final[tuple[str, ...]] = ("onnx", "tflite")
#: The flatbuffer file identifier of a TFLite (LiteRT) model, at bytes 4 to 8.
TFLITE_IDENTIFIER: Final[bytes] = b"TFL3"
#: How many bytes of a file the ONNX and TFLite checks read.
DEPLOY_HEAD_BYTES: Final[int] = 64

HDF5_SIGNATURE: Final[bytes] = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE: Final[bytes] = b"PK\x03\x04"
#: Last 8 bytes of a TensorFlow table file (a checkpoint's ``.index``).
TABLE_MAGIC: Final[bytes] = (0xDB4775248B80FB57).to_bytes(8, "little")
_SUPPORTED = ", ".join(FORMATS)


def _unsupported(path: str, found: str) -> FormatError:
    # Keras opens a .h5/.hdf5 name with h5py, whose error is an OSError: so is netform's.
    error = CorruptFileError if path.lower().endswith((".h5", ".hdf5")) else FormatError
    return error(
        f"{path}: not a model or weights file netform can read; found {found}. Supported formats: {_SUPPORTED}."
    )


def describe_content(path: str) -> str:
    """Say briefly what a path holds, for error messages."""
    if os.path.isdir(path):
        names = sorted(os.listdir(path))[:8]
        return f"a directory containing {names}" if names else "an empty directory"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "a special file (FIFO, socket or device)"
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
    if size < len(head):  # a file the kernel makes as it is read (/proc): its size says 0
        return f"a file of no size known before it is read (as in /proc) starting with {kind} {shown!r}"
    return f"a {size}-byte file starting with {kind} {shown!r}"


#: The most bytes of a checkpoint's ``checkpoint`` state file netform reads.
MAX_STATE_BYTES = 2**20


@functools.cache
def _state_message() -> Any:
    """A message class with TensorFlow's ``CheckpointState`` fields, made from its descriptor (no TensorFlow)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="netform_checkpoint_state.proto", package="netform", syntax="proto3"
    )
    message = proto.message_type.add(name="CheckpointState")
    for number, (name, kind, label) in enumerate(
        (
            ("model_checkpoint_path", field.TYPE_STRING, field.LABEL_OPTIONAL),
            ("all_model_checkpoint_paths", field.TYPE_STRING, field.LABEL_REPEATED),
            ("all_model_checkpoint_timestamps", field.TYPE_DOUBLE, field.LABEL_REPEATED),
            ("last_preserved_timestamp", field.TYPE_DOUBLE, field.LABEL_OPTIONAL),
        ),
        start=1,
    ):
        message.field.add(name=name, number=number, type=kind, label=label)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("netform.CheckpointState"))


def checkpoint_state_paths(text: str) -> tuple[str, list[str]] | None:
    """The paths a ``checkpoint`` state file names, read as TensorFlow reads it (``text_format.Merge``).

    TensorFlow takes the last of repeated ``model_checkpoint_path`` lines, joins adjacent strings, takes
    either quote and comments: a line-by-line reading could name another path than the one it follows.

    Returns:
        ``(model_checkpoint_path, all_model_checkpoint_paths)``, or None when TensorFlow would ignore the
        file (it does not parse as a ``CheckpointState``).
    """
    from google.protobuf import text_format

    state = _state_message()()
    try:
        text_format.Merge(text, state)
    except (text_format.ParseError, UnicodeError, ValueError):
        return None
    return state.model_checkpoint_path, list(state.all_model_checkpoint_paths)


def _state_prefix(folder: str) -> str | None:
    """The prefix a folder's ``checkpoint`` state file names, refused when it leaves the folder."""
    state = os.path.join(folder, "checkpoint")
    if os.path.islink(state):
        target = os.path.realpath(state)
        top = os.path.realpath(folder)
        if os.path.commonpath([top, target]) != top:
            # What the folder loads is named by its own state file: one linked from elsewhere would let
            # a file outside the folder choose (or probe) what is read.
            raise UnsafeFileError(
                f"{state}: the checkpoint state file is a link pointing outside its folder (to '{target}'); "
                "refused, a checkpoint folder loads only by its own files. Pass the checkpoint prefix itself, "
                "or copy the state file into the folder."
            )
    if os.path.exists(state) and not os.path.isfile(state) and not os.path.isdir(state):
        raise UnsafeFileError(
            f"{state}: the checkpoint state file is a FIFO, socket or device, not a regular file; refused unread "
            "(reading it could block for good). Pass the checkpoint prefix itself, or remove it."
        )
    if not os.path.isfile(state):
        return None
    try:
        text = read_bounded(state, MAX_STATE_BYTES, "the checkpoint state file", error=FormatError).decode("utf-8")
    except UnicodeDecodeError:
        return None
    paths = checkpoint_state_paths(text)
    if paths is None:
        return None
    named, listed = paths
    top = os.path.realpath(folder)
    # every path it names: TensorFlow reads model_checkpoint_path, a CheckpointManager the others too
    for key, name in [("model_checkpoint_path", named), *(("all_model_checkpoint_paths", n) for n in listed)]:
        if not name:
            continue
        if "\0" in name:
            raise FormatError(
                f"{state}: {key} holds a NUL character, which no file name holds; the state file "
                "is corrupt. Pass the checkpoint prefix itself, or save the checkpoint again."
            )
        prefix = name if os.path.isabs(name) else os.path.join(folder, name)
        # TensorFlow cleans a path by its text (`xx/..` goes even where `xx` does not exist); the system
        # follows links: both readings must stay in the folder
        if any(os.path.commonpath([top, os.path.realpath(p)]) != top for p in (prefix, os.path.normpath(prefix))):
            raise UnsafeFileError(
                f"{state}: {key} '{name}' points outside the checkpoint folder; refused, "
                "a checkpoint folder loads only its own files. Pass the checkpoint prefix itself, or "
                "name a prefix inside the folder in the state file."
            )
    if not named:
        return None
    return os.path.normpath(named if os.path.isabs(named) else os.path.join(folder, named))


def check_checkpoint_files(prefix: str) -> None:
    """Refuse a checkpoint whose index or data shards are not regular files (TensorFlow would block on a FIFO).

    Raises:
        UnsafeFileError: A file of the checkpoint is a FIFO, socket or device.
    """
    folder = os.path.realpath(os.path.dirname(os.path.abspath(prefix)))
    files = [prefix + ".index"] if os.path.lexists(prefix + ".index") else []
    for file in files + glob.glob(glob.escape(prefix) + ".data-*"):
        what = "a checkpoint index" if file.endswith(".index") else "a checkpoint data shard"
        if os.path.islink(file):
            # The weights come from the checkpoint's own folder: a link out of it could make a
            # downloaded folder load (or probe) any file on the machine.
            target = os.path.realpath(file)
            if os.path.commonpath([folder, target]) != folder:
                raise UnsafeFileError(
                    f"{file}: {what} is a link pointing outside its folder (to '{target}'); "
                    "refused, a checkpoint is read only from its own folder. Copy the files "
                    "into the folder if they are yours."
                )
        try:
            regular_file(file, what)
        except FormatError:
            if file.endswith(".index") or os.path.lexists(file):
                raise
            # A data file removed since it was listed: a save replacing the checkpoint removed one its index
            # no longer reads (a shard the index does read but lacks is reported when the index is checked).


def checkpoint_prefix(path: str) -> str | None:
    """Return the checkpoint prefix ``path`` names, or None.

    Accepts the prefix itself, its ``.index`` or a data shard, or a directory
    holding a ``checkpoint`` state file.

    Raises:
        UnsafeFileError: The state file names a prefix outside its folder, or
            a file of the checkpoint is a FIFO, socket or device.
    """
    candidates = [path]
    base = os.path.basename(path)
    if base.endswith(".index"):
        candidates.insert(0, path[: -len(".index")])
    elif ".data-" in base:
        candidates.insert(0, path[: path.rindex(".data-")])
    if os.path.isdir(path):
        named = _state_prefix(path)
        if named is not None:
            candidates.insert(0, named)
    for prefix in candidates:
        index = prefix + ".index"
        if os.path.lexists(index) and not os.path.isdir(index):
            regular_file(index, "a checkpoint index")
        if os.path.isfile(index) and is_table(index):
            check_checkpoint_files(prefix)
            return prefix
    return None


def is_table(path: str) -> bool:
    """Whether ``path`` ends with the magic number of a TensorFlow table (a checkpoint's ``.index``)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() < 48:
                return False
            fh.seek(-8, os.SEEK_END)
            return fh.read(8) == TABLE_MAGIC
    except OSError:
        return False


def is_onnx_bytes(head: bytes, size: int | None = None) -> bool:
    """Whether ``head`` (a file's first bytes; the file is ``size`` bytes) starts as an ONNX ``ModelProto`` does.

    ``ModelProto`` fields, each written as a protobuf tag: ``ir_version`` (1,
    varint), ``producer_name`` (2), ``producer_version`` (3), ``domain`` (4),
    ``model_version`` (5, varint), ``doc_string`` (6), ``graph`` (7),
    ``opset_import`` (8), ``metadata_props`` (14), ``training_info`` (20),
    ``functions`` (25). Writers put fields in number order, so ``ir_version``
    (1 to 64) comes first; every field after it that starts in ``head`` must
    have its field's wire type, a length that fits in the file, and (for the
    names) UTF-8 text. At least two fields, or the whole file, must parse.
    """
    size = len(head) if size is None else size
    pos, fields = 0, 0
    allowed = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
    last = 0
    while pos < len(head):
        tag, pos = _varint(head, pos)
        if tag is None:
            return pos >= len(head) and fields >= 2  # the tag runs past what was read
        field, wire = tag >> 3, tag & 7
        if allowed.get(field) != wire or field < last or (fields == 0 and field != 1):
            return False
        last = field
        value, pos = _varint(head, pos)
        if value is None:
            return pos >= len(head) and fields >= 1
        if field == 1 and not 1 <= value <= 64:
            return False
        fields += 1
        if wire == 2:
            if pos + value > size:
                return False
            if field in (2, 3, 4) and pos + value <= len(head):
                try:
                    head[pos : pos + value].decode("utf-8")
                except UnicodeDecodeError:
                    return False
            pos += value
    return fields >= 2 or (fields >= 1 and size == len(head))


def deploy_kind(head: bytes, size: int) -> str | None:
    """``"tflite"`` or ``"onnx"`` when a file's first bytes (of ``size``) say so, else None."""
    if len(head) >= 8 and head[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    return "onnx" if is_onnx_bytes(head, size) else None


def _hdf5_kind(path: str) -> str:
    import h5py  # only when the signature says HDF5

    from ._h5_attrs import check_btrees_path

    check_btrees_path(path)  # before h5py lists a group: a B-tree that loops crashes libhdf5
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
            for key in sorted(keys):  # a link at the top is refused as such (named as Keras names it)
                link = f.get(key, getlink=True)
                if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                    kind = type(link).__name__
                    raise UnsafeFileError(
                        f"{path}: HDF5 link '/{key}' (a {kind}); netform and Keras never "
                        "write links, so the file is refused."
                    )
    except UnsafeFileError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        # h5py raises RuntimeError/KeyError for damaged metadata, OSError for truncation.
        error = CorruptFileError if isinstance(err, OSError) else FormatError  # an OSError, as h5py's
        raise error(f"{path}: HDF5 file is corrupt or truncated ({type(err).__name__}: {err}).") from err
    raise _unsupported(path, found)


#: The index Keras writes beside sharded weights names at most this many bytes of JSON.
MAX_INDEX_BYTES: Final[int] = 16 * 2**20


def read_sharded_index(path: str) -> dict[str, object] | None:
    """The index of Keras's sharded weights (``save_weights(..., max_shard_size=)``), or None when it is not one.

    Recognised by content: a JSON object whose ``weight_map`` maps each
    variable group to the shard files (``x_00000.weights.h5``) holding it.

    Raises:
        UnsafeFileError: Not a regular file, or larger than :data:`MAX_INDEX_BYTES`.
    """
    import json

    raw = read_bounded(path, MAX_INDEX_BYTES, "the sharded weights index")
    try:
        index = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        return None
    if isinstance(index, dict) and isinstance(index.get("weight_map"), dict):
        return index
    return None


def _odd(name: str) -> bool:
    """Whether a shard name holds a NUL or other control character, or cannot be a file name here."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        return True
    try:
        os.fsencode(name)
    except UnicodeError:  # a lone surrogate from the JSON: no file on this system is named so
        return True
    return False


def shard_paths(path: str, index: dict[str, object]) -> list[str]:
    """The shard files a sharded weights index at ``path`` names, checked before anything opens them.

    Each must be a plain file name in the index's own folder and a regular
    file there; a shard that is a link pointing out of the folder is refused,
    as a link out of a SavedModel folder or a checkpoint's is: an index
    (perhaps downloaded) would otherwise read any weights file on the machine.

    Raises:
        FormatError: A shard is named with a path or a control character, or missing.
        UnsafeFileError: A shard links out of the folder, or is a FIFO, socket or device.
    """
    folder = os.path.dirname(os.path.abspath(path))
    top = os.path.realpath(folder)
    weight_map = index.get("weight_map")
    names: set[str] = set()
    for entry, found in (weight_map if isinstance(weight_map, dict) else {}).items():
        for name in found if isinstance(found, list) else [found]:
            if not isinstance(name, str) or os.path.basename(name) != name or name in ("", ".", "..") or _odd(name):
                raise FormatError(
                    f"{path}: the index names shard {str(name)[:200]!r} for '{entry}'; a shard "
                    "must be a file name in the index's own folder."
                )
            names.add(name)
    shards = [os.path.join(folder, name) for name in sorted(names)]
    for shard in shards:
        if os.path.islink(shard):
            target = os.path.realpath(shard)
            if os.path.commonpath([top, target]) != top:
                raise UnsafeFileError(
                    f"{shard}: a weights shard is a link pointing outside its index's folder (to "
                    f"'{target}'); refused, sharded weights are read only from their own folder. "
                    "Copy the file into the folder if it is yours."
                )
        regular_file(shard, "a weights shard")
    return shards


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return the format of a saved model or weights file, read from its content.

    Args:
        path: A file, a SavedModel directory, a Keras model directory (the
            unzipped ``.keras`` form) or a checkpoint prefix.

    Returns:
        One of ``"keras"``, ``"h5"``, ``"savedmodel"``, ``"weights_h5"`` (also
        the ``.weights.json`` index of sharded weights),
        ``"legacy_h5_weights"``, ``"tf_checkpoint"``, or the deployment
        formats ``"onnx"`` and ``"tflite"`` (read by their runtimes).

    Raises:
        FormatError: The path is missing or holds none of these formats.

    Example:
        >>> detect_format("model.bin")  # doctest: +SKIP
        'keras'
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        for graph in ("saved_model.pb", "saved_model.pbtxt"):
            if os.path.lexists(os.path.join(path, graph)):
                regular_file(os.path.join(path, graph), "the SavedModel graph")
                return "savedmodel"
        if checkpoint_prefix(path) is not None:
            return "tf_checkpoint"
        config_json = os.path.join(path, "config.json")
        if (
            os.path.lexists(config_json)
            and (os.path.islink(config_json) or not os.path.isdir(config_json))
            and any(os.path.lexists(os.path.join(path, n)) for n in ("model.weights.h5", "model.weights.npz"))
        ):
            # Keras's unzipped form, save_model(..., zipped=False). Named by its entries, not their kind: a FIFO,
            # device or link out among them is then refused as unsafe by the reader's check of the folder.
            return "keras"
        raise _unsupported(path, describe_content(path))
    if not os.path.exists(path):
        if checkpoint_prefix(path) is not None:
            return "tf_checkpoint"
        from ._atomic import recover

        if os.path.islink(path):  # a link to nothing: no parked copy is put back at a link's name
            raise FormatError(
                f"{path}: is a symbolic link to {os.readlink(path)!r}, which does not exist; point it at the "
                f"model file or folder, or give that path. Expected one of: {_SUPPORTED}."
            )
        recover(path)  # a save its own interrupted swap provably parked, or a running save's swap ending
        if os.path.exists(path):  # now at ``path``
            return detect_format(path)
        # Keras's words first (its tests match them): a name without a known extension is "not supported".
        suffix = os.path.splitext(os.path.basename(path))[1].lower()
        if suffix in (".keras", ".h5", ".hdf5", ".json", ".ckpt", ".index", ".onnx", ".tflite"):
            keras_words = "File not found. Please ensure the file is an accessible file or directory"
        else:
            keras_words = f"File format not supported ({'no extension' if not suffix else repr(suffix)})"
        raise FormatError(f"{path}: {keras_words}: no such file or directory. Expected one of: {_SUPPORTED}.")
    regular_file(path, "the path")
    try:
        with open(path, "rb") as fh:
            start = fh.read(DEPLOY_HEAD_BYTES)
            head = start[:8]
            # A user block moves HDF5's signature to 512, 1024, ... A zip archive is
            # recognised by its first bytes, never by what an entry stored at one of
            # those offsets holds (a .keras archive's model.weights.h5 can start there).
            if head != HDF5_SIGNATURE and not head.startswith(ZIP_SIGNATURE):
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
        except (
            zipfile.BadZipFile,
            OSError,
            ValueError,
            NotImplementedError,
        ) as err:  # NotImplementedError: a zip version
            raise FormatError(
                f"{path}: zip archive is corrupt, truncated or of a zip version no reader takes ({err})."
            ) from err
        if "config.json" in names:
            return "keras"
        raise _unsupported(path, f"a zip archive without config.json (entries: {sorted(names)[:8]})")
    if head == HDF5_SIGNATURE:
        return _hdf5_kind(path)
    if checkpoint_prefix(path) is not None:
        return "tf_checkpoint"
    if start.lstrip()[:1] == b"{" and os.path.getsize(path) <= MAX_INDEX_BYTES and read_sharded_index(path) is not None:
        return "weights_h5"  # Keras's index of sharded weights (x.weights.json)
    deploy = deploy_kind(start, os.path.getsize(path))
    if deploy == "onnx":
        # The first bytes only say the file may be one: a TensorFlow graph or someone's protobuf starts
        # the same way. The layout walk nf.save uses to replace an ONNX file decides (never read whole).
        problem = _onnx_file_problem(path)
        if problem is not None:
            raise _refused_onnx(path, problem)
    if deploy is not None:
        return deploy
    raise _unsupported(path, describe_content(path))


def _onnx_file_problem(path: str) -> str | None:
    """What keeps the file at ``path`` from being an ONNX model by its layout, walked mapped (None: it is one)."""
    import mmap

    from ._onnx_layout import onnx_problem

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return onnx_problem(mapped)
    except (OSError, ValueError) as err:
        return f"it cannot be read ({err})"


def _refused_onnx(path: str, problem: str) -> FormatError:
    """The error for a file that starts as an ONNX model but is not laid out as one (a SavedModel graph, or corrupt)."""
    import mmap

    from ._onnx_layout import savedmodel_graph

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            graph = savedmodel_graph(mapped)
    except (OSError, ValueError):
        graph = False
    if graph:
        return _unsupported(
            path,
            "a TensorFlow SavedModel graph (saved_model.pb) outside its SavedModel folder, whose layout is no "
            f"ONNX model's ({problem}); pass the SavedModel folder",
        )
    return FormatError(
        f"{path}: the ONNX file is corrupt: it starts as an ONNX model but its layout is no ONNX model's "
        f"({problem}). Export the model again, or check that the file was copied whole."
    )
