"""TensorFlow SavedModel directories, both ways.

netform exports with ``model.export`` (a ``serving_default`` signature, as
TF Serving needs) and keeps the full model beside it, as a ``.keras``
archive in ``assets.extra/netform.keras`` (TF Serving and
``tf.saved_model.load`` ignore ``assets.extra``). Loading such a directory
gives back the trainable model of its original class. Beside it,
``assets.extra/netform.json`` records the SHA-256 of every file TensorFlow
computes with (the graph, the variables, ``assets/``) and of that copy, and
every safe-mode reader checks them before it trusts the copy: a folder
whose graph or variables were swapped for another save's (which
``tf.saved_model.load`` and TF Serving would run), whose copy was swapped
for another model, whose ``netform.json`` is gone or lacks those digests, or whose copy is gone beside it, is refused. A SavedModel written
by any other tool (tf_keras, ``tf.saved_model.save``) loads as an
:class:`InferenceModel` with a warning: TensorFlow keeps its graph, not a
Keras model.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import warnings
from typing import Any, Callable, Iterator, Mapping

from netform.errors import FormatError, SaveError, UnsafeFileError

from ._atomic import atomic_path, folder_lock, fsync_dir, swap_guard
from ._export import run_keras_export
from ._keras_zip import load_keras, write_keras
from ._meta import metadata, reading, writing

__all__ = ["save_savedmodel", "load_savedmodel", "InferenceModel", "embedded_archive"]

EXTRA_DIR = "assets.extra"
ARCHIVE = "netform.keras"
META = "netform.json"


def embedded_archive(path: str, *, check: bool = True) -> str | None:
    """The path of netform's ``.keras`` copy inside a SavedModel, or None.

    The copy is found from files anyone can copy into another SavedModel,
    while TensorFlow Serving and ``tf.saved_model.load`` run the directory's
    own ``saved_model.pb``: with ``check``, that graph is held to the same
    allow-list as another tool's, and the files TensorFlow reads and the copy
    itself to the digests the save recorded (:func:`check_digests`), before the copy is trusted.

    Raises:
        UnsafeFileError: With ``check``, the graph holds an operation a safe-mode load refuses.
        FormatError: With ``check``, a file TensorFlow reads or the copy is not the one the save wrote,
            ``netform.json`` (which records them) is missing, or it says netform saved the folder, which
            has no copy (:func:`check_copy_present`).
    """
    candidate = os.path.join(path, EXTRA_DIR, ARCHIVE)
    if not os.path.isfile(candidate):
        if check:
            check_copy_present(path)
        return None
    if check:
        check_graph(path, _NETFORM_EXTRA, tensorflow=False)
        check_digests(path)
    return candidate


#: Who wrote a SavedModel with netform's ``assets.extra``, as a refusal names it.
_NETFORM_EXTRA = "netform, as its assets.extra claims,"


def save_savedmodel(model: Any, path: str) -> None:
    """Export ``model`` as a SavedModel directory that netform can load back whole.

    Raises:
        SaveError: The model cannot be traced (e.g. it was never built).
    """
    if isinstance(model, InferenceModel):
        raise SaveError(
            f"{path}: an inference-only model from a foreign SavedModel cannot be "
            "re-exported; copy the original directory instead."
        )
    target = path.rstrip(os.sep) or path
    with writing(path, "savedmodel"), _fresh_folder(target) as tmp:
        _export(model, tmp)
        extra = os.path.join(tmp, EXTRA_DIR)
        os.makedirs(extra, exist_ok=True)
        # each written under a name of its own, then renamed: a file at netform's names is whole, so a killed
        # save's folder holding one that is not what netform writes there is a user's (see _as_written)
        write_keras(model, os.path.join(extra, ARCHIVE + _PART))
        os.replace(os.path.join(extra, ARCHIVE + _PART), os.path.join(extra, ARCHIVE))
        digests = {name: _sha256(os.path.join(tmp, name)) for name in served_files(tmp)}
        own = {name: _sha256(os.path.join(tmp, name)) for name in OWN_FILES}
        with open(os.path.join(extra, META + _PART), "w", encoding="utf-8") as fh:
            sizes = {name: os.path.getsize(os.path.join(tmp, name)) for name in [*digests, *own]}
            json.dump({**metadata(model, "savedmodel"), DIGESTS: digests, OWN_DIGESTS: own, SIZES: sizes}, fh)
        os.replace(os.path.join(extra, META + _PART), os.path.join(extra, META))


@contextlib.contextmanager
def _fresh_folder(target: str) -> Iterator[str]:
    """The folder a SavedModel save of ``target`` fills, which then replaces ``target`` whole.

    Taken under the folder's save lock (which first removes the folders killed saves left) and written beside
    ``target`` (:func:`~._atomic.atomic_path`, the parked copy checked by :func:`~._target.check_parked`).
    Marked from its first instant: a save killed while writing leaves a folder the next save can prove is
    netform's (see :func:`_remove_killed_saves`). The mark goes last, once the files are on disk and the old
    copy is parked and checked, just before the folder takes its name: a kill in between (when a whole,
    unmarked copy is left) is a matter of one removal. (It went before the files' sync, the parking and the
    check: 0.22 s of an 8.4 s save of 287 MB, where 65 of 246 kill points left an unmarked copy for good.)
    """
    from ._target import check_parked

    directory, base = os.path.split(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    parked_check = functools.partial(check_parked, target=target, fmt="savedmodel")
    with (
        folder_lock(directory, lambda: _remove_killed_saves(directory, base)),
        atomic_path(target, parked_check, swap_guard(target), _unmark) as tmp,
    ):
        os.mkdir(tmp)
        with open(os.path.join(tmp, _MARK), "x", encoding="utf-8") as fh:
            fh.write(_MARK_TEXT)
        yield tmp


def _unmark(folder: str) -> None:
    """Remove a finished save's mark from its folder, the last step before the folder takes its name."""
    os.remove(os.path.join(folder, _MARK))
    fsync_dir(folder)


