"""The files a spec's training callbacks would write, checked against what is already there (no TensorFlow).

A callback's path resolves under the output directory; what is there must be that callback's own earlier
output (a CSVLogger log of this training, a model file, a backup Keras wrote), never a user's file, a link out
of the output directory, or a file the run reads. ``netform validate`` and ``netform train`` report a refusal
as a located :class:`~netform.errors.SpecError` before anything is built or written;
``netform.engine``'s ``resolve_callbacks`` runs the same checks (an ``EngineError`` from Python).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .._files import BACKUP_SUFFIX
from ..errors import Diagnostic, SaveError
from ._access import DEFAULT_PATHS, PATH_ARGUMENTS, SpecAccess, path_problem, template_name_problem

#: ``(path, format)`` → None when a save of ``format`` may replace the file at ``path``, else a SaveError:
#: the savers' own rule (``netform.saving._target.check_target``), given by the caller (the spec layer
#: imports nothing of saving's).
ModelFileCheck = Callable[[str, str], None]

__all__ = [
    "CallbackFileRefused",
    "LogNames",
    "confine_paths",
    "callback_file_errors",
    "backup_overlaps",
    "shared_files",
    "output_overlaps",
    "backup_dir_output_problem",
]


class CallbackFileRefused(Exception):
    """A callback path refused because of what is (or would be) at it; ``arg`` names the argument."""

    def __init__(self, message: str, arg: str) -> None:
        super().__init__(message)
        self.arg = arg


@dataclass(frozen=True)
class LogNames:
    """The values a training logs, as CSVLogger writes its columns (``val_`` ones included).

    Attributes:
        names: Every name a log may hold (``loss``, the compiled metrics' names, ``learning_rate``, …).
        any_output: Whether each name may also come after an output's name (``head_loss``): the model's
            output names are known only once it is built.
    """

    names: frozenset[str]
    any_output: bool = False

    def holds(self, column: str) -> bool:
        """Whether ``column`` is a value this training logs."""
        name = column.removeprefix("val_")
        if name in self.names:
            return True
        return self.any_output and any(
            name.endswith("_" + n) and len(name) > len(n) + 1 for n in self.names if n != "learning_rate"
        )

    def shown(self, limit: int = 8) -> str:
        names = sorted(self.names)
        return ", ".join(names[:limit]) + (", …" if len(names) > limit else "")


# What Keras's BackupAndRestore keeps in its folder (and deletes with it at the end of training).
_BACKUP_FILES = {"latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp", "training_metadata.json.bkp"}


# Arguments naming one file (its folder is made beforehand; an existing folder is refused).
_FILE_ARGS = ("filename", "filepath")


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def confine_paths(
    name: str,
    args: dict[str, Any],
    base: str | os.PathLike[str],
    access: SpecAccess,
    folders: list[str],
    *,
    check_model_file: ModelFileCheck,
    log_names: LogNames | None = None,
    inputs: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Resolve a callback's paths under ``base`` and refuse what is there that the callback may not replace.

    The arguments' own form (absolute paths, the network) is checked by ``callback_problems`` first; this
    looks at the file system. The folders that files of the callback go in are added to ``folders``, to be
    made once every callback has passed.

    Args:
        name: The callback's class name.
        args: Its arguments (paths as written).
        base: The output directory.
        access: What the spec may reach.
        folders: Collects the folders to make.
        check_model_file: Whether a save may replace a model file there (the savers' rule).
        log_names: What the training logs: a CSVLogger log to be replaced must hold only these columns
            (``None``: not known, any names).
        inputs: ``(what, path)`` of each file the run reads (``("--data", "d.csv")``): never replaced.

    Returns:
        The arguments with their paths resolved.

    Raises:
        CallbackFileRefused: The reason, and the argument it is about.
    """
    real_base = os.path.realpath(base)
    for arg in PATH_ARGUMENTS.get(name, ()):
        value = args.get(arg, DEFAULT_PATHS.get(name, {}).get(arg))
        if not isinstance(value, (str, os.PathLike)):
            continue
        text = os.fspath(value)
        problem = path_problem(text)
        if problem is not None and problem[1] == "network":
            continue  # a remote file system, allowed by callback_problems
        full = os.path.join(base, os.path.expanduser(text) if access.allow_paths else text)
        real = os.path.realpath(full)
        if not access.allow_paths and not _inside(real, real_base):
            raise CallbackFileRefused(
                f"{name}.{arg} {text!r} leads to {real} (through a symbolic link), outside the output "
                f"directory {real_base}; write a path under the output directory, or pass allow_paths=True "
                "(netform train --allow-paths) to let this spec write anywhere.",
                arg,
            )
        if name == "ModelCheckpoint" and arg == "filepath":
            # The name's longest, measured as the spec's checks measure it, with what every training logs
            # (float32 values, one epoch or more): never stricter than those checks, which know the epochs.
            long = template_name_problem(text, largest_epoch=1)
            if long is not None:
                raise CallbackFileRefused(f"{name}.{arg} {text!r} {long}.", arg)
        if arg != "embeddings_metadata":  # a file TensorBoard reads
            _check_not_under_file(name, arg, text, real, arg in _FILE_ARGS)
        if name == "BackupAndRestore" and args.get("delete_checkpoint", True):
            _check_backup_dir(real, real_base, arg)
        if arg not in _FILE_ARGS:  # a folder Keras writes files and sub-folders into
            _check_folder_tree(name, arg, text, real)
        if name == "BackupAndRestore":
            _check_backup_files(real, arg, check_model_file)
        if name == "TensorBoard" and arg == "log_dir":
            _check_tensorboard_dir(
                text,
                real,
                arg,
                embeddings=bool(args.get("embeddings_freq")),
                profile=_profiles(args.get("profile_batch")),
                check_model_file=check_model_file,
            )
        if arg in _FILE_ARGS:
            if os.path.isdir(real):
                raise CallbackFileRefused(f"{name}.{arg} {text!r} is an existing folder ({real}); name a file.", arg)
            read = _read_by_run(real, inputs)
            if read:
                raise CallbackFileRefused(
                    f"{name}.{arg} {text!r} would replace {real}, {read}, which this run reads; name another file.",
                    arg,
                )
            other = _foreign_file(name, args, real, log_names, check_model_file)
            if other:
                raise CallbackFileRefused(
                    f"{name}.{arg} {text!r} would replace {real}, {other}; netform never replaces a "
                    "file it did not write: name another file, or move that one away.",
                    arg,
                )
            parent = os.path.dirname(real)
            if "{" not in parent:
                folders.append(parent)
        args[arg] = real if not access.allow_paths else full
    return args


#: A folder name to suggest for each folder argument.
_EXAMPLE_FOLDERS = {"log_dir": "logs", "backup_dir": "backup", "directory": "checkpoints"}


def _check_not_under_file(name: str, arg: str, text: str, real: str, is_file: bool) -> None:
    """A callback's folder (``log_dir``, ``backup_dir``), or the folder of its file, is a folder or can be made.

    Keras makes the folders when training starts, or when it first writes: a file in the way fails there,
    with TensorFlow's ``FailedPrecondition`` or ``File exists``, after the model is built.
    """
    if not is_file and os.path.lexists(real) and not os.path.isdir(real):
        raise CallbackFileRefused(
            f"{name}.{arg} {text!r} is an existing file ({real}), not a folder, and {name} writes files into "
            f"it; name a folder (a new one, e.g. {arg}: {_EXAMPLE_FOLDERS.get(arg, 'logs')}), or move that file away",
            arg,
        )
    folder = os.path.dirname(real) if "{" not in os.path.dirname(real) else None
    while folder and not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        folder = parent if parent != folder else None
    if folder and not os.path.isdir(folder):
        raise CallbackFileRefused(
            f"{name}.{arg} {text!r} lies under {folder}, which is a file, not a folder, so its folder cannot be "
            f"made; name a path under a folder, or move that file away",
            arg,
        )


def _read_by_run(real: str, inputs: Sequence[tuple[str, str]]) -> str | None:
    """Which of the run's input files ``real`` is (the same path, or the same file by inode), or ``None``."""
    for what, path in inputs:
        if os.path.realpath(path) == real:
            return f"the {what} file"
        try:
            if os.path.lexists(real) and os.path.samefile(path, real):
                return f"the {what} file"
        except OSError:
            continue
    return None


def _foreign_file(
    name: str, args: Mapping[str, Any], real: str, log_names: LogNames | None, check_model_file: ModelFileCheck
) -> str | None:
    """What is at a callback's file path when it is not what that callback writes there (None if fine)."""
    if "{" in os.path.basename(real):
        # Each file is checked again as it is written (Model.save refuses foreign files); the files already
        # there that the template can name are checked now, so a user's file never costs a finished training.
        for existing in _template_matches(real):
            other = _foreign_file(name, args, existing, log_names, check_model_file)
            if other:
                return f"which can name {existing}, {other}"
        return None
    if not os.path.lexists(real):
        return None
    if os.path.islink(real) or not os.path.isfile(real):
        return "which is a link or not a regular file"
    if os.lstat(real).st_nlink > 1:
        return "which has other names (hard links), and would change under each of them"
    if name == "CSVLogger":
        separator = args.get("separator", ",")
        try:
            return _csv_log_problem(real, separator if isinstance(separator, str) else ",", log_names)
        except OSError as err:
            return f"which cannot be read to check that CSVLogger wrote it ({err.strerror or err})"
    if name == "ModelCheckpoint":
        fmt = "weights_h5" if args.get("save_weights_only") else ("keras" if real.endswith(".keras") else "h5")
        try:
            check_model_file(real, fmt)
        except SaveError:
            return "which is not a model file netform or Keras wrote"
    return None


#: The largest CSVLogger log read to tell whether Keras wrote it (a larger file is refused).
_CSV_LOG_LIMIT = 64 * 2**20
# A name Keras logs: a metric's or loss's name, ``val_`` for validation.
_LOG_NAME = re.compile(r"[A-Za-z0-9_]+")
_LOG_NUMBER = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity|NA)?", re.IGNORECASE)


