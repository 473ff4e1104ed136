"""What a save may replace: only a saved model (or weights) of the format being written.

A save replaces what is at its target only when that is recognisably an
earlier save of the same format: a ``.keras`` zip, an HDF5 file of the same
kind (a full model, Keras 3 weights or legacy weights), a SavedModel
directory whose every entry is one a SavedModel (or netform) writes, a TF
checkpoint, an ONNX or TFLite model (by content). Anything else (a directory
of other files, a text file named ``x.keras`` or ``x.onnx``, a directory where
a file is expected) is refused with a
:class:`SaveError` that says what is there, before anything is written.
An empty directory is replaced (a folder made to save into). An empty file
is refused, whatever the format: no save leaves one (netform writes a
temporary file and renames it into place), so it is someone's placeholder
or lock file, not an earlier save.
"""

from __future__ import annotations

import collections
import io
import json
import contextlib
import os
import re
import shutil
import struct
import tempfile
import zipfile
from typing import Any

from netform._keras_names import store_name
from netform._files import savedmodel_above
from netform.errors import NetformError, SaveError

from ._detect import DEPLOY_HEAD_BYTES, HDF5_SIGNATURE, TABLE_MAGIC, deploy_kind, describe_content

__all__ = ["check_target", "check_path", "check_export_target", "is_savedmodel_dir", "is_checkpoint_state"]

#: Entries a SavedModel directory may hold at its top level (TensorFlow, tf_keras, netform).
#: ``saved_model.pbtxt`` is not among them: a SavedModel save writes the binary graph only.
SAVEDMODEL_ENTRIES = frozenset(
    {"saved_model.pb", "variables", "assets", "assets.extra", "fingerprint.pb", "keras_metadata.pb"}
)
_ZIP_HEADS = (b"PK\x03\x04", b"PK\x05\x06")
_FIX = "Choose another path, or move or delete what is there yourself; netform never deletes files it did not write."


def _refuse(path: str, found: str, expected: str) -> SaveError:
    return SaveError(f"{path}: {found}, not {expected} netform would replace. {_FIX}")


def _empty(path: str, expected: str) -> SaveError:
    """The refusal of an empty file: no save leaves one, so it is a placeholder or lock file, not an earlier save."""
    return SaveError(
        f"{path}: is an empty file, not {expected} netform would replace (no save leaves an empty file: "
        "it is a placeholder or another program's lock file, not an earlier save). Delete it yourself, "
        "or choose another name; netform never deletes files it did not write."
    )


