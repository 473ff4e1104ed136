"""TensorFlow checkpoints (``prefix.index`` + ``prefix.data-*``) of a model's weights.

Written with ``tf.train.Checkpoint(model=...)``; TensorFlow checksums every
tensor (CRC-32C in the index), so corruption surfaces on read and is wrapped
as a :class:`FormatError`. The index itself is parsed and checked by netform
(:mod:`._tensor_bundle`) before TensorFlow reads it: TensorFlow stops the
process on an index entry it cannot parse, even one whose block checksum holds.

A save is atomic as a set: the files are written under a new, never reused
prefix (``<prefix>.nf-set-<id>``), the directory's ``checkpoint`` state file
is switched to it last (atomically), and only then are older sets removed
(the one before is kept, for a reader that read the state file just before
the switch). The plain ``prefix.index``/``prefix.data-*`` names are hard
links to the newest set, for tools that open the prefix itself; netform
reads a prefix through the state file whenever that names one of its sets.

The plain names switch as a pair, so plain TensorFlow reading ``prefix`` gets
the old checkpoint or the new one whole, even after a save killed at any
point. TensorFlow opens ``prefix.index`` and then the data shard it names,
``prefix.data-<shard>-of-<count>``; netform's index declares two shards and
keeps every tensor in one of them, the one the plain index does not use now
(see :func:`_rename_shards`). The new data file is therefore added under a
name the old index never opens, and one rename of the index switches the
prefix. The data file the old index uses stays until the next save (a reader
that opened the old index finds its data), as the set before the newest does.
A save that fails before its state file is switched (a full disk) takes its
set and the plain names back: the prefix stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
import time
from typing import Any, Iterator

from netform._files import swap_turn
from netform.errors import FormatError, SaveError

from ._atomic import folder_lock, fsync_dir, recover, temp_name, write_bytes
from ._detect import check_checkpoint_files, checkpoint_prefix, checkpoint_state_paths
from ._meta import reading, writing
from ._target import is_checkpoint_state
from ._tensor_bundle import check_bundle, move_to_shard, read_index
from ._weights import mismatch_error

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_variables", "current_set", "SET_MARK"]

#: A checkpoint set's prefix is ``<prefix>`` + this mark + a time-ordered id.
SET_MARK = ".nf-set-"
_STATE = "checkpoint"
#: Sets kept after a save: the new one and the one before it.
_KEEP = 2
#: The file in a save's temporary folder that makes the folder provably netform's: this first line, then
#: ``set: <the set's name>`` once the save is about to move the set's files out of the folder.
_MARK = ".nf-checkpoint-save"
_MARK_TEXT = "netform checkpoint save\n"


def _files_of(prefix: str) -> list[str]:
    directory, base = os.path.split(os.path.abspath(prefix))
    return sorted(
        os.path.join(directory, n)
        for n in os.listdir(directory)
        if n == base + ".index" or n.startswith(base + ".data-")
    )


def _state_target(directory: str) -> str | None:
    """The prefix name a ``checkpoint`` state file points at (None if absent or not a state file)."""
    state = os.path.join(directory, _STATE)
    if not is_checkpoint_state(state):
        return None
    with open(state, encoding="utf-8") as fh:
        paths = checkpoint_state_paths(fh.read())
    return in_folder(paths[0], directory) or None if paths is not None else None


def in_folder(path: str, directory: str) -> str:
    """A state file's checkpoint path as a name in ``directory``: a relative one as it is, an absolute one in
    ``directory`` (TensorFlow's ``Saver`` writes them so) by its base name; any other unchanged."""
    if os.path.isabs(path) and os.path.dirname(os.path.normpath(path)) == os.path.normpath(os.path.abspath(directory)):
        return os.path.basename(path)
    return path


def current_set(prefix: str) -> str:
    """The newest complete set saved at ``prefix``, or ``prefix`` itself.

    The set named by the directory's state file is used while the plain
    ``prefix.index`` is a hard link to one of the prefix's sets (netform
    manages it); a prefix whose files were replaced by hand is read as it is.

    Args:
        prefix: A checkpoint prefix, as given to :func:`save_checkpoint`.

    Returns:
        The set's prefix, or ``prefix``.
    """
    directory, base = os.path.split(os.path.abspath(prefix))
    named = _state_target(directory)
    if not named or not named.startswith(base + SET_MARK) or os.sep in named or "/" in named:
        return prefix
    candidate = os.path.join(directory, named)
    try:
        plain = os.stat(prefix + ".index")
        sets = [
            os.stat(os.path.join(directory, n))
            for n in os.listdir(directory)
            if n.startswith(base + SET_MARK) and n.endswith(".index")
        ]
        if os.path.isfile(candidate + ".index") and any(
            (st.st_ino, st.st_dev) == (plain.st_ino, plain.st_dev) for st in sets
        ):
            return candidate
    except OSError:  # a set removed meanwhile: read the prefix as it is
        pass
    return prefix


def _publish(tmp_prefix: str, directory: str, base: str) -> str:
    """Move a written checkpoint into ``directory`` as a new set; switch the plain index, then the state file."""
    set_base = f"{base}{SET_MARK}{time.time_ns():016x}{secrets.token_hex(2)}"
    _rename_shards(tmp_prefix, os.path.join(directory, base))
    # The set's name in the temporary folder's mark before its first file leaves the folder: a save killed
    # between the data and the index proves to the next save that the data without an index is its own.
    # Appended in place, no rename: a line cut short names no set, and its folder is still provably netform's.
    # With the inode numbers of its data files: the next save deletes only those (a forged mark naming a set
    # deleted a user's file that merely had a set's data name).
    inodes = ",".join(str(os.lstat(f).st_ino) for f in _files_of(tmp_prefix) if not f.endswith(".index"))
    with open(os.path.join(os.path.dirname(tmp_prefix), _MARK), "a", encoding="utf-8") as fh:
        fh.write(f"set: {set_base} inodes: {inodes}\n")
        fh.flush()
        os.fsync(fh.fileno())
    moved: list[str] = []
    plain = os.path.join(directory, base)
    earlier = _index_source(directory, base)
    try:
        # Data first, index last: a set without its index does not exist for a reader.
        for old in sorted(_files_of(tmp_prefix), key=lambda f: f.endswith(".index")):
            new = os.path.join(directory, set_base + old[len(tmp_prefix) :])
            os.replace(old, new)
            moved.append(new)
        fsync_dir(directory)
        _link_plain(moved, directory, base, set_base)
        named = _state_target(directory)
        state = os.path.join(directory, _STATE)
        if not os.path.lexists(state) or (named is not None and (named == base or named.startswith(base + SET_MARK))):
            write_bytes(state, _state_text(state, base, set_base))
    except BaseException:
        _unlink_plain_of(plain, moved, earlier)
        for path in moved:
            _unlink(path)
        raise
    _drop_old_sets(directory, base)
    return os.path.join(directory, set_base)


def _state_text(state: str, base: str, set_base: str) -> bytes:
    """The ``checkpoint`` state file naming the new set, keeping what it says of other checkpoints.

    A ``tf.train.CheckpointManager`` lists its checkpoints there (with their times): a save at one of their
    prefixes names its new set in place of the prefix and its earlier sets, and keeps the others' entries
    (before, the file was written anew and the manager lost track of them).
    """
    from google.protobuf import text_format

    from ._detect import _state_message

    message = _state_message()
    old = message()
    try:
        with open(state, encoding="utf-8") as fh:
            text_format.Merge(fh.read(4 * 2**20), old)
    except (OSError, UnicodeError, ValueError, text_format.ParseError):
        old = message()
    paths, times = list(old.all_model_checkpoint_paths), list(old.all_model_checkpoint_timestamps)
    timed = bool(times) and len(times) == len(paths)
    new = message(model_checkpoint_path=set_base)
    for i, path in enumerate(paths):
        name = in_folder(path, os.path.dirname(os.path.abspath(state)))
        if name != base and not name.startswith(base + SET_MARK):
            new.all_model_checkpoint_paths.append(path)
            if timed:
                new.all_model_checkpoint_timestamps.append(times[i])
    new.all_model_checkpoint_paths.append(set_base)
    if timed:
        new.all_model_checkpoint_timestamps.append(time.time())
    if old.last_preserved_timestamp:
        new.last_preserved_timestamp = old.last_preserved_timestamp
    return text_format.MessageToString(new).encode()


def _index_source(directory: str, base: str) -> str | None:
    """A set's index that the plain ``base.index`` is another name of (None: no plain index, or not a set's)."""
    plain = _inode(os.path.join(directory, base + ".index"))
    if plain is None:
        return None
    pattern = re.compile(re.escape(base + SET_MARK) + r"[0-9a-f]{20}\.index")
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if pattern.fullmatch(name) and not os.path.islink(path) and _inode(path) == plain:
            return path
    return None


def _unlink_plain_of(plain: str, moved: list[str], earlier: str | None) -> None:
    """Take the plain names of ``plain`` off a set whose publish failed (its files ``moved``).

    A plain index linked to the failed set goes back to the index of the set it was before (``earlier``),
    or goes when there was none; then a plain data file linked to it goes (the earlier index never reads it:
    see :func:`_rename_shards`). When the index cannot be put back, the plain names stay on the failed set,
    a whole checkpoint.
    """
    failed = {_inode(path) for path in moved} - {None}
    for path in sorted(_files_of(plain), key=lambda f: not f.endswith(".index")):  # the index first
        if _inode(path) not in failed:
            continue
        try:
            if path.endswith(".index") and earlier is not None:
                tmp = temp_name(path)
                try:
                    os.link(earlier, tmp)
                    os.replace(tmp, path)
                finally:
                    _unlink(tmp)
            else:
                os.remove(path)
        except OSError:
            if path.endswith(".index"):
                return  # the plain index still reads the failed set's data: that stays with it
    with contextlib.suppress(OSError):
        fsync_dir(os.path.dirname(plain))


def _used_data(prefix: str) -> set[str]:
    """Names of the data shards ``prefix.index`` reads tensors from (none when it is absent or does not parse)."""
    try:
        count, entries = read_index(prefix + ".index")
    except (FormatError, OSError):
        return set()
    base = os.path.basename(prefix)
    return {f"{base}.data-{e.shard_id:05d}-of-{count:05d}" for e in entries}


def _rename_shards(tmp_prefix: str, plain: str) -> None:
    """Give the new checkpoint's data file a name the plain prefix's index does not read.

    TensorFlow names a data shard ``<prefix>.data-<shard>-of-<count>`` and
    writes a single shard. Its index is rewritten to declare two shards with
    every tensor in shard 0 or shard 1, whichever the plain ``plain.index``
    does not use now (shard 0 when it is absent, or a single-shard index such
    as plain TensorFlow writes); the data file is renamed to match. The other
    shard holds no tensor, and TensorFlow opens a shard only for a tensor it
    reads, so it never opens it.
    """
    written, _ = read_index(tmp_prefix + ".index")
    if written != 1:
        return  # a multi-shard write (variables on several devices) keeps TensorFlow's names
    base = os.path.basename(plain)
    shard = 1 if _used_data(plain) == {f"{base}.data-00000-of-00002"} else 0
    try:
        move_to_shard(tmp_prefix + ".index", shard, 2)
    except FormatError:  # an index laid out otherwise than TensorFlow writes it now: its names are kept
        return
    os.replace(tmp_prefix + ".data-00000-of-00001", f"{tmp_prefix}.data-{shard:05d}-of-00002")


def _link_plain(files: list[str], directory: str, base: str, set_base: str) -> None:
    """Point ``base.index``/``base.data-*`` at the new set (hard links, or copies), index last.

    The new data file has a name the current plain index does not read (see
    :func:`_rename_shards`), so the plain prefix is the old checkpoint until
    the one rename of its index makes it the new one. The data files the old
    index reads stay, for a reader that opened it just before; any other
    plain data file goes (the single shard of a checkpoint the save before
    replaced, or one a save killed before its index switched left).
    """
    plain = os.path.join(directory, base)
    keep = _used_data(plain)
    names = set()
    for src in sorted(files, key=lambda f: f.endswith(".index")):
        dst = os.path.join(directory, base + os.path.basename(src)[len(set_base) :])
        names.add(os.path.basename(dst))
        tmp = temp_name(dst)
        try:
            try:
                os.link(src, tmp)
            except OSError:  # a file system without hard links
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        except BaseException:
            _unlink(tmp)
            raise
    fsync_dir(directory)
    for stale in _files_of(plain):
        if os.path.basename(stale) not in names | keep:
            _unlink(stale)
    fsync_dir(directory)


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _drop_old_sets(directory: str, base: str) -> None:
    """Remove all but the newest :data:`_KEEP` sets of ``base`` (never the one the state names nor one a plain name links to).

    Only sets netform wrote are candidates: a name exactly as :func:`_publish`
    makes it (``base.nf-set-`` and 20 hex digits), whose index parses as a
    tensor bundle and whose other files are data shards that index declares.
    A user's file that merely shares the name pattern is kept.
    """
    named = _state_target(directory)
    pattern = re.compile(re.escape(base + SET_MARK) + r"([0-9a-f]{20})\.index")
    sets = sorted(
        (n[: -len(".index")] for n in os.listdir(directory) if pattern.fullmatch(n)),
        reverse=True,
    )
    # A set whose data a plain name still holds (the data the old plain index read, kept a save longer) stays:
    # after a killed save the newest sets are not always the ones the plain names came from.
    plain = {_inode(path) for path in _files_of(os.path.join(directory, base))} - {None}
    for old in sets[_KEEP:]:
        prefix = os.path.join(directory, old)
        if old != named and _is_own_set(prefix) and not plain & {_inode(p) for p in _files_of(prefix)}:
            # data shards first, index last: a set without its index is no set for any reader
            for path in sorted(_files_of(prefix), key=lambda f: f.endswith(".index")):
                _unlink(path)


def _inode(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _is_own_set(prefix: str) -> bool:
    """Whether ``prefix`` is a set netform wrote: its index parses, its data files are ones it declares."""
    try:
        num_shards, _ = read_index(prefix + ".index")
    except (FormatError, OSError):
        return False
    declared = {f"{prefix}.data-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)}
    files = _files_of(prefix)
    # A set holds only the shard its tensors are in (an earlier version's held every shard), or none
    # when a save was killed while removing it (data first): any file its index does not declare is not netform's.
    if not (
        set(files) - {prefix + ".index"} <= declared and all(os.path.isfile(f) and not os.path.islink(f) for f in files)
    ):
        return False
    from ._target import data_beyond_index

    # and each data file holds nothing past its last tensor: bytes appended there (a user's text) keep the set
    data = {os.path.basename(f): f for f in files if f != prefix + ".index"}
    return not data_beyond_index(prefix + ".index", data)


@contextlib.contextmanager
def _save_lock(directory: str, base: str) -> Iterator[None]:
    """Hold the folder's save lock (:func:`._atomic.folder_lock`, the one every save in a folder takes); alone
    there first, remove what killed saves left of ``base``.

    Saves run side by side under the shared lock; a save that finds no other one running removes a killed
    save's leftovers first. Where the system has no ``flock`` the save runs without it and removes nothing.
    """
    with folder_lock(directory, lambda: _remove_killed_saves(directory, base)):
        yield


def _killed_temp(directory: str, base: str, name: str) -> str | None:
    """What a temporary name of a save of ``base`` holds after its mark: ``""`` for its folder, the
    extension (``.index``, ``.data-00001-of-00002``) for a plain name's link; None for any other name."""
    from netform._files import NAME_MAX, TMP_MARK, fitted_tail

    head = re.fullmatch(r"\.[0-9a-f]{16}" + re.escape(TMP_MARK) + r"(.+)", name)
    if head is None:
        return None
    tail, room = head.group(1), NAME_MAX - (1 + 16 + len(TMP_MARK))
    if tail == fitted_tail(base, room):
        return ""
    ext = re.search(r"(\.index|\.data-\d{5}-of-\d{5})$", tail)
    if ext is not None and tail == fitted_tail(base + ext.group(1), room):
        return ext.group(1)
    return None


def _remove_killed_saves(directory: str, base: str) -> None:
    """Remove what saves of ``base`` killed in ``directory`` left, when it is provably theirs.

    Called only while no other save holds the folder's lock (see :func:`_save_lock`). Removed are:

    * a temporary folder named as :func:`save_checkpoint` names it (``.<16 hex digits>.nf-tmp-<base>``, not
      a link) that is empty (a save killed as it made it), holds only its mark cut short (the start of
      netform's text, or nothing: killed as it wrote the mark), or holds its mark (:data:`_MARK`, netform's exact text) and nothing but the files a save
      writes there (TensorFlow's ``<base>.index``/``.data-*``, its ``<base>_temp/part-*`` files, each
      also as the ``.tempstate<digits>`` name TensorFlow writes it under first, the mark);
      with it, the set its mark names when that set has data files but
      no index (a save killed between them): its data files, each with no other name;
    * a plain name's temporary link (``.<16 hex digits>.nf-tmp-<base>.index``/``.data-*``) that is
      another name of a set's file of the same kind (the same inode), so removing it loses nothing.

    Anything else (a user's file or folder of such a name, a folder without the mark or with other
    files, a set with its index) is left as it is. A file system error stops the removal of that one
    leftover only.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return
    sets = re.compile(re.escape(base + SET_MARK) + r"[0-9a-f]{20}")
    for name in names:
        kind = _killed_temp(directory, base, name)
        if kind is None:
            continue
        path = os.path.join(directory, name)
        try:
            if kind == "":
                _remove_killed_folder(directory, base, path, sets)
            elif os.path.isfile(path) and not os.path.islink(path):
                mine = os.stat(path)
                twins = [n for n in names if sets.fullmatch(n[: -len(kind)]) and n.endswith(kind)]
                if any(os.path.samestat(mine, os.stat(os.path.join(directory, n))) for n in twins):
                    os.remove(path)
        except OSError:
            continue


def _remove_killed_folder(directory: str, base: str, path: str, sets: re.Pattern[str]) -> None:
    """Remove a killed save's temporary folder (and the data of the set it left without index), if provably its."""
    from netform._files import OwnMount, holds_mount, on_device, parent_device

    from ._detect import is_table

    device = parent_device(path)
    if os.path.islink(path) or not os.path.isdir(path) or not on_device(path, device) or holds_mount(path):
        return  # (a folder mounted there holds a user's files)
    if not os.listdir(path):  # killed right after it was made: an empty folder of the save's own name
        os.rmdir(path)
        return
    mark = os.path.join(path, _MARK)
    if os.path.islink(mark) or not os.path.isfile(mark) or os.path.getsize(mark) > 4096:
        return
    with open(mark, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    if _MARK_TEXT.startswith(text) and os.listdir(path) == [_MARK]:
        # killed as it wrote its mark (made, not yet written whole): the folder holds that alone, and its
        # text is the start of netform's own, so removing it loses nothing (such folders piled up, 1,002 in a
        # loop of kills)
        os.remove(mark)
        os.rmdir(path)
        fsync_dir(directory)
        return
    named = re.fullmatch(re.escape(_MARK_TEXT) + r"(?:set: ([^\n]*)(\n)?)?", text)
    if named is None:
        return
    data = re.compile(re.escape(base) + r"(\.index|\.data-\d{5}-of-\d{5})(\.tempstate\d+)?")
    parts = re.compile(r"part-\d{5}-of-\d{5}(\.index|\.data-\d{5}-of-\d{5})(\.tempstate\d+)?")
    files, folders = [], []
    for entry in os.listdir(path):
        full = os.path.join(path, entry)
        if os.path.islink(full) or not on_device(full, device):
            return  # a link, or a folder mounted inside: not a save's
        if entry == _MARK:
            continue
        if data.fullmatch(entry) and os.path.isfile(full):
            if entry == base + ".index" and not is_table(full):
                return  # a user's text under the index's name: the folder stays as it is
            files.append(full)
        elif entry == base + "_temp" and os.path.isdir(full):  # TensorFlow's sharded write, cut short
            inner = os.listdir(full)
            if any(
                os.path.islink(os.path.join(full, n))
                or not parts.fullmatch(n)
                or not on_device(os.path.join(full, n), device)
                for n in inner
            ):
                return
            files += [os.path.join(full, n) for n in inner]
            folders.append(full)
        else:
            return  # something a save does not write there: the folder stays as it is
    line = re.fullmatch(r"(\S+) inodes: ([0-9,]*)", named.group(1)) if named.group(2) else None  # (cut short: none)
    set_base = line.group(1) if line else None
    if set_base and sets.fullmatch(set_base) and not os.path.lexists(os.path.join(directory, set_base + ".index")):
        # only the data files the killed save moved there: the inodes its mark lists, in the mark's file system,
        # owned as the mark is by this user, with no other name (a plain name holds none of them)
        listed = {int(n) for n in line.group(2).split(",") if n} if line else set()
        mine = os.lstat(mark)
        pattern = re.compile(re.escape(set_base) + r"\.data-\d{5}-of-\d{5}")
        for name in os.listdir(directory):
            full = os.path.join(directory, name)
            if not pattern.fullmatch(name):
                continue
            st = os.lstat(full)
            if (
                stat.S_ISREG(st.st_mode)
                and st.st_ino in listed
                and st.st_dev == mine.st_dev
                and st.st_uid == mine.st_uid == os.geteuid()
                and st.st_nlink == 1
            ):
                os.remove(full)
    with OwnMount(path) as own:  # (through checked folder handles: a mount made since is never deleted on)
        for full in files:
            if not own.unlink(os.path.relpath(full, path)):
                return
        for full in folders:
            if not own.rmdir(os.path.relpath(full, path)):
                return
        own.unlink(_MARK)  # the mark last: a removal cut short is finished by the next save
        own.remove_root()
    fsync_dir(directory)


def save_checkpoint(model: Any, prefix: str) -> None:
    """Write the model's variables as a TF checkpoint at ``prefix``, atomically as a set.

    Saves hold a shared lock on the folder (see :func:`_save_lock`); a save that finds no other save
    running there first removes what a save killed there left (:func:`_remove_killed_saves`).
    """
    if prefix.endswith(".index"):
        prefix = prefix[: -len(".index")]
    directory, base = os.path.split(os.path.abspath(prefix))
    with writing(prefix, "tf_checkpoint"):
        os.makedirs(directory, exist_ok=True)
        recover(prefix)  # a checkpoint parked by an earlier netform version
        with _save_lock(directory, base):
            _save_in(model, prefix, directory, base)


def _save_in(model: Any, prefix: str, directory: str, base: str) -> None:
    """The save of :func:`save_checkpoint`, under its lock: write in a marked temporary folder, then publish."""
    import tensorflow as tf

    tmp_dir = temp_name(prefix)
    os.mkdir(tmp_dir)
    try:
        with open(os.path.join(tmp_dir, _MARK), "x", encoding="utf-8") as fh:
            fh.write(_MARK_TEXT)
        tmp_prefix = os.path.join(tmp_dir, base)
        tf.train.Checkpoint(model=model).write(tmp_prefix)
        missing = unreachable_weights(model)
        if missing:
            raise SaveError(
                f"{prefix}: a TF checkpoint cannot reach {len(missing)} of the model's {len(model.weights)} "
                f"weights ({', '.join(missing[:5])}): their layers sit in a structure TensorFlow does not "
                "track (e.g. a tuple); keep layers in attributes or lists, or save with format='weights_h5'"
            )
        if not os.path.isfile(tmp_prefix + ".index"):
            raise FileNotFoundError(f"no checkpoint index was written at {tmp_prefix}")
        for path in _files_of(tmp_prefix):
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        with swap_turn(os.path.join(directory, base)):  # publishes of one prefix, and its checks, take turns
            _publish(tmp_prefix, directory, base)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def unreachable_weights(model: Any) -> list[str]:
    """Paths of the model's weights that TF's object graph cannot reach from the model.

    The optimizer is left out of the walk: a weight reachable only through the
    optimizer's slots would be saved, but could not be restored into a fresh
    model that has no optimizer yet.
    """
    from netform._compat import _keras_saving as ks  # imports TensorFlow

    seen: set[int] = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        try:
            children = ks.checkpoint_children(obj)
        except (AttributeError, TypeError, ValueError):
            continue
        for name, child in children.items():
            if obj is model and name == "optimizer":
                continue
            stack.append(child)
    return [getattr(w, "path", w.name) for w in model.weights if id(w) not in seen]


def checkpoint_variables(prefix: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a checkpoint's model variables, read from its index without TensorFlow.

    The whole index is checked on the way (:func:`check_bundle`): TensorFlow
    stops the process on an entry it cannot parse, so every path that hands
    a checkpoint to TensorFlow calls this first.

    Raises:
        FormatError: The index is malformed or names bytes its data shards do not hold.
    """
    return {
        e.key: e.shape for e in check_bundle(prefix) if e.key.startswith("model/") and e.key.endswith("VARIABLE_VALUE")
    }


def load_checkpoint(model: Any, path: str, *, skip_mismatch: bool = False) -> list[str]:
    """Restore a model's variables from a TF checkpoint.

    Args:
        model: A built model.
        path: The prefix, its ``.index``, or a directory with a ``checkpoint`` file.
        skip_mismatch: Not supported for checkpoints (TensorFlow matches by
            object graph); a mismatch is always an error listing the differences.

    Returns:
        An empty list (nothing is ever skipped).
    """
    base = checkpoint_prefix(path)
    if base is None:
        raise FormatError(f"{path}: no TF checkpoint index found here.")
    for attempt in range(_READ_TRIES):
        prefix = current_set(base)  # a complete set, never one being replaced
        try:
            return _load_set(model, path, prefix, skip_mismatch)
        except Exception:
            # A reader slower than two saves finds its set removed (only the newest two are kept): the state
            # file then names a newer complete set, which is read whole, so no variable keeps a value of the
            # set that went away. Any other failure is the file's.
            if attempt + 1 == _READ_TRIES or prefix == base or current_set(base) == prefix:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


#: How often a read starts again on the newest set when a save removed the set it was reading.
_READ_TRIES = 5


def _load_set(model: Any, path: str, prefix: str, skip_mismatch: bool) -> list[str]:
    """Restore ``model`` from one complete set (``prefix``); ``path`` is what the user named."""
    import tensorflow as tf

    check_checkpoint_files(prefix)  # the set's own files: no FIFO for TensorFlow to block on
    with reading(path, "tf_checkpoint"):
        saved = checkpoint_variables(prefix)  # the index checked before TensorFlow reads it
        try:
            status = tf.train.Checkpoint(model=model).read(prefix)
            status.assert_existing_objects_matched()
            status.expect_partial()
            missing = unreachable_weights(model)
            if missing:
                raise AssertionError(f"TF checkpoints cannot reach the weights {', '.join(missing[:5])} of this model")
        except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as err:
            mine = [f"{v.path}: {tuple(v.shape)}" for v in model.weights]
            theirs = [
                f"{k.removeprefix('model/').split('/.ATTRIBUTES')[0]}: {s}"
                for k, s in saved.items()
                if "/optimizer/" not in k and not k.startswith("model/optimizer")
            ]
            problems = [
                " ".join(str(err).split())[:300],
                "model variables: " + ", ".join(mine[:12]),
                "checkpoint variables: " + ", ".join(theirs[:12]),
            ]
            note = (
                (
                    " (skip_mismatch is not supported for TF checkpoints, which match variables "
                    "by object graph; use a .weights.h5 file.)"
                )
                if skip_mismatch
                else ""
            )
            optimizer = getattr(model, "optimizer", None)
            if optimizer is not None and f"path={optimizer.name}/" in str(err):
                # the model's weights may fit: its compiled optimizer's state (built slots) has nothing saved
                note += (
                    f" The unmatched objects include the model's optimizer '{optimizer.name}', whose state the "
                    "checkpoint does not hold (it was written before that optimizer took a step): load the weights "
                    "into the model without its optimizer (nf.load(..., compile=False)), or save the checkpoint "
                    "after training."
                )
            raise FormatError(str(mismatch_error(path, model, problems)) + note) from err
    return []
