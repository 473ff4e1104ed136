"""Atomic writes: every file netform writes goes to a temporary name beside the target.

A write never goes into the file that is already there. It goes to a new file
(or directory) under an unpredictable temporary name in the same directory,
created with ``O_EXCL | O_NOFOLLOW`` (so a link planted there is never
followed), is flushed to disk, and is renamed over the target with
:func:`os.replace`, atomic on POSIX and Windows within one file system. A
directory cannot be replaced atomically, so the old copy is first renamed to
a backup name, the new one renamed into place and only then the backup
deleted; :func:`recover` puts a backup back if a process died between the two
renames. The backup name is one nothing holds yet (``<name>.nf-old-<16 hex
digits>``, never reused), and before the rename the swap writes a note beside
it (``<backup>.nf-parked``) whose exact text names the target and the backup:
:func:`recover` moves back only a folder whose note says netform parked it
there, never a folder that merely has such a name, and a swap never renames
over nor deletes anything it did not park itself. At every instant a valid
copy exists under one of two names, and a failure of any kind (a full disk
included) removes the temporary output.

This module is neutral: it knows nothing of model formats (the savers decide
what they may replace before they call it) and imports no TensorFlow.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from typing import BinaryIO, Callable, Iterator

__all__ = [
    "atomic_path",
    "atomic_file",
    "write_bytes",
    "write_text",
    "recover",
    "fsync_dir",
    "temp_name",
    "remove_killed_files",
    "user_attributes",
    "UNFINISHED_MARK",
    "BACKUP_SUFFIX",
    "PARKED_NOTE",
    "TMP_MARK",
    "NAME_MAX",
    "fitted_tail",
    "system_path",
]

#: The most bytes of one name in a folder (NAME_MAX on Linux and macOS, and on the file systems they use).
NAME_MAX = 255
#: Names of temporary files and directories contain this mark.
TMP_MARK = ".nf-tmp-"
#: A directory being replaced is parked under ``<name>`` + this suffix + ``-<16 hex digits>``.
BACKUP_SUFFIX = ".nf-old"
#: The note a swap writes beside the folder it parks, proof that netform parked it: ``<parked name>`` + this.
PARKED_NOTE = ".nf-parked"
_CREATE = (
    os.O_RDWR
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _fsync_tree(path: str) -> None:
    """Flush a file, or every file of a directory tree, to disk."""
    paths: list[str] = []
    if os.path.isdir(path) and not os.path.islink(path):
        for root, _dirs, files in os.walk(path):
            paths.extend(os.path.join(root, f) for f in files)
            paths.append(root)
    else:
        paths.append(path)
    for p in paths:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        if os.path.isdir(p):
            flags |= getattr(os, "O_DIRECTORY", 0)
        try:
            fd = os.open(p, flags)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:  # some file systems refuse fsync on directories
            pass
        finally:
            os.close(fd)


def fsync_dir(directory: str) -> None:
    """Flush a directory's entries (renames, creations) to disk, where the OS allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    """Delete a temporary output (a link is removed, never followed)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def parent_device(path: str) -> int | None:
    """The file system (``st_dev``) of the folder holding ``path``; None where it cannot be read."""
    try:
        return os.lstat(os.path.dirname(os.path.abspath(path)) or os.sep).st_dev
    except OSError:
        return None


def on_device(path: str, device: int | None) -> bool:
    """Whether ``path`` itself (not followed) is on the file system ``device``: a clean-up never deletes on
    another one (a folder mounted at or inside a leftover holds a user's files, not netform's)."""
    try:
        return device is not None and os.lstat(path).st_dev == device
    except OSError:
        return False


def holds_mount(folder: str) -> bool:
    """Whether a file system is mounted at ``folder`` or anywhere under it (Linux's ``/proc/self/mountinfo``;
    elsewhere only a mount of another device shows, by :func:`on_device`). A bind mount of a folder of the
    same file system has that file system's device number, so only the mount table tells it apart."""
    real = os.path.realpath(folder)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            text = fh.read(16 * 2**20)
    except OSError:
        return False
    inside = real.rstrip(os.sep) + os.sep
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point == real or point.startswith(inside):
                return True
    return False


def _entries(folder: str) -> set[str]:
    """The relative paths of everything under ``folder`` (links as themselves, never followed) on the file system
    of the folder holding it: nothing inside a folder mounted at or under ``folder`` is listed (nor, where
    ``folder`` itself is a mount point, anything)."""
    found: set[str] = set()
    device = parent_device(folder)
    if not on_device(folder, device) or holds_mount(folder):
        return found
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        dirs[:] = [d for d in dirs if on_device(os.path.join(root, d), device)]
        for name in dirs + files:
            if on_device(os.path.join(root, name), device):
                found.add(os.path.normpath(os.path.join(rel, name)))
    return found


