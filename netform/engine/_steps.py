"""What one step does, and the compiled functions that run steps.

``train_step``/``test_step``/``predict_step`` hold one batch of math and are
meant to be overridden, with Keras's contract (a batch in, a dict of metric
results out). ``make_train_function`` and friends wrap a step into a cached
``tf.function`` that runs ``steps_per_execution`` steps per call inside one
graph loop, under the model's distribution strategy.
"""

from __future__ import annotations

import functools
import inspect
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable

import keras
import tensorflow as tf
from keras import tree

from .._compat import _keras_engine as ki

from ._contract import StepFunction, keras_concat
from ._device_data import DeviceCursor
from ._distribute import check_optimizer_strategy, reduce_per_replica, variable_strategy
from ._telemetry import JitChoice

__all__ = [
    "StepsMixin",
    "ExecutionFunction",
    "AutoSteps",
    "auto_steps_cap",
    "choose_jit_compile",
    "fixed_steps_per_execution",
    "probe_jit_compile",
]

# steps_per_execution="auto": the values tried (powers of two up to AUTO_MAX_STEPS), the
# wall time one compiled call aims at (its fixed cost, ~0.1-0.3 ms of Python and dispatch,
# is then a few percent of the call at most), and the cap when callbacks with batch hooks
# that need not see every batch (a progress bar) are attached.
AUTO_MAX_STEPS = 1024
AUTO_HOOK_CAP = 32
AUTO_TARGET_S = 0.01


# jit_compile="auto" (asked for explicitly): a fit of at least JIT_PROBE_MIN_STEPS planned steps
# first times JIT_PROBE_STEPS steps per call, JIT_PROBE_CALLS calls, with and without XLA, and
# takes XLA when its step is at least JIT_MIN_GAIN faster (a smaller gain is within the noise).
# XLA is probed only when the training ahead, estimated from the plain graph's probe, lasts at
# least JIT_PAYBACK times that graph's first call (tracing): compiling with XLA costs about as
# much again or more, and saves a fraction of the step time at best.
JIT_PROBE_MIN_STEPS = 256
JIT_PROBE_STEPS = 8
JIT_PROBE_CALLS = 3
JIT_MIN_GAIN = 0.05
JIT_PAYBACK = 10.0


def choose_jit_compile(graph_step_s: float, xla_step_s: float | None) -> tuple[bool, str]:
    """The probe's verdict: XLA when its step time beats the plain graph's by :data:`JIT_MIN_GAIN`.

    Args:
        graph_step_s: Step time without XLA (seconds).
        xla_step_s: Step time with XLA, or ``None`` when XLA failed to compile the step.

    Returns:
        ``(use_xla, reason)``.
    """
    if xla_step_s is None:
        return False, "XLA could not compile the training step"
    if xla_step_s <= graph_step_s * (1 - JIT_MIN_GAIN):
        return True, f"{graph_step_s / xla_step_s:.2f}x faster with XLA on this device"
    return False, f"XLA not at least {JIT_MIN_GAIN:.0%} faster on this device"


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out.extend(_all_layers(layer))
    return out


def _batch_shaped(batch: tf.Tensor, static_batch: int | None) -> tf.Tensor:
    """``batch`` with a static batch size where Keras's pipeline gives one (every batch full)."""
    if static_batch is not None:
        batch.set_shape([static_batch, *batch.shape[1:]])
    return batch


def _probe_batch(element_spec: Any, batch_size: int) -> Any | None:
    """Zeros shaped like one batch of ``element_spec`` (labels 0, a valid class), or ``None`` if shapes are unknown."""
    leaves = tree.flatten(element_spec)
    for spec in leaves:
        if not isinstance(spec, tf.TensorSpec) or spec.shape.rank is None or spec.dtype == tf.string:
            return None
        if any(d is None for d in spec.shape[1:]):
            return None
    return tree.map_structure(lambda spec: tf.zeros([batch_size] + list(spec.shape[1:]), spec.dtype), element_spec)


