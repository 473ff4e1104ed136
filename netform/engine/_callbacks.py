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

from ._telemetry import EpochTelemetry

__all__ = ["CallbackDriver", "pythonify_logs"]

_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}
def _checkpointers() -> tuple[type, ...]:
    from ._backup import TrainingBackup  # imported late: _backup imports the trainer's helpers

    return (keras.callbacks.ModelCheckpoint, keras.callbacks.BackupAndRestore, TrainingBackup)


def pythonify_logs(logs: dict[str, Any] | None) -> dict[str, Any]:
    """Flatten nested dicts and turn scalar tensors into Python floats (as Keras does)."""
    result: dict[str, Any] = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
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
    if getattr(cb, "_supports_tf_logs", False):
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
        self.telemetry: EpochTelemetry | None = None
        self._batch: dict[str, tuple[list[Any], list[tuple[Any, bool, bool]]]] = {}
        for mode, (begin, end) in _HOOKS.items():
            begins = [getattr(cb, begin) for cb in self.callbacks if _overrides(cb, begin)]
            ends = [
                (getattr(cb, end), _ignores_batch_logs(cb), isinstance(cb, _checkpointers()))
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
        for hook in self._batch[mode][0]:
            hook(step, {})

    def batch_end(self, mode: str, step: int, logs: Any) -> None:
        """Call ``on_<mode>_batch_end``; convert logs only if someone reads them."""
        python_logs: dict[str, Any] | None = None
        for hook, raw_ok, checkpointer in self._batch[mode][1]:
            t0 = time.perf_counter()
            if raw_ok or mode == "predict":
                hook(step, logs)
            else:
                if python_logs is None:
                    python_logs = pythonify_logs(logs)
                hook(step, python_logs)
            if checkpointer and self.telemetry is not None:
                self.telemetry.add_checkpoint_time(time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # on_train_begin, on_epoch_begin, on_test_end, ... go to the CallbackList.
        return getattr(self.cblist, name)

    def epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Call ``on_epoch_end``; checkpoint writers first, timed; the training backup last.

        Checkpointing callbacks run first so that the time they take is
        known when the other callbacks (History, CSVLogger, the progress bar)
        receive the epoch's logs. A ``TrainingBackup`` runs after all of
        them, so that it saves their updated state (``ReduceLROnPlateau``'s
        new rate, ``EarlyStopping``'s counters...); its time is added to the
        epoch's telemetry but not to the logs already handed out.
        """
        from ._backup import TrainingBackup

        telemetry = self.telemetry
        logs = pythonify_logs(logs)
        others = []
        backups = [cb for cb in self.callbacks if isinstance(cb, TrainingBackup)]
        for cb in self.callbacks:
            if isinstance(cb, TrainingBackup):
                continue
            if isinstance(cb, _checkpointers()):
                t0 = time.perf_counter()
                cb.on_epoch_end(epoch, logs)
                if telemetry is not None:
                    telemetry.add_checkpoint_time(time.perf_counter() - t0)
            else:
                others.append(cb)
        if telemetry is not None:
            logs["checkpoint_time_s"] = float(telemetry.checkpoint_time_s)
        for cb in others:
            cb.on_epoch_end(epoch, logs)
        for cb in backups:
            t0 = time.perf_counter()
            cb.on_epoch_end(epoch, logs)
            if telemetry is not None:
                telemetry.add_checkpoint_time(time.perf_counter() - t0)