def _foreign(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return shown


def _savedmodel_strangers(path: str) -> list[str]:
    """Entries of a directory that are not what a SavedModel save writes (relative paths).

    A name is not enough: ``saved_model.pb`` must parse as a SavedModel with
    a graph, ``fingerprint.pb`` as TensorFlow's fingerprint (byte for byte),
    ``variables/variables.index`` as a checkpoint index, and the data shards
    must be exactly those that index names. ``saved_model.pbtxt`` is never
    written by a save (TensorFlow and Keras write the binary graph), so it is
    someone's file.
    """
    strangers = [n for n in os.listdir(path) if n not in SAVEDMODEL_ENTRIES]
    variables = os.path.join(path, "variables")
    if os.path.islink(variables) or (os.path.lexists(variables) and not os.path.isdir(variables)):
        strangers.append("variables")
    elif os.path.isdir(variables):
        strangers += [f"variables/{n}" for n in _variables_strangers(variables)]
    for name in ("assets", "assets.extra"):
        if os.path.islink(os.path.join(path, name)):
            strangers.append(name)
    strangers += _asset_strangers(path)
    strangers += _with_attributes(path)
    for name in ("saved_model.pb", "fingerprint.pb", "keras_metadata.pb"):
        full = os.path.join(path, name)
        if not os.path.lexists(full):
            continue
        if os.path.islink(full) or not os.path.isfile(full):
            strangers.append(name)
        elif not _savedmodel_file(path, name):
            strangers.append(f"{name} (not what TensorFlow writes there)")
    if not strangers:
        strangers += _changed_savedmodel(path)
    return strangers


def _changed_savedmodel(path: str) -> list[str]:
    """What changed in a SavedModel netform wrote since it wrote it: netform records the SHA-256 of every file
    it saves (:func:`netform.saving._savedmodel.check_digests`), so a value edited in place in ``variables/`` or
    in netform's copy of the model is someone's edit. A folder without the digests (Keras's, TensorFlow's, an
    older netform's) is judged by its structure alone."""
    from ._savedmodel import check_digests, recorded_digests

    try:
        if recorded_digests(path) is None:
            return []
        check_digests(path)
    except NetformError as err:
        why = str(err).removeprefix(f"{path}: ").split(" (")[0].split(",")[0][:160]
        return [f"a file netform wrote there that changed since ({why})"]
    return []


#: The most bytes of ``fingerprint.pb``, ``keras_metadata.pb`` or ``variables.index`` the check reads.
_MAX_SIDE_FILE_BYTES = 256 * 2**20


def _savedmodel_file(path: str, name: str) -> bool:
    """Whether a SavedModel's ``saved_model.pb``, ``fingerprint.pb`` or ``keras_metadata.pb`` is TensorFlow's."""
    from ._meta import read_bounded

    try:
        if name == "saved_model.pb":
            from tensorflow.core.protobuf import saved_model_pb2

            from ._savedmodel import MAX_GRAPH_BYTES, graph_file

            data = read_bounded(graph_file(path), MAX_GRAPH_BYTES, "the SavedModel graph (saved_model.pb)")
            graph = saved_model_pb2.SavedModel()
            graph.ParseFromString(data)
            return len(graph.meta_graphs) > 0 and _canonical(graph, data)
        data = read_bounded(os.path.join(path, name), _MAX_SIDE_FILE_BYTES, name)
        if name == "keras_metadata.pb":
            return _keras_metadata(data)
        from tensorflow.core.protobuf import fingerprint_pb2

        fingerprint = fingerprint_pb2.FingerprintDef()
        fingerprint.ParseFromString(data)
        return bool(data) and fingerprint.saved_model_checksum != 0 and _canonical(fingerprint, data)
    except Exception:  # unreadable or unparsable: not a file TensorFlow wrote
        return False


def _canonical(message: Any, data: bytes) -> bool:
    """Whether ``data`` is the very bytes TensorFlow's serializer writes for the ``message`` parsed from it.

    A protocol buffer parser accepts many byte strings for one message: it keeps fields it does not know (and
    writes them back), takes the last of a field given twice, and reads varints padded with zeros. Each is a
    place for someone's bytes that no reader of the graph sees (a field numbered 1000 appended to
    ``fingerprint.pb`` or ``saved_model.pb`` loaded as before). TensorFlow writes both files with the
    deterministic serializer, so a file it wrote reads back to the same bytes once unknown fields are dropped.
    """
    message.DiscardUnknownFields()
    return bool(message.SerializeToString(deterministic=True) == data)


def _proto_fields(data: bytes, allowed: dict[int, int]) -> list[tuple[int, bytes]] | None:
    """The fields of a protobuf message (a varint's with no bytes), or None when it breaks ``allowed``
    ({field: wire}) or is not in the form a serializer writes (a varint padded with zero groups)."""
    from ._detect import _varint  # the same varint reader the format detection uses

    found: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _varint(data, pos)
        if tag is None or allowed.get(tag >> 3) != tag & 7:
            return None
        value, pos = _varint(data, pos)
        if value is None or data[start:pos] != _encoded(tag) + _encoded(value):
            return None  # (a varint padded with zero groups: bits no reader reads)
        if tag & 7 == 2:
            if pos + value > len(data):
                return None
            found.append((tag >> 3, data[pos : pos + value]))
            pos += value
        else:
            found.append((tag >> 3, b""))  # a varint: its number only
    return found


def _encoded(value: int) -> bytes:
    """``value`` as the shortest protobuf varint, as every serializer writes it."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _keras_metadata(data: bytes) -> bool:
    """Whether bytes are tf_keras's ``SavedMetadata``: ``nodes`` (field 1) of ``SavedObject`` messages."""
    nodes = _proto_fields(data, {1: 2})
    if not nodes:
        return False
    # SavedObject: node_id 2 (varint), node_path 3, identifier 4, metadata 5 (strings), version 6 (message), each
    # once (a parser keeps the last of a field given twice: the first would be bytes no reader reads)
    for _, node in nodes:
        fields = _proto_fields(node, {2: 0, 3: 2, 4: 2, 5: 2, 6: 2})
        if fields is None or len({number for number, _ in fields}) != len(fields):
            return False
        for _, version in (field for field in fields if field[0] == 6):  # VersionDef: producer 1, min_consumer 2
            if _proto_fields(version, {1: 0, 2: 0, 3: 2}) is None:  # (bad_consumers: packed)
                return False
    return True


#: How TensorFlow names a SavedModel's variable shards.
_VARIABLE_SHARD = re.compile(r"variables\.data-(\d{5})-of-(\d{5})")


def _variables_strangers(variables: str) -> list[str]:
    """Entries of ``variables/`` that are not the checkpoint TensorFlow wrote: its index and the shards it names."""
    names = os.listdir(variables)
    strangers = [n for n in names if n != "variables.index" and not _VARIABLE_SHARD.fullmatch(n)]
    strangers += [
        n
        for n in names
        if n not in strangers
        and (os.path.islink(os.path.join(variables, n)) or not os.path.isfile(os.path.join(variables, n)))
    ]
    shards = [n for n in names if n not in strangers and n != "variables.index"]
    index = os.path.join(variables, "variables.index")
    count = index_shards(index) if "variables.index" in names and "variables.index" not in strangers else None
    if count is None:
        if "variables.index" in names and "variables.index" not in strangers:
            strangers.append("variables.index (not a TensorFlow checkpoint index)")
        return strangers + shards  # no index names them: none is known to be TensorFlow's
    named = {f"variables.data-{i:05d}-of-{count:05d}" for i in range(count)}
    longer = data_beyond_index(index, {n: os.path.join(variables, n) for n in shards if n in named})
    return strangers + [n for n in shards if n not in named] + longer


def data_beyond_index(index: str, shards: dict[str, str]) -> list[str]:
    """The data shards (name to path) longer than the ends of the tensors ``index`` places in them, each named
    with its sizes: TensorFlow writes a shard's tensors one after another and nothing after the last, so bytes
    past it are someone's (appended text went with the next save). An index netform cannot read names all."""
    from ._tensor_bundle import index_layout

    try:
        _, ends, gaps, slack = index_layout(index)
    except Exception:  # malformed or unreadable: no shard is known to be only what it names
        return [f"{name} (its index cannot be read)" for name in shards]
    longer = []
    for name, path in shards.items():
        found = re.search(r"data-(\d{5})-of-\d{5}$", name)
        try:
            size = os.lstat(path).st_size
        except OSError:
            continue
        shard = int(found.group(1)) if found else -1
        end = ends.get(shard, 0)
        if size > end:
            longer.append(f"{name} ({size:,} bytes, past the {end:,} its index places tensors in)")
        elif shard in gaps:
            longer.append(f"{name} (a gap from byte {gaps[shard]:,} between two of the tensors its index places there)")
    if not longer and slack is not None:  # (the index's own bytes: its footer's padding, its keys' encoding)
        longer.append(f"{os.path.basename(index)} ({slack})")
    return longer


def index_shards(index: str) -> int | None:
    """How many data shards a TensorFlow checkpoint index names (its header's ``num_shards``), or None.

    The index is a TensorFlow table: its footer (ending with the table magic)
    leads to the index block, whose first entry leads to the first data
    block, whose first entry (the empty key) is the ``BundleHeaderProto``.
    Only the blocks on that path are parsed, from a size-bounded read; a
    block in any other form (compressed, truncated) gives None.
    """
    from tensorflow.core.protobuf import tensor_bundle_pb2

    from ._detect import _varint
    from ._meta import read_bounded

    try:
        data = read_bounded(index, _MAX_SIDE_FILE_BYTES, "the checkpoint index")
    except Exception:  # unreadable, special or oversized: not an index netform can vouch for
        return None
    if len(data) < 48 or data[-8:] != TABLE_MAGIC:
        return None
    footer = data[-48:-8]
    handle: list[int] = []
    pos = 0
    for _ in range(4):  # metaindex handle, index handle: (offset, size) varints
        value, pos = _varint(footer, pos)
        if value is None:
            return None
        handle.append(value)

    def block(offset: int, size: int) -> bytes | None:
        if offset + size + 5 > len(data) - 48 or data[offset + size] != 0:  # 0: stored uncompressed
            return None
        return data[offset : offset + size]

    def first_entry(raw: bytes | None) -> tuple[bytes, bytes] | None:
        if raw is None:
            return None
        shared, at = _varint(raw, 0)
        unshared, at = _varint(raw, at)
        length, at = _varint(raw, at)
        if shared != 0 or unshared is None or length is None or at + unshared + length > len(raw):
            return None
        return raw[at : at + unshared], raw[at + unshared : at + unshared + length]

    index_entry = first_entry(block(handle[2], handle[3]))
    if index_entry is None:
        return None
    offset, at = _varint(index_entry[1], 0)
    size, _ = _varint(index_entry[1], at)
    header = first_entry(block(offset, size)) if offset is not None and size is not None else None
    if header is None or header[0] != b"":
        return None
    proto = tensor_bundle_pb2.BundleHeaderProto()
    try:
        proto.ParseFromString(header[1])
    except Exception:  # protobuf's DecodeError
        return None
    return proto.num_shards if 0 < proto.num_shards < 100_000 else None


def _files_under(directory: str) -> list[str]:
    """Every entry below ``directory`` (files, links, special files), as relative paths; empty folders too,
    with a trailing ``/`` (a folder's name alone can hold someone's text)."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        rel = os.path.relpath(root, directory)
        prefix = "" if rel == "." else rel + "/"
        found += [prefix + f for f in files]
        found += [prefix + d for d in dirs if os.path.islink(os.path.join(root, d))]
        if not dirs and not files and prefix:
            found.append(prefix)
    return sorted(found)


#: The most entries of a folder looked at for a user's extended attributes.
_MAX_ATTRIBUTED_WALK = 100_000


def _with_attributes(folder: str) -> list[str]:
    """The entries below ``folder`` (not the folder itself, whose attributes the save keeps) carrying extended
    attributes of the ``user`` namespace: no saver writes any, so they are a user's notes on a file that the
    replacing save would delete with its old copy."""
    from netform._files import user_attributes

    found: list[str] = []
    seen = 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            seen += 1
            if seen > _MAX_ATTRIBUTED_WALK:
                return found
            full = os.path.join(root, name)
            if user_attributes(full):
                found.append(f"{os.path.relpath(full, folder).replace(os.sep, '/')} (its extended attributes)")
    return found


def _asset_strangers(path: str) -> list[str]:
    """Files in ``assets/`` the graph does not name, and files in ``assets.extra/`` netform did not write.

    TensorFlow puts in ``assets/`` exactly the files its graph lists (``asset_file_def``);
    nothing but netform writes ``assets.extra/`` (its archive and metadata). A
    file a user put there is theirs: replacing the directory would delete it. So
    is one under netform's names that is not what netform writes there
    (:func:`_extra_file_problem`): a text file named ``netform.keras``, a
    ``netform.json`` of a user's notes.
    """
    from ._savedmodel import ARCHIVE, EXTRA_DIR, META  # avoids an import cycle

    strangers: list[str] = []
    extra = os.path.join(path, EXTRA_DIR)
    if os.path.isdir(extra) and not os.path.islink(extra):
        for name in _files_under(extra):
            if name not in (ARCHIVE, META):
                strangers.append(f"{EXTRA_DIR}/{name}")
                continue
            problem = _extra_file_problem(os.path.join(extra, name), name == ARCHIVE)
            if problem is not None:
                strangers.append(f"{EXTRA_DIR}/{name} ({problem})")
    assets = os.path.join(path, "assets")
    if os.path.isdir(assets) and not os.path.islink(assets):
        held = _files_under(assets)
        if held:
            named = _graph_assets(path)
            strangers += [
                f"assets/{n}"
                for n in held
                if n not in named
                or not os.path.isfile(os.path.join(assets, n))
                or os.path.islink(os.path.join(assets, n))
            ]
    return strangers


#: The keys of a SavedModel's ``assets.extra/netform.json`` as every netform version wrote it
#: (:func:`netform.saving._meta.metadata`, then the digests of :mod:`._savedmodel`).
_SAVEDMODEL_META_KEYS = frozenset(
    {
        "netform_version",
        "keras_version",
        "format",
        "saved_at",
        "model_class",
        "model_name",
        "sha256",
        "sha256_netform",
        "sizes",
    }
)


def _extra_file_problem(full: str, archive: bool) -> str | None:
    """Why ``assets.extra/netform.keras`` (``archive``) or ``netform.json`` is not what netform writes there.

    netform's copy of the model is a ``.keras`` archive that the ``.keras`` replace check accepts
    (:func:`_keras_strangers`); its metadata a JSON object of netform's keys (:data:`_SAVEDMODEL_META_KEYS`),
    ``netform_version`` among them. A link, a folder, or anything else under those names is a user's.
    """
    from ._meta import MAX_METADATA_BYTES, json_object, read_bounded

    if os.path.islink(full) or not os.path.isfile(full):
        return "not a regular file"
    if archive:
        try:
            with open(full, "rb") as fh:
                head = fh.read(4)
            strangers = _keras_strangers(full) if head in _ZIP_HEADS else None
        except (OSError, NetformError):  # unreadable or refused as a zip: not netform's copy
            strangers = None
        if strangers is None:
            return f"{describe_content(full)}, not the .keras archive netform writes there"
        if strangers:
            return f"a zip holding files a .keras archive does not: {_foreign(strangers)}"
        return None
    try:
        raw = read_bounded(full, MAX_METADATA_BYTES, "netform.json", error=SaveError)
        value = json_object(raw, full, "netform.json")
        as_written(raw)
    except (OSError, NetformError, ValueError):  # unreadable, oversized, not a JSON object or not in its form
        value = None
    if value is None or not set(value) <= _SAVEDMODEL_META_KEYS or "netform_version" not in value:
        return "not the JSON object of netform's metadata netform writes there"
    return None


def _graph_assets(path: str) -> set[str]:
    """The asset file names the SavedModel's graph lists (none when it cannot be read)."""
    from ._savedmodel import read_graph

    try:
        proto = read_graph(path)
    except Exception:  # any unreadable graph (netform, OS or protobuf error) names nothing
        return set()  # an unreadable graph names nothing: every asset file counts as the user's
    return {d.filename for meta in proto.meta_graphs for d in meta.asset_file_def}


def is_savedmodel_dir(path: str) -> bool:
    """Whether ``path`` is a SavedModel directory holding nothing but SavedModel entries."""
    if os.path.islink(path) or not os.path.isdir(path):
        return False
    names = os.listdir(path)
    return "saved_model.pb" in names and not _savedmodel_strangers(path)


def _check_savedmodel(path: str, where: str) -> None:
    if os.path.islink(path):
        raise _refuse(where, f"is a symbolic link to {os.readlink(path)}", "a SavedModel directory")
    if not os.path.isdir(path):
        if not os.path.lexists(path):
            return  # gone since it was seen (another save's swap between its renames): nothing to check
        raise _refuse(where, f"is a file ({describe_content(path)})", "a SavedModel directory")
    names = os.listdir(path)
    if not names:
        return
    strangers = _savedmodel_strangers(path)
    if strangers:
        raise _refuse(
            where,
            f"is a directory holding files a SavedModel does not: {_foreign(strangers)}",
            "a SavedModel directory",
        )
    if "saved_model.pb" not in names:
        raise _refuse(
            where, f"is a directory without saved_model.pb (it holds {_foreign(names)})", "a SavedModel directory"
        )


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
    """Refuse anything at ``path`` but an earlier ``.onnx`` or ``.tflite`` export (by content)."""
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
            raise _empty(path, expected)
        with open(path, "rb") as fh:
            head = fh.read(DEPLOY_HEAD_BYTES)
    except OSError as err:
        raise SaveError(
            f"{path}: cannot read what is there ({err.strerror or err}), so it is not replaced. {_FIX}"
        ) from err
    if fmt == "onnx":
        # The first bytes decide nothing: a protobuf parser reads almost anything as a ModelProto.
        problem, savedmodel = _mapped(path, _onnx_file_problem)
        if problem is not None:
            found = "a TensorFlow SavedModel graph (saved_model.pb)" if savedmodel else describe_content(path)
            raise _refuse(path, f"is {found}, whose layout is no ONNX model's ({problem})", expected)
        return
    if deploy_kind(head, os.path.getsize(path)) != fmt:
        raise _refuse(path, f"is {describe_content(path)}", expected)
    problem = _mapped(path, _tflite_file_problem)[0]
    if problem is not None:
        raise _refuse(path, f"carries the TFLite identifier but is no TFLite model ({problem})", expected)


def _tflite_file_problem(mapped: Any) -> tuple[str | None, bool]:
    from ._tflite import tflite_problem

    return tflite_problem(mapped), False


def _onnx_file_problem(mapped: Any) -> tuple[str | None, bool]:
    from ._onnx_layout import onnx_problem, savedmodel_graph

    problem = onnx_problem(mapped)
    return problem, problem is not None and savedmodel_graph(mapped)


def _mapped(path: str, check: Any) -> tuple[str | None, bool]:
    """``check`` of the file at ``path``, mapped (never read whole): (what keeps it from being a model, extra)."""
    import mmap

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            result: tuple[str | None, bool] = check(mapped)
            return result
    except (OSError, ValueError) as err:
        return f"it cannot be read ({err})", False


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
            raise _empty(path, expected)
        head = _head(path)
    except OSError as err:
        raise SaveError(
            f"{path}: cannot read what is there ({err.strerror or err}), so it is not replaced. {_FIX}"
        ) from err
    if fmt == "keras" and head.startswith(_ZIP_HEADS):
        strangers = _keras_strangers(path)
        if not strangers:
            return
        raise _refuse(
            path, f"is a zip archive holding files a .keras archive does not: {_foreign(strangers)}", expected
        )
    if fmt != "keras" and head == HDF5_SIGNATURE:
        other = _not_keras_hdf5(path)
        if other is not None:
            raise _refuse(path, other, "a Keras HDF5 file")
        _check_hdf5_kind(path, fmt)
        return
    raise _refuse(path, f"is {describe_content(path)}", expected)


#: What each HDF5 format holds, for messages.
_H5_KINDS = {
    "h5": "a full model (its architecture and weights: format 'h5')",
    "weights_h5": "weights only, in Keras 3's layout (format 'weights_h5', as in a .weights.h5 file)",
    "legacy_h5_weights": "weights only, in the legacy Keras HDF5 layout (format 'legacy_h5_weights')",
}


def _check_hdf5_kind(path: str, fmt: str) -> None:
    """Refuse an HDF5 file of another kind than ``fmt`` writes: a full model, Keras 3 weights, legacy weights.

    The three share the container, so the layout check alone lets one
    replace another: a weights-only save over a full-model ``.h5`` would
    drop its architecture (and the reverse a ``.weights.h5`` someone loads
    by its layout). The kind is read as :func:`netform.load` reads it; an
    empty HDF5 file holds nothing to lose.
    """
    import h5py

    from ._detect import _hdf5_kind  # the very rule loading uses
    from ._h5_attrs import check_btrees_path, raw_reader
    from ._safety import zip_tail

    try:
        with open(path, "rb") as fh:
            also_zip = zip_tail(raw_reader(None, fh.fileno()), os.fstat(fh.fileno()).st_size)
    except Exception:  # an unreadable tail: the checks below read the file again
        also_zip = False
    if also_zip:  # the readers refuse it (one file, two models): it is no earlier save
        raise SaveError(
            f"{path}: holds an HDF5 file that is also a zip archive (two models in one file, which every reader "
            "refuses and no save writes), so it is no earlier save and is left as it is. Save to another path, "
            "or delete the file yourself first if it is no longer needed."
        )
    try:
        check_btrees_path(path)  # before h5py lists a group: a B-tree that loops crashes libhdf5
        with h5py.File(path, "r") as f:
            if not f.attrs.keys() and not f.keys():
                return
        kind: str | None = _hdf5_kind(path)
    except Exception:  # a file whose kind cannot be told is no earlier save of this format
        kind = None
    if kind == fmt:
        return
    found = _H5_KINDS.get(kind or "", "an HDF5 file netform cannot tell as a full model or as weights")
    keep = f", or save in its format (format='{kind}')" if kind in _H5_KINDS else ""
    raise SaveError(
        f"{path}: holds {found}, and this save writes {_H5_KINDS[fmt]}; a save replaces only an earlier "
        f"save of the same format, so it is left as it is. Save to another path{keep}, or delete the file "
        "yourself first if it is no longer needed."
    )


#: Root attributes and groups of the HDF5 files Keras and netform write (models, weights, legacy weights).
_H5_ATTRS = ("model_config", "keras_version", "backend", "layer_names", "netform_format", "netform_metadata")
_H5_GROUPS = frozenset({"model_weights", "optimizer_weights", "layers", "vars", "optimizer"})


def _not_keras_hdf5(path: str, config: dict[str, Any] | None = None) -> str | None:
    """What an HDF5 file holds when it is not one Keras or netform wrote (None when it is, or is empty).

    Only names, attribute names and data types are read: Keras keeps every
    array as a number dataset inside a layer's group (``vars/0`` in Keras 3's
    layout, a name listed in the group's ``weight_names`` in the legacy one),
    and nothing else at the root. Anything beyond that is someone's data.
    """
    import h5py

    from ._h5_attrs import check_btrees_path

    try:
        check_btrees_path(path)  # before h5py lists a group: a B-tree that loops crashes libhdf5
        with h5py.File(path, "r") as f, open(path, "rb") as raw:
            return _hdf5_layout_problem(f, raw, config)
    except Exception as err:  # any HDF5 the library cannot open is not a save of ours
        return f"is an HDF5 file netform cannot open ({str(err)[:80]})"


#: Attributes Keras writes on an HDF5 group below the root: Keras 3's ``vars`` groups (``name``),
#: the legacy layout's ``model_weights`` (``layer_names``, ``backend``, ``keras_version``) and layer
#: and optimizer groups (``weight_names``); long name lists are split into numbered chunks.
_H5_GROUP_ATTRS = re.compile(r"name|weight_names\d*|layer_names\d*|backend|keras_version")


def _hdf5_layout_problem(f: Any, raw: Any, config: dict[str, Any] | None = None) -> str | None:
    """:func:`_not_keras_hdf5` on an open ``h5py.File`` whose bytes ``raw`` (a binary file) holds.

    Beyond names: no user block with content (Keras and h5py write none),
    no attribute Keras does not write (on a dataset only ``dtype:
    bfloat16``), and no layer whose stored values exceed what the model
    config declares for it (``config``, or the file's own ``model_config``).
    """

    attrs, members = list(f.attrs.keys()), list(f.keys())
    block = int(f.userblock_size or 0)
    if block:
        raw.seek(0)
        if raw.read(block).strip(b"\0"):
            return f"is an HDF5 file with {block} bytes of someone's data before it (a user block)"
    tail = _bytes_after_end(raw, block)
    if tail:
        return f"is an HDF5 file with {tail:,} bytes of someone's data after its end"
    if not attrs and not members:
        return None
    if not (any(a.startswith(_H5_ATTRS) for a in attrs) or _H5_GROUPS.intersection(members)):
        return f"is an HDF5 file holding no Keras model or weights (its root holds {_foreign(members + attrs)})"
    strangers = [f"@{a}" for a in attrs if not a.startswith(_H5_ROOT_ATTRS)]
    if "model_config" in attrs or "model_weights" in members:
        strangers += [m for m in members if m not in ("model_weights", "optimizer_weights")]
    datasets: list[tuple[str, Any]] = []
    groups: list[tuple[str, Any]] = []
    strangers += _walk_links(f, datasets, groups)
    legacy = "model_weights" in members or any(a.startswith("layer_names") for a in attrs)
    for name, obj in groups:  # Keras makes a group for a layer's variables (``…/vars``) as it writes into it
        if not len(obj) and not (name.rpartition("/")[2] == "vars" or (legacy and "weight_names" in obj.attrs)):
            strangers.append(f"{name} (an empty group)")
    for name, obj in datasets:
        raw2 = obj.dtype.kind == "V" and obj.dtype.itemsize == 2 and obj.dtype.names is None
        # Keras 3 stores bfloat16 as 2 raw bytes marked so; its legacy .h5 writer stores them unmarked
        bfloat16 = raw2 and (legacy or _attr_text(obj.attrs.get("dtype")) == "bfloat16")
        if obj.dtype.kind not in "biufc" and not bfloat16:
            strangers.append(f"{name} ({obj.dtype})")
        elif not _keras_dataset(f, name):
            strangers.append(name)
        else:
            strangers += _storage_problem(name, obj)
        for key, value in obj.attrs.items():
            if key != "dtype" or _attr_text(value) != "bfloat16":
                strangers.append(f"{name}@{key}")
    strangers += [f"{name}@{key}" for name, obj in groups for key in obj.attrs if not _H5_GROUP_ATTRS.fullmatch(key)]
    strangers += _attribute_values(f, groups)
    if not strangers:
        strangers += _layer_excess(f, config)
    if not strangers:  # (what an edit in place leaves: a file netform wrote says what changed first)
        changed = _changed_since_netform(f, raw)
        if changed is not None:
            return changed
        strangers += _heap_problem(f, raw, [("", f), *groups, *datasets])
    if strangers:
        return f"is an HDF5 file holding data Keras never writes ({_foreign(strangers)})"
    return None


def _heap_problem(f: Any, raw: Any, objects: list[tuple[str, Any]]) -> list[str]:
    """What an HDF5 file's structures hold where no reader reads: its global heaps beyond the strings of its
    attributes (:func:`~netform.saving._h5_attrs.heap_strangers`: a heap object none reads, text in a heap's
    free space), and its object headers, group nodes and local heaps beyond their fields
    (:func:`~netform.saving._h5_slack.structure_slack`: an empty message's body, padding, unused slots). Each
    loads as before, and replacing the file would delete it."""
    from ._h5_attrs import heap_references, heap_strangers, raw_reader
    from ._h5_slack import structure_slack

    read = raw_reader(f, raw if isinstance(raw, io.BytesIO) else raw.fileno())
    references = []
    for name, obj in objects:
        found = heap_references(f, obj.id, read)
        if found is None:
            return [f"{name or '/'} (attributes kept where HDF5's default writer never keeps them)"]
        references += found
    raw.seek(0, os.SEEK_END)
    size = raw.tell()
    collections = {collection for _name, collection, _index, _length in references}
    return heap_strangers(read, references, size) + structure_slack(read, size, collections)


def _changed_since_netform(f: Any, raw: Any) -> str | None:
    """What changed in an HDF5 file netform wrote since it wrote it (None when nothing, or a file without
    netform's checksums: Keras's, or netform's before them).

    netform's ``.h5`` records a CRC-32 of every dataset and of its config attributes: a value edited in place
    (text put into ``training_config``, a kernel rewritten in another type, a weight changed), or a dataset
    added, is someone's edit, which replacing the file would lose.
    """
    from ._h5 import ATTR_CHECKSUMS, _dataset_ids, verify_checksums

    if "netform_checksums" not in f.attrs and ATTR_CHECKSUMS not in f.attrs:
        return None
    try:
        sums = json.loads(_attr_text(f.attrs.get("netform_checksums")) or "{}")
        added = sorted(set(_dataset_ids(f)) - set(sums)) if isinstance(sums, dict) else ["its checksums"]
        if added:
            return f"is an HDF5 file netform wrote, with data added since ({_foreign(added)})"
        source = raw if isinstance(raw, io.BytesIO) else raw.fileno()
        verify_checksums(f, "the file", source=source)
    except Exception as err:  # a checksum that fails, or none that can be read: the file changed
        why = str(err).removeprefix("the file: ").split(";")[0][:160]
        return f"is an HDF5 file netform wrote whose content changed since ({why})"
    return None


#: The most HDF5 links looked at in a file before it is taken as someone's (a model of 10,000 layers has ~40,000).
_MAX_H5_LINKS = 1_000_000


#: What Keras writes as a version (``3.15.1``, ``2.13.1``, ``3.16.0.dev2026``) and as a backend.
_VERSION_TEXT = re.compile(r"\d{1,4}(?:\.\d{1,9}){1,3}(?:[.+-]?[0-9A-Za-z]{1,40}){0,3}")
_BACKENDS = frozenset({"tensorflow", "jax", "torch", "numpy", "openvino", "theano", "cntk"})
#: The longest name Keras gives a group (a layer's or optimizer's name; netform bounds layer names at 1,024).
_MAX_GROUP_NAME = 1_024


def _attribute_values(f: Any, groups: list[tuple[str, Any]]) -> list[str]:
    """Attributes Keras writes that hold what Keras never puts there: a version or backend that is not one, a
    name longer than any layer's, a name list naming what its group does not hold. (Text put into Keras's
    own attributes went with the next save.)"""
    from ._h5 import ATTR_CHECKSUMS, CONFIG_ATTRIBUTES

    json_attrs = (*CONFIG_ATTRIBUTES, "netform_checksums", ATTR_CHECKSUMS)  # the root attributes holding JSON
    strangers: list[str] = []
    for name, obj in [("", f), *groups]:
        where = f"{name}@" if name else "@"
        for key in obj.attrs:
            value = _attr_text(obj.attrs[key]) if key in ("keras_version", "backend", "name") else None
            if key == "keras_version" and (value is None or not _VERSION_TEXT.fullmatch(value)):
                strangers.append(f"{where}{key} (not a version)")
            elif key == "backend" and value not in _BACKENDS:
                strangers.append(f"{where}{key} (not a Keras backend)")
            elif key == "name" and name and (value is None or len(value) > _MAX_GROUP_NAME or not value.isprintable()):
                strangers.append(f"{where}{key} (not a name Keras gives)")
            elif key in json_attrs and not name:
                try:
                    as_written(_attr_text(obj.attrs[key]) or "")
                except (ValueError, RecursionError):  # a key written twice is a ValueError too
                    strangers.append(f"{where}{key} (not the JSON Keras writes there: each key once, in its form)")
            elif re.fullmatch(r"(weight|layer)_names\d*", key):
                listed = obj.attrs[key]
                try:
                    names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in listed]
                except (TypeError, UnicodeDecodeError):
                    strangers.append(f"{where}{key} (not a list of names)")
                    continue
                # layer_names: each a layer group of model_weights (or the root); weight_names: each a dataset
                # of the group, by its path below it
                missing = [n for n in names if not n or n not in obj]
                if missing:
                    strangers.append(f"{where}{key} (names {_foreign(missing)}, which the file does not hold)")
    return strangers


