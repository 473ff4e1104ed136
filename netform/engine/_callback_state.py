"""The state of Keras's stateful built-in callbacks, for the training backup.

A run resumed from a :class:`~netform.engine.TrainingBackup` must continue
with the callbacks where they were: ``ReduceLROnPlateau`` and ``EarlyStopping``
with their ``wait``/``cooldown_counter``/``best`` counters,
``EarlyStopping``'s ``best_epoch``/``best_weights``/``stopped_epoch``, and
``ModelCheckpoint``'s ``best`` value (so a worse epoch is not saved after a
resume). The learning rate itself is an optimizer variable, backed up with
the optimizer; ``LearningRateScheduler`` needs only the rate the epoch began
with (see :func:`set_learning_rate`).

The state goes to the backup's JSON metadata; ``best_weights`` go to its
``.npz`` arrays.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import keras
import numpy as np

__all__ = [
    "MISSING",
    "MAX_COUNT",
    "capture_callbacks",
    "check_callback_states",
    "restore_callbacks",
    "learning_rate",
    "set_learning_rate",
]

_STATEFUL = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.EarlyStopping, keras.callbacks.ModelCheckpoint)
_COUNTERS = ("wait", "cooldown_counter", "stopped_epoch", "best_epoch")
_FLOATS = ("best", "min_delta")
# `monitor_op` is chosen at the first epoch end and flips `min_delta`'s sign
# when it picks "less"; both are restored together so that it is not chosen
# (and the sign flipped) a second time.
_DIRECTIONS = {"min": keras.ops.less, "max": keras.ops.greater}


def _scalar(value: Any) -> float | None:
    return None if value is None else float(np.asarray(keras.ops.convert_to_numpy(value)))


def capture_callbacks(callbacks: list[keras.callbacks.Callback]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Return the state of the stateful callbacks among ``callbacks``.

    Args:
        callbacks: The training's callbacks, in order (the backup excluded).

    Returns:
        One JSON-able dict per stateful callback (its position and class
        name, counters, best value, monitor direction) and the arrays of
        ``EarlyStopping.best_weights`` keyed ``callback<i>_<j>``.
    """
    states: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, _STATEFUL):
            continue
        state: dict[str, Any] = {"index": i, "class": type(cb).__name__}
        for name in _COUNTERS:
            if hasattr(cb, name):
                state[name] = int(getattr(cb, name))
        for name in _FLOATS:
            try:
                state[name] = _scalar(getattr(cb, name))
            except (AttributeError, TypeError, ValueError):
                pass  # absent, or not a scalar (a callback then ignores it too)
        op = getattr(cb, "monitor_op", None)
        state["direction"] = next((d for d, f in _DIRECTIONS.items() if op is f), None)
        best_weights = getattr(cb, "best_weights", None)
        if best_weights is not None:
            state["best_weights"] = len(best_weights)
            arrays.update({f"callback{i}_{j}": np.asarray(w) for j, w in enumerate(best_weights)})
        states.append(state)
    return states, arrays


#: Stands for a field absent from a backup's metadata (in the errors of :func:`check_callback_states`).
MISSING: Any = object()
#: The largest index, counter or array count a backup may hold (a larger one is damage, not a training).
MAX_COUNT = 2**31 - 1


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT


def _is_number(value: Any) -> bool:
    """An int or float that a float can hold (``best`` may be infinite, as Keras starts it)."""
    if type(value) not in (int, float):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def check_callback_states(states: Any, bad: Callable[[str, Any, str], Exception]) -> list[dict[str, Any]]:
    """Check the ``callbacks`` field of a backup's metadata, as :func:`capture_callbacks` writes it.

    Args:
        states: The field's value, as read from JSON.
        bad: ``(field, value, expected) -> exception`` raised for the first
            field that is not of its kind.

    Returns:
        ``states``, checked.
    """
    if not isinstance(states, list):
        raise bad("callbacks", states, "a list of callback states")
    for i, state in enumerate(states):
        where = f"callbacks[{i}]"
        if not isinstance(state, dict):
            raise bad(where, state, "an object (one callback's state)")
        if not _is_count(state.get("index")):
            raise bad(
                f"{where}.index",
                state.get("index", MISSING),
                f"the callback's position, an integer from 0 to {MAX_COUNT}",
            )
        if not isinstance(state.get("class"), str):
            raise bad(f"{where}.class", state.get("class", MISSING), "the callback's class name, a string")
        for name in (*_COUNTERS, "best_weights"):
            if name in state and not _is_count(state[name]):
                raise bad(f"{where}.{name}", state[name], f"an integer from 0 to {MAX_COUNT}")
        if "best" in state and state["best"] is not None and not _is_number(state["best"]):
            raise bad(f"{where}.best", state["best"], "a number or null")  # None: no epoch has ended yet
        if "min_delta" in state and not _is_number(state["min_delta"]):
            raise bad(f"{where}.min_delta", state["min_delta"], "a number")
        direction = state.get("direction")
        if direction is not None and not (isinstance(direction, str) and direction in _DIRECTIONS):
            raise bad(f"{where}.direction", direction, f"one of {sorted(_DIRECTIONS)} or null")
    return states