def export_savedmodel(path: str, export: Callable[[str], Any]) -> None:
    """Keras's ``export`` (an inference-only SavedModel), written as :func:`save_savedmodel` writes a SavedModel.

    ``export(folder)`` writes the SavedModel into a fresh folder beside ``path``, which then replaces ``path``
    whole (a kill or a full disk leaves the earlier folder as it was). What is at ``path`` is replaced only
    when it is a SavedModel that no user file was added to, and never when netform saved it whole
    (:func:`~._target.check_export_target`). Keras's own errors are raised as they are.

    Raises:
        SaveError: Something other than a SavedModel is at ``path``, or a file appeared there meanwhile.
    """
    from ._atomic import recover
    from ._target import check_export_target, check_target

    target = path.rstrip(os.sep) or path
    check_export_target(target)
    recover(target)
    check_target(target, "savedmodel")
    try:
        with _fresh_folder(target) as tmp:
            run_keras_export(export, tmp, target, "the SavedModel")
    except OSError as err:  # making, filling or moving the fresh folder (a disk out of space or inodes)
        raise SaveError(
            f"{target}: could not export the SavedModel ({type(err).__name__}: {err}). What was there before is "
            "left intact."
        ) from err


#: The file in a SavedModel save's temporary folder that makes the folder provably netform's, and its text.
_MARK = ".nf-savedmodel-save"
#: The suffix under which netform writes its copy of the model and its metadata before renaming each
_PART = ".nf-part"
_MARK_TEXT = "netform SavedModel save\n"
#: What a SavedModel save writes in its temporary folder, by folder (TensorFlow writes a file as
#: ``NAME.tmp<32 hex digits>`` and renames it, a checkpoint's files as ``NAME.tempstate<digits>``, its shards
#: in ``variables/variables_temp/``); ``assets/`` holds the model's asset files, under their own names.
_STATE = r"(\.tempstate\d+)?"
_KILLED_LAYOUT = {
    "": re.compile(r"(saved_model|fingerprint)\.pb(\.tmp[0-9a-f]{32})?|variables|assets|" + re.escape(EXTRA_DIR)),
    "variables": re.compile(r"variables(\.index|\.data-\d{5}-of-\d{5})" + _STATE + "|variables_temp"),
    "variables/variables_temp": re.compile(r"part-\d{5}-of-\d{5}(\.index|\.data-\d{5}-of-\d{5})" + _STATE),
    EXTRA_DIR: re.compile("(" + re.escape(ARCHIVE) + "|" + re.escape(META) + ")(" + re.escape(_PART) + ")?"),
}
#: The most entries netform walks in one killed save's folder; one holding more is left as it is.
_MAX_KILLED_ENTRIES = 100_000


def _remove_killed_saves(directory: str, base: str) -> None:
    """Remove the temporary folders that SavedModel saves of ``base`` killed in ``directory`` left, if provably theirs.

    Called only while no other save holds the folder's lock (see :func:`~._atomic.folder_lock`). Removed is a
    folder named as :func:`~netform._files.temp_name` names a save of ``base`` (``.<16 hex digits>.nf-tmp-<base>``,
    not a link) that is empty (a save killed as it made it), or holds netform's mark (:data:`_MARK`, its exact
    text, or a beginning of it when nothing else is there) and nothing but what a SavedModel save writes there
    (:data:`_KILLED_LAYOUT`; ``assets/`` empty: a model's asset files cannot be told from a user's), every
    entry a regular file or folder. Anything else (a user's folder of such a
    name, a folder without the mark or with other files, a link) is left as it is; a file system error stops
    the removal of that one folder only.
    """
    from netform._files import NAME_MAX, TMP_MARK, fitted_tail

    own = re.compile(r"\.[0-9a-f]{16}" + re.escape(TMP_MARK + fitted_tail(base, NAME_MAX - 17 - len(TMP_MARK))))
    try:
        names = [n for n in os.listdir(directory) if own.fullmatch(n)]
    except OSError:
        return
    for name in names:
        try:
            _remove_killed_folder(os.path.join(directory, name))
        except OSError:
            continue
    if names:
        fsync_dir(directory)