def _bytes_after_end(raw: Any, base: int) -> int:
    """How many bytes a file holds past the end HDF5's superblock records for it (0 when none, or unknown).

    HDF5 writes the file's end address into the superblock (at ``base``, after any user block) and
    closes a file at exactly that size; bytes appended after it are no part of the HDF5 file.
    """
    try:
        raw.seek(0, os.SEEK_END)
        size = raw.tell()
        raw.seek(base)
        head = raw.read(64)
    except (OSError, ValueError):
        return 0
    if len(head) < 24 or head[:8] != b"\x89HDF\r\n\x1a\n":
        return 0
    version, offsets = head[8], 0
    if version in (0, 1):
        offsets, start = head[13], 24 + (4 if version == 1 else 0)
        eof_at = start + 2 * offsets  # after the base and free-space addresses
    elif version in (2, 3):
        offsets, start = head[9], 12
        eof_at = start + 2 * offsets  # after the base and superblock-extension addresses
    else:
        return 0
    if offsets not in (2, 4, 8) or len(head) < eof_at + offsets:
        return 0
    end = int.from_bytes(head[eof_at : eof_at + offsets], "little")  # where the file ends (user block included)
    return max(0, size - end)


def _storage_problem(name: str, obj: Any) -> list[str]:
    """How a dataset where Keras puts a variable is stored in a way Keras's writer never stores one.

    Keras (through h5py's defaults) writes each variable whole, in one contiguous block of exactly its size.
    A chunked dataset can hold bytes beyond its visible extent (a resizable one shrunk after it was written),
    a dataset with no storage shows only its fill value, and an enumeration names its values (h5py writes
    NumPy's bool as the one enumeration FALSE/TRUE): each is a place for someone's data the values hide.
    """
    import h5py

    plist = obj.id.get_create_plist()
    if plist.get_external_count() > 0:
        return [f"{name} (its values kept in an external file, where Keras keeps them in the file)"]
    layout = plist.get_layout()
    if layout != h5py.h5d.CONTIGUOUS:
        kind = {h5py.h5d.CHUNKED: "chunks", h5py.h5d.COMPACT: "its header"}.get(layout, "another layout")
        return [f"{name} (stored in {kind}, where Keras stores a variable in one block)"]
    if obj.size and not obj.id.get_storage_size():
        return [f"{name} (no values stored, only a fill value)"]
    if plist.fill_value_defined() == h5py.h5d.FILL_VALUE_USER_DEFINED:
        # h5py (and so Keras) sets none: a value kept in the dataset's header that no reader of its values sees
        return [f"{name} (a fill value set in its header, where Keras sets none)"]
    if h5py.check_vlen_dtype(obj.dtype) is None and obj.id.get_storage_size() != obj.size * obj.dtype.itemsize:
        return [
            f"{name} (a block of {obj.id.get_storage_size():,} bytes for {obj.size * obj.dtype.itemsize:,} bytes of values)"
        ]
    enum = h5py.check_enum_dtype(obj.dtype)
    if enum is not None and enum != {"FALSE": 0, "TRUE": 1}:
        return [f"{name} (an enumeration of {len(enum)} names)"]
    if obj.dtype.kind in "biufc" and obj.id.get_type() != h5py.h5t.py_create(obj.dtype):
        # a float of 32 bits of precision in 8 bytes reads as float64 of the same values: its other bits are
        # someone's, where h5py writes each NumPy type as its one standard HDF5 type
        return [f"{name} (an HDF5 type that is not the one h5py writes for {obj.dtype}, with bits no reader reads)"]
    return []