def _csv_log_problem(real: str, separator: str, log_names: LogNames | None) -> str | None:
    """Why the file at ``real`` is not a log Keras's CSVLogger wrote with ``separator`` (None if it is).

    A log is UTF-8 text: a header ``epoch`` then names this training logs (``log_names``; ``None``: any names
    Keras may log), and rows of numbers (empty, ``nan``, ``inf`` or Keras's ``NA`` for a value an epoch did
    not log too) with the header's field count. A user's table whose header merely starts with ``epoch`` (``epoch,x1,x2,y``) is not.
    """
    import csv
    import io

    if os.path.getsize(real) > _CSV_LOG_LIMIT:
        return f"which is larger than {_CSV_LOG_LIMIT // 2**20} MiB, too large to check that CSVLogger wrote it"
    with open(real, "rb") as fh:
        raw = fh.read(_CSV_LOG_LIMIT + 1)
    if not raw:
        return None
    not_log = "which is not a CSVLogger log"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{not_log} (it is not UTF-8 text)"
    if len(separator) != 1 or "\x00" in text:
        return f"{not_log} (it is not text with one-character fields separator {separator!r})"
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    except csv.Error:
        return f"{not_log} (it does not parse as CSV)"
    header = rows[0]
    if not header or header[0] != "epoch" or not all(_LOG_NAME.fullmatch(h) for h in header[1:]):
        return f"{not_log} (its header is not 'epoch' followed by the names Keras logs)"
    unknown = None if log_names is None else next((h for h in header[1:] if not log_names.holds(h)), None)
    if unknown is not None and log_names is not None:
        return (
            f"{not_log} of this training (its column {unknown!r} is not a value this training logs: "
            f"{log_names.shown()} and their val_ forms)"
        )
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header) or not all(_LOG_NUMBER.fullmatch(v.strip()) for v in row):
            return f"{not_log} (line {number} is not a row of {len(header)} numbers)"
    return None


def _template_matches(template: str) -> list[str]:
    """The existing files in a template's folder whose names the template (``m{epoch:02d}.keras``) can produce.

    A name is first matched with each field as any text, then against the names the fields' formats can write.
    """
    import string

    folder, base = os.path.split(template)
    try:
        parts = list(string.Formatter().parse(base))
    except ValueError:
        return []  # not a valid template: the callback's own checks refuse it
    pattern = re.compile(
        "".join(re.escape(literal) + (".+" if field is not None else "") for literal, field, _spec, _conv in parts),
        re.DOTALL,
    )
    try:
        with os.scandir(folder) as entries:
            names = [e.name for _, e in zip(range(_TREE_LIMIT), entries)]
    except OSError:
        return []
    names_of = _Names(_path_part(base))  # the names the fields can write, not any text: ``m{epoch}`` never ``mx``
    return [
        os.path.join(folder, n)
        for n in names
        if pattern.fullmatch(n) and _shared_name(names_of, _Names(_text(n))) is not None
    ]


#: How many entries of an existing callback folder are looked at before it is refused as too large to check.
_TREE_LIMIT = 10_000