def _remove_entries(folder: str, seen: set[str]) -> list[str]:
    """Delete from ``folder`` what :func:`_entries` saw there, then the folder if that leaves it empty.

    A file put into the folder after it was listed (by a program holding it open) is kept, with the folders
    above it and ``folder``: returns those paths (empty when the folder is gone). Deleted through
    :class:`OwnMount`: nothing on a file system mounted there since the listing is touched.
    """
    if holds_mount(folder):  # mounted there since it was listed: nothing in it is removed
        return sorted(seen) or [os.curdir]
    files: list[str] = []
    folders: list[str] = []
    left: list[str] = []
    for root, dirs, names in os.walk(folder, topdown=False):
        rel = os.path.relpath(root, folder)
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.normpath(os.path.join(rel, name))
            (files if path in seen else left).append(path)
        folders += [os.path.normpath(os.path.join(rel, d)) for d in dirs if not os.path.islink(os.path.join(root, d))]
    try:
        with OwnMount(folder) as own:
            for path in files:
                if not own.unlink(path, missing_ok=True):
                    left.append(path)
            for path in folders:  # deepest first (os.walk bottom-up); one not empty holds what was kept
                own.rmdir(path)
            own.remove_root()
    except OSError:
        return sorted(left) or [os.curdir]
    return sorted(left)