#: The bit of HDF5's object header message types for a comment (``H5O_COMMENT_ID``, 0x000D): Keras writes none.
_COMMENT_MESSAGE = 1 << 0x000D


def _walk_links(f: Any, datasets: list[tuple[str, Any]], groups: list[tuple[str, Any]]) -> list[str]:
    """Every link below the root of ``f``, by name: datasets and groups go to the two lists, and what Keras never
    writes is returned. Keras writes each group and dataset under one hard link; a soft or external link, a
    named data type, a comment, or a second name of an object (``vars/2`` made another name of ``vars/0``) is someone's.
    ``visititems`` sees objects, not links, so none of these showed (a shard holding them was deleted)."""
    import h5py

    strangers: list[str] = []
    if h5py.h5o.get_info(f.id).hdr.mesg.present & _COMMENT_MESSAGE:
        strangers.append("/ (a comment)")
    todo: list[tuple[str, Any]] = [("", f)]
    seen = 0
    while todo:
        prefix, group = todo.pop()
        for key in group:
            seen += 1
            if seen > _MAX_H5_LINKS:
                return [*strangers, f"more than {_MAX_H5_LINKS:,} names"]
            name = f"{prefix}{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.SoftLink):
                strangers.append(f"{name} (a link to {link.path})")
                continue
            if isinstance(link, h5py.ExternalLink):
                strangers.append(f"{name} (a link into {link.filename})")
                continue
            obj = group.get(key)
            if obj is None or not isinstance(obj, (h5py.Group, h5py.Dataset)):
                strangers.append(f"{name} (a named data type)" if isinstance(obj, h5py.Datatype) else name)
                continue
            info = h5py.h5o.get_info(obj.id)
            if info.rc > 1:  # a second name of one object (or a loop): not descended into
                strangers.append(f"{name} (another name of an object)")
                continue
            if info.hdr.mesg.present & _COMMENT_MESSAGE:
                strangers.append(f"{name} (a comment)")
            if isinstance(obj, h5py.Dataset):
                datasets.append((name, obj))
            else:
                groups.append((name, obj))
                todo.append((f"{name}/", obj))
    return strangers


def _attr_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _layer_excess(f: Any, config: dict[str, Any] | None) -> list[str]:
    """Layer groups holding more values than the model config declares for that layer, or matching no layer.

    The layers of the config's top level are matched to their weight
    groups as Keras names them: ``layers/<class in snake case>[_N]`` (Keras
    3, the N-th layer of that class) or ``model_weights/<layer name>`` (the
    legacy ``.h5``, whose config is netform's ``netform_model_config`` when
    the file has one, else Keras's ``model_config``). A layer counts only where netform's static rules give
    its exact weight count (its recorded input shape); more stored values
    than that are someone's array put in a weight's place.
    """
    import h5py

    from ._config_bounds import _static_count

    for key in ("netform_model_config", "model_config"):  # netform's copy records input shapes
        if config is None and key in f.attrs:
            try:
                config = json.loads(_attr_text(f.attrs[key]) or "")
            except ValueError:
                config = None
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        return []
    layers = [layer for layer in layers if isinstance(layer, dict) and isinstance(layer.get("config"), dict)]
    pairs: list[tuple[str, dict[str, Any]]] = []
    excess: list[str] = []
    if isinstance(f.get("layers"), h5py.Group):
        for key in f["layers"]:
            match = re.fullmatch(r"(.*?)(?:_([0-9]+))?", key)
            if match is None:  # a line break: never in the snake-case class name Keras's saver gives a layer
                excess.append(f"layers/{key!r} (a name Keras never gives a layer)")
                continue
            base, nth = match.group(1), int(match.group(2) or 0)
            same = [layer for layer in layers if store_name(str(layer.get("class_name"))) == base]
            if nth < len(same):
                pairs.append((f"layers/{key}", same[nth]))
            elif layers:  # Keras names a group after a layer of the model; this one has none: someone's
                excess.append(f"layers/{key} (no layer of the model config is saved there)")
    if isinstance(f.get("model_weights"), h5py.Group):
        by_name = {layer["config"].get("name"): layer for layer in layers}
        for key in f["model_weights"]:
            if key in by_name:
                pairs.append((f"model_weights/{key}", by_name[key]))
            elif layers and key != "top_level_model_weights":  # the model's own weights, in Keras 2's layout
                excess.append(f"model_weights/{key} (no layer of the model config is named so)")
    for where, layer in pairs:
        build = layer.get("build_config")
        if not (isinstance(build, dict) and ("input_shape" in build or "shapes_dict" in build)):
            continue  # without the recorded input shape the count is only a lower bound
        counted: Any = _static_count(layer)
        declared, exact = counted if isinstance(counted, tuple) else (counted, True)
        if declared is None or not exact:
            continue
        sizes: list[int] = []
        group = f[where]
        group.visititems(lambda _n, obj: sizes.append(obj.size) if isinstance(obj, h5py.Dataset) else None)
        if sum(sizes) > declared:
            excess.append(f"{where} ({sum(sizes)} values where the config declares {declared})")
    return excess