def _remove_killed_folder(path: str) -> None:
    """Remove one killed save's temporary folder when it is provably one (see :func:`_remove_killed_saves`)."""
    import stat

    from netform._files import OwnMount, holds_mount, on_device, parent_device

    device = parent_device(path)
    if not stat.S_ISDIR(os.lstat(path).st_mode) or not on_device(path, device) or holds_mount(path):
        return  # (a folder mounted there holds a user's files)
    entries = os.listdir(path)
    if not entries:  # killed right after it was made
        os.rmdir(path)
        return
    mark = os.path.join(path, _MARK)
    st = os.lstat(mark) if _MARK in entries else None
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_size > len(_MARK_TEXT):
        return
    with open(mark, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    if not (text == _MARK_TEXT or (entries == [_MARK] and _MARK_TEXT.startswith(text))):
        return
    files: list[str] = []
    folders: list[str] = []
    seen = 0
    for root, dirs, names in os.walk(path):
        rel = os.path.relpath(root, path).replace(os.sep, "/")
        rel = "" if rel == "." else rel
        seen += len(dirs) + len(names)
        if seen > _MAX_KILLED_ENTRIES:
            return
        allowed = _KILLED_LAYOUT.get(rel)
        if (rel == "assets" or rel.startswith("assets/")) and dirs + names:
            # a model's asset files (a vocabulary) keep their own names there, so nothing there can be told
            # from a user's file: a folder holding any is kept (a user's notes put there were deleted)
            return
        for entry in dirs + names:
            full = os.path.join(root, entry)
            st = os.lstat(full)
            mode = st.st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                return  # a link, FIFO or device: not a save's
            if st.st_dev != device or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
                return  # a folder mounted inside, or a file of another user's: not this user's save
            if rel == "" and entry == _MARK:
                continue
            if allowed is None or not allowed.fullmatch(entry):
                return  # something a save does not write there: the folder stays as it is
            if stat.S_ISREG(mode) and not _as_written(rel, entry, full):
                return  # a user's text under a save's name: the folder stays as it is
            (folders if stat.S_ISDIR(mode) else files).append(full)
    with OwnMount(path) as own:  # (through checked folder handles: a mount made since is never deleted on)
        for full in files:
            if not own.unlink(os.path.relpath(full, path)):
                return
        for full in sorted(folders, key=len, reverse=True):
            if not own.rmdir(os.path.relpath(full, path)):
                return
        own.unlink(_MARK)  # the mark last: a removal cut short is finished by the next save
        own.remove_root()


def _as_written(rel: str, entry: str, full: str) -> bool:
    """Whether a file a killed save left under one of its names holds what a save writes there: the graph and
    fingerprint parse as TensorFlow's, the variables' index is a TensorFlow table, netform's copy and metadata
    are what netform writes (a user's notes under those names were deleted with the folder). A file still
    under TensorFlow's temporary name (``.tmp<hex>``, ``.tempstate<digits>``), cut short by the kill, and the
    raw data shards are taken by their names."""
    from ._detect import is_table
    from ._target import _extra_file_problem, _savedmodel_file

    if rel == "" and entry in ("saved_model.pb", "fingerprint.pb"):
        return _savedmodel_file(os.path.dirname(full), entry)
    if rel == EXTRA_DIR and entry in (ARCHIVE, META):
        return _extra_file_problem(full, entry == ARCHIVE) is None
    if rel == "variables" and entry == "variables.index":
        return is_table(full)
    return True


#: The key of ``assets.extra/netform.json`` holding ``{file: SHA-256}`` of the files TensorFlow reads.
DIGESTS = "sha256"
#: The key of ``assets.extra/netform.json`` holding ``{file: SHA-256}`` of the files netform reads (its copy).
OWN_DIGESTS = "sha256_netform"
#: The key of ``assets.extra/netform.json`` holding ``{file: bytes}`` of every file it records a digest of: a
#: file of another size differs without being hashed (a sparse file of 30 GiB took a minute to hash).
SIZES = "sizes"
#: Without recorded sizes (a save of an earlier version), netform's copy may hold at most this many times the
#: bytes of the files TensorFlow reads (the weights, and an optimizer's slots), plus :data:`COPY_SLACK`.
COPY_FACTOR = 5
COPY_SLACK = 64 * 2**20
#: What netform itself reads of a SavedModel directory it saved, besides ``netform.json`` (which holds the digests).
OWN_FILES = (f"{EXTRA_DIR}/{ARCHIVE}",)
#: What TensorFlow computes with of a SavedModel directory: the graph and every file under these folders.
_SERVED_FILES = ("saved_model.pb", "saved_model.pbtxt")
_SERVED_FOLDERS = ("variables", "assets")


def served_files(path: str) -> list[str]:
    """The files of a SavedModel directory TensorFlow computes with, as ``/``-joined relative paths.

    The graph (``saved_model.pb``, or ``.pbtxt``) first, then every file under
    ``variables/`` and ``assets/`` (sorted): not netform's ``assets.extra/``,
    nor ``fingerprint.pb`` (a checksum TensorFlow only reports), nor files
    TensorFlow never opens.
    """
    found = [name for name in _SERVED_FILES if os.path.lexists(os.path.join(path, name))]
    for folder in _SERVED_FOLDERS:
        for root, dirs, files in os.walk(os.path.join(path, folder)):
            dirs.sort()
            rel = os.path.relpath(root, path).replace(os.sep, "/")
            found += [f"{rel}/{name}" for name in files]
            found += [f"{rel}/{name}" for name in dirs if os.path.islink(os.path.join(root, name))]
    return found[:1] + sorted(found[1:]) if found[:1] == ["saved_model.pb"] else sorted(found)


#: A file hashed is refused as sparse when it is larger than this and holds under 1/:data:`SPARSE_RATIO` of its
#: bytes on disk: a save writes every byte, and a 30 GiB hole took a minute to hash (its size can be recorded).
SPARSE_FROM = 64 * 2**20
SPARSE_RATIO = 8


def _refuse_sparse(file: str, size: int) -> None:
    """Refuse a file whose size is mostly a hole (``truncate -s 30G``), before it is read.

    Raises:
        FormatError: It holds over :data:`SPARSE_FROM` bytes, under 1/:data:`SPARSE_RATIO` of them on disk.
    """
    try:
        blocks = os.stat(file).st_blocks
    except (OSError, AttributeError):  # no block count on this system: hashed as it is
        return
    if size > SPARSE_FROM and blocks * 512 * SPARSE_RATIO < size:
        raise FormatError(
            f"{file}: is {size:,} bytes of which {blocks * 512:,} are on disk (a sparse file, mostly a hole), not a "
            "file a save writes; the folder was changed after the save. Save the model again (or load it with "
            "safe_mode=False only if you trust where it came from)."
        )


def _sha256(file: str) -> str:
    """The SHA-256 of a regular file (hex), read in blocks."""
    import hashlib

    from ._meta import regular_file

    size = regular_file(file, "a file of the SavedModel directory")
    _refuse_sparse(file, size)
    digest = hashlib.sha256()
    try:
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(2**20), b""):
                digest.update(block)
    except OSError as err:
        raise FormatError(f"{file}: cannot read a file of the SavedModel directory ({err.strerror or err}).") from err
    return digest.hexdigest()


