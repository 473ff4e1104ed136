"""Keras's contract for ``make_train_function`` and friends, kept by netform.

Keras lets users override ``make_train_function``/``make_test_function``/
``make_predict_function`` (or assign ``model.train_function``). Its contract:

* ``train_function(iterator)`` and ``test_function(iterator)`` run up to
  ``steps_per_execution`` steps on the iterator and return the last step's
  logs; they raise ``StopIteration`` (or ``tf.errors.OutOfRangeError``) when
  the data is exhausted;
* ``predict_function(data)`` takes a list of batches and returns their
  outputs, joined along the batch axis.

netform's loops call step functions with more (``fn(iterator, n, known=...)``
returning ``(outputs, samples, steps_done)``). :class:`StepFunction` is what
netform's own ``make_*_function`` return: called with netform's arguments it
runs netform's compiled loop; called the Keras way it keeps Keras's contract,
so an override that wraps ``super().make_train_function()`` works.
:func:`internal_function` turns whatever a ``make_*_function`` returned into
something netform's loops can call, calling a user's function the Keras way.
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf
from keras import tree

__all__ = ["StepFunction", "internal_function", "keras_concat", "step_function"]


def keras_concat(parts: list[Any]) -> Any:
    """Join tensors along the batch axis as Keras's TensorFlow trainer joins the steps of one predict call.

    Args:
        parts: Tensors (sparse, scalar or dense) of the same kind.

    Returns:
        Sparse tensors concatenated, scalars stacked, others concatenated on axis 0.
    """
    if isinstance(parts[0], tf.SparseTensor):
        return tf.sparse.concat(axis=0, sp_inputs=parts)
    if isinstance(parts[0], (tf.Tensor, tf.Variable)) and parts[0].shape.rank == 0:
        return tf.stack(parts, axis=0)
    return tf.concat(parts, axis=0)


def _first_batch_size(batch: Any) -> Any:
    x = batch[0] if isinstance(batch, tuple) else batch
    for leaf in tree.flatten(x):
        if leaf is not None and hasattr(leaf, "shape") and len(leaf.shape):
            return tf.shape(leaf, out_type=tf.int64)[0]
    return tf.constant(0, tf.int64)


class StepFunction:
    """netform's step function, callable both netform's way and Keras's way.

    Args:
        execution: netform's compiled loop, called as
            ``execution(iterator, n, known=...)``.
        mode: ``"train"``, ``"test"`` or ``"predict"``.
        steps_per_execution: Steps a Keras-style call runs (train and test).
    """

    def __init__(self, execution: Any, *, mode: str, steps_per_execution: int = 1) -> None:
        self.execution = execution
        self.mode = mode
        self.steps_per_execution = max(int(steps_per_execution or 1), 1)
        self._compiled_step: Callable[[Any], Any] | None = None

    def __call__(self, iterator: Any, n: int | None = None, *, known: bool = False) -> Any:
        """Run steps.

        Args:
            iterator: The data iterator (for a Keras-style predict call, a
                list of batches).
            n: netform's loops pass the number of steps to run and get
                ``(outputs, samples, steps_done)``; without it the call keeps
                Keras's contract and returns the logs (or outputs) only.
            known: netform's promise that ``n`` batches remain.

        Returns:
            ``(outputs, samples, steps_done)`` when ``n`` is given, else what
            Keras's function returns.

        Raises:
            StopIteration: A Keras-style train/test call found no batch.
        """
        if n is not None:
            return self.execution(iterator, n, known=known)
        if self.mode == "predict":
            return self._keras_predict(iterator)
        outputs, _, steps = self.execution(iterator, self.steps_per_execution, known=False)
        if int(steps) == 0:
            raise StopIteration
        return outputs

    def _keras_predict(self, data: Any) -> Any:
        # Keras passes a list of batches; an iterator gives one step on its next batch.
        batches = [next(data)] if hasattr(data, "__next__") else list(data)
        step = self._step()
        outputs = [step(batch)[0] for batch in batches]
        if len(outputs) == 1:
            return outputs[0]
        return tree.map_structure(lambda *parts: keras_concat(list(parts)), *outputs)

    def _step(self) -> Callable[[Any], Any]:
        if self._compiled_step is None:
            step_fn = self.execution.step_fn
            eager = getattr(self.execution, "_run_eagerly", False)
            self._compiled_step = step_fn if eager else tf.function(step_fn, autograph=False, reduce_retracing=True)
        return self._compiled_step


class _KerasStyleFunction:
    """A user's Keras-style function, called the way netform's loops call step functions."""

    def __init__(self, fn: Callable[..., Any], mode: str) -> None:
        self.fn = fn
        self.mode = mode

    def __call__(self, iterator: Any, n: int = 1, *, known: bool = False) -> Any:
        if self.mode == "predict":
            # As Keras's predict: up to n batches, fewer when the data ends after the first.
            batches = [next(iterator)]
            for _ in range(n - 1):
                try:
                    batches.append(next(iterator))
                except (StopIteration, tf.errors.OutOfRangeError):
                    break
            outputs = self.fn(batches)
            return outputs, tf.add_n([_first_batch_size(b) for b in batches]), len(batches)
        # Keras counts one call as the steps it asked for; the samples are unknown.
        return self.fn(iterator), tf.constant(0, tf.int64), n


def internal_function(fn: Any, mode: str) -> Any:
    """What netform's loops call for the function ``make_<mode>_function`` returned.

    Args:
        fn: netform's :class:`StepFunction`, or a user's function following
            Keras's contract (an override of ``make_train_function``...).
        mode: ``"train"``, ``"test"`` or ``"predict"``.

    Returns:
        ``fn`` itself when it is netform's, else an adapter that calls it the
        Keras way and reports what netform's loops expect (the samples of a
        train or test call are reported as 0: only the user's function knows them).
    """
    if isinstance(fn, StepFunction):
        return fn
    return _KerasStyleFunction(fn, mode)


def step_function(model: Any, mode: str) -> Any:
    """Make (once) and return the function netform's loops call for ``mode``.

    As Keras's loops do, this calls ``model.make_<mode>_function()`` and then
    uses ``model.<mode>_function``, so an override that only assigns the
    attribute (Keras's own makers return ``None`` when they build) works.

    Args:
        model: The model.
        mode: ``"train"``, ``"test"`` or ``"predict"``.

    Returns:
        A function called as ``fn(iterator, n, known=...)``.
    """
    made = getattr(model, f"make_{mode}_function")()
    fn = getattr(model, f"{mode}_function", None)
    return internal_function(made if fn is None else fn, mode)