def restore_callbacks(
    callbacks: list[keras.callbacks.Callback],
    states: list[dict[str, Any]],
    arrays: Any,
    where: str,
    *,
    model: keras.Model,
    epoch_lr: float | None,
) -> None:
    """Put the state saved by :func:`capture_callbacks` back into ``callbacks``.

    Call it after the callbacks' ``on_train_begin`` (which resets them). A
    saved state whose callback is no longer at the same position, with the
    same class, is skipped with a warning.

    Args:
        callbacks: The resumed training's callbacks, in order (the backup excluded).
        states: The saved states.
        arrays: The backup's arrays (``best_weights``).
        where: The backup's path, for the warning.
        model: The model, whose optimizer's rate may be set back.
        epoch_lr: When resuming inside an epoch, the rate the epoch began
            with: with a ``LearningRateScheduler`` the optimizer's rate is set
            back to it, since the scheduler sets the epoch's rate again (from
            that one) in ``on_epoch_begin``.
    """
    if epoch_lr is not None and any(isinstance(cb, keras.callbacks.LearningRateScheduler) for cb in callbacks):
        set_learning_rate(getattr(model, "optimizer", None), epoch_lr)
    for state in states:
        i = int(state["index"])
        cb = callbacks[i] if i < len(callbacks) else None
        if cb is None or type(cb).__name__ != state["class"]:
            warnings.warn(
                f"TrainingBackup: {where} holds the state of a {state['class']} at position {i} of the "
                "callbacks, but the resumed training has none there; that callback starts afresh. "
                "Expected the same callbacks, in the same order, as the interrupted training.",
                stacklevel=3,
            )
            continue
        for name in (*_COUNTERS, *_FLOATS):
            if name in state and hasattr(cb, name):
                value = state[name]
                setattr(cb, name, float(value) if name in _FLOATS and value is not None else value)
        if state.get("direction") in _DIRECTIONS:
            cb.monitor_op = _DIRECTIONS[state["direction"]]
        if "best_weights" in state:
            cb.best_weights = [arrays[f"callback{i}_{j}"] for j in range(int(state["best_weights"]))]


def learning_rate(optimizer: Any) -> float | None:
    """The optimizer's current learning rate, or None without an optimizer."""
    if optimizer is None:
        return None
    try:
        return _scalar(optimizer.learning_rate)
    except (AttributeError, TypeError, ValueError):
        return None


def set_learning_rate(optimizer: Any, value: float | None) -> None:
    """Set the optimizer's learning rate, as ``LearningRateScheduler`` does (no-op for a schedule)."""
    if optimizer is None or value is None:
        return
    try:
        optimizer.learning_rate = value
    except (TypeError, ValueError, AttributeError):
        pass  # a LearningRateSchedule: the rate follows `iterations`, restored with the optimizer


def continue_csv_logs(callbacks: list[keras.callbacks.Callback], epoch: int) -> list[keras.callbacks.CSVLogger]:
    """Let each ``CSVLogger`` of a resumed training go on with its log: rows of the epochs before ``epoch`` kept.

    Keras's CSVLogger (``append=False``, its default) empties its file when training begins, so a training
    resumed from a backup kept only the epochs run after the resume (an uninterrupted run logs them all).
    Its rows from ``epoch`` on (an epoch the backup did not hold, run again now) are dropped, and it is set to
    append for this ``on_train_begin``; the caller sets ``append`` back after it (:func:`restore_append`).

    Returns:
        The loggers switched to append.
    """
    import csv
    import io
    import os

    from .._files import write_text

    switched = []
    for cb in callbacks:
        if not isinstance(cb, keras.callbacks.CSVLogger) or cb.append:
            continue
        path = os.fspath(cb.filename)
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue  # no log yet (or not one to continue): Keras starts it afresh
        rows = list(csv.reader(io.StringIO(text), delimiter=cb.sep))
        if not rows or not rows[0] or rows[0][0] != "epoch":
            continue
        kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isascii() and r[0].isdigit() and int(r[0]) < epoch]
        out = io.StringIO()
        csv.writer(out, delimiter=cb.sep).writerows(kept)  # Keras's CSVLogger's dialect (its "\r\n" lines)
        write_text(path, out.getvalue())
        cb.append = True
        switched.append(cb)
    return switched


def restore_append(loggers: list[keras.callbacks.CSVLogger]) -> None:
    """Set ``append`` back on the loggers :func:`continue_csv_logs` switched (their files are open by now)."""
    for cb in loggers:
        cb.append = False