def probe_jit_compile(model: Any, element_spec: Any, batch_size: int | None, planned_steps: int | None) -> JitChoice:
    """Choose ``jit_compile`` for a ``fit`` under ``jit_compile="auto"``, by timing a few steps each way.

    The rule: no probe (Keras's own choice for ``"auto"`` stays: XLA on an
    accelerator when every layer supports it, never on a CPU) when the fit
    plans fewer than :data:`JIT_PROBE_MIN_STEPS` steps or an unknown number,
    runs eagerly or under a distribution strategy, a layer does not support
    XLA, the model overrides ``make_train_function``, or a batch's shape is
    not known. Otherwise, on a batch of zeros shaped like the data's, each
    way runs one call (tracing and compiling) and then :data:`JIT_PROBE_CALLS`
    calls, all of :data:`JIT_PROBE_STEPS` steps; the fastest call gives the step
    time, and :func:`choose_jit_compile` decides. The plain graph goes first;
    when the planned steps at its step time last less than
    :data:`JIT_PAYBACK` times its first call, XLA is not tried (compiling it
    would cost more than it can save) and Keras's choice stays. Every variable the probe
    changes (weights, optimizer state and iterations, seeds, metrics) is
    restored, so training then runs exactly as with ``jit_compile`` set to
    the choice. The model's ``jit_compile`` is set to it.

    Returns:
        What was chosen, why, and what the probe cost.
    """
    keras_choice = bool(model.jit_compile)
    if planned_steps is None or planned_steps < JIT_PROBE_MIN_STEPS:
        return JitChoice(keras_choice, f"fit too short to probe ({planned_steps or 'unknown'} steps); Keras's choice")
    if model.run_eagerly or tf.distribute.has_strategy() or ki.model_strategy(model) is not None:
        return JitChoice(keras_choice, "eager or distributed training; Keras's choice")
    if not all(getattr(layer, "supports_jit", True) for layer in _all_layers(model)):
        return JitChoice(False, "a layer does not support XLA")
    if type(model).make_train_function is not StepsMixin.make_train_function or model.optimizer is None:
        return JitChoice(keras_choice, "custom make_train_function; Keras's choice")
    batch = _probe_batch(element_spec, batch_size or 32)
    if batch is None:
        return JitChoice(keras_choice, "batch shape not known before training; Keras's choice")
    start = time.perf_counter()
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # as the first step would; its state is restored below
    saved = {
        id(v): (v, v.numpy())
        for v in list(model.variables) + list(model.optimizer.variables) + list(model.metrics_variables)
    }
    times: dict[bool, float | None] = {}
    made: dict[bool, Any] = {}
    first_s = 0.0
    graph_s = 0.0  # times[False], the plain graph's step time: set first, or the probe raised
    # Batches with the data's spec (batch axis unknown): the training then reuses the probe's
    # trace of the chosen way instead of tracing its step again.
    probe_data = tf.data.Dataset.from_tensor_slices(batch).repeat().batch(batch_size or 32)
    try:
        for xla in (False, True):
            if xla and planned_steps * graph_s < JIT_PAYBACK * first_s:
                break
            model.jit_compile = xla
            made[xla] = model.make_train_function(force=True)
            fn = made[xla].execution
            iterator = iter(probe_data)
            try:
                t0 = time.perf_counter()
                fn(iterator, JIT_PROBE_STEPS, known=True)[2].numpy()  # trace and compile
                first_s = time.perf_counter() - t0
                best = float("inf")
                for _ in range(JIT_PROBE_CALLS):
                    t0 = time.perf_counter()
                    fn(iterator, JIT_PROBE_STEPS, known=True)[2].numpy()  # .numpy() waits for the device
                    best = min(best, (time.perf_counter() - t0) / JIT_PROBE_STEPS)
                times[xla] = best
                if not xla:
                    graph_s = best
            except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError):
                if not xla:
                    raise
                times[xla] = None
            finally:
                fn.release_iterator()
                for v, value in saved.values():
                    v.assign(value)
    finally:
        model.train_function = model.test_function = model.predict_function = None
    if True not in times:
        model.jit_compile = keras_choice
        model.train_function = made[False] if not keras_choice else None
        return JitChoice(
            keras_choice,
            f"training ahead (about {planned_steps * graph_s:.1f} s) too short to pay for "
            f"compiling with XLA (the plain graph's first call took {first_s:.2f} s); Keras's choice",
            probe_s=time.perf_counter() - start,
            probe_steps=(1 + JIT_PROBE_CALLS) * JIT_PROBE_STEPS,
            graph_step_ms=graph_s * 1e3,
        )
    xla_s = times[True]
    use_xla, reason = choose_jit_compile(graph_s, xla_s)
    model.jit_compile = use_xla
    model.train_function = made[use_xla] if times.get(use_xla) is not None else None
    return JitChoice(
        use_xla,
        reason,
        probe_s=time.perf_counter() - start,
        probe_steps=(1 + JIT_PROBE_CALLS) * JIT_PROBE_STEPS,
        graph_step_ms=graph_s * 1e3,
        xla_step_ms=None if xla_s is None else xla_s * 1e3,
    )