def recorded_digests(path: str, key: str = DIGESTS) -> dict[str, str] | None:
    """``{file: SHA-256}`` that ``assets.extra/netform.json`` records under ``key``, or None when it records none.

    ``key`` is :data:`DIGESTS` (the files TensorFlow computes with) or :data:`OWN_DIGESTS` (netform's copy
    of the model). A SavedModel netform saved before it recorded digests has none, as has one whose
    ``netform.json`` is missing; :func:`check_digests` refuses both.

    Raises:
        FormatError: ``netform.json`` is unreadable, or its digests are not ``{file: 64 hex digits}``.
    """
    import re

    from ._meta import MAX_METADATA_BYTES, json_object, read_bounded

    meta_path = os.path.join(path, EXTRA_DIR, META)
    if not os.path.lexists(meta_path):
        return None
    raw = read_bounded(meta_path, MAX_METADATA_BYTES, "netform's metadata", error=FormatError)
    recorded = json_object(raw, meta_path, META, text=True).get(key)
    if recorded is None:
        return None
    if not (
        isinstance(recorded, dict)
        and all(isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) for v in recorded.values())
        and all(_inside(name) for name in recorded)
    ):
        raise FormatError(
            f"{meta_path}: field '{key}' is not an object of file names inside the folder and SHA-256 "
            "digests (64 hex digits), as netform writes it; the file is corrupt. Save the model again."
        )
    return recorded


def _inside(name: str) -> bool:
    """Whether a recorded name is a ``/``-joined relative path below the folder (no ``..``, not absolute)."""
    parts = name.split("/")
    return "\\" not in name and all(part not in ("", ".", "..") for part in parts)


def check_digests(path: str) -> None:
    """Refuse a netform SavedModel whose graph, variables or copy of the model are not the files its save wrote.

    netform reads the model from its copy in ``assets.extra/netform.keras``,
    TensorFlow (``tf.saved_model.load``, TF Serving) runs ``saved_model.pb``
    with ``variables/``: each file TensorFlow reads (:func:`served_files`)
    and the copy (:data:`OWN_FILES`) must have the SHA-256 the save recorded,
    none may be missing and none added, or the folder would show one model
    to netform and serve another. The graph is checked first, so a swapped
    graph is named as such. A file recorded that this version does not count
    among them (one a later version hashes too) is checked all the same.

    Every netform save writes ``netform.json`` beside its copy, so a folder
    holding the copy without it is refused, and so is one whose record lacks
    the digests (:data:`DIGESTS` or :data:`OWN_DIGESTS` missing or null, the
    record emptied to ``{}``): whether the record was edited or a netform
    version that did not record them (or hashed only what TensorFlow reads)
    saved the folder, its copy cannot be told from another model: save it again.

    Raises:
        FormatError: Naming the first file that differs, is missing or was added, or the missing record.
    """
    meta = f"{EXTRA_DIR}/{META}"
    if not os.path.lexists(os.path.join(path, EXTRA_DIR, META)):
        raise FormatError(
            f"{path}: holds netform's copy of the model ({EXTRA_DIR}/{ARCHIVE}) but not {meta}, which every "
            "netform save writes beside it with the SHA-256 of each file, so the copy netform would read cannot be "
            "told from another model's while tf.saved_model.load and TF Serving run saved_model.pb. The folder was "
            "changed after the save; save the model again (or load it with safe_mode=False only if you trust "
            "where it came from)."
        )
    recorded = recorded_digests(path)
    if recorded is None:
        raise FormatError(
            f"{path}: holds netform's copy of the model ({EXTRA_DIR}/{ARCHIVE}) but {meta} records no SHA-256 of "
            f"the graph and variables (field '{DIGESTS}' missing or null), so the copy netform would read cannot be "
            "told from another model's while tf.saved_model.load and TF Serving run saved_model.pb. The record "
            "was edited, or a netform version that did not record the digests saved the folder; save the model "
            "again (or load it with safe_mode=False only if you trust where it came from)."
        )
    own = recorded_digests(path, OWN_DIGESTS)
    if own is None:
        raise FormatError(
            f"{path}: {meta} records the SHA-256 of the graph and variables but not of {EXTRA_DIR}/{ARCHIVE}, "
            "the copy of the model netform reads, so that copy cannot be told from another model's while "
            "tf.saved_model.load and TF Serving run saved_model.pb. A netform version that did not record it "
            f"saved the folder, or {meta} was edited; save the model again."
        )
    sizes = _recorded_sizes(path)
    served = served_files(path)
    _compare(path, served, recorded, sizes)
    if not sizes:  # an earlier version's save: the copy is bounded by what TensorFlow reads before it is hashed
        total = sum(os.path.getsize(os.path.join(path, name)) for name in served)
        copy = os.path.join(path, *OWN_FILES[0].split("/"))
        size = os.path.getsize(copy) if os.path.isfile(copy) else 0
        if size > COPY_FACTOR * total + COPY_SLACK:
            raise FormatError(
                f"{path}: {OWN_FILES[0]} is {size:,} bytes, more than {COPY_FACTOR} times the {total:,} bytes of "
                f"the graph and variables beside it (and {COPY_SLACK:,} more): not the copy a save writes. The "
                "folder was changed after the save; save the model again."
            )
    _compare(path, list(OWN_FILES), own, sizes)