#: Root attributes of Keras's and netform's HDF5 files.
_H5_ROOT_ATTRS = ("model_config", "training_config", "keras_version", "backend", "layer_names", "netform_")


def _keras_dataset(f: Any, name: str) -> bool:
    """Whether a dataset sits where Keras puts weights: ``…/vars/N``, or listed in its layer's weight_names."""
    parts = name.split("/")
    if len(parts) >= 2 and parts[-2] == "vars" and parts[-1].isascii() and parts[-1].isdigit():
        return True
    if len(parts) >= 2 and parts[-2] == "vars" and parts[-1] == "idf_weights":  # a tf_idf lookup's (named by Keras)
        return True
    for depth in range(len(parts) - 1, 0, -1):  # the nearest group above that lists weight_names
        group = f["/".join(parts[:depth])]
        listed = _name_list(group.attrs, "weight_names")
        if listed is not None:
            names = {n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in listed}
            return "/".join(parts[depth:]) in names
    return False


def _name_list(attrs: Any, key: str) -> list[Any] | None:
    """A name list Keras's legacy writer stores as the attribute ``key``, or, past HDF5's 64 KiB header
    message, split into ``key0``, ``key1``, ... (a layer or optimizer of a few hundred variables)."""
    if key in attrs:
        return list(attrs[key])
    if f"{key}0" not in attrs:
        return None
    names: list[Any] = []
    chunk = 0
    while f"{key}{chunk}" in attrs:
        names += list(attrs[f"{key}{chunk}"])
        chunk += 1
    return names


#: What a ``.keras`` archive holds (Keras writes the first four; netform adds its metadata).
KERAS_ENTRIES = frozenset(
    {"metadata.json", "config.json", "model.weights.h5", "model.weights.npz", "assets", "netform.json"}
)


def _keras_strangers(path: str) -> list[str]:
    """What in a zip is not what a ``.keras`` save writes (all of it when it is no readable zip).

    An earlier save holds Keras's members and netform's ``netform.json``,
    each once; under ``assets/`` only the files the archive's own layers
    write (the vocabularies of ``StringLookup``, ``IntegerLookup`` and
    ``TextVectorization``); weights laid out as Keras lays them out; and no
    byte outside its entries (no comment, nothing before, between or after
    them). Anything else is someone's data, which replacing the file would
    delete.
    """
    from ._safety import check_zip

    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            twice = sorted(f"{n} (twice)" for n, count in collections.Counter(names).items() if count > 1)
            if twice:  # named before the zip's own checks, which refuse it as a whole
                return twice
            check_zip(archive, path)
            strangers = [n for n in names if n == "assets" or not (n in KERAS_ENTRIES or n.startswith("assets/"))]
            if strangers or "config.json" not in names:
                return strangers or names or [os.path.basename(path)]  # no config.json: no Keras archive
            layout = _zip_layout_problem(fh, infos, os.fstat(fh.fileno()).st_size)
            if layout is not None:
                strangers.append(layout)
            # Names alone are not enough: a user's zip can hold a config.json of its own.
            config = _keras_config_entry(archive)
            if config is None:
                strangers.append("config.json (not what Keras writes there)")
            for name in ("metadata.json", "netform.json"):
                if name in names and not _json_entry(archive, name):
                    strangers.append(f"{name} (not what Keras writes there)")
            if "model.weights.h5" in names:
                problem = _keras_weights_problem(archive, archive.getinfo("model.weights.h5"), path, config)
                if problem is not None:
                    strangers.append(f"model.weights.h5 (not what Keras writes there: it {problem})")
            if "model.weights.npz" in names and not _npz_entry(archive):
                strangers.append("model.weights.npz (not what Keras writes there)")
            # Keras writes no folder entry: one under assets/ is named by someone (its name can hold any text)
            strangers += _asset_entry_strangers([n for n in names if n.startswith("assets/")], config)
            return strangers
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError, EOFError):
        return [os.path.basename(path)]


def _zip_layout_problem(fh: Any, infos: list[zipfile.ZipInfo], size: int) -> str | None:
    """Bytes of a zip that belong to no entry (a comment, a trailer, a prefix, a gap), or None.

    Keras and netform write the entries one after another from byte 0, then
    the central directory, then its end record, with no comment: every byte
    of the file is accounted for.
    """
    fh.seek(max(size - 22, 0))
    end = fh.read(22)
    if len(end) != 22 or end[:4] != b"PK\x05\x06":
        fh.seek(max(size - 22 - 0xFFFF, 0))
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at >= 0 and at + 22 + int.from_bytes(tail[at + 20 : at + 22], "little") == len(tail):
            return "an archive comment"
        return "bytes after the end of the archive"
    if int.from_bytes(end[20:22], "little"):
        return "an archive comment"
    disk, first, here, total = struct.unpack_from("<HHHH", end, 4)
    if disk or first or here != total:  # one archive on one disk, as Python's zipfile writes it
        return "data in the archive's end record (its disk numbers)"
    directory_size, directory_at = int.from_bytes(end[12:16], "little"), int.from_bytes(end[16:20], "little")
    directory_end = size - 22
    if 0xFFFFFFFF in (directory_size, directory_at) or end[8:10] == b"\xff\xff":  # zip64 records
        fh.seek(max(size - 42, 0))
        locator = fh.read(20)
        if locator[:4] != b"PK\x06\x07":
            return "bytes after the end of the archive"
        record_at = int.from_bytes(locator[8:16], "little")
        fh.seek(record_at)
        record = fh.read(56)
        if record[:4] != b"PK\x06\x06" or record_at + 12 + int.from_bytes(record[4:12], "little") != size - 42:
            return "bytes between the archive's end records"
        directory_size, directory_at = (
            int.from_bytes(record[40:48], "little"),
            int.from_bytes(record[48:56], "little"),
        )
        directory_end = record_at
    if directory_at + directory_size != directory_end:
        return "bytes before or inside the archive that belong to no entry"
    starts = sorted(info.header_offset for info in infos) + [directory_at]
    pos = 0
    for i, info in enumerate(sorted(infos, key=lambda x: x.header_offset)):
        if info.header_offset != pos:
            return "bytes between the archive's entries"
        fh.seek(pos)
        header = fh.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            return "bytes between the archive's entries"
        name_size, extra_size = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
        copies = _header_copies(header, info)
        if copies is not None:
            return f"data in the headers of {info.filename} ({copies})"
        fh.seek(pos + 30 + name_size)
        if not _zip64_extra(fh.read(extra_size), {0, info.file_size, info.compress_size}):
            return f"data in the local header of {info.filename} (an extra field)"
        if info.comment:
            return f"a comment on the entry {info.filename}"
        if not _file_attributes(info.external_attr):
            return f"data in the directory record of {info.filename} (its file attributes, {info.external_attr:#x})"
        if not _zip64_extra(info.extra, {info.file_size, info.compress_size, info.header_offset}):
            return f"data in the directory record of {info.filename} (an extra field)"
        pos += 30 + name_size + extra_size
        slack = _entry_slack(info)
        if slack is not None:
            return slack
        pos += info.compress_size
        if info.flag_bits & 0x08:  # a data descriptor follows: 12 or 20 bytes, maybe after its signature
            fh.seek(pos)
            signed = 4 if fh.read(4) == b"PK\x07\x08" else 0
            fits = [pos + signed + n for n in (12, 20) if pos + signed + n == starts[i + 1]]
            pos = fits[0] if fits else pos + signed + 12
    if pos != directory_at:
        return "bytes between the last entry and the archive's directory"
    return None


#: The flag bits Python's zipfile sets: a data descriptor follows (0x08), the name is UTF-8 (0x800).
_ZIP_FLAGS = frozenset({0, 0x08, 0x800, 0x808})


def _header_copies(local: bytes, info: zipfile.ZipInfo) -> str | None:
    """What of an entry's headers differs from what Python's zipfile (Keras's and netform's writer) writes, or
    None: no reader reads the local header's copies of the version, flags, method, time, CRC and sizes
    (zipfile takes the directory's), nor the directory's "made by" version, disk number and internal
    attributes, so each could hold someone's bytes."""
    version, flags, method, time, date = struct.unpack_from("<HHHHH", local, 4)
    crc, packed, size = struct.unpack_from("<III", local, 14)
    if flags not in _ZIP_FLAGS or info.flag_bits != flags or bool(flags & 0x800) == info.filename.isascii():
        return "its flag bits"  # (zipfile marks a name UTF-8 only when it is not ASCII)
    if version != info.extract_version or info.create_version != info.extract_version or info.reserved:
        return "its version fields"
    if info.create_system not in (0, 3) or info.volume or info.internal_attr:
        return "its made-by system, disk number or internal attributes"
    if method != info.compress_type or (time, date) != _dos_time(info.date_time):
        return "the local header's copy of its method or time"
    expected = (0, 0, 0) if flags & 0x08 else (info.CRC, info.compress_size, info.file_size)
    zip64 = (info.CRC, 0xFFFFFFFF, 0xFFFFFFFF)
    if (crc, packed, size) not in (expected, zip64):
        return "the local header's copy of its CRC or sizes"
    return None


def _dos_time(date_time: tuple[int, ...]) -> tuple[int, int]:
    """The MS-DOS time and date words a zip header holds for ``date_time``."""
    year, month, day, hour, minute, second = date_time[:6]
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _file_attributes(value: int) -> bool:
    """Whether a zip entry's external attributes are a file's or folder's as a zip writer records them.

    Python's ``zipfile`` (Keras's and netform's writer) records a Unix mode in the high 16 bits (``0o600`` for
    a member written by ``open``, the file's own mode for one added from disk) and MS-DOS flags in the low ones
    (a folder's bit, the archive bit). Any other bits, 32 of them an entry, are someone's bytes that no reader
    of the archive reads.
    """
    mode, dos = value >> 16, value & 0xFFFF
    return mode & 0o170000 in (0, 0o100000, 0o040000) and dos & ~0x30 == 0