def fixed_steps_per_execution(value: Any) -> int:
    """The steps a Keras-style call of a step function runs: ``value``, or 1 for ``"auto"``."""
    return 1 if isinstance(value, str) else max(int(value or 1), 1)


def _sparse_batch_hooks(cb: keras.callbacks.Callback) -> bool:
    """Whether ``cb``'s batch hooks may be called once per multi-step call (Keras's batch numbers)."""
    if getattr(cb, "sparse_batch_hooks", False) is True:
        return True  # the callback's own statement
    if type(cb) is keras.callbacks.ProgbarLogger:
        return True  # only draws progress
    if isinstance(cb, (keras.callbacks.ModelCheckpoint, keras.callbacks.BackupAndRestore)):
        return getattr(cb, "save_freq", "epoch") == "epoch"  # its batch hooks then do nothing
    return False


def auto_steps_cap(callbacks: list[keras.callbacks.Callback], mode: str) -> int:
    """The most steps one call may run under ``steps_per_execution="auto"``, given the callbacks.

    - No callback overrides ``on_<mode>_batch_begin``/``_end``: :data:`AUTO_MAX_STEPS`.
    - Only callbacks that need not see every batch do: :data:`AUTO_HOOK_CAP`. These are
      ``keras.callbacks.ProgbarLogger``, ``ModelCheckpoint``/``BackupAndRestore`` saving per
      epoch, and callbacks with an attribute ``sparse_batch_hooks = True``; they get Keras's
      batch numbers for a multi-step call (``begin`` and ``begin + n - 1``).
    - Any other callback with batch hooks (``TerminateOnNaN``, ``TensorBoard``, checkpoints
      saved every n batches, ``TrainingBackup``, user callbacks): 1, so it sees every batch
      exactly as with ``steps_per_execution=1``.
    """
    from ._callbacks import _HOOKS, _overrides  # the rule CallbackDriver uses to find batch hooks

    names = _HOOKS[mode] + (("on_batch_begin", "on_batch_end") if mode == "train" else ())
    hooked = [cb for cb in callbacks if any(_overrides(cb, name) for name in names)]
    if not hooked:
        return AUTO_MAX_STEPS
    return AUTO_HOOK_CAP if all(_sparse_batch_hooks(cb) for cb in hooked) else 1


#: The most predict steps one traced call unrolls (TensorFlow's limit on get_next calls in one graph)
_MAX_UNROLLED_STEPS = 32


class AutoSteps:
    """Chooses the steps per compiled call under ``steps_per_execution="auto"``.

    The rule: start at 1; after each call, from the wall time between the
    starts of consecutive calls (step time, the loop's own cost and the
    callbacks' hooks together), double the steps while a call lasts under
    :data:`AUTO_TARGET_S`, and halve them after two calls in a row over four
    times that. Values are powers of two, at most ``cap``
    (:func:`auto_steps_cap`). The compiled loop takes the number of steps as a
    tensor, so a new value does not trace again. Results do not depend on the
    values chosen: the steps run are the same, in the same order.
    """

    def __init__(self) -> None:
        self.steps = 1
        self.cap = AUTO_MAX_STEPS
        self._slow = 0

    def set_cap(self, cap: int) -> None:
        """Bound the steps per call by ``cap`` from the next call on."""
        self.cap = max(1, int(cap))
        while self.steps > self.cap:
            self.steps //= 2

    def observe(self, steps: int, seconds: float) -> None:
        """Take the wall time of a call that ran ``steps`` steps; adapt the next calls' steps."""
        if steps < self.steps:
            return  # a shortened call (end of an epoch) says little about the chosen value
        if seconds < AUTO_TARGET_S:
            self._slow = 0
            if self.steps * 2 <= self.cap:
                self.steps *= 2
        elif seconds > 4 * AUTO_TARGET_S and self.steps > 1:
            self._slow += 1
            if self._slow >= 2:  # one slow call may be a trace or a pause
                self.steps //= 2
                self._slow = 0
        else:
            self._slow = 0