def _recorded_sizes(path: str) -> dict[str, int]:
    """``{file: bytes}`` that ``assets.extra/netform.json`` records (empty for a save of an earlier version).

    Raises:
        FormatError: The record is not ``{file: whole number}``.
    """
    from ._meta import MAX_METADATA_BYTES, json_object, read_bounded

    meta_path = os.path.join(path, EXTRA_DIR, META)
    raw = read_bounded(meta_path, MAX_METADATA_BYTES, "netform's metadata", error=FormatError)
    recorded = json_object(raw, meta_path, META, text=True).get(SIZES)
    if recorded is None:
        return {}
    if not (
        isinstance(recorded, dict)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in recorded.values())
        and all(_inside(name) for name in recorded)
    ):
        raise FormatError(
            f"{meta_path}: field '{SIZES}' is not an object of file names inside the folder and sizes in bytes, "
            "as netform writes it; the file is corrupt. Save the model again."
        )
    return recorded


#: The keys of ``assets.extra/netform.json`` that only netform writes there (each SavedModel save writes the
#: first, with its copy of the model, since the first version; the digests since they were recorded).
_CLAIM_KEYS = ("netform_version", DIGESTS, OWN_DIGESTS)


def netform_record(path: str) -> dict[str, Any] | None:
    """``assets.extra/netform.json`` of a SavedModel directory when it says netform saved the folder, else None.

    It does when it is a JSON object holding a key only netform writes there (:data:`_CLAIM_KEYS`). Every
    SavedModel netform has saved, in every version, holds such a record beside its copy of the model (a model
    netform loaded from another tool's SavedModel cannot be saved as one). A missing or unreadable file, or a
    user's JSON of other keys, is no such record.
    """
    from ._meta import MAX_METADATA_BYTES, json_object, read_bounded

    meta_path = os.path.join(path, EXTRA_DIR, META)
    if not os.path.isfile(meta_path):
        return None
    try:
        value = json_object(read_bounded(meta_path, MAX_METADATA_BYTES, META, error=FormatError), meta_path, META)
    except FormatError:  # unreadable, oversized, not a JSON object: no record of netform's
        return None
    return value if any(key in value for key in _CLAIM_KEYS) else None


def check_copy_present(path: str) -> None:
    """Refuse a SavedModel directory whose ``netform.json`` says netform saved it, when its copy is gone.

    Every netform save writes the copy of the model (``assets.extra/netform.keras``) beside ``netform.json``,
    so a folder holding the record without the copy was changed after the save. Read as another tool's
    SavedModel instead, its graph, whatever it is, would be shown and run while the digests the record holds
    went unchecked (before: a graph and variables swapped in from another save, with the copy deleted, were
    loaded and run as an inference-only model). The message also names the first file TensorFlow reads that
    differs from the record, if one does.

    Raises:
        FormatError: ``netform.json`` is netform's record (:func:`netform_record`) and the copy is not a file.
    """
    if netform_record(path) is None:
        return
    meta = f"{EXTRA_DIR}/{META}"
    changed = ""
    try:
        recorded = recorded_digests(path)
    except FormatError:
        recorded = None
    if recorded is not None:
        found = _mismatch(path, served_files(path), recorded)
        if found is not None:
            changed = f"; {found[0]} {found[1]} too"
    raise FormatError(
        f"{path}: {EXTRA_DIR}/{ARCHIVE} is missing (or not a file), but {meta} says netform saved the folder, "
        f"and every netform save writes that copy of the model beside it{changed}. Read as another tool's "
        "SavedModel instead, its graph would be shown and run without the check of that record. The folder was changed after the save; save the model again (or load it with safe_mode=False, as an "
        "inference-only model of its graph, only if you trust where it came from)."
    )


#: A SavedModel's variables data shard, as TensorFlow names it (``variables/variables.data-00000-of-00001``).
_SHARD = re.compile(r"variables/variables\.data-(\d{5})-of-(\d{5})")