def _entry_slack(info: zipfile.ZipInfo) -> str | None:
    """Bytes inside a zip entry's recorded data that its reader never reads, or None.

    A stored entry is exactly its file's bytes. A stored entry recorded longer than its file hides the rest
    from every reader (the CRC covers only what is read); Keras and netform store every entry, and a
    compressed one can hide bytes in its encoding: a deflate stream followed by more bytes, or led by empty
    blocks whose padding bits are someone's (5 bits a block, without end), or coded otherwise than any writer
    codes its data; an archive holding one is someone's.
    """
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            return f"bytes inside the entry {info.filename} past its file (recorded longer than what it holds)"
        return None
    if info.compress_type != zipfile.ZIP_DEFLATED:
        return f"the entry {info.filename} compressed in a way Keras's writer never uses"
    return (
        f"the entry {info.filename} compressed, where Keras and netform store every entry (a compressed entry "
        "can hold bytes no reader reads in its encoding)"
    )


def _zip64_extra(extra: bytes, values: set[int]) -> bool:
    """Whether a zip entry's extra field is empty or only zip64 records, as Python's zipfile writes them.

    Keras, NumPy and netform write entries with Python's zipfile, whose only
    extra field is the zip64 record (id 1): up to three 8-byte sizes or
    offsets of that very entry and a 4-byte disk number 0. Any other record,
    or one holding other values, carries someone's bytes.
    """
    pos = 0
    while pos < len(extra):
        if pos + 4 > len(extra):
            return False
        kind, size = int.from_bytes(extra[pos : pos + 2], "little"), int.from_bytes(extra[pos + 2 : pos + 4], "little")
        body = extra[pos + 4 : pos + 4 + size]
        if kind != 1 or size not in (0, 8, 16, 24, 28) or len(body) != size:
            return False
        if any(int.from_bytes(body[i : i + 8], "little") not in values for i in range(0, size - size % 8, 8)):
            return False
        if size == 28 and body[24:] != b"\0\0\0\0":
            return False
        pos += 4 + size
    return True


def _keras_config_entry(archive: zipfile.ZipFile) -> dict[str, Any] | None:
    """The archive's ``config.json`` when it is a Keras config (a JSON object with a class name), else None."""
    from ._meta import MAX_METADATA_BYTES

    if archive.getinfo("config.json").file_size > 4 * MAX_METADATA_BYTES:
        return None
    try:
        config = as_written(archive.read("config.json"))
    except (ValueError, UnicodeDecodeError, RecursionError):  # a key written twice is a ValueError too
        return None
    if not (isinstance(config, dict) and isinstance(config.get("class_name"), str)):
        return None
    return config if set(config) <= _JSON_KEYS["config.json"] else None


def _json_entry(archive: zipfile.ZipFile, name: str) -> bool:
    """Whether ``metadata.json`` or ``netform.json`` holds a JSON object of the keys Keras and netform write."""
    from ._meta import MAX_METADATA_BYTES

    if archive.getinfo(name).file_size > MAX_METADATA_BYTES:
        return False
    try:
        value = as_written(archive.read(name))
    except (ValueError, UnicodeDecodeError):  # a key twice is a ValueError too
        return False
    return isinstance(value, dict) and set(value) <= _JSON_KEYS[name]


def as_written(raw: str | bytes) -> Any:
    """JSON text decoded, where Keras or netform wrote it: each key once (:func:`_once`), and the very text
    Python's ``json.dumps`` writes for the value (compact, or indented by 4 as Keras writes a sharded index).

    Spaces, line breaks and escapes are the text's form, not its value: a run of spaces and tabs between two
    keys, or a name written with escapes, reads as the same JSON and can hold someone's bytes, which a
    save replacing the file deleted.

    Raises:
        ValueError: Not JSON, a key written twice, or another form (UnicodeDecodeError: not UTF-8).
    """
    text = bytes(raw).decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    value = json.loads(text, object_pairs_hook=_once)
    # (an index Keras wrote in text mode on Windows has its line breaks as \r\n)
    indented = json.dumps(value, indent=4)
    if text not in (json.dumps(value), indented, indented.replace("\n", "\r\n")):
        raise ValueError("JSON text in another form than Keras and netform write (spaces, line breaks, escapes)")
    return value


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each written once: Python's reader keeps the last of a key written twice,
    so the first could hold a user's text no check sees (Keras and netform write each key once)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key written twice")
    return out


#: The top-level keys each JSON member of a ``.keras`` save holds: ``config.json`` as Keras's
#: ``serialize_keras_object`` writes a model, ``metadata.json`` as Keras's saver writes it, and
#: ``netform.json`` as every netform version wrote it (:func:`netform.saving._meta.metadata` plus
#: ``keras_classes``). Any other key is someone's note, which replacing the file would delete.
_JSON_KEYS = {
    "config.json": frozenset(
        {"module", "class_name", "config", "registered_name", "build_config", "compile_config", "shared_object_id"}
    ),
    "metadata.json": frozenset({"keras_version", "date_saved"}),
    "netform.json": frozenset(
        {"netform_version", "keras_version", "format", "saved_at", "model_class", "model_name", "keras_classes"}
    ),
}


def _npz_entry(archive: zipfile.ZipFile) -> bool:
    """Whether ``model.weights.npz`` is NumPy's archive of arrays (``.npy`` members only, nothing else)."""
    try:
        with archive.open("model.weights.npz") as inner_fh:
            data = io.BytesIO(inner_fh.read(archive.getinfo("model.weights.npz").file_size))
        with zipfile.ZipFile(data) as inner:
            infos = inner.infolist()
            return (
                all(i.filename.endswith(".npy") for i in infos)
                and _zip_layout_problem(data, infos, len(data.getbuffer())) is None
            )
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, NotImplementedError, EOFError):
        return False


def _keras_weights_problem(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, config: dict[str, Any] | None = None
) -> str | None:
    """What the archive's ``model.weights.h5`` holds beyond Keras's weights (None when nothing).

    The entry is checked as every HDF5 netform reads (links, data outside
    the file, bombs: :func:`check_h5`), then held to the layout rule of a
    standalone ``.weights.h5``, each layer's values to what ``config`` declares. An entry up to 256 MiB is read into memory;
    a larger one is copied, in chunks, to an unnamed temporary file beside
    the archive, so memory stays bounded.
    """
    import h5py

    from ._h5_source import READ_WHOLE_BYTES
    from ._safety import check_h5

    inner = f"{where} (model.weights.h5)"
    try:
        if info.file_size <= READ_WHOLE_BYTES:
            image = io.BytesIO(archive.read(info))
            with h5py.File(image, "r") as f:
                check_h5(f, inner, file_size=info.file_size, raw=image)
                return _hdf5_layout_problem(f, image, config)
        with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(where))) as copy:
            with archive.open(info) as entry:
                shutil.copyfileobj(entry, copy, 2**20)
            copy.flush()
            with h5py.File(copy, "r") as f:
                check_h5(f, inner, file_size=info.file_size, raw=copy.fileno())
                return _hdf5_layout_problem(f, copy, config)
    except NetformError as err:
        return f"is refused as HDF5 ({str(err)[:120]})"
    except Exception as err:  # any HDF5 the library cannot open is not a save of ours
        return f"is no HDF5 file netform can open ({str(err)[:80]})"


#: Keras layers that write files under ``assets/`` (``save_assets``), by the snake-case name Keras's
#: saver gives their folder: each writes ``vocabulary.txt`` (TextVectorization also its lookup's).
_ASSET_WRITERS = {
    "StringLookup": "string_lookup",
    "IntegerLookup": "integer_lookup",
    "TextVectorization": "text_vectorization",
}


