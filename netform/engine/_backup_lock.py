"""One training per backup directory, and a clean-up that touches only netform's files.

:class:`DirectoryLock` holds an OS lock (``flock`` on POSIX, ``msvcrt`` on
Windows) on ``<directory>/netform-backup.lock`` for the whole ``fit``. The
kernel releases it when the process dies, so a lock file left by a killed run
never blocks the next one. A second training on the same directory is refused
with an :class:`~netform.errors.EngineError` instead of both writing the same
backup.

When training completes, :func:`remove_own_state` deletes only what netform
wrote in the directory (the backup's files, by their exact names, in the
backup, its temporary and parked copies; the lock and marker files); a folder
of the backup that holds anything else is kept with it, and the directory
itself is removed only when netform created it and it is left empty (when
other files keep it, netform's marker still goes with the backup).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from pathlib import Path

from ..errors import EngineError, FormatError
from .._files import BACKUP_SUFFIX, TMP_MARK

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

__all__ = [
    "DirectoryLock",
    "remove_own_state",
    "remove_created_directory",
    "own_temporaries",
    "remove_temporaries",
    "remove_parked",
    "check_directory",
    "LOCK_NAME",
    "CREATED_NAME",
    "STATE_FILES",
    "STATE_NAME",
]

#: The lock file inside a backup directory.
LOCK_NAME = "netform-backup.lock"
#: Present when netform created the backup directory (so it may remove it).
CREATED_NAME = "netform-backup.created"
#: The backup inside the directory (``<directory>/state``), a folder netform replaces as a whole.
STATE_NAME = "state"
#: The files netform writes in a backup (``<directory>/state``); nothing else in it is netform's.
STATE_FILES = ("state.json", "variables.npz")
_ATTEMPTS = 5


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    os.close(fd)


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        pid = int(re.search(r"process (\d+)", path.read_text(encoding="ascii")).group(1))  # type: ignore[union-attr]
        return f"process {pid}"
    return "another process"


def _owned_by_a_backup(name: str) -> bool:
    """Whether ``name``, in a backup directory, is what that training owns: its state (parked, temporary), lock, marker."""
    return (
        name in (STATE_NAME, LOCK_NAME, CREATED_NAME)
        or name.startswith(STATE_NAME + BACKUP_SUFFIX)
        or (TMP_MARK in name and name.endswith(TMP_MARK + STATE_NAME))
    )


def backup_above(directory: Path) -> tuple[str, str] | None:
    """Another training's backup that ``directory`` lies inside: ``(its folder, its entry)``, or None.

    A folder above ``directory`` (links resolved) that holds netform's lock or marker file is a training
    backup directory; its ``state/`` (and that state's parked and temporary copies), lock and marker are
    that training's, which replaces or removes them as a whole, running or when it resumes.
    """
    real = os.path.realpath(directory)
    folder = os.path.dirname(real)
    while True:
        first = os.path.relpath(real, folder).split(os.sep)[0]
        if _owned_by_a_backup(first) and any(
            os.path.isfile(os.path.join(folder, n)) and not os.path.islink(os.path.join(folder, n))
            for n in (LOCK_NAME, CREATED_NAME)
        ):
            return folder, first
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


#: What Keras's ``BackupAndRestore`` writes in its folder (which it deletes, whole, when its training ends).
KERAS_BACKUP_FILES = ("training_metadata.json", "latest.weights.h5")
#: Every name Keras's ``BackupAndRestore`` writes in its folder (``double_checkpoint=True`` adds the ``.bkp`` copies).
KERAS_BACKUP_NAMES = frozenset({*KERAS_BACKUP_FILES, *(f"{name}.bkp" for name in KERAS_BACKUP_FILES)})


def keras_backup_above(directory: Path) -> str | None:
    """A folder at or above ``directory`` (links resolved) holding a Keras ``BackupAndRestore``'s files, or None.

    Keras deletes that folder with everything in it when its training ends: a netform backup inside it
    would go with it, lock, marker and state.
    """
    folder = os.path.realpath(directory)
    while True:
        if all(_regular(os.path.join(folder, name)) for name in KERAS_BACKUP_FILES):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _refuse_inside_a_backup(directory: Path, shown: str, fix: str) -> None:
    """Raise :class:`EngineError` when ``directory`` lies inside what another training's backup owns, or inside a
    Keras ``BackupAndRestore`` folder (which Keras deletes whole when its training ends)."""
    keras_folder = keras_backup_above(directory)
    if keras_folder is not None:
        raise EngineError(
            f"{shown}: lies inside {keras_folder}, the folder of a Keras BackupAndRestore (it holds "
            f"{' and '.join(KERAS_BACKUP_FILES)}), which Keras deletes with everything in it when that training "
            f"ends; {fix}"
        )
    above = backup_above(directory)
    if above is not None:
        folder, entry = above
        raise EngineError(
            f"{shown}: lies inside {os.path.join(folder, entry)}, which the training backup in {folder} owns (that "
            f"folder holds netform's backup lock or marker): that training replaces or removes it as a whole, and "
            f"its lock and marker there would be taken for this training's; {fix}"
        )


class DirectoryLock:
    """An exclusive, non-blocking lock on a backup directory, held by this process.

    Args:
        directory: The backup directory (created if missing; netform then
            marks it as its own).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.directory / LOCK_NAME

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or refuse at once if another training holds it.

        Raises:
            EngineError: Another training (in this or another process) uses
                the directory, or the directory cannot be created.
        """
        if self._fd is not None:
            return
        _refuse_inside_a_backup(
            self.directory, f"fit(): the training backup directory {self.directory}", "pass another `backup_dir`."
        )
        for _ in range(_ATTEMPTS):
            try:
                if not self.directory.is_dir():
                    try:
                        self.directory.mkdir(parents=True, exist_ok=True)
                    except FileNotFoundError as err:  # not a race (parents=True): a folder that refuses it (/proc)
                        raise EngineError(
                            f"fit(): cannot use {self.directory} as the training backup directory "
                            f"({err.strerror}). Expected a writable directory; pass another `backup_dir`."
                        ) from err
                    _write_marker(self.directory / CREATED_NAME)
                # Never through a link planted under the lock's name (O_NOFOLLOW).
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except FileNotFoundError:
                continue  # a finishing run removed the directory meanwhile
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise EngineError(
                        f"fit(): {self.path} is a symbolic link; netform's lock file is never a link, so the "
                        "backup directory is refused. Remove the link, or pass another `backup_dir`."
                    ) from err
                raise EngineError(
                    f"fit(): cannot use {self.directory} as the training backup directory ({err.strerror}). "
                    "Expected a writable directory; pass another `backup_dir`."
                ) from err
            problem = _not_a_lock_file(fd)
            if problem:
                os.close(fd)
                raise EngineError(
                    f"fit(): {self.path} {problem}, not netform's lock file; "
                    "it is left as it is. Move it away, or pass another `backup_dir`."
                )
            if not _try_lock(fd):
                os.close(fd)
                raise EngineError(
                    f"fit(): the training backup directory {self.directory} is in use by another training "
                    f"({_holder(self.path)} holds {LOCK_NAME}). Expected one training per backup directory: "
                    "wait for the other one to finish, or pass another `backup_dir`."
                )
            # A finishing run unlinks its lock file: make sure ours is the one in place.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                self._fd = fd
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"netform training backup lock, process {os.getpid()}\n".encode("ascii"))
                return
            _unlock(fd)
        raise EngineError(
            f"fit(): could not lock the training backup directory {self.directory}: other trainings kept "
            "removing and re-creating it. Expected one training per backup directory; pass another `backup_dir`."
        )

    def release(self, *, remove_file: bool = False) -> None:
        """Release the lock (idempotent); with ``remove_file``, delete the lock file first."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if remove_file:
            with contextlib.suppress(OSError):
                os.remove(self.path)
        _unlock(fd)


def check_directory(directory: Path, *, option: str) -> None:
    """Refuse, before a model is built, a backup directory that ``fit`` would refuse; create nothing.

    For a command line (``option`` is ``--backup-dir``): the refusals of
    :meth:`DirectoryLock.acquire`, and those it would meet creating the
    directory, as one-line :class:`EngineError` messages that name
    ``option`` and the fix; what ``fit`` refuses at ``<directory>/state``
    (something not a backup, a file not netform's in it) as the same
    :class:`~netform.errors.FormatError` it raises. Another training's lock is seen by taking the
    lock for an instant; ``fit`` checks everything again when it starts.
    A directory of the user's files, or the working directory, is accepted
    (only netform's files are ever removed from it).

    Args:
        directory: The backup directory as given.
        option: How the caller names it, in the messages.

    Raises:
        EngineError: What is wrong with ``directory``, and what to do.
        FormatError: ``<directory>/state`` is not netform's backup, or holds a file that is not netform's.
    """
    from ..spec._access import _unprintable  # the rule for a spec's callback paths, TrainingBackup's included

    text = os.fspath(directory)
    shown = f"{option} {text}"
    if not text or _unprintable(text):
        what = "is empty" if not text else "contains a control or formatting character (NUL, newline, tab, DEL, …)"
        raise EngineError(f"{option} {text!r}: the name {what}; name a folder in plain characters with {option}")
    if os.path.islink(directory) and not os.path.exists(directory):
        raise EngineError(
            f"{shown}: is a symbolic link to {os.readlink(directory)}, which does not exist; netform makes a "
            f"missing backup folder but not through a link: make the folder it points to, or give another {option}"
        )
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise EngineError(f"{shown}: not a folder; give a folder (it is made if it does not exist) with {option}")
    _refuse_inside_a_backup(directory, shown, f"give a folder outside it with {option}")
    if not os.path.isdir(directory):
        _check_creatable(directory, shown, option)
        return
    if not os.access(directory, os.W_OK | os.X_OK):
        raise EngineError(
            f"{shown}: the folder is not writable (permission denied), and training writes its lock file and "
            f"backups there; give a folder you can write to with {option}"
        )
    _check_state(directory / STATE_NAME, shown, option)
    lock = directory / LOCK_NAME
    if not os.path.lexists(lock):
        return
    if os.path.islink(lock):
        raise EngineError(
            f"{shown}: {lock} is a symbolic link; netform's lock file is never a link, so the folder is refused. "
            f"Remove the link, or give another {option}"
        )
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise EngineError(
            f"{shown}: its lock file {lock} cannot be opened ({err.strerror}); give another {option}"
        ) from err
    try:
        problem = _not_a_lock_file(fd)
        if problem:
            raise EngineError(
                f"{shown}: {lock} {problem}, not netform's lock file; it is left as it is. Move it away, or give "
                f"another {option}"
            )
        if not _try_lock(fd):
            raise EngineError(
                f"{shown}: the folder is in use by another training ({_holder(lock)} holds {LOCK_NAME}); one "
                f"training per backup folder: wait for the other one to finish, or give another {option}"
            )
    finally:
        _unlock(fd)  # releases the instant's lock, and closes


def _check_state(state: Path, shown: str, option: str) -> None:
    """Refuse what ``fit`` refuses at ``<directory>/state``: something not a backup, a file not netform's in it."""
    if not os.path.lexists(state):
        return
    if os.path.islink(state) or not os.path.isdir(state) or not os.path.lexists(state / STATE_FILES[0]):
        raise FormatError(
            f"{shown}: {state} is not a netform training backup (expected a directory holding "
            f"{' and '.join(STATE_FILES)}), and a backup would replace it. Move it away, or give another {option}"
        )
    try:
        foreign = sorted(set(os.listdir(state)) - set(STATE_FILES))
    except OSError as err:
        raise FormatError(f"{shown}: {state} could not be read ({err.strerror}); give another {option}") from err
    if foreign:
        shown_names = ", ".join(repr(n) for n in foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise FormatError(
            f"{shown}: {shown_names} in {state} {'is' if len(foreign) == 1 else 'are'} not netform's, and would be "
            f"lost with the backup, which is replaced as a whole and removed when training ends. Move "
            f"{'it' if len(foreign) == 1 else 'them'} out of {state}, or give another {option}"
        )


def _check_creatable(directory: Path, shown: str, option: str) -> None:
    """Refuse a missing backup directory that could not be made (a file on its way, no permission, a long name)."""
    parent = directory.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not os.path.isdir(parent):
        raise EngineError(f"{shown}: cannot be made: {parent} is not a folder; give another {option}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EngineError(
            f"{shown}: cannot be made: the folder {parent} is not writable (permission denied); give a folder "
            f"you can write to with {option}"
        )
    try:
        longest = int(os.pathconf(parent, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        longest = 255
    names = [part for part in directory.parts if len(part) > longest]
    if names:
        raise EngineError(
            f"{shown}: cannot be made: a name of {len(names[0])} characters, and the file system takes at most "
            f"{longest}; give a shorter {option}"
        )


def own_temporaries(directory: Path, state: Path) -> list[Path]:
    """The temporary copies of ``state`` left in ``directory`` by interrupted writes."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [directory / n for n in names if n.endswith(TMP_MARK + state.name) or n.startswith(state.name + TMP_MARK)]


def remove_own_state(directory: Path, state: Path) -> None:
    """Delete netform's backup files in ``directory``; keep everything else.

    In ``state``, its parked copy and its temporary copies only the files
    named in :data:`STATE_FILES` are removed, then the folder if that left it
    empty: a file of the user's in it is kept, with its folder. The
    directory, the marker and the lock file are left to
    :func:`remove_created_directory` and :meth:`DirectoryLock.release`.

    Args:
        directory: The backup directory.
        state: The backup inside it.
    """
    for path in [state, directory / (state.name + BACKUP_SUFFIX), *own_temporaries(directory, state)]:
        _remove(path)
    remove_parked(directory, state)


def remove_parked(directory: Path, state: Path) -> None:
    """Delete the copies of ``state`` that a replacement cut short left parked, and their notes.

    A backup replaces ``state`` by parking the old copy as ``state.nf-old-<16 hex digits>`` beside a note
    (``.nf-parked``) whose exact text names both (:mod:`netform._files`), then deleting both: a process
    killed in between leaves them. Only a folder that note proves netform parked is emptied of netform's
    files (:data:`STATE_FILES`) and removed with its note; a note of that exact text whose folder is
    gone is removed too. A folder or file that merely has such a name is a user's, and stays.

    Call it holding the directory's lock, once :func:`netform._files.recover` has put back a parked copy
    where ``state`` is missing (the parked copies left then are older than ``state``).

    Args:
        directory: The backup directory.
        state: The backup inside it.
    """
    from .._files import PARKED_NOTE, _note_text, _parked_copies

    for parked in _parked_copies(str(state)):
        _remove(Path(parked))
        if not os.path.lexists(parked):
            with contextlib.suppress(OSError):
                os.unlink(parked + PARKED_NOTE)
    pattern = re.compile(re.escape(state.name + BACKUP_SUFFIX) + r"-[0-9a-f]{16}" + re.escape(PARKED_NOTE))
    try:
        names = [n for n in os.listdir(directory) if pattern.fullmatch(n)]
    except OSError:
        return
    for name in names:  # a note whose folder is gone: deleted between the two removals
        note = directory / name
        parked = str(note)[: -len(PARKED_NOTE)]
        expected = _note_text(str(state), parked)
        try:
            if os.path.lexists(parked) or not stat.S_ISREG(os.lstat(note).st_mode):
                continue
            fd = os.open(note, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                same = os.read(fd, len(expected) + 1) == expected
            finally:
                os.close(fd)
            if same:
                os.unlink(note)
        except OSError:
            continue


def remove_temporaries(directory: Path, state: Path) -> None:
    """Delete the temporary copies of ``state`` that interrupted writes left in ``directory`` (netform's files only)."""
    for path in own_temporaries(directory, state):
        _remove(path)


def _remove(path: Path) -> None:
    """Remove netform's files from the backup folder ``path`` and the folder if it is left empty.

    Anything else (a link, a file of that name, another file inside) is not
    netform's and stays.
    """
    from .._files import OwnMount, holds_mount, on_device, parent_device

    device = parent_device(str(path))
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode) or not on_device(str(path), device) or holds_mount(str(path)):
            return  # (a folder mounted there holds a user's files)
    except OSError:
        return
    try:
        with OwnMount(str(path)) as own:  # (through checked folder handles: a mount made since is never deleted on)
            for name in STATE_FILES:
                with contextlib.suppress(OSError):  # gone already, or a folder of that name (not netform's)
                    if on_device(str(path / name), device) and _written_by_a_backup(path / name):
                        own.unlink(name)
            own.remove_root()  # (not when a user's file is in it)
    except OSError:
        return


def _written_by_a_backup(path: Path) -> bool:
    """Whether ``path`` holds what a backup writes under its name: ``state.json`` a JSON object of a netform
    training backup's format, ``variables.npz`` a zip archive (a user's notes under either name are kept: they
    were deleted with a killed backup's temporary copy)."""
    import json
    import zipfile

    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return False
        if path.name == "variables.npz":
            return zipfile.is_zipfile(path) or _zip_cut_short(path, st.st_size)
        if st.st_size > 64 * 2**20:
            return False
        with open(path, "rb") as fh:
            value = json.loads(fh.read())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(value, dict) and value.get("format") == "netform-training-backup"


def _zip_cut_short(path: Path, size: int) -> bool:
    """Whether ``path`` is the start of a ``.npz`` a backup was writing when it was killed: its entries' local
    headers one after another, each naming a ``.npy`` array, the last (or the directory begun after them) cut
    short at the file's end, as a killed write leaves it. Anything else under that name is a user's."""
    import struct

    try:
        with open(path, "rb") as fh:
            pos = 0
            while pos < size:
                fh.seek(pos)
                head = fh.read(30)
                if head[:4] == b"PK\x01\x02" and pos:  # the directory, begun after the entries
                    return True
                if len(head) < 30:  # cut inside a local header
                    return bool(head) and head[:4] == b"PK\x03\x04"[: len(head[:4])]
                if head[:4] != b"PK\x03\x04":
                    return False
                (packed,) = struct.unpack_from("<I", head, 18)
                name_size, extra_size = struct.unpack_from("<HH", head, 26)
                name = fh.read(name_size)
                if len(name) < name_size:
                    return True  # cut inside the header
                if not name.endswith(b".npy"):
                    return False
                pos += 30 + name_size + extra_size + packed
                if not packed:  # (a header written before its data: the data runs to the end)
                    return True
            return pos > size  # cut inside the last entry's data (a whole archive is a zip, taken above)
    except OSError:
        return False


#: What the marker of a directory netform created holds (a file of that name with anything else is a user's).
MARKER_TEXT = b"netform created this directory for a training backup; it is removed when the training ends.\n"


def _write_marker(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, MARKER_TEXT)
    finally:
        os.close(fd)


def _is_marker(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a link) holding exactly :data:`MARKER_TEXT`."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            return os.read(fd, len(MARKER_TEXT) + 1) == MARKER_TEXT
        finally:
            os.close(fd)
    except OSError:
        return False


def _not_a_lock_file(fd: int) -> str | None:
    """Why the open file is not netform's lock file (empty, or netform's one line naming the process), or None."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} names (a hard link to another file)"
    data = os.pread(fd, 128, 0)
    if data and _LOCK_TEXT.fullmatch(data) is None:
        return f"holds {len(data) if info.st_size <= 128 else info.st_size} bytes of something else"
    return None


#: What netform's lock file holds while a training runs (empty before the first write).
_LOCK_TEXT = re.compile(rb"netform training backup lock, process \d+\n")


def remove_created_directory(directory: Path) -> None:
    """Remove ``directory`` if netform created it and only netform's files remain in it.

    When no backup of netform's is left in it but other files are (a TensorBoard ``log_dir`` above it writes
    there too), the folder is the user's from now on: it stays, and netform's marker goes. While a backup
    remains (``delete_on_finish=False``, or a training that failed after a backup) the marker stays, so
    that the clean-up once the backup is done with may remove the folder.
    """
    marker = directory / CREATED_NAME
    try:
        left = {p.name for p in directory.iterdir()}
    except OSError:
        return
    if CREATED_NAME not in left or not _is_marker(marker):
        return
    others = left - {CREATED_NAME, LOCK_NAME}
    if others & _backup_names(directory, others):
        return  # netform's backup is still there: the folder is removed with it, later
    with contextlib.suppress(OSError):
        marker.unlink()
        if not others:
            (directory / LOCK_NAME).unlink(missing_ok=True)
            directory.rmdir()


def _backup_names(directory: Path, names: set[str]) -> set[str]:
    """Those of ``names`` (in ``directory``) that are netform's backup: the state, its parked copy, temporaries
    and notes."""
    state = directory / STATE_NAME
    own = {STATE_NAME, STATE_NAME + BACKUP_SUFFIX, *(p.name for p in own_temporaries(directory, state))}
    parked = re.compile(re.escape(STATE_NAME + BACKUP_SUFFIX) + r"-[0-9a-f]{16}.*")
    return {n for n in names if n in own or parked.fullmatch(n)}