def _check_folder_tree(name: str, arg: str, text: str, real: str) -> None:
    """An existing folder a callback writes into holds no link, and no file with other names, at any depth.

    Keras opens files and makes sub-folders inside it (TensorBoard's ``train/`` and ``validation/``,
    BackupAndRestore's ``latest.weights.h5``): a link planted there would be written through, out of the
    output directory, and a hard-linked file would change under its other names.
    """
    if not os.path.isdir(real):
        return
    seen = 0
    for root, dirs, files in os.walk(real, followlinks=False):
        for entry in dirs + files:
            seen += 1
            path = os.path.join(root, entry)
            st = os.lstat(path)
            problem = (
                "a symbolic link"
                if os.path.islink(path)
                else "a file with other names (hard links)"
                if not os.path.isdir(path) and st.st_nlink > 1
                else None
            )
            if problem:
                raise CallbackFileRefused(
                    f"{name}.{arg} {text!r} holds {os.path.relpath(path, real)}, {problem}, which Keras "
                    "would write through; remove it, or name a new folder.",
                    arg,
                )
        if seen > _TREE_LIMIT:
            raise CallbackFileRefused(
                f"{name}.{arg} {text!r} ({real}) already holds more than {_TREE_LIMIT:,} entries, too many "
                "to check for links before Keras writes into it; name a new folder.",
                arg,
            )


def _check_backup_dir(real: str, real_base: str, arg: str) -> None:
    """Keras deletes ``backup_dir`` at the end of training: never the output folder or a folder of other files."""
    if real == real_base or _inside(real_base, real) or real == os.path.realpath(os.getcwd()):
        raise CallbackFileRefused(
            f"BackupAndRestore.backup_dir {real} is (or holds) the output or working directory, which "
            "Keras deletes at the end of training; name a folder of its own, e.g. 'backup'.",
            arg,
        )
    if os.path.lexists(real):
        others = sorted(set(os.listdir(real)) - _BACKUP_FILES) if os.path.isdir(real) else [os.path.basename(real)]
        if others:
            raise CallbackFileRefused(
                f"BackupAndRestore.backup_dir {real} already holds other files ({', '.join(others[:3])}), "
                "and Keras deletes the whole folder at the end of training; name a new or empty folder, "
                "or set delete_checkpoint: false.",
                arg,
            )


def _check_backup_files(real: str, arg: str, check_model_file: ModelFileCheck) -> None:
    """The files of an existing BackupAndRestore folder are exactly those Keras writes, or training is refused.

    Keras resumes from ``training_metadata.json`` (a JSON object ``{"epoch": int, "batch": int}``) and
    ``latest.weights.h5``, and deletes the folder at the end: a user's file of the same name would be read
    (``KeyError``, ``JSONDecodeError``) or deleted.
    """
    if not os.path.isdir(real):
        return
    for file in sorted(_BACKUP_FILES):
        path = os.path.join(real, file)
        if not os.path.lexists(path):
            continue
        ok = os.path.isfile(path) and not os.path.islink(path)
        if ok and file.startswith("training_metadata"):
            ok = _is_backup_metadata(path)
        elif ok:
            try:
                check_model_file(path, "weights_h5")
            except SaveError:
                ok = False
        if not ok:
            raise CallbackFileRefused(
                f"BackupAndRestore.backup_dir holds {path}, which is not a backup Keras wrote; "
                "Keras would read it to resume and delete it; move it away, or name a new folder.",
                arg,
            )


def _is_backup_metadata(path: str) -> bool:
    """Whether ``path`` is Keras's ``{"epoch": int, "batch": int}`` (read at most 4 KiB)."""
    import json

    with open(path, "rb") as fh:
        raw = fh.read(4097)
    try:
        data = json.loads(raw.decode("utf-8")) if len(raw) <= 4096 else None
    except (UnicodeDecodeError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and set(data) == _BACKUP_METADATA_KEYS
        and all(type(v) is int for v in data.values())  # bool is not Keras's int
    )


# The keys of Keras's ``training_metadata.json`` (keras/src/callbacks/backup_and_restore.py, ``_save_model``).
_BACKUP_METADATA_KEYS = {"epoch", "batch"}


#: What Keras's TensorBoard writes to ``log_dir/projector_config.pbtxt`` (``embeddings_freq``): the text form
#: of a ``ProjectorConfig``, an ``embeddings`` entry per Embedding layer with its tensor and metadata file.
_PROJECTOR_CONFIG = re.compile(
    r'(?:embeddings \{\n  tensor_name: "(?:[^"\\\n]|\\.)*"\n(?:  metadata_path: "(?:[^"\\\n]|\\.)*"\n)?\}\n)*'
)
#: The largest projector config read to tell whether TensorBoard wrote it (an entry per Embedding layer).
_PROJECTOR_LIMIT = 2**20


def _projector_problem(path: str) -> str | None:
    """Why the file at ``path`` is not a projector config TensorBoard wrote (None if it is, or is not there)."""
    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isfile(path):
        return "which is a link or not a regular file"
    if os.lstat(path).st_nlink > 1:
        return "which has other names (hard links), and would change under each of them"
    try:
        with open(path, "rb") as fh:
            data = fh.read(_PROJECTOR_LIMIT + 1)
    except OSError as err:
        return f"which cannot be read to check that TensorBoard wrote it ({err.strerror or err})"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if len(data) > _PROJECTOR_LIMIT or text is None or not _PROJECTOR_CONFIG.fullmatch(text):
        return "which is not a projector config TensorBoard wrote"
    return None