def _mount_id(fd: int) -> int | None:
    """The id of the mount an open file or folder is on (Linux's ``/proc/self/fdinfo``; None elsewhere)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class OwnMount:
    """Deletes inside ``root`` through open folder handles, each checked to be on the mount of ``root``'s parent.

    A clean-up checks what a leftover holds, then deletes it: a folder mounted at or inside it between the
    check and the delete (a bind mount of a user's export) had its files deleted. Here every folder is opened
    without following links and its mount (its mount id; where there is none to read, its file system) must be
    its parent's, and files are unlinked through the folder handle: a mount made later on a path does not
    change what a handle opened before it refers to, and one made earlier is refused when its folder is opened.

    Raises:
        OSError: ``root`` cannot be opened, or is on another mount (``EXDEV``); the caller keeps it as it is.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._fds: dict[str, int] = {}
        self._parent = -1
        self._by_path = False
        self._device: int | None = None

    def __enter__(self) -> OwnMount:
        self._by_path = not {os.open, os.unlink, os.rmdir} <= os.supports_dir_fd
        if self._by_path:  # (Windows: no folder handles) by path, each entry's file system checked
            self._device = parent_device(self.root)
            if not on_device(self.root, self._device):
                raise OSError(errno.EXDEV, "a file system is mounted there", self.root)
            return self
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
        self._parent = os.open(os.path.dirname(self.root) or os.sep, flags)
        try:
            st = os.fstat(self._parent)
            self._mount, self._device = _mount_id(self._parent), st.st_dev
            self._fds[""] = self._open(self._parent, os.path.basename(self.root))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self._parent >= 0:
            with contextlib.suppress(OSError):
                os.close(self._parent)
            self._parent = -1

    def _open(self, parent_fd: int, name: str) -> int:
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(name, flags, dir_fd=parent_fd)
        mount = _mount_id(fd)
        if os.fstat(fd).st_dev != self._device or (self._mount is not None and mount != self._mount):
            os.close(fd)
            raise OSError(errno.EXDEV, "a file system is mounted there", os.path.join(self.root, name))
        return fd

    def _folder(self, rel: str) -> int:
        """The checked handle of the folder ``rel`` (relative to ``root``; "" is ``root``)."""
        rel = "" if rel in ("", os.curdir) else os.path.normpath(rel)
        if rel not in self._fds:
            head, name = os.path.split(rel)
            self._fds[rel] = self._open(self._folder(head), name)
        return self._fds[rel]

    def unlink(self, rel: str, *, missing_ok: bool = False) -> bool:
        """Delete the file (or link) ``rel``; False where a mount is on its way (it is kept)."""
        head, name = os.path.split(os.path.normpath(rel))
        try:
            if self._by_path:
                full = os.path.join(self.root, rel)
                if not on_device(os.path.join(self.root, head), self._device):
                    return False
                os.unlink(full)
                return True
            os.unlink(name, dir_fd=self._folder(head))
        except FileNotFoundError:
            if not missing_ok:
                raise
        except OSError as err:
            if err.errno in (errno.EXDEV, errno.EBUSY):
                return False
            raise
        return True

    def rmdir(self, rel: str) -> bool:
        """Remove the folder ``rel`` if it is empty and no mount is on it; whether it went."""
        head, name = os.path.split(os.path.normpath(rel))
        fd = self._fds.pop(os.path.normpath(rel), None)
        if fd is not None:
            os.close(fd)
        try:
            if self._by_path:
                os.rmdir(os.path.join(self.root, rel))
                return True
            os.rmdir(name, dir_fd=self._folder(head))
        except OSError:  # not empty, gone, or a mount point (EBUSY)
            return False
        return True

    def remove_root(self) -> bool:
        """Remove ``root`` itself if it is empty; whether it went."""
        fd = self._fds.pop("", None)
        if fd is not None:
            os.close(fd)
        try:
            if self._by_path:
                os.rmdir(self.root)
                return True
            os.rmdir(os.path.basename(self.root), dir_fd=self._parent)
        except OSError:
            return False
        return True


def recover(target: str | os.PathLike[str], accept: Callable[[str], bool] | None = None) -> bool:
    """Put back a directory parked by an interrupted directory swap, when netform can prove it parked it.

    Only a folder named ``<target>.nf-old-<16 hex digits>`` whose note
    (:data:`PARKED_NOTE`) holds the exact text the swap wrote for it is
    considered, and only when ``accept`` (the caller's check of its content)
    passes: a user's folder of that name, a plain ``<target>.nf-old`` or a
    link is never moved. Nothing is done while anything is at ``target``.

    Args:
        target: The path of a directory written with :func:`atomic_path`.
        accept: Whether a parked folder holds what may be put back (e.g. a
            save of the expected format); None accepts any folder the note proves.

    Returns:
        True when a parked copy was moved back into place.
    """
    target = os.fspath(target).rstrip(os.sep)
    if os.path.lexists(target):
        return False
    for backup in _parked_copies(target):
        if accept is not None and not accept(backup):
            continue
        os.replace(backup, target)
        _remove_note(backup)
        fsync_dir(os.path.dirname(os.path.abspath(target)))
        return True
    return False


def _note_text(target: str, backup: str) -> bytes:
    """What the note beside a parked folder holds: the two names, which carry the swap's random token."""
    return (
        f"netform parked {os.path.basename(target)} as {os.path.basename(backup)} while replacing it; "
        "if this note is still here, that swap was cut short.\n"
    ).encode()


def _proven(target: str, backup: str) -> bool:
    """Whether ``backup`` is a folder (not a link) with the note a swap of ``target`` wrote for it."""
    note = backup + PARKED_NOTE
    expected = _note_text(target, backup)
    try:
        if not stat.S_ISDIR(os.lstat(backup).st_mode) or not stat.S_ISREG(os.lstat(note).st_mode):
            return False
        with open(note, "rb") as fh:
            return fh.read(len(expected) + 1) == expected
    except OSError:
        return False


def _parked_copies(target: str) -> list[str]:
    """The folders a swap of ``target`` provably parked (see :func:`_proven`), newest first."""
    directory, base = os.path.split(os.path.abspath(target))
    pattern = re.compile(re.escape(fitted_tail(base, _PARKING_ROOM) + BACKUP_SUFFIX) + r"-[0-9a-f]{16}")
    try:
        names = [n for n in os.listdir(directory) if pattern.fullmatch(n)]
    except OSError:
        return []
    own = [os.path.join(directory, n) for n in names]
    own = [p for p in own if _proven(os.path.join(directory, base), p)]
    own.sort(key=lambda p: os.lstat(p).st_ctime_ns, reverse=True)
    return own


#: Bytes a parked folder's note adds to the target's name: ``.nf-old-<16 hex digits>.nf-parked``.
_PARKING_ROOM = NAME_MAX - len(BACKUP_SUFFIX) - 17 - len(PARKED_NOTE)


def _parking_base(target: str) -> str:
    """``target`` with its base name cut to its end that leaves room for the parking suffix and the note's.

    The same target always gives the same name, so :func:`_parked_copies` finds what a swap parked.
    """
    directory, base = os.path.split(target)
    return os.path.join(directory, fitted_tail(base, _PARKING_ROOM))


def _parking_name(target: str) -> str:
    """A name to park ``target`` under during a swap, where nothing is: ``<target>.nf-old-<16 hex digits>``.

    Whatever already sits at a name of that form, or at ``<target>.nf-old``
    (a user's own copy, a copy left by a swap cut short in an earlier run),
    was not put there by this swap, so it is never renamed over nor deleted.
    """
    while True:
        backup = f"{_parking_base(target)}{BACKUP_SUFFIX}-{secrets.token_hex(8)}"
        if not os.path.lexists(backup) and not os.path.lexists(backup + PARKED_NOTE):
            return backup


def _park(target: str) -> str:
    """Rename the folder ``target`` to a free parking name, its note written first; return that name."""
    backup = _parking_name(target)
    note = backup + PARKED_NOTE
    fd = os.open(note, _CREATE, 0o666)
    try:
        os.write(fd, _note_text(target, backup))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _remove(note)
        raise
    os.close(fd)
    try:
        os.replace(target, backup)
    except BaseException:
        _remove(note)
        raise
    return backup


def _remove_note(backup: str) -> None:
    """Delete the note of a parked folder (a file netform wrote)."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(backup + PARKED_NOTE)


def fitted_tail(name: str, room: int) -> str:
    """The end of ``name`` that fits in ``room`` bytes of UTF-8 (all of it when it fits; never half a character).

    The end is kept because it holds the extension (``.keras``, ``.weights.h5``) that Keras checks.
    """
    data = name.encode("utf-8", "surrogateescape")
    if len(data) <= room:
        return name
    cut = data[len(data) - max(room, 0) :]
    while cut and (cut[0] & 0xC0) == 0x80:  # a continuation byte: the character it ends was cut
        cut = cut[1:]
    return cut.decode("utf-8", "surrogateescape")


def system_path(path: str | os.PathLike[str]) -> str:
    """``path`` as the system reads it where it climbs with ``..``: the part up to its last ``..`` resolved.

    ``os.path.abspath`` drops ``link/..`` as text, but the system goes up from where the link leads:
    ``lae/../x`` with ``lae -> SM/assets.extra`` names ``SM/x``. Every check of a target and the write
    itself must agree on one folder, so a path with a ``..`` part is given as the system reads it: the part
    up to its last ``..`` resolved (its links followed, made absolute), the folders after it as given (a
    save makes those that are missing) and the last name kept as given (a link there is replaced, never
    followed). A path without ``..`` is returned unchanged.

    Raises:
        FileNotFoundError: A folder before the last ``..`` does not exist, or is a file (or a link to
            nothing): the system cannot climb out of it either.
    """
    path = os.fspath(path)
    parts = path.split(os.sep)
    if os.pardir not in parts:
        return path
    last = len(parts) - 1 - parts[::-1].index(os.pardir)
    head = os.sep.join(parts[: last + 1]) or os.sep
    try:
        for i, part in enumerate(parts[: last + 1]):
            above = os.sep.join(parts[:i])
            if part == os.pardir and above and not os.path.isdir(above):
                raise NotADirectoryError(above)
        resolved = os.path.realpath(head, strict=True)
    except OSError as err:  # a missing folder, a file, a link to nothing, a loop of links
        raise FileNotFoundError(
            errno.ENOENT,
            "the path climbs with '..' out of a folder that does not exist (or is a file, or a link to nothing), "
            "which the system cannot do; give a path whose folders before '..' exist",
            path,
        ) from err
    return os.path.join(resolved, *parts[last + 1 :])


def temp_name(target: str | os.PathLike[str]) -> str:
    """An unpredictable name beside ``target`` that keeps its base name as a suffix.

    Keras checks extensions such as ``.keras``, so the base name ends the
    temporary name; 64 random bits make it impossible to plant in advance.
    The whole name stays within :data:`NAME_MAX` bytes: of a base name too
    long to keep whole, only its end is kept (a target of 255 bytes can be
    written, the random part and the mark are never shortened).
    """
    directory, base = os.path.split(os.path.abspath(os.fspath(target)))
    head = f".{secrets.token_hex(8)}{TMP_MARK}"
    return os.path.join(directory, head + fitted_tail(base, NAME_MAX - len(head)))


def _keep_mode(tmp: str, target: str) -> None:
    """Give ``tmp`` the permission bits of the ``target`` it replaces (a file or folder, never a link's).

    A save replaces what is there by a rename, so the new copy would otherwise get the process's
    default mode: a model kept private (0600, a 0700 folder) would become readable by others and a
    read-only one writable, where Keras, which writes into the existing file, keeps the mode.
    """
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        return
    os.chmod(tmp, stat.S_IMODE(st.st_mode))  # tmp is netform's own new file or folder, never a link


#: The extended attribute a temporary file carries while netform writes it (taken off before it gets its
#: name): with its name, proof that a leftover of a killed save is netform's unfinished output.
UNFINISHED_MARK = "user.netform.unfinished"


def _mark_unfinished(fd: int) -> None:
    """Put :data:`UNFINISHED_MARK` on a new temporary file, where the file system keeps extended attributes."""
    with contextlib.suppress(OSError, AttributeError):  # none on this file system (or this system)
        os.setxattr(fd, UNFINISHED_MARK, b"1")


def user_attributes(path: str) -> list[str]:
    """The extended attributes of the ``user`` namespace ``path`` (not followed) carries, netform's mark aside:
    a user's notes on the file, which no saver writes."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except (OSError, AttributeError):
        return []
    return [n for n in names if n.startswith("user.") and n != UNFINISHED_MARK]


def _keep_attributes(tmp: str, target: str) -> None:
    """Give ``tmp`` (netform's own new file or folder, never a link) the extended attributes of the ``target`` it
    replaces.

    A save replaces what is there by a rename, so a user's notes kept as ``user.*`` attributes (a file
    manager's comment, a tag) would go with the old copy, where Keras, writing into the existing file, keeps
    them. An attribute of the ``user`` namespace that cannot be copied stops the save (the old copy stays); the
    system's own (``security.*``, ``trusted.*``, ACLs) are copied where the process may set them.
    """
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(target, follow_symlinks=False) if os.path.lexists(target) else []
    except OSError:
        names = []  # a link, or a file system without extended attributes: nothing to keep
    for name in names:
        if name == UNFINISHED_MARK:
            continue
        try:
            value = os.getxattr(target, name, follow_symlinks=False)
            os.setxattr(tmp, name, value, follow_symlinks=False)
        except OSError as err:
            if name.startswith("user."):
                raise OSError(
                    err.errno, f"{target}: its extended attribute {name!r} cannot be kept on the new copy ({err})"
                ) from err


def _unmark(path: str) -> None:
    """Take :data:`UNFINISHED_MARK` off a file netform finished writing (it has its name now)."""
    with contextlib.suppress(OSError, AttributeError):
        os.removexattr(path, UNFINISHED_MARK, follow_symlinks=False)


def remove_killed_files(directory: str, base: str) -> None:
    """Remove the temporary files that killed writes of ``base`` left in ``directory``, if provably netform's.

    Called by :func:`atomic_file` only while no other write holds the folder's lock. Removed is a regular file (not a link) of the
    folder's file system, owned by this user, named as :func:`temp_name` names a write of ``base``
    (``.<16 hex digits>.nf-tmp-<base>``), that is empty (killed as it was made) or still carries
    :data:`UNFINISHED_MARK`, which netform takes off before the file gets its name. Anything else is left.
    """
    own = re.compile(r"\.[0-9a-f]{16}" + re.escape(TMP_MARK + fitted_tail(base, NAME_MAX - 17 - len(TMP_MARK))))
    try:
        names = [n for n in os.listdir(directory) if own.fullmatch(n)]
        device = os.lstat(directory).st_dev
    except OSError:
        return
    removed = False
    for name in names:
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_dev != device or st.st_uid != os.getuid():
                continue
            if st.st_size and os.getxattr(path, UNFINISHED_MARK, follow_symlinks=False) != b"1":
                continue
            os.remove(path)
            removed = True
        except (OSError, AttributeError):  # no mark (or no extended attributes here): left as it is
            continue
    if removed:
        fsync_dir(directory)


@contextlib.contextmanager
def _folder_turn(directory: str, base: str) -> Iterator[None]:
    """Hold ``directory``'s save lock shared while a file is written there; first, when no other write holds it
    (the lock taken exclusively without waiting), remove what killed writes of ``base`` left
    (:func:`remove_killed_files`). The lock is the one netform's savers hold on the folder (a ``flock`` on the
    folder itself); without ``flock`` (or where the folder cannot be opened) nothing is removed."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, nothing removed
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another write holds it (or no flock here): leave all as it is
            pass
        else:
            remove_killed_files(directory, base)
        with contextlib.suppress(OSError):  # (never waits: a write goes on unlocked rather than stall)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _exclusive(path: str, _flags: int) -> int:
    """Create ``path``, failing if anything (a link included) is already there."""
    return os.open(path, _CREATE, 0o666)


#: How long a directory save waits for another save's swap of the same target (milliseconds, normally)
#: before swapping without its turn (a save stopped in its swap never blocks another for good).
TURN_WAIT = 30.0


@contextlib.contextmanager
def swap_turn(target: str) -> Iterator[None]:
    """Hold the turn to replace the folder ``target``, machine-wide, while the caller swaps it.

    Two saves of one folder target must not interleave their renames (one would park the folder the other
    just put in place, or find the name taken by it). The turn is a Linux abstract socket name made from
    the folder holding ``target`` (its device and inode, however the path reaches it) and the target's
    name: binding it succeeds for one holder at a time, it creates no file, and it is released when the
    holder closes it or its process ends, killed or not. Waits up to :data:`TURN_WAIT` seconds; elsewhere
    than Linux, or where the socket cannot be made, the swap runs without a turn.
    """
    import hashlib
    import socket
    import sys
    import time

    sock = None
    try:
        if sys.platform.startswith("linux"):
            directory, base = os.path.split(os.path.abspath(target.rstrip(os.sep) or target))
            st = os.stat(directory)
            key = hashlib.sha256(f"{st.st_dev}:{st.st_ino}:{base}".encode("utf-8", "surrogateescape")).hexdigest()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            deadline = time.monotonic() + TURN_WAIT
            while True:
                try:
                    sock.bind(f"\0netform-swap-{key[:40]}")
                    break
                except OSError as err:
                    if err.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                        break  # no turn to be had: the swap goes on without it
                    time.sleep(0.005)
    except OSError:  # no such socket here (a sandbox), or the folder is gone: the swap's own checks decide
        pass
    try:
        yield
    finally:
        if sock is not None:
            sock.close()


def _commit(
    tmp: str,
    target: str,
    parked_check: Callable[[str], None] | None = None,
    swap_guard: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    before_move: Callable[[str], None] | None = None,
) -> None:
    """Move ``tmp`` to ``target`` so that a valid copy always exists.

    A file replaces a file (or nothing); a directory replaces a directory (or
    nothing). A file never replaces a directory nor the reverse: the savers
    check what they may replace, and this is the last line of defence. A
    directory replaced is parked first and ``parked_check`` (when given) is
    called on the parked copy: what it holds can no longer change under the
    target's name, so a file put there after the saver's own check is seen.
    When the check raises, the copy goes back under its name and nothing is
    replaced. ``swap_guard`` (when given) is held from before the old copy is
    parked until the new one has its name (a saver's lock that keeps readers
    out of the folder meanwhile). ``before_move`` (when given) is called with
    ``tmp`` just before it takes the name, once all else is done.
    """
    _fsync_tree(tmp)
    tmp_is_dir = os.path.isdir(tmp) and not os.path.islink(tmp)
    with swap_turn(target) if tmp_is_dir else contextlib.nullcontext():
        _swap(tmp, target, tmp_is_dir, parked_check, swap_guard, before_move)


#: Seconds after which a parked copy of a folder that has its new copy in place is a leftover: a swap runs
#: from parking to the new copy taking the name in far less (a saver's check of the parked copy included)
LEFTOVER_AGE = 60.0


def _remove_leftovers(target: str, parked_check: Callable[[str], None]) -> None:
    """Delete the copies of ``target`` that swaps killed after the new copy took its name left parked.

    Each is an older save of ``target`` that a swap parked (:func:`_proven`: its note names it) and never got
    to delete; with ``target`` in place nothing will put it back, and each kill left a whole model's worth of
    disk. Only a copy whose note is older than :data:`LEFTOVER_AGE` (a swap of another process may be under
    way) and that ``parked_check`` (the saver's check of what it may replace) passes is deleted: one a user
    has put a file into since is kept whole, with its note. What appears in it after it was listed is kept too.
    """
    import time

    now = time.time()
    for backup in _parked_copies(target):
        try:
            if now - os.lstat(backup + PARKED_NOTE).st_mtime < LEFTOVER_AGE:
                continue
            seen = _entries(backup)
            parked_check(backup)
        except Exception:  # not provably a save of the saver's own (a user's file in it): it stays
            continue
        if not _remove_entries(backup, seen):
            _remove_note(backup)


def _swap(
    tmp: str,
    target: str,
    tmp_is_dir: bool,
    parked_check: Callable[[str], None] | None,
    swap_guard: Callable[[], contextlib.AbstractContextManager[None]] | None,
    before_move: Callable[[str], None] | None = None,
) -> None:
    """:func:`_commit`'s move, once ``tmp`` is on disk (and, for a folder, the target's turn is held)."""
    directory = os.path.dirname(os.path.abspath(target))
    target_is_dir = os.path.isdir(target) and not os.path.islink(target)
    if os.path.lexists(target) and tmp_is_dir != target_is_dir:
        what = "a directory" if target_is_dir else "a file"
        raise IsADirectoryError(f"{target} is {what}; it was left in place")
    _keep_mode(tmp, target)
    _keep_attributes(tmp, target)
    if tmp_is_dir and os.path.lexists(target):
        target = target.rstrip(os.sep)
        with swap_guard() if swap_guard is not None else contextlib.nullcontext():
            backup = _park(target)
            try:
                # Listed before the check looks: what is deleted with the old copy is at most what the check
                # then saw (a file put in after the check ran is not in the list, and is kept).
                seen = _entries(backup)
                if parked_check is not None:
                    parked_check(backup)
                if before_move is not None:
                    before_move(tmp)
                os.replace(tmp, target)
            except BaseException:
                os.replace(backup, target)  # the old copy back under its name
                _remove_note(backup)
                raise
            fsync_dir(directory)
        left = _remove_entries(backup, seen)
        _remove_note(backup)
        if parked_check is not None:
            _remove_leftovers(target, parked_check)
        if left:
            import warnings

            warnings.warn(
                f"{target}: {left[0]!r} (and {len(left) - 1} more) appeared in the replaced folder while it was "
                f"replaced (a program writing into it by its handle or working directory); the old folder was "
                f"kept with them as {backup}",
                UserWarning,
                stacklevel=4,
            )
    else:
        if before_move is not None:
            before_move(tmp)
        os.replace(tmp, target)
    fsync_dir(directory)


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str],
    parked_check: Callable[[str], None] | None = None,
    swap_guard: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    before_move: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Yield a temporary path beside ``target``; move it into place on success.

    The caller writes a file or a directory at the yielded path. When the
    block exits normally the result replaces ``target`` atomically (a
    directory by a backup-and-swap that never leaves no valid copy). When the
    block raises, the temporary output is deleted and ``target`` is untouched.

    Args:
        target: Final path of the file or directory.
        parked_check: For a directory replaced: called with the path the old
            copy was parked at, before the new one takes its name; it raises
            to keep the old copy (put back under its name) and replace nothing.
            A saver's check of what it may replace runs before the write, and
            a file put into the folder meanwhile would go with the old copy.
        swap_guard: For a directory replaced: a context held from before the
            old copy is parked until the new one has its name.
        before_move: Called with the temporary path just before it takes
            the target's name, after the old copy was parked and checked (a
            saver's mark on its unfinished output goes last).

    Yields:
        An unpredictable path in the same directory whose base name ends with
        the target's base name (so extension checks still pass).

    Example:
        >>> with atomic_path("out/model.keras") as tmp:  # doctest: +SKIP
        ...     keras.saving.save_model(model, tmp)
    """
    target = system_path(target)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    tmp = temp_name(target)
    try:
        yield tmp
        if not os.path.lexists(tmp):
            raise FileNotFoundError(f"nothing was written at the temporary path {tmp}")
        _commit(tmp, target, parked_check, swap_guard, before_move)
    except BaseException:
        _remove(tmp)
        raise


#: Folders of the system's own links and devices (``/dev/stdout``, ``/proc/self/fd/1``).
SYSTEM_FOLDERS = ("/dev/", "/proc/", "/sys/")


def _system_path(path: str) -> bool:
    """Whether ``path`` lies in a folder of the system's links and devices (``/dev/shm``, a plain file system of
    memory, is not one)."""
    path = os.path.abspath(path)
    return path.startswith(SYSTEM_FOLDERS) and not path.startswith("/dev/shm/")


def special_link_problem(output: str) -> str | None:
    """Why a link at an output path may not be replaced by the file written, or None (no link, or a link to a
    regular file or to nothing): it leads through ``/dev``, ``/proc`` or ``/sys`` (``/dev/stdout`` leads to the
    process's own output, wherever that goes), or to something other than a regular file or a folder (a FIFO,
    a device, a socket). Writing renames a new file over the link: the link itself would be gone."""
    here = output
    for _ in range(40):  # as the system follows links: at most 40 hops
        try:
            if not stat.S_ISLNK(os.lstat(here).st_mode):
                break
            target = os.readlink(here)
        except OSError:
            return None  # gone meanwhile: the writer's own checks decide
        if _system_path(here) or _system_path(os.path.join(os.path.dirname(os.path.abspath(here)), target)):
            return f"is a link to {target}, a path among the system's devices and links"
        here = os.path.join(os.path.dirname(os.path.abspath(here)), target)
    else:
        return "is a chain of more than 40 links"
    if here == output:
        return None
    try:
        mode = os.stat(output).st_mode
    except OSError:
        return None  # a dangling link: replaced by the file
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a link to a folder is replaced, as a link to a file
        return "is a link to something that is neither a regular file nor a folder (a FIFO, a device, a socket)"
    return None


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Like :func:`atomic_path` for one file, yielding it open (``w+b``).

    The temporary file is created with ``O_EXCL | O_NOFOLLOW`` under an
    unpredictable name. On success the same descriptor is flushed and
    fsynced, renamed over ``target`` and the directory fsynced. On any
    failure (a full disk while flushing included) the temporary file is
    removed and ``target`` is untouched.

    Args:
        target: Final path of the file.

    Yields:
        A binary file, readable and writable (``fh.name`` is its path).

    Raises:
        IsADirectoryError: ``target`` is a directory (left in place).
    """
    target = system_path(target)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    if os.path.isdir(target) and not os.path.islink(target):
        raise IsADirectoryError(f"{target} is a directory; it was left in place")
    if os.path.lexists(target) and not (os.path.islink(target) or os.path.isfile(target)):
        # A FIFO or a device node (/dev/null) would be renamed over: it is not a file to replace.
        raise FileExistsError(f"{target} is not a regular file (a FIFO, device or socket); it was left in place")
    special = special_link_problem(target)
    if special:  # /dev/stdout, a link to a FIFO: renaming over it would replace the link, not write through it
        raise FileExistsError(f"{target} {special}; it was left in place")
    with _folder_turn(directory, os.path.basename(target)):
        tmp = temp_name(target)
        fh = open(tmp, "w+b", opener=_exclusive)  # closed below on every path
        try:
            try:
                _mark_unfinished(fh.fileno())
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fh.close()  # may raise too (a buffer flushed onto a full disk)
            _keep_mode(tmp, target)
            _keep_attributes(tmp, target)
            os.replace(tmp, target)
            _unmark(target)  # only now: a copy killed before its rename is still known as netform's
        except BaseException:
            _remove(tmp)
            raise
    fsync_dir(directory)


def write_bytes(target: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` as the whole new content of ``target``, atomically.

    Args:
        target: The file to create or replace.
        data: The bytes.

    Raises:
        OSError: The file could not be written (the old one is left intact).
    """
    with atomic_file(target) as fh:
        fh.write(data)


def write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` as the whole new content of ``target``, atomically.

    Args:
        target: The file to create or replace.
        text: The text.
        encoding: Its encoding.

    Raises:
        OSError: The file could not be written (the old one is left intact).
    """
    write_bytes(target, text.encode(encoding))


#: The graph files that make a folder a SavedModel (TensorFlow loads either).
_GRAPH_FILES = ("saved_model.pb", "saved_model.pbtxt")


def savedmodel_above(path: str) -> str | None:
    """The nearest folder above ``path`` (as given, or with its links resolved) that holds a SavedModel graph."""
    full = os.path.abspath(path)
    for start in (os.path.dirname(full), os.path.dirname(os.path.realpath(full))):
        folder = start
        while True:
            if any(os.path.lexists(os.path.join(folder, name)) for name in _GRAPH_FILES):
                return folder
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return None


def refuse_inside_savedmodel(path: str) -> None:
    """Refuse any file netform writes (a command's ``-o``: a spec, a schema, a diagram, predictions) below a
    SavedModel folder, as a save there is refused: it would change one file of that SavedModel.

    Raises:
        SaveError: ``path`` lies inside a SavedModel folder.
    """
    folder = savedmodel_above(path)
    if folder is None:
        return
    from netform.errors import SaveError

    raise SaveError(
        f"{path}: is inside {folder}, a SavedModel folder (it holds a saved_model.pb graph); a file written there "
        "would change that SavedModel, which netform writes and replaces only whole, so nothing was written. "
        "Write the file outside that folder."
    )


#: How TensorFlow names a summary file: ``events.out.tfevents.<unix seconds, 10 digits>.<host>.<pid>.<n>.v2``.
_EVENT_FILE = re.compile(r"events\.out\.tfevents\.([0-9]{10})\.(.+)\.[0-9]+\.[0-9]+\.v2", re.DOTALL)


def event_file_to_come(folder: str | os.PathLike[str]) -> str | None:
    """An entry of ``folder`` at the name of a TensorFlow summary file not yet written, else None.

    TensorFlow's summary writer (Keras's ``TensorBoard``, ``tf.summary``) names its file for the second it
    opens it, the host and the process, and opens it for writing: a user's file at the name of the seconds to
    come was emptied and rewritten. A file named for a second gone by is never opened again.
    """
    import socket
    import time

    try:
        names = os.listdir(folder)
    except OSError:
        return None
    since, host = int(time.time()) - 1, socket.gethostname()
    for name in sorted(names):
        found = _EVENT_FILE.fullmatch(name)
        path = os.path.join(os.fspath(folder), name)
        # another host's name is never this machine's to write (a log folder shared with another machine)
        if found and found.group(2) == host and int(found.group(1)) >= since and not _tensorflow_events(path):
            return path
    return None


def _tensorflow_events(path: str) -> bool:
    """Whether ``path`` is empty or a TensorFlow events file (a record whose event names its file version,
    ``brain.Event:2``, first): a writer of this run opened it (another callback on the same folder), and
    nothing of a user's is in it."""
    try:
        if os.path.islink(path) or not os.path.isfile(path):
            return False
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    if not head:
        return True
    length = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    return 0 < length <= 200 and b"brain.Event:" in head[12 : 12 + length]
