"""Driving Keras callbacks without host syncs nobody asked for.

Keras's ``CallbackList`` turns every batch's logs into Python floats (a host
sync per step) even when no callback looks at them. The driver below keeps
Keras's ``CallbackList`` for what it does well (adding ``History`` and
``ProgbarLogger``, ``set_model``/``set_params``, the begin/end and epoch
hooks) but calls batch hooks itself, and only on callbacks that override them;
logs are converted to Python once per step, and only when one of those
callbacks reads them.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import keras

from .._compat import _keras_engine as ki
from ._telemetry import TelemetryRecorder

__all__ = ["CallbackDriver", "flatten_logs", "pythonify_logs"]

_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


def _checkpointers() -> tuple[type[keras.callbacks.Callback], ...]:
    from ._backup import TrainingBackup  # imported late: _backup imports the trainer's helpers

    return (keras.callbacks.ModelCheckpoint, keras.callbacks.BackupAndRestore, TrainingBackup)


def _save_state(cb: keras.callbacks.Callback) -> tuple[Any, Any, Any]:
    # What tells, after a hook, whether a checkpointer wrote: its best value
    # (save_best_only) and its batch counter, which Keras and TrainingBackup
    # reset to 0 when they save. Keras has no public "saved" signal; a Keras
    # without these attributes counts no write.
    return (
        getattr(cb, "best", None),
        ki.checkpoint_batches_since_save(cb),
        getattr(cb, "_since_save", None),
    )


def _wrote(cb: keras.callbacks.Callback, before: tuple[Any, Any, Any], *, epoch_end: bool) -> bool:
    """Whether a checkpointer's hook just wrote a checkpoint."""
    from ._backup import TrainingBackup

    best, counter, since = _save_state(cb)
    if isinstance(cb, TrainingBackup):
        if epoch_end:
            return bool(cb.save_every_epoch) and not getattr(cb.model, "stop_training", False)
        return bool(cb.save_every_steps) and since == 0
    by_epoch = getattr(cb, "save_freq", "epoch") == "epoch"
    if epoch_end != by_epoch:
        return False
    if not epoch_end and counter != 0:  # the counter counts up first and is reset when saving
        return False
    if getattr(cb, "save_best_only", False):
        return best is not before[0] and best != before[0]
    return True


def _end_hook(cb: keras.callbacks.Callback, name: str) -> Callable[[int, Any], Any]:
    """``cb``'s batch-end hook; a progress bar's is given at most its epoch's last batch.

    Callbacks see the batch Keras reports, ``begin + steps_per_execution - 1``,
    even where a call runs past the epoch's end (Keras's own tests count on it).
    A progress bar draws that number against the epoch's steps: a
    ``steps_per_execution`` of 2**31 - 1 on a 4-batch epoch made Keras's bar a
    line of billions of characters. Its bar stops at the epoch's last batch.
    """
    hook = getattr(cb, name)
    if not isinstance(cb, keras.callbacks.ProgbarLogger):
        return hook

    def bounded(batch: int, logs: Any = None) -> Any:
        target = getattr(cb, "target", None)
        return hook(min(batch, target - 1) if isinstance(target, int) and target > 0 else batch, logs)

    return bounded


def flatten_logs(logs: dict[str, Any] | None) -> dict[str, Any]:
    """Flatten nested dicts of logs, keeping the values as they are.

    Keys come out in the order Keras's ``pythonify_logs`` gives them (sorted
    at each level, a nested dict's keys in place of its own key), so a
    ``train_step`` returning ``{m.name: m.result() for m in self.metrics}``
    (where ``compile_metrics`` gives a dict) yields flat logs.

    Args:
        logs: Step or epoch logs, possibly nested.

    Returns:
        A new flat dict.
    """
    result: dict[str, Any] = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(flatten_logs(value))
        else:
            result[key] = value
    return result


def pythonify_logs(logs: dict[str, Any] | None) -> dict[str, Any]:
    """Flatten nested dicts and turn scalar values into Python floats, as Keras does.

    Args:
        logs: Step or epoch logs, possibly nested.

    Returns:
        A new flat dict; values that ``float()`` rejects are kept as they are.
    """
    result = flatten_logs(logs)
    for key, value in result.items():
        try:
            if keras.ops.is_tensor(value):
                value = keras.ops.convert_to_numpy(value)
            value = float(value)
        except Exception:  # as Keras: a value float() rejects is kept (as numpy if a tensor)
            pass
        result[key] = value
    return result


def _overrides(cb: keras.callbacks.Callback, name: str) -> bool:
    if name in vars(cb):  # e.g. LambdaCallback sets hooks on the instance
        return True
    method = getattr(type(cb), name, None)
    base = getattr(keras.callbacks.Callback, name)
    legacy = name.replace("train_batch", "batch") if "train_batch" in name else None
    if legacy and getattr(type(cb), legacy, None) is not getattr(keras.callbacks.Callback, legacy):
        return True
    return method is not None and method is not base


def _ignores_batch_logs(cb: keras.callbacks.Callback) -> bool:
    """True for callbacks whose batch hooks never read the logs' values."""
    if ki.ignores_tf_logs(cb):
        return True
    if isinstance(cb, keras.callbacks.BackupAndRestore):
        return True
    if isinstance(cb, keras.callbacks.ModelCheckpoint):
        return getattr(cb, "save_freq", "epoch") == "epoch"
    if isinstance(cb, keras.callbacks.TensorBoard):
        return getattr(cb, "update_freq", "epoch") == "epoch"
    return False