def _profiles(value: Any) -> bool:
    """Whether a TensorBoard's ``profile_batch`` profiles (0, ``"0"``, ``(0, 0)`` and none do not)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    parts = value if isinstance(value, (list, tuple)) else [value]
    for part in parts:
        try:
            if part is not None and int(part) != 0:  # Keras reads each as int: "00" and "+0" are 0
                return True
        except (TypeError, ValueError):
            return True  # Keras refuses it; the check costs nothing
    return False


#: How TensorFlow's profiler names the folder of each profile: the local time it is written, to the second.
_PROFILE_RUN = re.compile(r"[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}")


def _check_profile_dir(text: str, real: str, arg: str) -> None:
    """TensorFlow's profiler writes ``log_dir/train/plugins/profile/<local time>/<host>.xplane.pb`` with its
    own writer, replacing a file there: an entry named for a time to come (a user's file at the name of the
    next minutes) is refused. (Links there are refused with the log folder's tree.)"""
    import time

    folder = os.path.join(real, "train", "plugins", "profile")
    try:
        names = os.listdir(folder)
    except OSError:
        return  # none yet (or not a folder: the profiler fails to make its own, writing nothing)
    now = time.time()
    # the clock of the folder names is local: where it is set back an hour within an hour of now (daylight
    # saving ends), the names of the hour before the change come again
    dst = {time.localtime(now + shift).tm_isdst for shift in (-3600, 0, 3600)}
    back = 3600 if len(dst) > 1 else 0
    since = time.strftime("%Y_%m_%d_%H_%M_%S", time.localtime(now - 1 - back))
    for name in sorted(names):
        if _PROFILE_RUN.fullmatch(name) and name >= since:
            raise CallbackFileRefused(
                f"TensorBoard.log_dir {text!r} holds {os.path.join(folder, name)}, named for a time to come (by "
                "this machine's local clock; a profile written under another time zone can look so too); with "
                "profile_batch TensorFlow's profiler writes each profile into a folder named for the local time "
                "it is written, replacing what is there, and netform never replaces a file it did not write: "
                "move that folder away, or name a new log_dir.",
                arg,
            )


#: How Keras's TensorBoard names the embedding weights it saves each ``embeddings_freq`` epochs.
_EMBEDDING_CHECKPOINT = re.compile(r"keras_embedding\.ckpt-[0-9]+\.weights\.h5")


def _check_embedding_checkpoints(text: str, real: str, arg: str, check_model_file: ModelFileCheck | None) -> None:
    """With ``embeddings_freq`` Keras saves ``log_dir/train/keras_embedding.ckpt-<epoch>.weights.h5``: one
    there is replaced only where a save may replace it (it was refused mid-training, after the first steps)."""
    folder = os.path.join(real, "train")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in sorted(names):
        if not _EMBEDDING_CHECKPOINT.fullmatch(name):
            continue
        path = os.path.join(folder, name)
        try:
            ok = os.path.isfile(path) and not os.path.islink(path)
            if ok and check_model_file is not None:
                check_model_file(path, "weights_h5")
        except SaveError:
            ok = False
        if not ok:
            raise CallbackFileRefused(
                f"TensorBoard.log_dir {text!r} holds {path}, which is not embedding weights Keras wrote; with "
                "embeddings_freq Keras saves its embedding weights under that name, and netform never replaces "
                "a file it did not write: move it away, or name a new log_dir.",
                arg,
            )


def _check_tensorboard_dir(
    text: str,
    real: str,
    arg: str,
    embeddings: bool = False,
    profile: bool = False,
    check_model_file: ModelFileCheck | None = None,
) -> None:
    """TensorBoard writes event files into ``log_dir/train`` and ``log_dir/validation``: folders, if present;
    with ``embeddings`` (``embeddings_freq``), ``log_dir/projector_config.pbtxt``, replaced only when it is one
    TensorBoard wrote (a user's notes under that name were overwritten), and embedding weights in ``train/``
    (:func:`_check_embedding_checkpoints`); with ``profile`` (``profile_batch``), profiles under ``train/``
    (:func:`_check_profile_dir`)."""
    from .._files import event_file_to_come

    for sub in ("train", "validation"):
        planted = event_file_to_come(os.path.join(real, sub))
        if planted is not None:
            raise CallbackFileRefused(
                f"TensorBoard.log_dir {text!r} holds {planted}, named for a time to come; TensorFlow names each "
                "events file for the second it opens it and empties what is there, and netform never replaces a "
                "file it did not write: move that file away, or name a new log_dir.",
                arg,
            )
    if profile:
        _check_profile_dir(text, real, arg)
    if embeddings:
        _check_embedding_checkpoints(text, real, arg, check_model_file)
        projector = os.path.join(real, "projector_config.pbtxt")
        other = _projector_problem(projector)
        if other:
            raise CallbackFileRefused(
                f"TensorBoard.log_dir {text!r} holds {projector}, {other}; with embeddings_freq TensorBoard "
                "writes its projector config there, and netform never replaces a file it did not write: move "
                "that file away, or name a new log_dir.",
                arg,
            )
    for sub in ("train", "validation"):
        path = os.path.join(real, sub)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise CallbackFileRefused(
                f"TensorBoard.log_dir {text!r} holds {path}, which is not a folder; TensorBoard writes its "
                f"'{sub}' logs into a folder of that name: move the file away, or name a new log_dir.",
                arg,
            )


# What netform's TrainingBackup owns in its folder (netform.engine._backup_lock: STATE_NAME, its parked copy,
# LOCK_NAME, CREATED_NAME; named here, as the spec layer imports no TensorFlow).
_TRAINING_BACKUP_NAMES = ("state", "state" + BACKUP_SUFFIX, "netform-backup.lock", "netform-backup.created")


@dataclass(frozen=True)
class _Claim:
    """A training backup's folder, and what in it the backup may replace or delete."""

    where: str  # how the message names it: "BackupAndRestore.backup_dir 'bk' (training.callbacks[0])"
    index: int | None  # the callback's index in the spec (None: --backup-dir)
    folder: str  # its real path
    names: tuple[str, ...] | None  # the names in it the backup owns; None: the whole folder
    why: str
    fix: str


def _real(text: str, base: str | os.PathLike[str], access: SpecAccess) -> str | None:
    """The real path a callback's path argument leads to, or None for a remote file system."""
    problem = path_problem(text)
    if problem is not None and problem[1] == "network":
        return None
    return os.path.realpath(os.path.join(base, os.path.expanduser(text) if access.allow_paths else text))


def _claim(
    index: int, name: str, args: Mapping[str, Any], base: str | os.PathLike[str], access: SpecAccess
) -> _Claim | None:
    """The claim of a spec's BackupAndRestore or TrainingBackup on its folder (None for other callbacks)."""
    text = args.get("backup_dir")
    if name not in ("BackupAndRestore", "TrainingBackup") or not isinstance(text, (str, os.PathLike)):
        return None
    text = os.fspath(text)
    real = _real(text, base, access)
    if real is None:
        return None
    where = f"{name}.backup_dir {text!r} (training.callbacks[{index}])"
    if name == "TrainingBackup":
        return _Claim(
            where,
            index,
            real,
            _TRAINING_BACKUP_NAMES,
            "which netform's training backup replaces as a whole (its state, lock and marker are its own)",
            "name another file or folder there, or one outside it",
        )
    if args.get("delete_checkpoint", True):
        return _Claim(
            where,
            index,
            real,
            None,
            "and Keras deletes the whole folder at the end of training, so what is written there would be lost",
            f"write it outside that folder, or set delete_checkpoint: false on training.callbacks[{index}]",
        )
    return _Claim(
        where,
        index,
        real,
        tuple(sorted(_BACKUP_FILES)),
        "which Keras's backup writes, reads to resume and replaces",
        "name another file or folder",
    )


def _overlap(real: str, claim: _Claim) -> str | None:
    """Where ``real`` lies in what ``claim`` owns ('' for the folder itself), or None when it is not there."""
    if claim.names is None:
        return "" if _inside(real, claim.folder) else None
    for name in claim.names:
        if _inside(real, os.path.join(claim.folder, name)):
            return name
    return None


def _backups_above(real: str | None) -> list[_Claim]:
    """The training backups already on disk above ``real``: folders holding netform's backup lock or marker.

    Another run's backup (running, or stopped to be resumed) owns its ``state/``, lock and marker as this
    run's does: a callback file there breaks it (the running training stops, the resume is refused).
    """
    if real is None:
        return []
    claims = []
    folder = os.path.dirname(real)
    for _ in range(256):  # a path's depth; the root ends the walk
        if any(os.path.isfile(os.path.join(folder, n)) for n in _TRAINING_BACKUP_NAMES[2:]):
            claims.append(
                _Claim(
                    f"the training backup folder {folder} (it holds netform's backup lock or marker)",
                    None,
                    folder,
                    _TRAINING_BACKUP_NAMES,
                    "which that training replaces as a whole (its state, lock and marker are its own)",
                    "name another file or folder there, or one outside it",
                )
            )
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return claims


def backup_overlaps(
    spec_callbacks: Sequence[tuple[int, str, Mapping[str, Any]]],
    base: str | os.PathLike[str],
    access: SpecAccess,
    backup_dirs: Sequence[tuple[str, str]] = (),
) -> list[tuple[int, CallbackFileRefused]]:
    """The callback paths that lie in what a training backup of the same run owns, refused per callback.

    Keras's ``BackupAndRestore`` deletes its whole folder at the end of training (unless ``delete_checkpoint:
    false``, when it owns only its backup files there); netform's ``TrainingBackup`` replaces its ``state/``
    as a whole and owns its lock and marker files. A ``ModelCheckpoint`` or ``CSVLogger`` writing there would
    lose its files, or break the backup, after the run said they were written.

    Args:
        spec_callbacks: ``(index, class name, arguments)`` of each callback of the spec.
        base: The output directory the spec's paths resolve under.
        access: What the spec may reach.
        backup_dirs: ``(option, path)`` of the run's own TrainingBackup folders (``("--backup-dir", "bk")``),
            relative to the working directory.

    Returns:
        ``(index, refusal)`` for each callback with a path there (its first such path).
    """
    claims = [c for i, name, args in spec_callbacks if (c := _claim(i, name, args, base, access)) is not None]
    for option, path in backup_dirs:
        claims.append(
            _Claim(
                f"{option} {path}",
                None,
                os.path.realpath(path),
                _TRAINING_BACKUP_NAMES,
                "which netform's training backup replaces as a whole (its state, lock and marker are its own)",
                f"name another file or folder there, or one outside it, or give another {option}",
            )
        )
    found: list[tuple[int, CallbackFileRefused]] = []
    for i, name, args in spec_callbacks:
        refusal = None
        for arg in PATH_ARGUMENTS.get(name, ()):
            text = args.get(arg, DEFAULT_PATHS.get(name, {}).get(arg))
            if not isinstance(text, (str, os.PathLike)) or refusal is not None:
                continue
            real = _real(os.fspath(text), base, access)
            for claim in [*claims, *_backups_above(real)]:
                place = None if real is None or claim.index == i else _overlap(real, claim)
                if place is None:
                    continue
                at = f" at {place!r}" if place else ""
                refusal = CallbackFileRefused(
                    f"{name}.{arg} {os.fspath(text)!r} lies inside {claim.where}{at}, {claim.why}; {claim.fix}.",
                    arg,
                )
                break
        if refusal is not None:
            found.append((i, refusal))
    refused = {i for i, _ in found}
    for i, name, args in spec_callbacks:  # a backup's folder inside what TensorBoard writes into its log_dir
        for arg in PATH_ARGUMENTS.get(name, ()):
            owned = _WRITTEN_FOLDERS.get((name, arg), ())
            text = args.get(arg, DEFAULT_PATHS.get(name, {}).get(arg))
            if owned is None or not owned or not isinstance(text, (str, os.PathLike)):
                continue
            logs = _real(os.fspath(text), base, access)
            for claim in claims:
                if claim.names is not None:
                    continue  # a backup owning only its own names there (TrainingBackup's state, lock, marker)
                sub: str | None = (
                    None
                    if logs is None
                    else next((n for n in owned if _inside(claim.folder, os.path.join(logs, n))), None)
                )
                index = i if claim.index is None else claim.index
                if sub is None or index in refused:
                    continue
                refused.add(index)
                found.append(
                    (
                        index,
                        CallbackFileRefused(
                            f"{claim.where} lies in what {name}.{arg} {os.fspath(text)!r} (training.callbacks[{i}]) "
                            f"writes into its folder, at {sub!r}: the backup's files would mix with the logs {name} "
                            "writes there during training, and the backup replaces or deletes what it finds in its "
                            "folder; give the backup a folder of its own, outside the logs",
                            "backup_dir" if claim.index is not None else arg,
                        ),
                    )
                )
    return found


# --- The names a callback path can name ------------------------------------------------------------------------
#
# A ModelCheckpoint ``filepath`` is a template (``m{epoch:02d}-{val_loss:.2f}.keras``) that Keras formats at each
# save; it names a set of files, not one. Each path is read as the set of names it can produce: an automaton
# over characters built from the template, each field matching what its format spec can write for its value
# (``epoch`` and ``batch``: whole numbers from 1; any other field: a logged float, negative, ``nan`` or ``inf``
# too). Two sets that share a name are two callbacks that can write one file. The sets hold every name Keras can
# write (they may hold a few more: a field's width and the exact digits of a value are not followed).

# An automaton's parts: ("chars", set) one character of the set (None: any), ("seq", parts), ("alt", parts),
# ("star", part) any number of the part.
_Part = tuple[Any, ...]
_DIGITS = frozenset("0123456789")


def _chars(chars: str | frozenset[str] | None) -> _Part:
    return ("chars", None if chars is None else frozenset(chars))


def _seq(*parts: _Part) -> _Part:
    return ("seq", parts)


def _alt(*parts: _Part) -> _Part:
    return ("alt", parts)


def _star(part: _Part) -> _Part:
    return ("star", part)


def _opt(part: _Part) -> _Part:
    return _alt(part, _seq())


def _plus(part: _Part) -> _Part:
    return _seq(part, _star(part))


def _text(text: str) -> _Part:
    return _seq(*(_chars(c) for c in text))


# A format spec, as Python's format mini-language reads it.
_SPEC_PARTS = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?z?(?P<alt>\#)?(?P<zero>0)?(?P<width>\d+)?(?P<group>[,_])?"
    r"(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?",
    re.DOTALL,
)
_INT_DIGITS = {"b": "01", "o": "01234567", "x": "0123456789abcdef", "X": "0123456789ABCDEF"}


def _field_part(field: str, spec: str) -> _Part:
    """The texts ``format(value, spec)`` can write for the value Keras gives ``field`` in a checkpoint name."""
    match = _SPEC_PARTS.fullmatch(spec)
    kind = match.group("type") or "" if match is not None else "s"
    if match is None or kind in ("c", "s"):
        return _plus(_chars(None))  # refused by the template's own checks; any text meanwhile
    whole = field in ("epoch", "batch")  # Keras gives epoch + 1 and batch + 1: whole numbers from 1
    group = match.group("group") or ""
    sign = set(match.group("sign") or "") - {"-"}
    if whole and kind in ("", "d", "n", "b", "o", "x", "X"):
        digits = frozenset(_INT_DIGITS.get(kind, "0123456789"))
        prefix = _text("0" + kind) if match.group("alt") and kind in _INT_DIGITS else _seq()
        number = _seq(prefix, _chars(digits), _star(_chars(digits | set(group))))
    else:
        if not whole:
            sign.add("-")
        digits_part = _seq(_chars(_DIGITS), _star(_chars(_DIGITS | set(group))))
        precision = int(match.group("precision") or 6)
        exponent = _seq(_chars("eE"), _chars("+-"), _chars(_DIGITS), _plus(_chars(_DIGITS)))
        if kind in ("f", "F", "%", "e", "E"):
            fraction = _seq(_chars("."), *(_chars(_DIGITS) for _ in range(precision)))
            if precision == 0:
                fraction = _opt(_chars(".")) if match.group("alt") else _seq()
            number = _seq(digits_part, fraction) if kind in "fF%" else _seq(_chars(_DIGITS), fraction, exponent)
        elif kind in ("g", "G", "n"):
            number = _seq(digits_part, _opt(_seq(_chars("."), _star(_chars(_DIGITS)))), _opt(exponent))
        else:  # no type: a float keeps a digit after the point, or has an exponent
            number = _seq(digits_part, _alt(_seq(_chars("."), _plus(_chars(_DIGITS)), _opt(exponent)), exponent))
        if not whole:
            number = _alt(number, *(_text(w) for w in ("nan", "inf", "NAN", "INF")))
        if kind == "%":
            number = _seq(number, _chars("%"))
    pad: _Part = _seq()
    if match.group("width"):
        fill = match.group("fill") or ("0" if match.group("zero") and not match.group("align") else " ")
        pad = _star(_chars(frozenset({fill, " "} if match.group("align") is None else {fill})))
    if match.group("sign") in ("+", " "):  # every value is signed: '-', or the spec's '+' or ' '
        signed = _chars(frozenset(sign))
    else:
        signed = _opt(_chars(frozenset(sign))) if sign else _seq()
    return _seq(pad, signed, pad, number, pad)


def _path_part(path: str) -> _Part:
    """The names a path can name: itself, or the names its template fields can write (``m{epoch}.keras``)."""
    import string

    if "{" not in path and "}" not in path:
        return _text(path)
    try:
        parsed = list(string.Formatter().parse(path))
    except ValueError:
        return _text(path)  # not a template Keras formats: refused by the callback's own checks
    parts: list[_Part] = []
    for literal, field, spec, conversion in parsed:
        parts.append(_text(literal))
        if field is not None:
            parts.append(_plus(_chars(None)) if conversion else _field_part(field, spec or ""))
    return _seq(*parts)


def _folder_part(folder: str, owned: tuple[str, ...] | None = None) -> _Part:
    """The paths a callback's folder takes: the folder, the folders above it, and what it writes below it.

    ``owned``: the names in the folder the callback writes (each a file, or a folder and everything below it);
    ``None``: everything below it.
    """
    above = []
    parent = os.path.dirname(folder)
    while parent and parent != folder:
        above.append(_text(parent))
        folder_above, parent = parent, os.path.dirname(parent)
        if parent == folder_above:
            break
    inside = _text(folder.rstrip(os.sep) + os.sep)
    below: _Part = _plus(_chars(None))
    if owned is not None:
        below = _alt(*(_seq(_text(n), _opt(_seq(_chars(os.sep), _plus(_chars(None))))) for n in owned))
    return _alt(_text(folder), _seq(inside, below), *above)


def _ends_agree(a: str, b: str) -> bool:
    """Whether two paths' texts before their first field and after their last can be those of one name.

    A cheap first look: ``ck/a{epoch}.keras`` and ``ck/b{epoch}.keras`` never name one file, however many fields
    lie between.
    """
    import string

    ends = []
    for path in (a, b):
        try:
            parts = list(string.Formatter().parse(path))
        except ValueError:
            return True
        head = parts[0][0] if parts else ""
        tail = parts[-1][0] if parts and parts[-1][1] is None else ""
        ends.append((head, tail))
    (head_a, tail_a), (head_b, tail_b) = ends
    return (head_a.startswith(head_b) or head_b.startswith(head_a)) and (
        tail_a.endswith(tail_b) or tail_b.endswith(tail_a)
    )


class _Names:
    """The names a path can take, as an automaton (:func:`_path_part`, :func:`_folder_part`)."""

    def __init__(self, part: _Part) -> None:
        self.moves: list[tuple[frozenset[str] | None, int] | None] = []
        self.empty: list[list[int]] = []
        self.start = self._state()
        self.end = self._build(part, self.start)

    def _state(self) -> int:
        self.moves.append(None)
        self.empty.append([])
        return len(self.moves) - 1

    def _build(self, part: _Part, start: int) -> int:
        kind, body = part
        if kind == "chars":
            end = self._state()
            self.moves[start] = (body, end)
            return end
        if kind == "seq":
            for sub in body:
                start = self._build(sub, start)
            return start
        if kind == "alt":
            end = self._state()
            for sub in body:
                begin = self._state()
                self.empty[start].append(begin)
                self.empty[self._build(sub, begin)].append(end)
            return end
        begin, end = self._state(), self._state()  # star
        self.empty[start] += [begin, end]
        self.empty[self._build(body, begin)] += [begin, end]
        return end


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> str | None:
    """A character both sets hold (``1`` where it can, as an epoch would write), or None."""
    both = (a & b if b is not None else a) if a is not None else (b if b is not None else frozenset("x"))
    if not both:
        return None
    return "1" if "1" in both else min(both)


#: The most pairs of states looked at to find a name two paths share (about 2 s): plenty for paths of a few
#: fields; two names of dozens of fields each between the same first and last texts are not told apart.
_SEARCH_LIMIT = 300_000


def _shared_name(a: _Names, b: _Names) -> str | None:
    """A name both sets hold (the shortest, as an example), or None when they share none."""
    from collections import deque

    start = (a.start, b.start)
    came: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue and len(came) < _SEARCH_LIMIT:
        pair = queue.popleft()
        p, q = pair
        if p == a.end and q == b.end:
            out: list[str] = []
            step = came[pair]
            while step is not None:
                pair, char = step
                out.append(char)
                step = came[pair]
            return "".join(reversed(out))
        nexts = [((p2, q), "") for p2 in a.empty[p]] + [((p, q2), "") for q2 in b.empty[q]]
        move_a, move_b = a.moves[p], b.moves[q]
        if move_a is not None and move_b is not None:
            met = _meet(move_a[0], move_b[0])
            if met is not None:
                nexts.append(((move_a[1], move_b[1]), met))
        for following, char in nexts:
            if following not in came:
                came[following] = (pair, char)
                queue.append(following)
    return None


def shared_files(
    spec_callbacks: Sequence[tuple[int, str, Mapping[str, Any]]],
    base: str | os.PathLike[str],
    access: SpecAccess,
    backup_dirs: Sequence[tuple[str, str]] = (),
) -> list[tuple[int, CallbackFileRefused]]:
    """The callbacks that write a file another callback of the run writes too, and the TrainingBackups past one.

    Two CSVLoggers on one file would interleave (or truncate) each other's rows; ``fit`` takes one
    TrainingBackup at most (a spec's, or ``--backup-dir``'s), and refuses more once TensorFlow has started.
    A ModelCheckpoint template is the set of names its fields can write (``m{epoch}.keras`` writes
    ``m1.keras``, so does ``m{epoch:d}.keras``); two callbacks meet when their sets share a name, or when a
    file can be, lie inside or be a folder above a folder another callback makes and writes into
    (TensorBoard's ``log_dir``, OrbaxCheckpoint's ``directory``).

    Args:
        spec_callbacks: ``(index, class name, arguments)`` of each callback of the spec.
        base: The output directory the spec's paths resolve under.
        access: What the spec may reach.
        backup_dirs: ``(option, path)`` of the run's own TrainingBackup folders (``("--backup-dir", "bk")``).

    Returns:
        ``(index, refusal)`` for each callback after the first that writes a file (or makes a folder) an earlier
        one's paths meet, or that is a TrainingBackup beside another one.
    """
    found: list[tuple[int, CallbackFileRefused]] = []
    claims: list[_PathClaim] = []
    backup: tuple[str, str] | None = (backup_dirs[0][0], backup_dirs[0][1]) if backup_dirs else None
    backup_at: int | None = None
    for i, name, args in spec_callbacks:
        if name == "TrainingBackup":
            if backup is not None:
                at = f"training.callbacks[{backup_at}]" if backup_at is not None else "the command line"
                found.append(
                    (
                        i,
                        CallbackFileRefused(
                            f"TrainingBackup is a second training backup: {backup[0]} {backup[1]!r} ({at}) is one "
                            "already, and training takes one (it saves and resumes one state); "
                            + (
                                f"remove this callback, or leave out {backup[0]}"
                                if backup_at is None
                                else "remove one of the two TrainingBackup callbacks"
                            ),
                            "backup_dir",
                        ),
                    )
                )
                continue
            backup, backup_at = ("TrainingBackup.backup_dir", str(args.get("backup_dir"))), i
        mine: list[_PathClaim] = []
        refusal = None
        for arg in PATH_ARGUMENTS.get(name, ()):
            is_file = arg in _FILE_ARGS
            if not is_file and (name, arg) not in _WRITTEN_FOLDERS:
                continue  # a file TensorBoard reads; the backups' folders are backup_overlaps'
            text = args.get(arg, None if is_file else DEFAULT_PATHS.get(name, {}).get(arg))
            if not isinstance(text, (str, os.PathLike)):
                continue
            real = _real(os.fspath(text), base, access)
            if real is None:
                continue
            claim = _PathClaim(i, name, arg, os.fspath(text), real, is_file)
            mine.append(claim)
            refusal = refusal or next((r for other in claims if (r := _meeting(claim, other)) is not None), None)
        claims += mine
        if refusal is not None:
            found.append((i, refusal))
    return found


#: The folder arguments of callbacks that make the folder and write into it during training, and the names they
#: write there (``None``: any; the backups' folders are checked by :func:`backup_overlaps`). TensorBoard writes
#: its events under ``train/`` and ``validation/`` (its profiles and embedding weights too) and its projector
#: configuration beside them (keras/src/callbacks/tensorboard.py): a CSVLogger log beside those is its own.
_WRITTEN_FOLDERS: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("TensorBoard", "log_dir"): ("train", "validation", "projector_config.pbtxt"),
    ("OrbaxCheckpoint", "directory"): None,
}