def _shard_ends(path: str) -> tuple[int, dict[int, int]] | None:
    """``(shards, {shard: end of its last entry})`` the variables' index declares, or None without an index.

    TensorFlow writes each entry's bytes one after another into its data shard, so a shard it wrote ends
    where its last entry does.

    Raises:
        FormatError: The index is malformed (:func:`~._tensor_bundle.read_index`).
    """
    from ._tensor_bundle import shard_ends

    index = os.path.join(path, "variables", "variables.index")
    if not os.path.isfile(index):
        return None
    return shard_ends(index)


def _oversized(path: str, name: str, ends: tuple[int, dict[int, int]] | None) -> str | None:
    """How a variables data shard is longer than its index declares (None: it is not, or is no shard)."""
    found = _SHARD.fullmatch(name)
    if ends is None or found is None or int(found.group(2)) != ends[0] or int(found.group(1)) >= ends[0]:
        return None
    declared = ends[1].get(int(found.group(1)), 0)
    try:
        size = os.lstat(os.path.join(path, name)).st_size
    except OSError:
        return None  # read, and named, by the hash
    if size <= declared:
        return None
    return f"is {size:,} bytes, more than the {declared:,} its variables.index declares, so it"


def _mismatch(
    path: str, present: list[str], recorded: dict[str, str], sizes: dict[str, int] | None = None
) -> tuple[str, str] | None:
    """The first of ``present`` (then of the other recorded names) that is missing, unrecorded or differs.

    Nothing is hashed before every file is known to be there, recorded and of its recorded size (``sizes``,
    when the save recorded them), and a variables data shard no longer than its index declares (a sparse
    file of 20 GB took 21 s of CPU to hash before it was found to differ), and a sparse file is refused
    unread (:func:`_refuse_sparse`)."""
    ends = _shard_ends(path)
    names = present + sorted(set(recorded) - set(present))
    for name in names:
        full = os.path.join(path, name)
        if not os.path.lexists(full):
            return name, "is missing"
        if name not in recorded:
            return name, "was not written by the save"
        longer = _oversized(path, name, ends)
        if longer is not None:
            return name, f"{longer} differs from the one the save wrote"
        if sizes and name in sizes and os.path.isfile(full) and os.path.getsize(full) != sizes[name]:
            return name, (
                f"differs from the one the save wrote ({os.path.getsize(full):,} bytes; the save wrote {sizes[name]:,})"
            )

    for name in names:  # the graph first: a swapped graph is named as such
        if _sha256(os.path.join(path, name)) != recorded[name]:
            return name, "differs from the one the save wrote"
    return None


def _compare(path: str, present: list[str], recorded: dict[str, str], sizes: dict[str, int] | None = None) -> None:
    """Refuse the first of ``present`` (then of the other recorded names) that is missing, unrecorded or differs."""
    found = _mismatch(path, present, recorded, sizes)
    if found is not None:
        name, how = found
        raise FormatError(
            f"{path}: {name} {how} (netform recorded the SHA-256 of each file it saved in {EXTRA_DIR}/{META}), "
            "so the graph TensorFlow would serve (tf.saved_model.load, TF Serving) is not the model netform "
            f"saved and reads back from {EXTRA_DIR}/{ARCHIVE}. The folder was changed after the save, or put "
            "together from another save's files; save the model again."
        )


def _export(model: Any, path: str) -> None:
    """``model.export(path)``, with a model's several outputs under their names.

    Keras's export returns a list of outputs, which the serving signature
    names ``output_0``, ``output_1``...; returning them as a dict keyed by
    ``model.output_names`` keeps the names a client knows from the model. A
    single output, or outputs already in a dict, are exported as Keras does.
    """
    import keras

    from netform._compat._keras_saving import export_input_signature

    names = list(getattr(model, "output_names", None) or [])
    outputs = getattr(model, "outputs", None)  # a functional model's list; None for a subclassed one
    if not (isinstance(outputs, (list, tuple)) and len(outputs) > 1 and len(set(names)) == len(outputs)):
        # Keras's own export into the folder this save made (nf.Model.export would make another and swap it in)
        keras.Model.export(model, path, format="tf_saved_model", verbose=False)
        return

    def serve(*args: Any) -> dict[str, Any]:
        results = model(*args)
        return dict(zip(names, results, strict=True))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, export_input_signature(model))
    archive.write_out(path, verbose=False)


#: The most bytes of ``saved_model.pb`` netform reads (protocol buffers stop at 2 GiB anyway).
MAX_GRAPH_BYTES = 2**30


def read_graph(path: str) -> Any:
    """The ``SavedModel`` protocol buffer of a directory, its size checked before it is read.

    Raises:
        UnsafeFileError: ``saved_model.pb`` is larger than :data:`MAX_GRAPH_BYTES`
            or is not a regular file.
        FormatError: It cannot be parsed.
    """
    from google.protobuf import text_format  # protobuf ships no type stubs (read as untyped, see pyproject)
    from tensorflow.core.protobuf import saved_model_pb2

    from ._meta import read_bounded

    proto = saved_model_pb2.SavedModel()
    file = graph_file(path)
    with reading(path, "savedmodel"):
        data = read_bounded(file, MAX_GRAPH_BYTES, f"the SavedModel graph ({os.path.basename(file)})")
        if file.endswith(".pb"):
            proto.ParseFromString(data)
        else:
            text_format.Parse(data.decode("utf-8"), proto)
    return proto