class CallbackDriver:
    """Calls a model's callbacks for one ``fit``/``evaluate``/``predict`` run.

    Args:
        callbacks: User callbacks, a ``keras.callbacks.CallbackList`` or ``None``.
        model: The model.
        add_history: Add a ``History`` callback (``fit`` only).
        verbose: 0 silences; otherwise a ``ProgbarLogger`` is added.
        **params: ``epochs``, ``steps``, ``verbose`` for ``set_params``.
    """

    def __init__(
        self,
        callbacks: Iterable[keras.callbacks.Callback] | keras.callbacks.CallbackList | None,
        *,
        model: keras.Model,
        add_history: bool = False,
        verbose: int | str = 0,
        **params: Any,
    ) -> None:
        if isinstance(callbacks, keras.callbacks.CallbackList):
            self.cblist = callbacks
        else:
            self.cblist = keras.callbacks.CallbackList(
                list(callbacks or []),
                add_history=add_history,
                add_progbar=verbose != 0,
                model=model,
                verbose=verbose,
                **params,
            )
        self.callbacks: list[keras.callbacks.Callback] = list(self.cblist.callbacks)
        self.telemetry: TelemetryRecorder | None = None
        self._batch: dict[str, tuple[list[Any], list[tuple[Any, bool, Any]]]] = {}
        for mode, (begin, end) in _HOOKS.items():
            begins = [getattr(cb, begin) for cb in self.callbacks if _overrides(cb, begin)]
            ends = [
                (_end_hook(cb, end), _ignores_batch_logs(cb), cb if isinstance(cb, _checkpointers()) else None)
                for cb in self.callbacks
                if _overrides(cb, end)
            ]
            self._batch[mode] = (begins, ends)

    @property
    def history(self) -> keras.callbacks.History | None:
        """The ``History`` callback, if one is attached."""
        return next((cb for cb in self.callbacks if isinstance(cb, keras.callbacks.History)), None)

    def needs_batch_hooks(self, mode: str) -> bool:
        """Whether any callback implements a batch hook for ``mode``."""
        begins, ends = self._batch[mode]
        return bool(begins or ends)

    def batch_begin(self, mode: str, step: int) -> None:
        """Call ``on_<mode>_batch_begin`` on the callbacks that implement it."""
        telemetry = self.telemetry if mode == "train" else None
        t0 = time.perf_counter() if telemetry is not None else 0.0
        for hook in self._batch[mode][0]:
            hook(step, {})
        if telemetry is not None:
            telemetry.add_callback_time(time.perf_counter() - t0)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Call ``on_epoch_begin`` on every callback (timed as callback time)."""
        t0 = time.perf_counter()
        self.cblist.on_epoch_begin(epoch, logs)
        if self.telemetry is not None:
            self.telemetry.add_callback_time(time.perf_counter() - t0)

    def epoch_telemetry(self, epoch: int, record: Any) -> None:
        """Hand an epoch's telemetry to the callbacks that take it (``on_epoch_telemetry``)."""
        for cb in self.callbacks:
            hook = getattr(cb, "on_epoch_telemetry", None)
            if callable(hook):
                hook(epoch, record)

    def batch_end(self, mode: str, step: int, logs: Any) -> None:
        """Call ``on_<mode>_batch_end``; convert logs only if someone reads them."""
        python_logs: dict[str, Any] | None = None
        raw_logs: dict[str, Any] | None = None
        telemetry = self.telemetry if mode == "train" else None
        t_start = time.perf_counter() if telemetry is not None else 0.0
        for hook, raw_ok, checkpointer in self._batch[mode][1]:
            timed = checkpointer is not None and telemetry is not None
            if timed:
                before = _save_state(checkpointer)
                t0 = time.perf_counter()
            if not isinstance(logs, dict):
                hook(step, logs)
            elif raw_ok:
                if raw_logs is None:
                    raw_logs = flatten_logs(logs)  # flat as Keras's, tensors left unread
                hook(step, raw_logs)
            else:
                if python_logs is None:
                    python_logs = pythonify_logs(logs)
                hook(step, python_logs)
            if timed and telemetry is not None and _wrote(checkpointer, before, epoch_end=False):
                telemetry.add_checkpoint(time.perf_counter() - t0)
        if telemetry is not None:
            telemetry.add_callback_time(time.perf_counter() - t_start)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # on_train_begin, on_epoch_begin, on_test_end, ... go to the CallbackList.
        return getattr(self.cblist, name)

    def epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Call ``on_epoch_end`` in Keras's order; the training backup last.

        Callbacks run in the order of the ``CallbackList`` (the user's
        callbacks as given, then ``History`` and ``ProgbarLogger``), all on
        one logs dict, so a value a callback adds is seen by the callbacks
        after it, as in Keras. A ``TrainingBackup`` runs after all of them, so
        that it saves their updated state (``ReduceLROnPlateau``'s new rate,
        ``EarlyStopping``'s counters...). The logs are the metrics only, as
        Keras's; the time spent, and the checkpoints written, go to the
        telemetry.
        """
        from ._backup import TrainingBackup

        telemetry = self.telemetry
        t_start = time.perf_counter()
        logs = pythonify_logs(logs)
        checkpointers = _checkpointers()
        backups = [cb for cb in self.callbacks if isinstance(cb, TrainingBackup)]
        for cb in [cb for cb in self.callbacks if not isinstance(cb, TrainingBackup)] + backups:
            if telemetry is None or not isinstance(cb, checkpointers):
                cb.on_epoch_end(epoch, logs)
                continue
            before = _save_state(cb)
            t0 = time.perf_counter()
            cb.on_epoch_end(epoch, logs)
            if _wrote(cb, before, epoch_end=True):
                telemetry.add_checkpoint(time.perf_counter() - t0)
        if telemetry is not None:
            telemetry.add_callback_time(time.perf_counter() - t_start)