@dataclass
class _PathClaim:
    """A callback's file or folder, and the names it takes (made when first compared)."""

    index: int
    name: str
    arg: str
    text: str
    real: str
    is_file: bool
    _names: _Names | None = None

    @property
    def names(self) -> _Names:
        if self._names is None:
            part = (
                _path_part(self.real)
                if self.is_file
                else _folder_part(self.real, _WRITTEN_FOLDERS[self.name, self.arg])
            )
            self._names = _Names(part)
        return self._names

    @property
    def shown(self) -> str:
        return f"{self.name}.{self.arg} {self.text!r} (training.callbacks[{self.index}])"


def _meeting(claim: _PathClaim, other: _PathClaim) -> CallbackFileRefused | None:
    """Why ``claim`` may not be written beside ``other``, a path of an earlier callback (None: they never meet)."""
    if not claim.is_file and not other.is_file:
        return None  # two folders: each callback writes files of its own names there
    if claim.is_file and other.is_file and claim.real == other.real and "{" not in claim.real:
        return CallbackFileRefused(
            f"{claim.name}.{claim.arg} {claim.text!r} ({claim.real}) is the file {other.shown} writes too, and "
            "each would overwrite or mix into the other's; give each callback a file of its own",
            claim.arg,
        )
    if claim.is_file and other.is_file and not _ends_agree(claim.real, other.real):
        return None
    example = _shared_name(claim.names, other.names)
    if example is None:
        return None
    if claim.is_file and other.is_file:
        return CallbackFileRefused(
            f"{claim.name}.{claim.arg} {claim.text!r} can write {example}, a file {other.shown} can write too "
            "(a template names every file its fields can write), and each would overwrite or mix into the "
            "other's; give each callback a file of its own, one no template of the other can name",
            claim.arg,
        )
    file, folder = (claim, other) if claim.is_file else (other, claim)
    owned = _WRITTEN_FOLDERS[folder.name, folder.arg]
    writes = "anything" if owned is None else f"{', '.join(owned[:-1])} and {owned[-1]}"
    if example == folder.real:
        place = ("is the folder", "is that folder")
    elif _inside(example, folder.real):
        place = (f"lies in what {folder.name} writes into the folder ({writes}) of", "lies in what it writes there")
    else:
        place = ("is a folder above the folder of", "is a folder above it")
    fix = "so the file and the folder would take the same place; write the file elsewhere, or name another folder"
    if claim.is_file:
        return CallbackFileRefused(
            f"{claim.name}.{claim.arg} {claim.text!r} can write {example}, which {place[0]} {folder.shown}, a "
            f"folder {folder.name} makes and writes into during training, {fix}",
            claim.arg,
        )
    return CallbackFileRefused(
        f"{claim.name}.{claim.arg} {claim.text!r} ({claim.real}) is a folder {claim.name} makes and writes {writes} "
        f"into during training, and {file.shown} can write {example}, which {place[1]}, {fix}",
        claim.arg,
    )