def _empty_like(value: Any) -> Any:
    """Zeros shaped like ``value`` (unknown dims as 0): the outputs of a call that found no batch."""
    if not isinstance(value, tf.Tensor) or value.shape.rank is None:
        return value
    return tf.zeros([0 if d is None else d for d in value.shape], dtype=value.dtype)


def _optionals_to_none(data: Any) -> Any:
    """``None`` for each ``tf.experimental.Optional`` leaf: how data carries an optional input fed ``None`` (as in Keras)."""
    return tree.map_structure(lambda v: None if isinstance(v, tf.experimental.Optional) else v, data)


def _join_steps(parts: list[Any]) -> Any:
    """The outputs of one predict call: its steps' outputs joined along the batch axis, as Keras joins them."""
    if len(parts) == 1:
        return parts[0]
    return tree.map_structure(lambda *leaves: keras_concat(list(leaves)), *parts)


def _batch_size(x: Any) -> tf.Tensor:
    for leaf in tree.flatten(x):
        if leaf is not None:
            return tf.shape(leaf, out_type=tf.int64)[0]
    return tf.constant(0, tf.int64)


def _takes_training(model: Any) -> bool:
    """Whether ``model.call`` has a ``training`` argument (Keras's public ``call_signature_parameters``)."""
    return "training" in model.call_signature_parameters


@functools.lru_cache(maxsize=None)
def _has_training_arg(compute_loss: Callable[..., Any]) -> bool:
    return "training" in inspect.signature(compute_loss).parameters


def _compute_loss(model: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any, *, training: bool) -> Any:
    """``model.compute_loss``, without ``training`` for an override written before Keras 3.3 added it.

    The same call Keras's ``train_step``/``test_step`` make (through their private
    ``_compute_loss``), made with the public method.
    """
    if _has_training_arg(getattr(type(model).compute_loss, "__func__", type(model).compute_loss)):
        return model.compute_loss(x, y, y_pred, sample_weight, training=training)
    return model.compute_loss(x, y, y_pred, sample_weight)


