"""Crash-safe training backups that resume at the exact step.

Keras's ``BackupAndRestore`` restarts an interrupted epoch from its first
batch (re-running the batches it had already trained on) and overwrites its
files in place. :class:`TrainingBackup` records everything a run depends on
and resumes *inside* the epoch, so an interrupted and resumed run ends with
the same weights as an uninterrupted one (under deterministic ops):

* every model variable (weights, ``SeedGenerator`` states of dropout and
  other random layers), the optimizer's variables (``iterations`` included)
  and the metric accumulators;
* the epoch and the number of steps done in it;
* the data order: for array data with ``shuffle=True`` netform owns the
  shuffle while a backup is active, drawing each epoch's permutation from a
  seed kept in the backup, so a resumed run skips exactly the batches that
  were already seen, in the same order. The seed comes from netform's own
  generator (reproducible under ``keras.utils.set_random_seed``); like Keras's
  ``BackupAndRestore``, the backup neither reads nor sets the global NumPy and
  Python ``random`` states, which belong to the program;
* the state of the stateful built-in callbacks (:mod:`._callback_state`),
  taken after every other callback's ``on_epoch_end``.

The directory is locked for the whole ``fit``; when training completes only
netform's own files are removed from it (:mod:`._backup_lock`). The backup
``<directory>/state`` is netform's alone: a file of anything else in it is
refused (when ``fit`` starts, and before each backup replaces the folder),
never deleted. Its files are opened only as regular files, never through a
link (``O_NOFOLLOW``) nor waiting on a FIFO (``O_NONBLOCK``), and every field
of its ``state.json`` is checked before use: a damaged backup is a
:class:`~netform.errors.FormatError` naming the file and the field.

A backup is one directory ``<directory>/state`` written with
:func:`netform._files.atomic_path`: the new copy is written beside it under a
temporary name, flushed to disk and renamed into place, and the previous copy
stays valid until the new one is complete. A process killed at any instant
leaves one good backup.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import stat
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from .._compat import _keras_engine as ki
from .._compat._random_seed import keras_random_seed
from ..errors import EngineError, FormatError, SaveError
from .._files import atomic_path, recover
from .._npz import ZIP_READ_ERRORS, NpzMember, NpzProblem, check_members, member_header
from ._backup_lock import (
    STATE_FILES,
    STATE_NAME,
    DirectoryLock,
    remove_created_directory,
    remove_own_state,
    remove_parked,
    remove_temporaries,
)
from ._callback_state import (
    MAX_COUNT,
    MISSING,
    capture_callbacks,
    check_callback_states,
    learning_rate,
    restore_callbacks,
)

__all__ = ["TrainingBackup", "find_backup", "guard_keras_backups"]

_STATE = STATE_NAME
_META, _VARIABLES = STATE_FILES
_VERSION = 1
_FORMAT = "netform-training-backup"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_MAX_SEED = 2**63 - 1
#: Array kinds a backup holds (variables are bool, int or float).
_ARRAY_KINDS = "biuf"


def _is_array_data(x: Any) -> bool:
    leaves = tree.flatten(x)
    return bool(leaves) and all(isinstance(v, np.ndarray) for v in leaves)


def _shuffle_seed(model: keras.Model) -> int:
    """The seed of netform's shuffle for a new training, drawn without touching any global RNG.

    After ``keras.utils.set_random_seed(s)`` it is a function of ``s`` and the
    optimizer's step count (a second ``fit`` of the same model draws other
    orders), so a seeded program shuffles the same way in every run; otherwise
    it comes from the operating system's entropy, as an unseeded shuffle would.
    """
    seed = keras_random_seed()
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    optimizer = getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    step = int(keras.ops.convert_to_numpy(iterations)) if iterations is not None else 0
    return int(np.random.SeedSequence([seed % 2**64, step]).generate_state(1)[0] >> 1)


#: The names of the arrays a backup holds: its variables' and its callbacks' best weights.
_BACKUP_ARRAY = re.compile(r"(model|optimizer|metrics)_\d+|callback\d+_\d+")
#: A backup array's group (``model``, ``callback3``) and index.
_INDEXED = re.compile(r"(model|optimizer|metrics|callback\d+)_(\d+)")
#: Entries ``variables.npz`` may hold beyond those ``state.json`` declares (a callback's best weights it no
#: longer names are left unread).
_SPARE_ARRAYS = 16
#: Bytes a backup's arrays may declare beyond the model's variables (metrics are rebuilt lazily, so may differ).
_METRICS_SLACK = 64 * 2**20


def _itemsize(dtype: Any) -> int:
    """Bytes per value of a variable's dtype (8 for one NumPy does not name, such as ``bfloat16``: an upper bound)."""
    try:
        return int(np.dtype(str(dtype)).itemsize)
    except TypeError:
        return 8