def _output_place(real: str, output: str, is_file: bool) -> str | None:
    """How the real path ``output`` meets a callback's real path ``real``, as the words between them (None: apart)."""
    if is_file and "{" in os.path.basename(real):
        if _shared_name(_Names(_path_part(real)), _Names(_text(output))) is not None:
            return "is a file name its template can produce, the template of"
        return "is a folder that holds the files of" if _inside(os.path.dirname(real), output) else None
    what = "file" if is_file else "folder"
    if real == output:
        return f"is the {what} of"
    if _inside(real, output):
        return f"is a folder that holds the {what} of"
    if _inside(output, real):
        return "lies inside the folder of"
    return None


def output_overlaps(
    spec_callbacks: Sequence[tuple[int, str, Mapping[str, Any]]],
    base: str | os.PathLike[str],
    access: SpecAccess,
    output: str,
    option: str = "-o",
) -> list[tuple[int, CallbackFileRefused]]:
    """The callbacks whose files or folders are, hold or lie inside the file the trained model is saved to.

    A callback writes its file during training (a CSVLogger log named ``m.keras``), or makes its folder (a
    TensorBoard ``log_dir``, a backup Keras deletes at the end): the save after the training would then find
    the target taken, or lose it, and the trained model with it. Paths are compared once resolved (links,
    ``..``), the callbacks' under ``base`` as they are written, ``output`` under the working directory.

    Args:
        spec_callbacks: ``(index, class name, arguments)`` of each callback of the spec.
        base: The output directory the spec's paths resolve under.
        access: What the spec may reach.
        output: The path the trained model is saved to (``-o``).
        option: How the message names it.

    Returns:
        ``(index, refusal)`` for each callback that meets ``output`` (its first such path).
    """
    target = os.path.realpath(output.rstrip("/") or output)
    found: list[tuple[int, CallbackFileRefused]] = []
    for i, name, args in spec_callbacks:
        for arg in PATH_ARGUMENTS.get(name, ()):
            text = args.get(arg, DEFAULT_PATHS.get(name, {}).get(arg))
            if arg == "embeddings_metadata" or not isinstance(text, (str, os.PathLike)):
                continue  # embeddings_metadata names files TensorBoard reads
            real = _real(os.fspath(text), base, access)
            is_file = arg in _FILE_ARGS
            place = None if real is None else _output_place(real, target, is_file)
            if place is None:
                continue
            if is_file:
                does = f"{name} writes that file during training"
            else:
                does = f"{name} writes into that folder during training"
                if name == "BackupAndRestore" and args.get("delete_checkpoint", True):
                    does += " and Keras deletes it at the end"
            outside = f"a path outside {real}" if place.startswith(("lies", "is the")) else "another path"
            found.append(
                (
                    i,
                    CallbackFileRefused(
                        f"{option} {output} ({target}) {place} {name}.{arg} {os.fspath(text)!r} ({real}): {does}, "
                        f"so the trained model could not be saved there after it; give {option} {outside}, or "
                        f"name another {'file' if is_file else 'folder'} for the callback",
                        arg,
                    ),
                )
            )
            break
    return found