class ExecutionFunction:
    """A compiled "run up to N steps on this iterator" function.

    Calling it with ``(iterator, n)`` runs ``n`` steps (fewer if the data ends,
    unless ``known=True``) and returns ``(outputs, samples, steps_done)``: the
    last step's outputs, the number of samples consumed and the number of steps
    run, all as tensors (reading them is the caller's choice, so no host sync
    happens here). Without ``known=True`` a step runs only on a batch that is
    there, so a call on exhausted data returns ``steps_done == 0`` and changes
    no variable; with it, the data running out raises
    ``tf.errors.OutOfRangeError``.

    Attributes:
        step_fn: ``(batch) -> (outputs, samples)`` for one batch, distributed.
    """

    def __init__(
        self,
        step_fn: Callable[[Any], Any],
        *,
        run_eagerly: bool,
        join: bool = False,
        join_in_loop: bool = False,
    ) -> None:
        self.step_fn = step_fn
        self._join = join
        self._join_in_loop = join_in_loop

        def one(iterator: Any) -> Any:
            outputs, samples = step_fn(iterator.get_next())
            return outputs, samples, tf.constant(1, tf.int32)

        def many(iterator: Any, n: tf.Tensor) -> Any:
            # Every step, the first included, runs only on a batch that is there:
            # a call on exhausted data changes no variable (optimizer.iterations,
            # metric counts) and returns steps == 0.
            first = iterator.get_next_as_optional()
            traced: list[Any] = []

            def some() -> Any:
                outputs, samples = step_fn(first.get_value())
                traced.append((outputs, samples))
                return rest(iterator, n, outputs, samples)

            def none() -> Any:
                if not traced:  # eager, nothing ever ran: no structure to match
                    return {}, tf.constant(0, tf.int64), tf.constant(0, tf.int32)
                outputs, samples = traced[0]
                empty = tree.map_structure(_empty_like, outputs)
                return empty, tf.zeros([], samples.dtype), tf.constant(0, tf.int32)

            return tf.cond(first.has_value(), some, none)

        def rest(iterator: Any, n: tf.Tensor, outputs: Any, samples: Any) -> Any:
            # Steps 2..n of `many`, each on a batch only if one is left.
            def cond(i: Any, outputs: Any, samples: Any, done: Any) -> Any:
                return tf.logical_and(i < n, tf.logical_not(done))

            def body(i: Any, outputs: Any, samples: Any, done: Any) -> Any:
                optional = iterator.get_next_as_optional()

                def run() -> Any:
                    new_outputs, new_samples = step_fn(optional.get_value())
                    return i + 1, new_outputs, samples + new_samples, tf.constant(False)

                def stop() -> Any:
                    return i, outputs, samples, tf.constant(True)

                return tf.cond(optional.has_value(), run, stop)

            steps, outputs, samples, _ = tf.while_loop(
                cond, body, (tf.constant(1, tf.int32), outputs, samples, tf.constant(False))
            )
            return outputs, samples, steps

        def many_known(iterator: Any, n: tf.Tensor) -> Any:
            # The caller knows n batches are there: no optionals, no conditionals.
            outputs, samples = step_fn(iterator.get_next())

            def body(i: Any, outputs: Any, samples: Any) -> Any:
                new_outputs, new_samples = step_fn(iterator.get_next())
                return i + 1, new_outputs, samples + new_samples

            steps, outputs, samples = tf.while_loop(
                lambda i, *_: i < n, body, (tf.constant(1, tf.int32), outputs, samples)
            )
            return outputs, samples, steps

        def device_known(
            data: Any, order: tf.Tensor, batch_size: tf.Tensor, start: tf.Tensor, n: tf.Tensor, static_batch: int | None
        ) -> Any:
            # Arrays on the device (DeviceCursor): step i runs on the rows order[b * batch_size:
            # (b + 1) * batch_size] of batch b = start + i, gathered here instead of read from
            # a tf.data iterator. The caller knows the n batches are there.
            count = tf.shape(order, out_type=tf.int64)[0]

            def batch(i: tf.Tensor) -> Any:
                low = (start + tf.cast(i, tf.int64)) * batch_size
                rows = order[low : tf.minimum(low + batch_size, count)]
                return tree.map_structure(lambda t: _batch_shaped(tf.gather(t, rows), static_batch), data)

            outputs, samples = step_fn(batch(tf.constant(0, tf.int32)))

            def body(i: Any, outputs: Any, samples: Any) -> Any:
                new_outputs, new_samples = step_fn(batch(i))
                return i + 1, new_outputs, samples + new_samples

            steps, outputs, samples = tf.while_loop(
                lambda i, *_: i < n, body, (tf.constant(1, tf.int32), outputs, samples)
            )
            return outputs, samples, steps

        def joined_known(iterator: Any, k: int) -> Any:
            # Predict: k steps (a Python int: one trace per call length, as Keras
            # traces one per number of batches it passes), outputs joined.
            parts: list[Any] = []
            samples: list[Any] = []
            for _ in range(k):
                outputs, n_samples = step_fn(iterator.get_next())
                parts.append(outputs)
                samples.append(n_samples)
            return _join_steps(parts), tf.add_n(samples), tf.constant(k, tf.int32)

        def joined_loop(iterator: Any, n: tf.Tensor) -> Any:
            # Predict under steps_per_execution="auto": n known steps (a tensor: one
            # trace for every n) in a graph loop, each step's outputs written to a
            # TensorArray and joined along the batch axis at the end (as tf.concat).
            outputs, samples = step_fn(iterator.get_next())
            flat = tree.flatten(outputs)
            arrays = tuple(
                tf.TensorArray(
                    o.dtype, size=n, infer_shape=False, element_shape=tf.TensorShape([None]).concatenate(o.shape[1:])
                ).write(0, o)
                for o in flat
            )

            def body(i: Any, samples: Any, arrays: Any) -> Any:
                new_outputs, new_samples = step_fn(iterator.get_next())
                arrays = tuple(a.write(i, o) for a, o in zip(arrays, tree.flatten(new_outputs)))
                return i + 1, samples + new_samples, arrays

            steps, samples, arrays = tf.while_loop(
                lambda i, *_: i < n, body, (tf.constant(1, tf.int32), samples, arrays)
            )
            return tree.pack_sequence_as(outputs, [a.concat() for a in arrays]), samples, steps

        # Each a plain function (eager) or a tf.function (its get_concrete_function used by _lookup).
        self._device_known: Any = device_known if run_eagerly else tf.function(device_known, autograph=False)
        self._one: Any
        self._many: Any
        self._many_known: Any
        self._joined_known: Any
        self._joined_loop: Any
        self._device_concrete: dict[Any, tuple[Any, list[Any]]] = {}
        if run_eagerly:
            self._one, self._many, self._many_known = one, many, many_known
            self._joined_known = joined_known
            self._joined_loop = joined_loop
        else:
            self._joined_known = tf.function(joined_known, autograph=False, reduce_retracing=True)
            self._joined_loop = tf.function(joined_loop, autograph=False, reduce_retracing=True)
            self._one = tf.function(one, autograph=False, reduce_retracing=True)
            self._many = tf.function(many, autograph=False, reduce_retracing=True)
            self._many_known = tf.function(many_known, autograph=False, reduce_retracing=True)
        self._run_eagerly = run_eagerly
        self._n_cache: dict[int, tf.Tensor] = {}
        # The concrete functions for the current iterator, called through their flat
        # entry point: tf.function's per-call signature matching and argument
        # flattening cost more than a tiny model's whole step.
        self._concrete_for: Any = None
        self._flat_iterator: list[Any] = []
        self._concrete: dict[str, tuple[Any, list[Any]]] = {}

    def _lookup(self, kind: str, iterator: Any, *args: Any, static: Any = None) -> tuple[Any, list[Any]]:
        if self._concrete_for is not iterator:
            self._concrete_for = iterator
            self._flat_iterator = tf.nest.flatten(iterator, expand_composites=True)
            self._concrete = {}
        key = kind if static is None else f"{kind}{static}"
        entry = self._concrete.get(key)
        if entry is None:
            if kind == "joined":
                concrete = self._joined_known.get_concrete_function(iterator, static)
            else:
                source = {"one": self._one, "many": self._many, "known": self._many_known, "jloop": self._joined_loop}[
                    kind
                ]
                concrete = source.get_concrete_function(iterator, *args)
            entry = self._concrete[key] = (concrete, list(concrete.captured_inputs))
        return entry

    def _call(self, kind: str, iterator: Any, *args: Any, static: Any = None) -> Any:
        concrete, captured = self._lookup(kind, iterator, *args, static=static)
        result = ki.call_flat(concrete, self._flat_iterator + list(args), captured)
        if result is NotImplemented:  # pragma: no cover - a TensorFlow without the flat entry point
            return concrete(iterator, *args) if static is None else concrete(iterator)
        return result

    def _loop_joins(self, iterator: Any) -> bool:
        """Whether a predict step's outputs can be joined in a graph loop: dense tensors with a batch axis."""
        if self._run_eagerly:
            return False
        concrete, _ = self._lookup("one", iterator)
        leaves = tree.flatten(concrete.structured_outputs[0])
        return all(isinstance(leaf, tf.Tensor) and leaf.shape.rank not in (None, 0) for leaf in leaves)

    def _joined(self, iterator: Any, n: int, known: bool) -> Any:
        """Predict: up to ``n`` steps in one call, their outputs joined (Keras's multi-step predict)."""
        # TensorFlow refuses a graph that calls an iterator's get_next more than 32 times (GET_NEXT_CALL_ERROR_
        # THRESHOLD): more known steps than that run in the graph loop, or one by one where it cannot join them
        unrolls = self._run_eagerly or n <= _MAX_UNROLLED_STEPS
        if known and (self._join_in_loop or not unrolls) and self._loop_joins(iterator):
            n_t = self._n_cache.get(n)
            if n_t is None:
                n_t = self._n_cache[n] = tf.constant(n, tf.int32)
            return self._call("jloop", iterator, n_t)
        if known and unrolls:
            if self._run_eagerly:
                return self._joined_known(iterator, n)
            return self._call("joined", iterator, static=n)
        # Length unknown: as Keras, take batches one by one until n or the data ends.
        parts: list[Any] = []
        samples: list[Any] = []
        for _ in range(n):
            try:
                outputs, n_samples, _ = self(iterator, 1, known=True)
            except tf.errors.OutOfRangeError:
                if not parts:
                    raise
                break
            parts.append(outputs)
            samples.append(n_samples)
        return _join_steps(parts), tf.add_n(samples), tf.constant(len(parts), tf.int32)

    def _device(self, cursor: DeviceCursor, n: int) -> Any:
        """Up to ``n`` steps on arrays kept on the device, from the cursor's position on."""
        n = min(int(n), cursor.remaining)
        if n <= 0:
            raise tf.errors.OutOfRangeError(None, None, "End of sequence")
        source = cursor.source
        start = tf.constant(cursor.position, tf.int64)
        n_t = self._n_cache.get(n)
        if n_t is None:
            n_t = self._n_cache[n] = tf.constant(n, tf.int32)
        if self._run_eagerly:
            result = self._device_known(source.data, cursor.order, source.batch_size_t, start, n_t, source.static_batch)
        else:
            entry = self._device_concrete.get(source.key)
            if entry is None:
                # Traced for any number of samples and batch size: one trace per data signature.
                scalar = tf.TensorSpec([], tf.int64)
                concrete = self._device_known.get_concrete_function(
                    source.data_spec,
                    tf.TensorSpec([None], tf.int64),
                    scalar,
                    scalar,
                    tf.TensorSpec([], tf.int32),
                    source.static_batch,
                )
                entry = self._device_concrete[source.key] = (concrete, list(concrete.captured_inputs))
            concrete, captured = entry
            args = source.flat + [cursor.order, source.batch_size_t, start, n_t]
            result = ki.call_flat(concrete, args, captured)
            if result is NotImplemented:  # pragma: no cover - a TensorFlow without the flat entry point
                result = concrete(source.data, cursor.order, source.batch_size_t, start, n_t)
        cursor.position += n
        return result

    def __call__(self, iterator: Any, n: int = 1, *, known: bool = False) -> Any:
        """Run ``n`` steps; ``known=True`` promises that ``n`` batches remain."""
        if isinstance(iterator, DeviceCursor):
            return self._device(iterator, n)
        if self._join and n > 1:
            return self._joined(iterator, n, known)
        if known and n == 1:
            return self._one(iterator) if self._run_eagerly else self._call("one", iterator)
        if self._run_eagerly:
            return (self._many_known if known else self._many)(iterator, tf.constant(n))
        n_t = self._n_cache.get(n)
        if n_t is None:
            n_t = self._n_cache[n] = tf.constant(n, tf.int32)
        return self._call("known" if known else "many", iterator, n_t)

    def release_iterator(self) -> None:
        """Drop the references to the iterator last run on (called when an epoch's steps are over).

        The iterator is then freed by its owner, at the end of the epoch as in
        Keras, and not when the next epoch's first call replaces it: freeing
        one waits for its input pipeline to stop, which can take hundreds of
        ms and would land in that first step.
        """
        self._concrete_for = None
        self._flat_iterator = []
        self._concrete = {}