def graph_file(path: str) -> str:
    """``saved_model.pb`` (or ``.pbtxt``) of a directory, refused when over :data:`MAX_GRAPH_BYTES` or sparse."""
    from ._meta import regular_file

    file = os.path.join(path, "saved_model.pb")
    if not os.path.lexists(file):
        file = os.path.join(path, "saved_model.pbtxt")
    size = regular_file(file, "the SavedModel graph")
    if size > MAX_GRAPH_BYTES:
        raise UnsafeFileError(
            f"{file}: the SavedModel graph is {size:,} bytes, more than netform's limit "
            f"of {MAX_GRAPH_BYTES:,} bytes (1 GiB); refused without reading it."
        )
    # a graph that is mostly a hole (`truncate -s 1G`) is refused unread: its gigabyte of nothing would be read
    # into memory only to fail to parse (1.07 GB of memory for a file of 12 KB on disk)
    _refuse_sparse(file, size)
    return file


def refused_graph_ops(path: str, *, tensorflow: bool = True) -> list[tuple[str, str]]:
    """``(operation, place)`` of every graph operation a safe-mode load refuses (see ``_graph_ops``).

    Args:
        path: The SavedModel directory.
        tensorflow: Decode the graph with TensorFlow's parser (what loading it will read). Without,
            netform's own reader decodes it (no TensorFlow import, as ``inspect`` needs), and TensorFlow
            only a ``saved_model.pbtxt`` or a graph of more fields than that reader decodes.
    """
    from ._graph_ops import refused_ops
    from ._savedmodel_reader import TooManyFields, read_saved_graph

    metas: Any = None
    if not tensorflow and graph_file(path).endswith(".pb"):
        try:
            with reading(path, "savedmodel"):
                metas = read_saved_graph(path)
        except TooManyFields:
            metas = None
    if metas is None:
        metas = read_graph(path).meta_graphs
    found: list[tuple[str, str]] = []
    for meta in metas:
        found += refused_ops(meta, where=path)
    return found


def _refusal(path: str, writer: str, refused: list[tuple[str, str]]) -> UnsafeFileError:
    from ._graph_ops import FILE_OR_CODE_OPS

    known = [(op, where) for op, where in refused if op.split(" ", 1)[0] in FILE_OR_CODE_OPS]
    loading = [(op, where) for op, where in refused if op.endswith(" while loading")]
    # every kind of operation is named (those that touch files first): a message naming some sent a user fixing
    # the file to the next refusal
    first = known or loading
    ordered = first + [item for item in refused if item not in first]
    kinds = list(dict.fromkeys(op.split(" ", 1)[0] for op, _ in ordered))
    shown = ", ".join(f"{op} (in {where})" for op, where in ordered[:6])
    unshown = [kind for kind in kinds if not any(op.split(" ", 1)[0] == kind for op, _ in ordered[:6])]
    more = f" and {len(refused) - 6} more" if len(refused) > 6 else ""
    if unshown:
        more += f" (also {', '.join(unshown[:20])}{' …' if len(unshown) > 20 else ''})"
    if known:
        what = "graph operations that touch files or run Python when called"
    elif loading:
        what = "graph operations TensorFlow would run while loading it that loop or compute without a bound"
    else:
        what = "graph operations that are not known to be pure computation"
    rule = (
        "; while loading, its functions may only create, fill and read variables and tables"
        if loading and not known
        else ""
    )
    return UnsafeFileError(
        f"{path}: this SavedModel from {writer} holds {what}: {shown}{more}. In safe mode netform "
        "runs only operations it knows to be pure computation (arithmetic, tensor and neural-network "
        f"kernels, control flow, variables, in-memory tables){rule}; load it with safe_mode=False only if you "
        "trust where it came from."
    )


def check_graph(path: str, writer: str, *, tensorflow: bool = True) -> None:
    """Refuse, as a safe-mode load does, a SavedModel whose graph holds an operation the allow-list lacks.

    ``tensorflow`` is as for :func:`refused_graph_ops`.

    Raises:
        UnsafeFileError: Naming the operations and the functions that hold them.
        FormatError: The graph is corrupt.
    """
    refused = refused_graph_ops(path, tensorflow=tensorflow)
    if refused:
        raise _refusal(path, writer, refused)


def load_savedmodel(
    path: str, *, compile: bool = True, safe_mode: bool = True, custom_objects: Mapping[str, Any] | None = None
) -> Any:
    """Load a SavedModel directory: the full model when netform wrote it.

    Every file of the directory must be a regular file inside it (no FIFO,
    device or link out), whatever ``safe_mode`` says. A SavedModel from
    another tool is refused in safe mode unless every operation of its graph
    is known to be pure computation; one netform saved, in safe mode, also
    unless its graph, variables and copy of the model are the files the save
    wrote (:func:`check_digests`), and, when its ``netform.json`` says netform
    saved it, unless the copy is there (:func:`check_copy_present`).

    Raises:
        FormatError: The directory is corrupt or has no callable signature, or
            (in safe mode) its graph, variables or copy are not those netform saved.
        UnsafeFileError: A special file or a link out of the directory, an
            oversized graph, or (in safe mode) an operation that is not pure.
    """
    from ._meta import check_tree

    check_tree(path, "SavedModel")
    archive = embedded_archive(path, check=False)
    if archive is not None:
        if safe_mode:  # TensorFlow Serving runs this graph, not netform's copy: it may not hide behind it
            check_graph(path, _NETFORM_EXTRA)
            check_digests(path)  # nor may another save's graph and variables
            _same_as_recorded(path, archive)
        return load_keras(archive, where=path, compile=compile, safe_mode=safe_mode, custom_objects=custom_objects)
    if safe_mode:  # a netform record without its copy: not another tool's folder, but one changed after the save
        check_copy_present(path)
    writer = "Keras 2 (tf_keras)" if os.path.isfile(os.path.join(path, "keras_metadata.pb")) else "another tool"
    if safe_mode:
        check_graph(path, writer)
    else:
        graph_file(path)  # the size bound holds in every mode
    from ._tensor_bundle import check_savedmodel_variables

    # TensorFlow aborts the process on an index entry it cannot parse: netform reads the index first, in every mode
    check_savedmodel_variables(path)
    with reading(path, "savedmodel"):
        model = InferenceModel(path)
    warnings.warn(
        f"{path}: SavedModel written by {writer}; loaded as an inference-only model "
        f"(signature '{model.endpoint}'): predict() works, training and re-saving as Keras do not.",
        UserWarning,
        stacklevel=3,
    )
    return model