def backup_dir_output_problem(backup_dir: str, output: str, option: str = "--backup-dir") -> str | None:
    """Why ``output`` may not be saved with ``backup_dir`` as the run's training backup (None: it may).

    netform's backup replaces its ``state/`` as a whole and owns its lock and marker files; the folder itself
    is made before training, so ``output`` may not be it either, nor a folder holding it.
    """
    target = os.path.realpath(output.rstrip("/") or output)
    folder = os.path.realpath(backup_dir)
    owned = next((n for n in _TRAINING_BACKUP_NAMES if _inside(target, os.path.join(folder, n))), None)
    if owned is None and not _inside(folder, target):
        return None
    where = f"lies in {owned!r} of" if owned else "is, or holds,"
    return (
        f"-o {output} {where} {option} {backup_dir}, which netform's training backup makes and replaces during "
        f"training, so the trained model could not be saved there; give -o a path outside it (a file beside "
        f"its state is fine), or give another {option}"
    )


def callback_file_errors(
    spec: Any,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    allow_paths: bool = False,
    allow_network: bool = False,
    inputs: Sequence[tuple[str, str]] = (),
    check_model_file: ModelFileCheck,
    backup_dirs: Sequence[tuple[str, str]] = (),
    output: str | None = None,
) -> list[Diagnostic]:
    """The spec's callbacks whose files the run may not write, each a located diagnostic (first problem of each).

    Args:
        spec: A loaded :class:`~netform.spec.ModelSpec`.
        out_dir: The folder the callback paths resolve under (default: the working directory).
        allow_paths: The paths may leave ``out_dir``.
        allow_network: Remote file systems are allowed (their paths are not looked at).
        inputs: ``(what, path)`` of the files the run reads (``("--data", "d.csv")``), never replaced.
        check_model_file: Whether a save may replace a model file there (the savers' rule).
        backup_dirs: ``(option, path)`` of the run's own training backup folders (``("--backup-dir", "bk")``):
            no callback file may lie in what they own (:func:`backup_overlaps`).
        output: The file the trained model is saved to (``netform train -o``), relative to the working
            directory: no callback file or folder may be it, hold it or lie in it (:func:`output_overlaps`).

    Returns:
        ``file:line:column: training.callbacks[i].filename: …`` diagnostics (empty: every file may be written).
    """
    training = getattr(spec, "training", None)
    if training is None or not training.callbacks:
        return []
    from ._training_checks import spec_log_names

    base = Path(out_dir) if out_dir is not None else Path.cwd()
    access = SpecAccess(allow_paths=allow_paths, allow_network=allow_network)
    names = LogNames(*spec_log_names(spec))
    diags: list[tuple[int, Diagnostic]] = []
    refused: set[int] = set()
    for i, callback in enumerate(training.callbacks):
        if callback.type not in PATH_ARGUMENTS:
            continue
        args = callback.arguments
        try:
            confine_paths(
                callback.type,
                dict(args),
                base,
                access,
                [],
                check_model_file=check_model_file,
                log_names=names,
                inputs=inputs,
            )
        except CallbackFileRefused as err:
            refused.add(i)
            diags.append((i, _located(spec, i, args, err)))
    listed = [(i, cb.type, cb.arguments) for i, cb in enumerate(training.callbacks) if cb.type in PATH_ARGUMENTS]
    for i, twice in shared_files(listed, base, access, backup_dirs):
        if i not in refused:
            refused.add(i)
            diags.append((i, _located(spec, i, training.callbacks[i].arguments, twice)))
    for i, overlap in backup_overlaps(listed, base, access, backup_dirs):
        if i not in refused:
            refused.add(i)
            diags.append((i, _located(spec, i, training.callbacks[i].arguments, overlap)))
    for i, clash in output_overlaps(listed, base, access, output) if output else []:
        if i not in refused:
            diags.append((i, _located(spec, i, training.callbacks[i].arguments, clash)))
    return [d for _, d in sorted(diags, key=lambda item: item[0])]


def _located(spec: Any, index: int, args: Mapping[str, Any], err: CallbackFileRefused) -> Diagnostic:
    path: tuple[str | int, ...] = ("training", "callbacks", index) + ((err.arg,) if err.arg in args else ())
    return spec._smap.diagnostic(str(err).rstrip("."), path)