def _class_names(node: Any, found: set[str]) -> set[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("class_name"), str):
                found.add(item["class_name"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _snake_case(name: str) -> str:
    """A class name as Keras's saver names its object's folder (``StringLookup`` -> ``string_lookup``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


#: Keras's wrappers, by the attribute that holds each layer they wrap (the folder its assets go under).
_WRAPPED = {"TimeDistributed": (("layer", "layer"),), "Bidirectional": (("forward_layer", "layer"),)}


def _expected_assets(config: dict[str, Any] | None) -> set[str] | None:
    """The vocabularies Keras's saver writes for a Functional or Sequential model's config, by their names in
    the archive, or None where the model holds what this walk does not follow (a subclassed model, a layer of
    someone's that holds others).

    The saver names each layer of a model's ``layers`` after its class in snake case, numbered from the
    second of that name (``string_lookup``, ``string_lookup_1``), and each layer a wrapper holds after its
    attribute (``time_distributed/layer``); a lookup writes ``vocabulary.txt`` only when its vocabulary is not
    in its config (adapted), a ``TextVectorization`` also under its ``_lookup_layer``.
    """
    found: set[str] = set()

    def model(node: Any, prefix: str) -> bool:
        layers = node.get("config", {}).get("layers") if isinstance(node.get("config"), dict) else None
        if not isinstance(layers, list):
            return False
        counts: dict[str, int] = {}
        for child in layers:
            if not isinstance(child, dict) or not isinstance(child.get("class_name"), str):
                return False
            name = _snake_case(child["class_name"])
            seen = counts.get(name)
            counts[name] = 0 if seen is None else seen + 1
            if not layer(child, f"{prefix}/layers/{name if seen is None else f'{name}_{seen + 1}'}"):
                return False
        return True

    def layer(node: dict[str, Any], path: str) -> bool:
        kind, inner = node["class_name"], node.get("config")
        if not isinstance(inner, dict):
            return True
        if kind in _ASSET_WRITERS:
            if inner.get("vocabulary") is None:
                found.add(f"{path}/vocabulary.txt")
                if kind == "TextVectorization":
                    found.add(f"{path}/_lookup_layer/vocabulary.txt")
            return True
        if kind in ("Functional", "Sequential"):
            return model(node, path)
        if kind in _WRAPPED:
            for attribute, key in _WRAPPED[kind]:
                held = inner.get(key)
                if isinstance(held, dict) and isinstance(held.get("class_name"), str):
                    if not layer(held, f"{path}/{attribute}"):
                        return False
            return kind != "Bidirectional" or not _class_names(inner, set()) & set(_ASSET_WRITERS)
        # any other layer holding layers (a config naming a lookup below it) is not followed
        return not (_class_names(inner, set()) & set(_ASSET_WRITERS))

    if not isinstance(config, dict) or config.get("class_name") not in ("Functional", "Sequential"):
        return None
    return found if model(config, "assets") else None


def _asset_entry_strangers(assets: list[str], config: dict[str, Any] | None) -> list[str]:
    """Members under ``assets/`` that the archive's layers do not write.

    Keras's saver gives each layer an ``assets/`` folder named after its
    place in the model: the list of layers that holds it (``layers``, or a
    netform subclassed model's ``node_layers``), then its class's name in
    snake case, numbered from its second (``assets/layers/string_lookup_1/``),
    nested models the same way (``assets/layers/sequential/layers/string_lookup/``);
    among Keras's own layers only the lookups write there, one
    ``vocabulary.txt`` each (a ``TextVectorization`` also its
    ``_lookup_layer``'s). A file of any other name or place (a folder named
    with someone's text), an empty folder, or a vocabulary where the config
    has no lookup layer, is someone's.
    """
    classes = _class_names(config, set()) if config else set()
    writers = {_ASSET_WRITERS[c] for c in classes if c in _ASSET_WRITERS}
    if not writers:
        return list(assets)
    expected = _expected_assets(config)
    if expected is not None:  # the model's layers as Keras's saver walks them: each vocabulary it writes, named
        return [n for n in assets if n not in expected]
    holders = "|".join(sorted(re.escape(_snake_case(c)) for c in classes if _snake_case(c)))
    pattern = re.compile(
        rf"assets/(?:(?:layers|node_layers)/(?:{holders})(?:_\d+)?/)*(?:layers|node_layers)/"
        rf"(?:{'|'.join(sorted(writers))})(?:_\d+)?/(?:_lookup_layer/)?vocabulary\.txt"
    )
    return [n for n in assets if not pattern.fullmatch(n)]


def _check_keras_dir(path: str) -> None:
    """Refuse anything but a directory in Keras's unzipped ``.keras`` form (or an empty one)."""
    expected = "a Keras model directory (save_model(..., zipped=False))"
    if os.path.islink(path):
        raise _refuse(path, f"is a symbolic link to {os.readlink(path)}", expected)
    if not os.path.isdir(path):
        if not os.path.lexists(path):
            return  # gone since it was seen (another save's swap between its renames): nothing to check
        raise _refuse(path, f"is a file ({describe_content(path)})", expected)
    names = os.listdir(path)
    if not names:
        return
    strangers = [n for n in names if n not in KERAS_ENTRIES]
    strangers += [
        n
        for n in names
        if n in KERAS_ENTRIES
        and n != "assets"
        and (os.path.islink(os.path.join(path, n)) or not os.path.isfile(os.path.join(path, n)))
    ]
    assets = os.path.join(path, "assets")
    if os.path.islink(assets) or (os.path.lexists(assets) and not os.path.isdir(assets)):
        strangers.append("assets")
    if not strangers and "config.json" in names:
        strangers = _keras_dir_contents(path) + _with_attributes(path)
    if strangers:
        raise _refuse(
            path, f"is a directory holding files a Keras model directory does not: {_foreign(strangers)}", expected
        )
    if "config.json" not in names:
        raise _refuse(path, f"is a directory without config.json (it holds {_foreign(names)})", expected)


def _keras_dir_contents(path: str) -> list[str]:
    """The files of an unzipped ``.keras`` directory that are not what the save wrote (as for the archive)."""
    from ._meta import MAX_METADATA_BYTES, read_bounded

    strangers: list[str] = []
    config: dict[str, Any] | None = None
    for name in ("config.json", "metadata.json", "netform.json"):
        full = os.path.join(path, name)
        if not os.path.lexists(full):
            continue
        try:
            value = as_written(read_bounded(full, 4 * MAX_METADATA_BYTES, name))
        except Exception:  # unreadable, not JSON or a key written twice: not what Keras writes
            value = None
        if (
            not isinstance(value, dict)
            or (name == "config.json" and not isinstance(value.get("class_name"), str))
            or not set(value) <= _JSON_KEYS[name]
        ):
            strangers.append(f"{name} (not what Keras writes there)")
        elif name == "config.json":
            config = value
    weights = os.path.join(path, "model.weights.h5")
    if os.path.lexists(weights):
        problem = _not_keras_hdf5(weights, config)
        if problem is not None:
            strangers.append(f"model.weights.h5 (not what Keras writes there: it {problem})")
    assets = os.path.join(path, "assets")
    if os.path.isdir(assets) and not os.path.islink(assets):
        held = [f"assets/{n}" for n in _files_under(assets)]
        strangers += _asset_entry_strangers(held, config)
        strangers += [
            n
            for n in held
            if n not in strangers
            and (os.path.islink(os.path.join(path, n)) or not os.path.isfile(os.path.join(path, n)))
        ]
    return strangers


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
    keys = (
        "model_checkpoint_path:",
        "all_model_checkpoint_paths:",
        "all_model_checkpoint_timestamps:",
        "last_preserved_timestamp:",
    )
    return bool(lines) and all(line.startswith(keys) for line in lines)


def _variables_checkpoint(prefix: str, holder: str) -> SaveError:
    """The refusal of a TF checkpoint at a SavedModel's own variables prefix (``holder/variables/variables``)."""
    # A SavedModel keeps its variables as a TF checkpoint under this very prefix, laid out by its
    # own object graph: a model's checkpoint there would replace them, and the SavedModel would break.
    return SaveError(
        f"{prefix}: is the variables checkpoint of the SavedModel {holder}, not a TF checkpoint of a "
        "model's weights (format 'tf_checkpoint'); saving there would replace the SavedModel's variables, "
        "so nothing is written. Save the checkpoint under another prefix, or save the whole model to "
        f"{holder} with format='savedmodel'."
    )


def _check_checkpoint(prefix: str) -> None:
    from netform._files import swap_turn

    # another save's publish of this prefix renames its plain files: the check waits for it (milliseconds)
    with swap_turn(os.path.abspath(prefix)):
        _check_checkpoint_files(prefix)


def edited_state(directory: str, base: str) -> str | None:
    """How the folder's ``checkpoint`` state file names checkpoint ``base`` in words TensorFlow does not write,
    or None (no such file, one written as TensorFlow writes it, or a file that names no set of ``base``).

    TensorFlow writes the state file as protobuf's text format prints it (``text_format.MessageToString``), and
    so does netform. Its parser also takes comments, blank lines, other spacing and a field repeated: such a
    file, naming this prefix's sets, is read by ``tf.train.latest_checkpoint``, but a save can neither rewrite
    it without dropping those lines (someone's) nor leave it naming a set the save then deletes (TensorFlow
    read old weights, then found no checkpoint).
    """
    from google.protobuf import text_format

    from ._checkpoint import SET_MARK, in_folder
    from ._detect import _state_message

    state = os.path.join(directory, "checkpoint")
    try:
        if os.path.islink(state) or not os.path.isfile(state) or os.path.getsize(state) > 1 << 20:
            return None
        with open(state, "rb") as fh:
            raw = fh.read(1 << 20)
        message = _state_message()()
        text_format.Merge(raw.decode("utf-8"), message)
    except (OSError, UnicodeError, ValueError, text_format.ParseError):
        return None  # not a state file TensorFlow reads: a user's file of that name, kept and not rewritten
    paths = [in_folder(p, directory) for p in (message.model_checkpoint_path, *message.all_model_checkpoint_paths)]
    if not any(p == base or p.startswith(base + SET_MARK) for p in paths):
        return None
    if raw == text_format.MessageToString(message).encode():
        return None
    return (
        "is a TensorFlow checkpoint state file naming this checkpoint, with text TensorFlow does not write there "
        "(a comment, a blank line, other spacing or a line repeated); a save would drop that text, or leave the "
        "file naming a set the save deletes"
    )


def _check_checkpoint_files(prefix: str) -> None:
    directory, base = os.path.split(os.path.abspath(prefix))
    holder = os.path.dirname(directory)
    if (base, os.path.basename(directory)) == ("variables", "variables") and any(
        os.path.lexists(os.path.join(holder, graph)) for graph in ("saved_model.pb", "saved_model.pbtxt")
    ):
        raise _variables_checkpoint(prefix, holder)
    if not os.path.isdir(directory):
        return
    edited = edited_state(directory, base)
    if edited is not None:
        raise _refuse(os.path.join(directory, "checkpoint"), edited, "a TF checkpoint state file")
    from netform._files import user_attributes

    ours = re.compile(re.escape(base) + r"(?:\.nf-set-[0-9a-f]{20})?\.(?:index|data-\d{5}-of-\d{5})")
    for name in sorted(os.listdir(directory)):  # the set's files, earlier sets' and the plain names' (links)
        noted = user_attributes(os.path.join(directory, name)) if ours.fullmatch(name) else []
        if noted:
            found = f"carries extended attributes of a user's ({', '.join(noted)})"
            raise _refuse(os.path.join(directory, name), found, "a TF checkpoint file")
    names = [n for n in os.listdir(directory) if n == base + ".index" or n.startswith(base + ".data-")]
    for name in names:
        full = os.path.join(directory, name)
        if os.path.islink(full):
            raise _refuse(full, f"is a symbolic link to {os.readlink(full)}", "a TF checkpoint file")
        if not os.path.isfile(full):
            found = "is a directory" if os.path.isdir(full) else "is not a regular file (a FIFO, device or socket)"
            raise _refuse(full, found, "a TF checkpoint file")
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
        if base + ".index" not in names and not _own_plain_data(directory, base, name, 0):
            raise _refuse(
                full, f"is {describe_content(full)}, with no {base}.index beside it", "a TF checkpoint data file"
            )
        if not _SHARD.fullmatch(name[len(base) :]):
            raise _refuse(
                full,
                f"is {describe_content(full)}, not named as TensorFlow names checkpoint shards",
                "a TF checkpoint data file",
            )
    count = index_shards(os.path.join(directory, base + ".index")) if data else None
    from ._checkpoint import _index_source, _used_data

    if count is not None and _index_source(directory, base) is None:
        # a checkpoint TensorFlow wrote (its index none of netform's sets: those are kept while they hold such
        # bytes) is taken over only when the shards its index reads hold nothing past or between its tensors
        # (bytes a user appended were left beside the first save, and deleted by the next)
        read = {n: os.path.join(directory, n) for n in data if n in _used_data(os.path.join(directory, base))}
        longer = data_beyond_index(os.path.join(directory, base + ".index"), read)
        if longer:
            name = longer[0].split(" (")[0]
            raise _refuse(
                os.path.join(directory, name),
                f"holds bytes no tensor of its index reads ({longer[0][len(name) + 2 : -1]})",
                "a TF checkpoint data file",
            )
    if count is not None:  # the index says how many shards it wrote: any other is someone's file
        for name in data:
            if not _own_plain_data(directory, base, name, count):
                full = os.path.join(directory, name)
                raise _refuse(
                    full,
                    f"is {describe_content(full)}, a shard its index ({base}.index, "
                    f"{count} shard{'s' if count > 1 else ''}) does not name",
                    "a TF checkpoint data file",
                )


def _own_plain_data(directory: str, base: str, name: str, count: int) -> bool:
    """Whether a data file beside ``base.index`` is one of the checkpoint's (a save may replace it).

    A checkpoint TensorFlow wrote has the shards its index declares. netform's
    index (a hard link to one of its sets, ``base.nf-set-<20 hex digits>``)
    declares two shards and keeps its tensors in one: a save adds its data
    file under the other name, switches the index, and leaves the data file
    the old index read until the next save. So beside netform's index a data
    file is the checkpoint's when the index reads tensors from it, when it is
    the data of one of the prefix's sets (a hard link, or on a file system
    without them the same bytes: the save before, or one killed before its
    index switched), or when it is the single shard of the checkpoint the
    first of these saves replaced. Any other file, say a user's under the
    shard name that holds no tensor, is refused rather than replaced. Beside
    an index TensorFlow wrote (a save taking it over killed before it linked
    the index) or none (``count`` 0: a first save killed so), the data of
    one of the sets is netform's too.
    """
    import filecmp

    from ._checkpoint import SET_MARK
    from ._tensor_bundle import read_index

    index = os.path.join(directory, base + ".index")
    sets = re.compile(re.escape(base + SET_MARK) + r"[0-9a-f]{20}(\.index|\.data-\d{5}-of-\d{5})")
    netforms = False
    try:
        members = [os.path.join(directory, n) for n in os.listdir(directory) if sets.fullmatch(n)]
        if count:
            info = os.stat(index)
            netforms = any(m.endswith(".index") and os.path.samestat(info, os.stat(m)) for m in members)
    except OSError:
        return False
    if not netforms and name in {f"{base}.data-{i:05d}-of-{count:05d}" for i in range(count)}:
        return True  # a checkpoint TensorFlow wrote: the shards its index declares
    try:
        if netforms:
            shards, entries = read_index(index)
            if name in {f"{base}.data-{e.shard_id:05d}-of-{shards:05d}" for e in entries}:
                return True
        path = os.path.join(directory, name)
        data = os.stat(path)
        for member in members:
            if not member.endswith(name[len(base) :]):
                continue
            theirs = os.stat(member)
            if os.path.samestat(data, theirs) or (
                data.st_size == theirs.st_size and filecmp.cmp(path, member, shallow=False)
            ):
                return True
    except (NetformError, OSError):
        return False
    return netforms and name == base + ".data-00000-of-00001" and count == 2


def _refuse_inside_savedmodel(path: str, fmt: str | None = None) -> None:
    """Refuse a target below a SavedModel folder: a save there would change one file of that SavedModel.

    A netform SavedModel's files are recorded together (their SHA-256 in ``assets.extra/netform.json``), and
    TensorFlow runs whatever ``variables/`` and ``assets/`` hold: a file saved into any of its folders (a
    ``.keras`` model over ``assets.extra/netform.keras``, weights into ``variables/``) would make it show one
    model and serve another, or leave it refused. A SavedModel is replaced only whole, at its own path.
    """
    folder = savedmodel_above(path)
    if folder is None:
        return
    prefix = path[: -len(".index")] if fmt == "tf_checkpoint" and path.endswith(".index") else path
    if fmt == "tf_checkpoint" and os.path.abspath(prefix) == os.path.join(folder, "variables", "variables"):
        raise _variables_checkpoint(prefix, folder)
    raise SaveError(
        f"{path}: is inside {folder}, a SavedModel folder (it holds a saved_model.pb graph), and a save there "
        "would change one file of that SavedModel, which netform writes and replaces only whole, so nothing was "
        "written. Save to a path outside that folder (to replace the SavedModel, save to the folder itself with "
        "format='savedmodel')."
    )


def check_export_target(path: str | os.PathLike[str]) -> None:
    """Refuse Keras's ``export`` (an inference-only SavedModel) over a SavedModel netform saved.

    netform's SavedModel keeps the whole model in ``assets.extra/``, which
    Keras's export does not write and does not remove: exported over it,
    the folder would serve the new graph while :func:`netform.load` gave
    back the old model.

    Raises:
        SaveError: ``path`` holds a SavedModel netform saved.
    """
    from ._savedmodel import ARCHIVE, EXTRA_DIR  # avoids an import cycle

    path = os.fspath(path)
    _refuse_inside_savedmodel(path)
    if os.path.lexists(os.path.join(path, EXTRA_DIR, ARCHIVE)):
        raise SaveError(
            f"{path}: holds a SavedModel netform saved (a whole model, kept in {EXTRA_DIR}/{ARCHIVE}), and "
            "Keras's export writes an inference-only SavedModel that would leave that copy of the old model "
            "behind; a save replaces only an earlier save of the same format, so nothing is written. Save with "
            "netform.save(model, path, format='savedmodel'), export to another path, or delete the folder "
            "yourself first if it is no longer needed."
        )


def check_target(path: str | os.PathLike[str], fmt: str) -> None:
    """Refuse to save over anything that is not an earlier save of format ``fmt``.

    Args:
        path: The file, directory (SavedModel) or prefix (checkpoint) to write.
        fmt: The format about to be written.

    Raises:
        SaveError: Something else is there, or no save can write ``path`` (:func:`check_path`); the
            message lists what and how to fix it.
    """
    path = os.fspath(path)
    check_path(path, fmt)
    if fmt == "tf_checkpoint":
        _check_checkpoint(path)
        return
    if fmt == "savedmodel":
        # Only ``path`` is checked: a folder beside it (``path.nf-old``, ``path.nf-old-<hex>``) is never
        # touched by the save; a copy its own interrupted swap parked is put back first, and checked here.
        path = path.rstrip(os.sep) or path
        if os.path.lexists(path):
            with _held_for_reading(path):  # another save's swap of it waits: the check sees one save whole
                _check_savedmodel(path, path)
        return
    if fmt == "keras_dir":
        path = path.rstrip(os.sep) or path
        if os.path.lexists(path):
            with _held_for_reading(path):
                _check_keras_dir(path)
        return
    if fmt in ("onnx", "tflite"):
        if os.path.lexists(path):
            _check_deploy_file(path, fmt)
        return
    if os.path.lexists(path):
        _check_file(path, fmt)


def _held_for_reading(path: str) -> contextlib.AbstractContextManager[None]:
    from ._atomic import reading_folder  # imported late: _atomic's helpers import this module's checks

    return reading_folder(path)


def check_parked(parked: str, target: str, fmt: str) -> None:
    """Check again, once parked, the folder a directory save replaces: what it holds can no longer change.

    :func:`check_target` runs before a save writes; a file put into the folder while the save was written
    (a user's, another program's) would be deleted with the old copy. Given as the atomic writer's
    ``parked_check``, this refuses the swap instead: the folder goes back under its name, as it is.

    Args:
        parked: Where the old copy is parked during the swap.
        target: The folder being replaced (as the message names it).
        fmt: ``"savedmodel"`` or ``"keras_dir"``.

    Raises:
        SaveError: The parked folder holds something a save of ``fmt`` does not.
    """
    try:
        if fmt == "savedmodel":
            _check_savedmodel(parked, target)
        else:
            _check_keras_dir(parked)
    except SaveError as err:
        found = str(err).replace(parked, target)
        raise SaveError(
            f"{target} changed while the save was written, so it was left as it is and nothing was saved: {found}"
        ) from None


#: The most bytes of a whole path the system takes (PATH_MAX on Linux, with its final NUL).
PATH_MAX = 4096
#: What a TF checkpoint save adds to its prefix's name: its sets' ``.nf-set-<20 hex digits>.data-00000-of-00002``.
_SET_NAME_ROOM = len(".nf-set-") + 20 + len(".data-00000-of-00002")


def _size(text: str) -> int:
    """Bytes of ``text`` as the file system counts them (UTF-8; ``é`` is two)."""
    return len(text.encode("utf-8", "surrogateescape"))


def check_path(path: str | os.PathLike[str], fmt: str) -> None:
    """Refuse a path no save of ``fmt`` can write, before anything is written, converted or made.

    A name (any part of the absolute path) over :data:`~netform._files.NAME_MAX` bytes, a whole path over
    :data:`PATH_MAX`, a TF checkpoint prefix too long for its sets' names, a file where one of the path's
    folders should be, and a folder (the nearest that exists) the process may not write in. A folder
    that does not exist yet is fine: the save makes it, as Keras does, and removes it again if the
    save fails. Nothing is looked at but the path's folders.

    Raises:
        SaveError: Naming the path, what is wrong and the fix.
    """
    from netform._files import NAME_MAX

    path = os.fspath(path)
    if not path:
        raise SaveError("'': an empty path names nothing to write; give the file (or folder) to save to.")
    full = os.path.abspath(path)
    for part in full.split(os.sep):
        if _size(part) > NAME_MAX:
            raise SaveError(
                f"{path}: the name {part[:40]!r}... is {_size(part):,} bytes long, and a file system takes names of "
                f"at most {NAME_MAX} bytes, so nothing was written; give a shorter name."
            )
    if fmt == "tf_checkpoint" and _size(os.path.basename(full)) + _SET_NAME_ROOM > NAME_MAX:
        raise SaveError(
            f"{path}: a TF checkpoint is written as PREFIX.nf-set-<20 hex digits>.data-00000-of-00002, and with "
            f"this prefix's {_size(os.path.basename(full)):,}-byte name that is longer than the {NAME_MAX} bytes a "
            f"file system takes, so nothing was written; give a prefix name of at most {NAME_MAX - _SET_NAME_ROOM} bytes."
        )
    room = _SET_NAME_ROOM if fmt == "tf_checkpoint" else 0
    if _size(full) + room >= PATH_MAX:
        raise SaveError(
            f"{path}: the path is {_size(full):,} bytes long (as an absolute path) and the system takes paths of "
            f"at most {PATH_MAX - 1 - room:,} bytes here, so nothing was written; give a shorter path."
        )
    _refuse_inside_savedmodel(path, fmt)
    folder = os.path.dirname(full)
    while not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise SaveError(
            f"{path}: {folder} is a file, not a folder, so nothing can be saved under it; choose a path in a "
            "folder (or move that file away yourself)."
        )
    if os.path.isdir(folder) and not os.access(folder, os.W_OK | os.X_OK):
        raise SaveError(
            f"{path}: the folder {folder} is not writable (permission denied), so nothing was written; make it "
            "writable, or choose a path in another folder."
        )