def _create(path: str) -> int:
    """A new file at ``path``: never an existing one, never through a link."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644)


def _write_variables(path: str, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb", opener=lambda p, _flags: _create(p)) as f:
        np.savez(f, allow_pickle=True, **arrays)  # numpy's default, spelled out: the arrays' names are keywords too


def _write_meta(path: str, meta: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8", opener=lambda p, _flags: _create(p)) as f:
        json.dump(meta, f)


def _kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class TrainingBackup(keras.callbacks.Callback):
    """Back up training every ``save_every_steps`` steps; resume exactly.

    Pass it to netform's ``fit`` (or use ``fit(..., backup_dir=...)``). When
    ``fit`` starts and ``directory`` holds a backup, the model, optimizer,
    metrics, the model's RNG states (``SeedGenerator`` variables) and the
    shuffle seed are restored and training continues at the step
    after the last one backed up, in the same data order.

    Exact resumption of the data order needs array (NumPy) data, or data whose
    order is the same in every pass (a ``tf.data.Dataset`` without
    unseeded shuffling): for those the batches already seen in the
    interrupted epoch are skipped. Generators and ``PyDataset`` objects resume
    at the start of the interrupted epoch, as Keras does.

    Args:
        directory: Where the backup lives (created if needed).
        save_every_steps: Back up after every this many training steps
            (``None``: only at the end of each epoch).
        save_every_epoch: Also back up at the end of each epoch.
        delete_on_finish: Remove the backup when ``fit`` completes, so that
            the next ``fit`` starts afresh (as Keras's ``BackupAndRestore``).
            Only netform's files are removed; the directory too when netform
            created it and nothing else is in it. With ``False`` the backup
            outlives ``fit``: save the model, then call :meth:`discard`; a
            save that fails leaves the trained state in the backup, and the
            next ``fit`` resumes from it with no epoch left to run
            (``netform train -o`` does this).

    Raises:
        EngineError: ``save_every_steps`` is not a positive integer, or ``directory`` contains a NUL character.

    Example:
        >>> backup = TrainingBackup("runs/backup", save_every_steps=100)  # doctest: +SKIP
        >>> model.fit(x, y, epochs=10, callbacks=[backup])  # doctest: +SKIP
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        save_every_steps: int | None = None,
        save_every_epoch: bool = True,
        delete_on_finish: bool = True,
    ) -> None:
        super().__init__()
        ki.mark_ignores_tf_logs(self)  # never reads the logs: no per-step host sync for them
        if save_every_steps is not None and (
            isinstance(save_every_steps, bool) or not isinstance(save_every_steps, int) or save_every_steps < 1
        ):
            raise EngineError(
                "TrainingBackup: received an invalid value for `save_every_steps`, expected a positive "
                f"integer or None. Received: save_every_steps={save_every_steps!r}"
            )
        if "\0" in os.fspath(directory):  # no file name holds one: refused here, not as a ValueError when fit starts
            raise EngineError(
                f"TrainingBackup: the directory {os.fspath(directory)!r} contains a NUL character, which no file "
                "name can hold. Expected the path of a folder; pass another `directory`."
            )
        self.directory = Path(directory)
        self.save_every_steps = save_every_steps
        self.save_every_epoch = save_every_epoch
        self.delete_on_finish = delete_on_finish
        self._arrays: tuple[Any, Any, Any] | None = None
        self._dataset: tf.data.Dataset | None = None
        self._in_order: tuple[Any, Any, Any] | None = None
        self._base = 0
        self._seed = 0
        self._epoch = 0
        self._step = 0
        self._resume_epoch: int | None = None
        self._resume_step = 0
        self._resume_metrics: list[np.ndarray] | None = None
        self._since_save = 0
        self._lock = DirectoryLock(self.directory)
        self._peers: list[keras.callbacks.Callback] = []
        self._epoch_lr: float | None = None
        self._resume_callbacks: tuple[list[dict[str, Any]], Any, float | None] | None = None

    # ------------------------------------------------------------ engine API
    def acquire(self, callbacks: list[keras.callbacks.Callback] | None = None) -> None:
        """Lock the directory for this training; ``fit`` calls it first.

        Args:
            callbacks: The training's callbacks, whose state is backed up.

        Raises:
            EngineError: Another training uses the directory.
        """
        self._lock.acquire()
        self._peers = [cb for cb in callbacks or [] if cb is not self]

    def release(self) -> None:
        """Unlock the directory (idempotent); ``fit`` calls it when it returns or raises.

        A directory netform created for a fit that failed before any backup
        was written is removed again.
        """
        if self._lock.held:
            remove_created_directory(self.directory)
        self._lock.release(remove_file=True)

    def discard(self) -> None:
        """Remove the backup now, as ``fit`` does when it completes under ``delete_on_finish`` (idempotent).

        For a backup kept past ``fit`` (``delete_on_finish=False``) until the
        trained model is saved. Only netform's files are removed, the
        directory too when netform created it and nothing else is in it;
        the directory is locked meanwhile.

        Raises:
            EngineError: Another training uses the directory (the backup is left as it is).
        """
        if not self.directory.is_dir():
            return
        self._lock.acquire()
        try:
            remove_own_state(self.directory, self.path)
        finally:
            self.release()

    @property
    def path(self) -> Path:
        """The backup directory itself (``<directory>/state``)."""
        return self.directory / _STATE

    def take_data(self, x: Any, y: Any, sample_weight: Any, *, shuffle: bool | str, steps: int | None) -> bool:
        """Own the shuffling of array data; return True if netform shuffles it.

        Called by ``fit`` before building its data stream: when this returns
        True the stream must be built with ``shuffle=False`` and each epoch
        fed through :meth:`epoch_stream`.
        """
        whole_epochs = steps is None  # with steps_per_epoch, epochs do not start the data over
        arrays = whole_epochs and all(v is None or _is_array_data(v) for v in (x, y, sample_weight))
        own = arrays and shuffle is True
        self._arrays = (x, y, sample_weight) if own else None
        # unshuffled arrays are in the same order every epoch: a resumed epoch starts at its step by slicing
        self._in_order = (x, y, sample_weight) if arrays and shuffle is False else None
        self._dataset = x if whole_epochs and isinstance(x, tf.data.Dataset) else None
        return own

    def restore(self, model: keras.Model, stream: Any) -> int | None:
        """Restore the backup, if there is one; return the epoch to start at (``None``: no backup).

        Raises:
            FormatError: The backup cannot be read or was written for another
                model (different variables).
        """
        self._seed = _shuffle_seed(model)
        self._resume_epoch = None
        self._since_save = 0
        meta, members = self._read()
        if meta is None:
            return None
        if not model.built or (model.optimizer is not None and not model.optimizer.built):
            ki.symbolic_build(model, stream.first_batch_spec())
        groups = self._groups(model)
        self._check_members(model, meta, groups, members)  # before a byte of an array is allocated
        arrays = self._load(members)
        for name, variables in groups.items():
            want = int(meta["counts"].get(name, -1))
            if name == "metrics" and want != len(variables):
                continue  # metrics are rebuilt lazily; only the epoch's logs depend on them
            for i, variable in enumerate(variables):
                value = self._array(arrays, f"{name}_{i}")
                if name != "metrics":
                    variable.assign(value)
        self._resume_metrics = (
            [self._array(arrays, f"metrics_{i}") for i in range(len(groups["metrics"]))]
            if int(meta["counts"].get("metrics", -1)) == len(groups["metrics"])
            else None
        )
        states = list(meta.get("callbacks", []))
        for state in states:
            for j in range(state.get("best_weights", 0)):
                self._array(arrays, f"callback{state['index']}_{j}")
        epoch_lr = meta.get("epoch_lr")
        self._resume_callbacks = (states, arrays, None if epoch_lr is None else float(epoch_lr))
        self._seed = int(meta["seed"])
        self._resume_epoch = int(meta["epoch"])
        self._resume_step = int(meta["step"])
        return self._resume_epoch

    def _check_members(
        self, model: keras.Model, meta: dict[str, Any], groups: dict[str, list[Any]], members: dict[str, NpzMember]
    ) -> None:
        """Check the backup's arrays, by their headers alone, against the model's variables.

        Only the arrays a backup of this model holds may be there (each
        variable's, and the best weights of the callbacks ``state.json``
        names), a model or optimizer array has its variable's shape, and
        all of them declare at most the bytes of the model's variables (and
        of those best weights) plus 64 MiB: a damaged backup is a
        FormatError, never a huge allocation.
        """
        where = self.path / _VARIABLES
        # The counts first, before anything is built from them (a count of a billion is a ~200-byte edit).
        for name, variables in groups.items():
            want = int(meta["counts"].get(name, -1))
            if name != "metrics" and want != len(variables):  # metrics are rebuilt lazily: sized below
                raise FormatError(
                    f"{self.path}: the training backup holds {want} {name} variable(s) but model "
                    f"{model.name!r} has {len(variables)}. Expected a backup written by the same model; "
                    f"remove {self.path} (the backup folder's state) to start training afresh."
                )
        total = sum(m.nbytes for m in members.values())
        best = len({n.split("_")[0] for n in members if n.startswith("callback")})  # callbacks' best weights
        states = list(meta.get("callbacks", []))
        # An array netform writes but this state does not use (a callback's best weights, when state.json no
        # longer names that callback) is left unread; an array of any other name is not netform's. The
        # arrays' indices were checked against the counts by _members.
        strangers = sorted(n for n in members if not _BACKUP_ARRAY.fullmatch(n))
        if strangers:
            raise self._damaged(f"{where}: array {strangers[0]!r} is none a backup of model {model.name!r} holds")
        named = {int(st["index"]) for st in states if int(st.get("best_weights", 0))}
        for unused in [n for n in members if n.startswith("callback") and _callback_of(n) not in named]:
            del members[unused]
        for name, variables in groups.items():
            if name == "metrics":
                continue
            for i, variable in enumerate(variables):
                member = members.get(f"{name}_{i}")
                if member is not None and member.shape != tuple(variable.shape):
                    raise FormatError(
                        f"{self.path}: {name} variable {i} ({variable.path}) has shape {tuple(variable.shape)} "
                        f"in model {model.name!r} but {member.shape} in the backup. Expected a backup "
                        f"written by the same model; remove {self.path} (the backup folder's state) to start "
                        "training afresh."
                    )

        def size(variables: list[Any]) -> int:
            return sum(_itemsize(v.dtype) * int(np.prod(v.shape, dtype=np.int64)) for v in variables)

        best = max(best, sum(1 for st in states if int(st.get("best_weights", 0))))
        budget = sum(size(vs) for vs in groups.values()) + best * size(list(model.weights)) + _METRICS_SLACK
        if total > budget:
            raise self._damaged(
                f"{where}: the arrays declare {total:,} bytes, more than the {budget:,} bytes of model "
                f"{model.name!r}'s variables, optimizer state and callbacks' best weights"
            )

    def _damaged(self, what: str) -> FormatError:
        return FormatError(
            f"{what}. The training backup is damaged: remove {self.path} (the backup folder's state) to start "
            "training afresh."
        )

    def _members(self, meta: dict[str, Any]) -> dict[str, NpzMember]:
        """The headers of ``variables.npz``'s arrays, each checked against the bytes stored for it.

        The archive's directory is checked against ``meta`` (``state.json``, already checked) before a
        header is read: no entry named twice, no more entries than the state declares (plus
        :data:`_SPARE_ARRAYS`), and no variable's array beyond its group's count nor a callback's beyond
        its best weights.
        """
        where = str(self.path / _VARIABLES)
        with self._open(_VARIABLES) as fh, zipfile.ZipFile(fh) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            self._check_directory(where, meta, [info.filename for info in infos])
            try:
                check_members(where, infos, os.fstat(fh.fileno()).st_size)
                members = [member_header(where, archive, info) for info in infos]
            except NpzProblem as err:
                raise self._damaged(err.what) from err
        return {m.name: m for m in members}

    def _check_directory(self, where: str, meta: dict[str, Any], names: list[str]) -> None:
        """Refuse duplicate entries, too many entries and arrays beyond the counts ``meta`` declares."""
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self._damaged(
                    f"{where}: entry {name!r} appears {names.count(name)} times; netform writes each once"
                )
            seen.add(name)
        counts = meta["counts"]
        best = {int(st["index"]): int(st.get("best_weights", 0)) for st in meta.get("callbacks", [])}
        declared = sum(int(counts[g]) for g in ("model", "optimizer", "metrics")) + sum(best.values())
        if len(names) > declared + _SPARE_ARRAYS:
            raise self._damaged(
                f"{where}: holds {len(names)} arrays, more than the {declared} {_META} declares "
                f"(and {_SPARE_ARRAYS} spare)"
            )
        for name in names:
            array = name[:-4] if name.endswith(".npy") else name
            found = _INDEXED.fullmatch(array)
            if found is None:
                continue  # not netform's: refused by name once the model is known
            group, index = found.group(1), int(found.group(2))
            if group.startswith("callback"):
                owner = int(group[len("callback") :])
                if owner in best and index >= best[owner]:
                    raise self._damaged(
                        f"{where}: array {array!r} is beyond the {best[owner]} best weight(s) {_META} declares "
                        f"for callback {owner}"
                    )
            elif index >= int(counts[group]):
                raise self._damaged(
                    f"{where}: array {array!r} is beyond the {int(counts[group])} {group} array(s) {_META} declares"
                )

    def _load(self, members: dict[str, NpzMember]) -> dict[str, np.ndarray]:
        """The arrays of ``variables.npz``, each read only when its header is still the one checked."""
        arrays: dict[str, np.ndarray] = {}
        try:
            with self._open(_VARIABLES) as fh, zipfile.ZipFile(fh) as archive:
                for name, member in members.items():
                    again = member_header(str(self.path / _VARIABLES), archive, archive.getinfo(member.info.filename))
                    if (again.shape, again.dtype) != (member.shape, member.dtype):
                        raise self._damaged(f"{self.path / _VARIABLES}: array {name!r} changed while it was read")
                    with archive.open(member.info.filename) as entry:
                        arrays[name] = np.lib.format.read_array(entry, allow_pickle=False)
        except NpzProblem as err:
            raise self._damaged(err.what) from err
        except (*ZIP_READ_ERRORS, KeyError) as err:
            raise self._damaged(f"{self.path / _VARIABLES}: it could not be read ({str(err)[:200]})") from err
        return arrays

    def _array(self, arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
        """The backup's array ``key``, checked to be there and to hold numbers."""
        value = arrays.get(key)
        if value is None or value.dtype.kind not in _ARRAY_KINDS:
            what = "is missing" if value is None else f"holds {value.dtype} values, not numbers"
            raise FormatError(
                f"{self.path / _VARIABLES}: array {key!r} named by {_META} {what}. The training backup is "
                f"damaged: remove {self.path} (the backup folder's state) to start training afresh."
            )
        return value

    def epoch_stream(self, model: keras.Model, epoch: int, stream: Any, make_stream: Any) -> Any:
        """The data stream for ``epoch``: netform's permutation, minus the steps already done.

        ``None`` when the backup was taken after the epoch's last step (its metrics restored): ``fit`` then runs
        only the epoch's end.

        Args:
            model: The model being trained.
            epoch: The epoch about to run.
            stream: The stream ``fit`` built (unshuffled when netform owns the order).
            make_stream: ``(x, y, sample_weight) -> DataStream`` with ``fit``'s other arguments.
        """
        self._epoch = epoch
        start = 0
        if self._resume_epoch is not None and epoch == self._resume_epoch:
            start = self._resume_step
            total = stream.num_batches
            if total is not None and start > total:
                raise FormatError(
                    f"{self.path / _META}: field `step` is {start}; expected an integer from 0 to {total} (the "
                    f"steps of epoch {epoch} on this data). The training backup is damaged or was written for "
                    f"other data: remove {self.path} (the backup folder's state) to start training afresh."
                )
            # the metrics go on only inside an epoch: at its first step they start afresh, as fit reset them
            # (a backup taken at an epoch's end holds that epoch's sums: the resumed epoch logged their mean
            # with its own)
            if self._resume_metrics is not None and start:
                for variable, value in zip(model.metrics_variables, self._resume_metrics):
                    variable.assign(value)
            states, arrays, epoch_lr = self._resume_callbacks or ([], {}, None)
            restore_callbacks(
                self._peers, states, arrays, str(self.path), model=model, epoch_lr=epoch_lr if start else None
            )
        self._resume_epoch = None
        self._resume_callbacks = None
        # The rate before this epoch's `on_epoch_begin` (a scheduler's input).
        self._epoch_lr = learning_rate(getattr(model, "optimizer", None))
        self._step = start
        if start and start == stream.num_batches:
            return None  # a backup taken after the epoch's last step: only the epoch's end is left to run
        if self._arrays is not None:
            x, y, sw = self._arrays
            n = len(tree.flatten(x)[0])
            order = np.random.default_rng([self._seed, epoch]).permutation(n)
            batch_size = stream.adapter.batch_size
            order = order[start * batch_size :]

            def take(a: Any) -> Any:
                return None if a is None else tree.map_structure(lambda v: v[order], a)

            return make_stream(take(x), take(y), take(sw))
        if start and self._in_order is not None:
            x, y, sw = self._in_order
            first = start * stream.adapter.batch_size

            def rest(a: Any) -> Any:
                return None if a is None else tree.map_structure(lambda v: v[first:], a)

            return make_stream(rest(x), rest(y), rest(sw))
        if start and self._dataset is not None:
            return make_stream(self._dataset.skip(start), None, None)
        if start:
            warnings.warn(
                f"TrainingBackup: the backup in {self.directory} stopped at step {start} of epoch {epoch}, but "
                "this data (a generator, PyDataset or steps_per_epoch) cannot be rewound to that step; "
                "the epoch restarts at its first batch. Pass arrays or a tf.data.Dataset to resume exactly.",
                stacklevel=3,
            )
            self._step = 0
        return stream

    # ------------------------------------------------------------- callbacks
    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._base = self._step  # steps already done in this epoch (after a resume)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        # `batch` is the index of the last step run, counted from the first
        # batch the (possibly shortened) stream yielded this epoch.
        # With steps_per_execution, Keras reports the index a full last call
        # would have reached ([2, 5, 8] for 7 batches at 3 a call): count no
        # more steps than the epoch has.
        done = self._step
        self._step = self._base + batch + 1
        total = (self.params or {}).get("steps")
        if total:
            self._step = min(self._step, int(total))
        self._since_save += max(self._step - done, 0)
        if self.save_every_steps and self._since_save >= self.save_every_steps:
            self._since_save = 0
            self.save()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        # netform's fit calls this after every other callback's on_epoch_end,
        # so the backup holds their updated state.
        self._epoch, self._step = epoch + 1, 0
        self._epoch_lr = None
        # A training stopped here (EarlyStopping) keeps the previous backup:
        # a run killed before fit returns redoes this epoch and stops again.
        if self.save_every_epoch and not getattr(self.model, "stop_training", False):
            self.save()

    def on_train_end(self, logs: Any = None) -> None:
        if self.delete_on_finish:
            remove_own_state(self.directory, self.path)
        self.release()

    # ---------------------------------------------------------------- saving
    def _groups(self, model: keras.Model) -> dict[str, list[Any]]:
        optimizer = getattr(model, "optimizer", None)
        return {
            "model": list(model.variables),
            "optimizer": list(optimizer.variables) if optimizer is not None else [],
            "metrics": list(model.metrics_variables),
        }

    def save(self) -> None:
        """Write the backup now (atomically), for the current epoch and step."""
        model = self.model
        # After the epoch's last step and before its end, the backup holds step == steps: a run resumed from it
        # runs that epoch's end (callbacks, validation) before the next epoch, as the uninterrupted run does.
        epoch, step = self._epoch, self._step
        groups = self._groups(model)
        arrays = {
            f"{name}_{i}": np.asarray(keras.ops.convert_to_numpy(v))
            for name, vs in groups.items()
            for i, v in enumerate(vs)
        }
        callback_states, callback_arrays = capture_callbacks(self._peers)
        arrays.update(callback_arrays)
        meta = {
            "format": "netform-training-backup",
            "version": _VERSION,
            "epoch": epoch,
            "step": step,
            "seed": self._seed,
            "counts": {name: len(vs) for name, vs in groups.items()},
            "callbacks": callback_states,
            "epoch_lr": self._epoch_lr if step else None,
        }
        foreign = _foreign_files(self.path)
        if foreign:
            raise SaveError(
                f"{self.path}: {_named(foreign)} not netform's; the next backup would replace this folder, and "
                f"{'it' if len(foreign) == 1 else 'them'} with it. Only {_META} and {_VARIABLES} belong here: "
                f"move {'it' if len(foreign) == 1 else 'them'} out of {self.path} and run fit again (it resumes "
                "from the backup, left as it was)."
            )
        had_backup = os.path.lexists(self.path / _META)
        try:
            with _interrupts_held():  # a Ctrl-C acts once the new copy is in place and the old one removed
                self.directory.mkdir(parents=True, exist_ok=True)
                with atomic_path(self.path) as tmp:
                    os.mkdir(tmp)
                    _write_variables(os.path.join(tmp, _VARIABLES), arrays)
                    _write_meta(os.path.join(tmp, _META), meta)
        except OSError as err:  # a full disk, a file-size limit, a read-only folder
            kept = (
                "the previous backup is left as it was"
                if had_backup
                else "no earlier backup was written, so nothing is kept of this run's training"
            )
            rerun = "it resumes from the previous backup" if had_backup else "it starts from the beginning"
            raise SaveError(
                f"{self.path}: the training backup could not be written ({err.strerror or err}); {kept}. "
                f"{_write_fix(err, self.directory)} and run fit again: {rerun}."
            ) from err

    def _read(self) -> tuple[dict[str, Any] | None, Any]:
        if not self.directory.is_dir():
            return None, None
        try:
            recover(self.path)  # a swap cut short between its two renames
            remove_parked(self.directory, self.path)  # older copies a swap cut short left parked beside it
            remove_temporaries(self.directory, self.path)
        except OSError as err:
            raise FormatError(
                f"{self.directory}: the training backup folder could not be read ({err.strerror or err}). "
                "Expected a readable folder; pass another `backup_dir`."
            ) from err
        meta_path = self.path / _META
        if os.path.lexists(self.path) and not (
            self.path.is_dir() and not self.path.is_symlink() and os.path.lexists(meta_path)
        ):
            raise FormatError(
                f"{self.path}: this is not a netform training backup (expected a directory holding {_META} and "
                f"{_VARIABLES}), and a backup would replace it. Move it away, or pass another `backup_dir`."
            )
        if not os.path.lexists(meta_path):
            return None, None
        foreign = _foreign_files(self.path)
        if foreign:
            raise FormatError(
                f"{self.path}: {_named(foreign)} not netform's. This folder holds netform's training backup, "
                "which every backup replaces as a whole and which is removed when the training ends, so "
                f"{'it' if len(foreign) == 1 else 'they'} would be lost. Only {_META} and {_VARIABLES} belong "
                f"here: move {'it' if len(foreign) == 1 else 'them'} out of {self.path} and run fit again."
            )
        try:
            with self._open(_META) as fh:
                text = fh.read()
            meta = json.loads(text)
            self._check(meta)
            members = self._members(meta)  # headers only: the arrays are read once checked against the model
        except FormatError:
            raise
        except (*ZIP_READ_ERRORS, KeyError) as err:  # RecursionError is a RuntimeError
            raise FormatError(
                f"{self.path}: the training backup could not be read ({str(err)[:200]}). Expected the files "
                f"{_META} and {_VARIABLES} written by TrainingBackup; remove {self.path} (the backup folder's "
                "state) to start training afresh."
            ) from err
        return meta, members

    def _open(self, name: str) -> Any:
        """One of the backup's files, opened for reading: a regular file only, never a link nor a FIFO."""
        path = self.path / name
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then tells what was opened.
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC)
        except OSError as err:
            if err.errno == errno.ELOOP or os.path.islink(path):
                raise FormatError(
                    f"{path}: this is a symbolic link; netform's backup files are never links, so it is not "
                    f"followed. Remove {self.path} (the backup folder's state) to start training afresh."
                ) from err
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise FormatError(
                f"{path}: this is {_kind_of(info.st_mode)}, not netform's backup file (netform writes regular "
                f"files). Remove {self.path} (the backup folder's state) to start training afresh."
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def _check(self, meta: Any) -> None:
        """Check every field of ``state.json`` before any is used."""
        meta_path = self.path / _META

        def bad(field: str, value: Any, expected: str) -> FormatError:
            shown = "missing" if value is MISSING else _shown(value)
            return FormatError(
                f"{meta_path}: field `{field}` is {shown}; expected {expected}. The training backup is "
                f"damaged: remove {self.path} (the backup folder's state) to start training afresh."
            )

        if not isinstance(meta, dict):
            raise FormatError(
                f"{meta_path}: holds {_shown(meta)}; expected an object with the fields "
                f"of a netform training backup. The training backup is damaged: remove {self.path} (the backup "
                "folder's state) to start training afresh."
            )
        fmt, version = meta.get("format", MISSING), meta.get("version", MISSING)
        if fmt != _FORMAT or not isinstance(fmt, str):
            raise bad("format", fmt, repr(_FORMAT))
        if type(version) is not int or version != _VERSION:
            raise bad("version", version, f"{_VERSION} (this netform reads backups of version {_VERSION})")
        for field, top in (("epoch", MAX_COUNT), ("step", MAX_COUNT), ("seed", _MAX_SEED)):
            value = meta.get(field, MISSING)
            if type(value) is not int or not 0 <= value <= top:
                raise bad(field, value, f"an integer from 0 to {top}")
        counts = meta.get("counts", MISSING)
        if not isinstance(counts, dict):
            raise bad("counts", counts, "an object of variable counts")
        for group in ("model", "optimizer", "metrics"):
            value = counts.get(group, MISSING)
            if type(value) is not int or not 0 <= value <= MAX_COUNT:
                raise bad(f"counts.{group}", value, f"an integer from 0 to {MAX_COUNT}")
        if "callbacks" in meta:
            check_callback_states(meta["callbacks"], bad)
        epoch_lr = meta.get("epoch_lr")
        if epoch_lr is not None and not (type(epoch_lr) in (int, float) and 0 <= epoch_lr < 2.0**1023):
            raise bad("epoch_lr", epoch_lr, "a learning rate (a finite number, 0 or more) or null")


_JSON_KINDS = {
    type(None): "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _shown(value: Any) -> str:
    """A value read from JSON as JSON, with its kind: ``null``, ``"x" (a string)``."""
    text = json.dumps(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return text if value is None else f"{text} ({_JSON_KINDS.get(type(value), type(value).__name__)})"


def _callback_of(name: str) -> int:
    """The callback index of a ``callback<i>_<j>`` array's name."""
    return int(name[len("callback") :].split("_")[0])


def _foreign_files(state: Path) -> list[str]:
    """The names in the backup folder ``state`` that netform does not write there (none if it is not a folder)."""
    try:
        if not stat.S_ISDIR(os.lstat(state).st_mode):
            return []
        return sorted(set(os.listdir(state)) - set(STATE_FILES))
    except OSError:
        return []


def _named(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{shown} {'is' if len(names) == 1 else 'are'}"


def _write_fix(err: OSError, directory: Path) -> str:
    """What to do about a backup write that failed with ``err``: the advice that fits its cause."""
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
        return "Free some space (or choose another backup_dir)"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Make {directory} writable (or choose another backup_dir)"
    if err.errno == errno.ENAMETOOLONG:
        return "Choose a backup_dir of a shorter path"
    if err.errno in (errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
        return f"Move away what is in the way in {directory} (or choose another backup_dir)"
    return f"Check {directory} (or choose another backup_dir)"


@contextlib.contextmanager
def _interrupts_held() -> Any:
    """Hold SIGINT (Ctrl-C) for the block, then act on it: a backup write is never cut between its renames.

    In the main thread only (where Python runs signal handlers); the handler in place before is put back
    and the interrupts that came meanwhile are raised again, in order, once the block is done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None or previous == signal.SIG_IGN:  # installed outside Python, or ignored: left alone
        yield
        return
    caught: list[int] = []
    try:
        signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for signum in caught:
            signal.raise_signal(signum)  # the handler put back runs now (Python's raises KeyboardInterrupt)


def find_backup(
    callbacks: list[keras.callbacks.Callback] | None, backup_dir: str | os.PathLike[str] | None
) -> tuple[list[keras.callbacks.Callback] | None, TrainingBackup | None]:
    """Return ``fit``'s callbacks (with one for ``backup_dir`` added) and its ``TrainingBackup``.

    Raises:
        EngineError: More than one ``TrainingBackup`` was given.
    """
    if backup_dir is not None:
        # First, so that within a step its backup sees the step's state
        # before other callbacks act on it (at an epoch's end, netform's fit
        # runs the backup last).
        callbacks = [TrainingBackup(backup_dir), *list(callbacks or [])]
    found = [cb for cb in callbacks or [] if isinstance(cb, TrainingBackup)]
    if len(found) > 1:
        raise EngineError(
            f"fit(): received {len(found)} TrainingBackup callbacks (backup_dir= adds one). "
            "Expected at most one; pass either `backup_dir=` or one `TrainingBackup`."
        )
    for cb in callbacks or []:
        if isinstance(cb, keras.callbacks.BackupAndRestore):
            _refuse_keras_backup_on_ours(cb, found[0] if found else None)
    return callbacks, (found[0] if found else None)


def _refuse_keras_backup_on_ours(cb: keras.callbacks.BackupAndRestore, ours: TrainingBackup | None) -> None:
    """Refuse a Keras ``BackupAndRestore`` whose folder a netform training backup owns, before ``fit`` runs.

    Keras writes its backup into its folder and deletes the whole folder when training ends: on a
    netform backup folder (one holding netform's lock or marker, one inside such a folder, a folder holding
    one at any depth, or this ``fit``'s own backup folder, above or below) it took that training's backup,
    lock and marker, so a second training was then accepted while the first still ran. A link as the folder
    is refused too: Keras's removal refuses it, after the last epoch.

    Raises:
        EngineError: Naming the folder, what owns it, and the fix.
    """
    from ._backup_lock import CREATED_NAME, LOCK_NAME, backup_above

    text = getattr(cb, "backup_dir", None)
    if not isinstance(text, (str, os.PathLike)) or "://" in os.fspath(text):
        return  # a remote file system's folder: not one a netform backup on this machine holds
    real = os.path.realpath(text)
    why = None
    held = [n for n in (LOCK_NAME, CREATED_NAME) if _plain_file(os.path.join(real, n))]
    if held:
        why = f"is the folder of a netform training backup (it holds {held[0]})"
    elif backup_above(Path(real)) is not None:
        folder, entry = backup_above(Path(real))  # type: ignore[misc]
        why = f"lies inside {os.path.join(folder, entry)}, which the netform training backup in {folder} owns"
    elif ours is not None and (
        real == (own := os.path.realpath(ours.directory))
        or own.startswith(real.rstrip(os.sep) + os.sep)
        or real.startswith(own + os.sep)
    ):
        why = f"overlaps this fit's own training backup folder {ours.directory}"
    elif getattr(cb, "delete_checkpoint", True):
        below = _backup_below(real)
        if below is not None:
            why = f"holds {below}, the folder of a netform training backup (it holds netform's lock or marker)"
        elif os.path.islink(os.fspath(text)):
            raise EngineError(
                f"fit(): keras.callbacks.BackupAndRestore(backup_dir={os.fspath(text)!r}) is a symbolic link to "
                f"{real}: Keras deletes its folder when training ends with rmtree, which refuses a link and fails "
                "the fit after its last epoch; give the folder itself (or delete_checkpoint=False)."
            )
        else:
            _refuse_a_file(os.fspath(text), real)
    if why is None:
        return
    end = " when training ends" if getattr(cb, "delete_checkpoint", True) else " (with delete_checkpoint=True)"
    raise EngineError(
        f"fit(): keras.callbacks.BackupAndRestore(backup_dir={os.fspath(text)!r}) {why}: Keras writes its "
        f"backup there and deletes its whole folder{end}, taking that training's backup, lock and marker with "
        "it; give BackupAndRestore a folder of its own."
    )


def _refuse_a_file(text: str, real: str) -> None:
    """Refuse a file as a Keras ``BackupAndRestore``'s folder: Keras fails writing into it after the first epoch.

    Raises:
        EngineError: Naming the file and the fix.
    """
    if os.path.lexists(real) and not os.path.isdir(real):
        raise EngineError(
            f"fit(): keras.callbacks.BackupAndRestore(backup_dir={text!r}): {real} is not a folder, and Keras "
            "writes its backup files into it (and fails after the first epoch); give it a folder of its own."
        )


def guard_keras_backups(callbacks: Any) -> Callable[[], None]:
    """Make each Keras ``BackupAndRestore`` of a ``fit`` delete, when training ends, only what is its own.

    Keras deletes its folder whole when training ends, with whatever it holds: your files there when training
    began, a netform backup another training started there before Keras's first write, a file another callback
    or program wrote while it trained; and, given ``'.'``, it fails removing the working directory. Here only
    Keras's own files go (the folder too, once empty, unless it is the working directory or holds it), the
    rest stays, and a ``UserWarning`` names it; a folder holding only Keras's files goes whole, as in Keras.
    A callback whose ``on_train_end`` is not Keras's (a subclass's, or one set on the instance) is left as
    it is: what it removes is its own business.

    Args:
        callbacks: ``fit``'s callbacks (a list, a ``CallbackList`` or None).

    Returns:
        A function that takes the guard off the callbacks again (``fit`` calls it when it returns or raises).
    """
    guarded: list[tuple[keras.callbacks.BackupAndRestore, Any]] = []
    for cb in callbacks or []:
        text = getattr(cb, "backup_dir", None)
        if (
            not isinstance(cb, keras.callbacks.BackupAndRestore)
            or "on_train_end" in vars(cb)
            or type(cb).on_train_end is not keras.callbacks.BackupAndRestore.on_train_end
            or not getattr(cb, "delete_checkpoint", True)
            or not isinstance(text, (str, os.PathLike))
            or "://" in os.fspath(text)
        ):
            continue
        original = cb.on_train_end

        def on_train_end(logs: Any = None, _folder: str = os.fspath(text), _original: Any = original) -> None:
            if _only_keras_files(_folder) and not _holds_working_directory(_folder):
                _original(logs)
            else:
                _remove_keras_files(_folder)

        cb.on_train_end = on_train_end
        guarded.append(cb)

    def unguard() -> None:
        for cb in guarded:
            vars(cb).pop("on_train_end", None)

    return unguard


def _holds_working_directory(folder: str) -> bool:
    cwd, real = os.path.realpath(os.getcwd()), os.path.realpath(folder)
    return cwd == real or cwd.startswith(real.rstrip(os.sep) + os.sep)


def _only_keras_files(folder: str) -> bool:
    """Whether ``folder`` is absent, or a folder (not a link) holding only Keras's backup files, as files."""
    from ._backup_lock import KERAS_BACKUP_NAMES

    try:
        if not os.path.lexists(folder):
            return True
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return False
        return all(
            name in KERAS_BACKUP_NAMES and stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode)
            for name in os.listdir(folder)
        )
    except OSError:
        return False


def _remove_keras_files(folder: str) -> None:
    """Remove Keras's backup files from ``folder`` (files, not links), and the folder if that empties it; warn
    naming what stays."""
    from ._backup_lock import KERAS_BACKUP_NAMES

    kept: list[str] = []
    try:
        if os.path.islink(folder) or not os.path.isdir(folder):
            kept = [folder]
        else:
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                if name in KERAS_BACKUP_NAMES and stat.S_ISREG(os.lstat(path).st_mode):
                    os.remove(path)
                else:
                    kept.append(name)
            if not kept and not _holds_working_directory(folder):
                os.rmdir(folder)
    except OSError as exc:
        kept = kept or [f"({exc.strerror})"]
    if kept:
        listed = ", ".join(kept[:5]) + (", …" if len(kept) > 5 else "")
        warnings.warn(
            f"fit(): keras.callbacks.BackupAndRestore({folder!r}): kept the folder, which holds other files than "
            f"Keras's backup ({listed}); Keras would have deleted them with it. Only Keras's backup files were "
            "removed.",
            UserWarning,
            stacklevel=2,
        )


def _backup_below(folder: str) -> str | None:
    """A netform training backup folder (one holding netform's lock or marker) at any depth under ``folder``.

    Keras's ``BackupAndRestore`` removes its whole folder, as deep as it goes, when training ends; this walk
    (links not followed, unreadable folders skipped) costs what that removal does.
    """
    from ._backup_lock import CREATED_NAME, LOCK_NAME

    for root, _dirs, files in os.walk(folder, followlinks=False):
        if any(n in files and _plain_file(os.path.join(root, n)) for n in (LOCK_NAME, CREATED_NAME)):
            return root
    return None


def _plain_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