class StepsMixin:
    """Default steps and the function makers (mixed into ``keras.Model``)."""

    if TYPE_CHECKING:  # what the keras.Model this is mixed into provides (Keras ships no types)
        optimizer: Any
        variables: list[Any]
        trainable_weights: list[Any]
        trainable_variables: list[Any]
        distribute_strategy: Any
        run_eagerly: bool
        jit_compile: Any
        steps_per_execution: Any
        train_function: Any
        test_function: Any
        predict_function: Any

        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

        def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]: ...

        def get_compile_config(self) -> dict[str, Any]: ...

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, *args: Any, **kwargs: Any) -> None:
        """Keras's ``compile``, then a check that the optimizer fits the model's strategy.

        Raises:
            EngineError: The optimizer was created under another distribution
                strategy than the model's variables (TensorFlow would fail at
                the first step with a bare ``RuntimeError``).
        """
        super().compile(optimizer, loss, *args, **kwargs)  # type: ignore[misc]
        compiled = getattr(self, "optimizer", None)
        if compiled is not None:
            owner = variable_strategy(self.variables) or ki.model_strategy(self)
            check_optimizer_strategy(compiled, owner, where="compile")

    # ----------------------------------------------------------------- steps
    def train_step(self, data: Any) -> dict[str, Any]:
        """One optimisation step on one batch; returns the metric results.

        Args:
            data: A batch: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``.

        Returns:
            A dict of metric name to (scalar tensor) result.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True) if _takes_training(self) else self(x)
            loss = _compute_loss(self, x, y, y_pred, sample_weight, training=True)
            ki.loss_tracker(self).update_state(ki.unscale_loss_for_distribution(loss), sample_weight=_batch_size(x))
            if self.optimizer is not None:
                loss = self.optimizer.scale_loss(loss)
        trainable = self.trainable_weights
        if trainable:
            gradients = tape.gradient(loss, trainable)
            self.optimizer.apply_gradients(zip(gradients, trainable))
        else:
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step on one batch; returns the metric results."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False) if _takes_training(self) else self(x)
        loss = _compute_loss(self, x, y, y_pred, sample_weight, training=False)
        ki.loss_tracker(self).update_state(ki.unscale_loss_for_distribution(loss), sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data: Any) -> Any:
        """One inference step on one batch; returns the model's outputs."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self(x, training=False) if _takes_training(self) else self(x)

    # ------------------------------------------------------------- functions
    def _distributed_step(self, step: Callable[[Any], Any], reduction: str) -> Callable[[Any], Any]:
        strategy = self.distribute_strategy

        def replica_step(data: Any) -> Any:
            data = _optionals_to_none(data)
            x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
            return step(data), _batch_size(x)

        if not self.run_eagerly:
            # One trace of the step per input signature, shared by every compiled
            # loop that runs it (one step, n steps, the loop's first step and its
            # body): the user's train_step is traced no more often than by Keras.
            replica_step = tf.function(
                replica_step, jit_compile=True if self.jit_compile else None, autograph=False, reduce_retracing=True
            )

        def distributed(data: Any) -> Any:
            outputs, samples = strategy.run(replica_step, args=(data,))
            outputs = reduce_per_replica(outputs, strategy, reduction)
            samples = reduce_per_replica(samples, strategy, "sum")
            return outputs, samples

        return distributed

    def make_train_function(self, force: bool = False) -> StepFunction:
        """Build (once) and return the compiled training function.

        Args:
            force: Rebuild even if one is cached.

        Returns:
            A :class:`StepFunction` (callable the Keras way too), also stored as
            ``self.train_function``.
        """
        if self.train_function is not None and not force:
            return self.train_function
        self.train_function = StepFunction(
            ExecutionFunction(self._distributed_step(self.train_step, "mean"), run_eagerly=self.run_eagerly),
            mode="train",
            steps_per_execution=fixed_steps_per_execution(self.steps_per_execution),
        )
        return self.train_function

    def make_test_function(self, force: bool = False) -> StepFunction:
        """Build (once) and return the compiled evaluation function."""
        if self.test_function is not None and not force:
            return self.test_function
        self.test_function = StepFunction(
            ExecutionFunction(self._distributed_step(self.test_step, "mean"), run_eagerly=self.run_eagerly),
            mode="test",
            steps_per_execution=fixed_steps_per_execution(self.steps_per_execution),
        )
        return self.test_function

    def make_predict_function(self, force: bool = False) -> StepFunction:
        """Build (once) and return the compiled prediction function.

        As in Keras, a call runs up to ``steps_per_execution`` batches and
        returns their outputs joined along the batch axis.
        """
        if self.predict_function is not None and not force:
            return self.predict_function
        self.predict_function = StepFunction(
            ExecutionFunction(
                self._distributed_step(self.predict_step, "concat"),
                run_eagerly=self.run_eagerly,
                join=True,
                join_in_loop=self.steps_per_execution == "auto",
            ),
            mode="predict",
            steps_per_execution=fixed_steps_per_execution(self.steps_per_execution),
        )
        return self.predict_function