def _same_as_recorded(path: str, archive: str) -> None:
    """Refuse a folder whose ``netform.json`` names another model class or name than its copy's config, as
    ``inspect`` refuses it (a ``model_class`` of ``os.system`` beside a Sequential).

    Raises:
        FormatError: The record and the copy name different models.
    """
    from ._static_reader import KerasParts, savedmodel_meta, same_model

    config = KerasParts(archive, where=path).config
    if not (isinstance(config, dict) and isinstance(config.get("class_name"), str)):
        return  # the copy's own reader refuses it, or only Keras reads it
    inner = config.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    shown = {"class_name": config["class_name"], "module": config.get("module"), "config": {"name": name}}
    same_model(savedmodel_meta(path), shown, path, f"{EXTRA_DIR}/{META}", "the embedded model's config")


def _interruptible(call: Callable[[], Any]) -> Any:
    """``call()``, run in a worker thread while this one waits, so Ctrl-C stops the caller.

    A foreign SavedModel's function runs as its author wrote it: a loop may never end. TensorFlow runs it
    inside one C call, during which Python handles no signal, so Ctrl-C (SIGINT) waited for the function: a
    loop that never ends kept the process running after Ctrl-C until it was killed. Here the calling thread
    waits in short steps, gets the ``KeyboardInterrupt`` and raises it; the function's thread (a daemon) is
    left to end with the process.
    """
    import threading

    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["value"] = call()
        except BaseException as err:  # handed to the caller as it was raised
            done["error"] = err

    worker = threading.Thread(target=run, name="netform-savedmodel-call", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in done:
        raise done["error"]
    return done["value"]


class InferenceModel:
    """A thin, predict-only wrapper around a foreign SavedModel's signature.

    Inputs are matched by name when given as a dict, otherwise positionally
    in the sorted order of the signature's input names (:attr:`input_names`).
    A single output is returned as an array, several as a list in the sorted
    order of :attr:`output_names`.

    Attributes:
        path: The SavedModel directory.
        endpoint: The signature used (``serving_default`` when present).
        inference_only: Always True; lets callers tell this from a Keras model.
    """

    inference_only = True

    def __init__(self, path: str, endpoint: str = "serving_default") -> None:
        import tensorflow as tf

        self.path = path
        self._loaded = tf.saved_model.load(path)
        signatures = dict(self._loaded.signatures)
        if not signatures:
            raise FormatError(
                f"{path}: SavedModel has no signatures, so nothing can be called. Export it with a serving signature."
            )
        self.endpoint = endpoint if endpoint in signatures else sorted(signatures)[0]
        self._fn = signatures[self.endpoint]
        self.input_names: list[str] = sorted(self._fn.structured_input_signature[1])
        self.output_names: list[str] = sorted(self._fn.structured_outputs)
        self.name = os.path.basename(os.path.normpath(path))

    @property
    def variables(self) -> list[Any]:
        """The SavedModel's variables."""
        return list(getattr(self._loaded, "variables", []))

    def count_params(self) -> int:
        """Number of scalars in the SavedModel's variables."""
        total = 0
        for v in self.variables:
            n = 1
            for d in v.shape:
                n *= int(d)
            total += n
        return total

    def __call__(self, inputs: Any) -> Any:
        import tensorflow as tf

        specs = self._fn.structured_input_signature[1]
        if isinstance(inputs, Mapping):
            named = dict(inputs)
        else:
            seq = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if len(seq) != len(self.input_names):
                raise ValueError(f"Expected {len(self.input_names)} inputs {self.input_names}, received {len(seq)}.")
            named = dict(zip(self.input_names, seq))
        kwargs = {k: tf.convert_to_tensor(v, dtype=specs[k].dtype) for k, v in named.items()}
        out = _interruptible(lambda: self._fn(**kwargs))
        values = [out[k] for k in self.output_names]
        return values[0] if len(values) == 1 else values

    def predict(self, inputs: Any, batch_size: int | None = None, verbose: Any = 0) -> Any:
        """Run the signature and return NumPy arrays."""
        out = self(inputs)
        return [o.numpy() for o in out] if isinstance(out, list) else out.numpy()

    def __repr__(self) -> str:
        return f"<InferenceModel {self.path!r} endpoint={self.endpoint!r}>"
