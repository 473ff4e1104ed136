"""How steps run: netform's own ``fit``/``evaluate``/``predict`` loops.

:class:`Trainer` is mixed in front of ``keras.Model`` (see :mod:`._models`).
Compilation (optimizer, losses, metrics) is Keras's own ``compile``; the
loops, the execution schedule, callback driving, telemetry and streaming
prediction are netform's. Nothing here calls ``keras.Model.fit``,
``evaluate`` or ``predict``.
"""

from __future__ import annotations

import numbers
import os
import time
import warnings
from typing import TYPE_CHECKING, Any, Iterator

import keras
import tensorflow as tf
from keras import tree

from .._compat import _keras_engine as ki
from ..errors import DataError, EngineError
from ._backup import find_backup, guard_keras_backups
from ._callbacks import CallbackDriver, pythonify_logs
from ._callback_state import continue_csv_logs, restore_append
from ._contract import StepFunction, step_function
from ._data import EVAL_MAX_BATCH, DataStream, capped_epochs, default_eval_batch_size, split_validation
from ._distribute import strategy_label, variable_strategy
from ._outputs import PredictionBatches
from ._outputs import concat_outputs as _concat_outputs
from ._outputs import to_numpy as _to_numpy
from ._replica_probe import probe_replica_reduce
from ._steps import (
    AUTO_HOOK_CAP,
    AutoSteps,
    ExecutionFunction,
    StepsMixin,
    auto_steps_cap,
    fixed_steps_per_execution,
    probe_jit_compile,
)
from ._telemetry import JitChoice, TelemetryRecorder, TelemetryReport

__all__ = ["Trainer"]


def _release_iterator(fn: Any) -> None:
    """Let the compiled function drop the iterator it last ran on.

    Freeing an iterator waits for its input pipeline to stop (tens to
    hundreds of ms); Keras frees its epoch's iterator when the epoch's steps
    are over, and so does netform, instead of in the next epoch's first step.
    """
    release = getattr(getattr(fn, "execution", None), "release_iterator", None)
    if release is not None:
        release()


def _validates_after(epoch: int, validation_freq: int | list[int]) -> bool:
    """Whether ``fit`` validates after 0-based ``epoch``: every ``validation_freq``-th epoch, or those listed (1-based).

    Raises:
        EngineError: ``validation_freq`` is neither an int nor a list of ints.
    """
    epoch += 1  # validation_freq counts epochs from 1, as in keras.Model.fit
    if isinstance(validation_freq, int):
        return epoch % validation_freq == 0
    if isinstance(validation_freq, list):
        return epoch in validation_freq
    raise EngineError(
        f"fit(validation_freq={validation_freq!r}): expected an int (validate every n-th epoch) or a "
        "list of the 1-based epochs after which to validate, e.g. `validation_freq=2` or `[1, 5, 10]`."
    )


def _check_steps_per_execution(value: Any) -> None:
    """Refuse a ``steps_per_execution`` that is neither a positive int nor ``"auto"``.

    Raises:
        EngineError: Naming the accepted values.
    """
    if value == "auto" or (isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1):
        return
    raise EngineError(
        f"compile(steps_per_execution={value!r}): expected a positive int (the training steps run in one "
        'compiled call, 1 by default) or "auto" (netform measures and adapts it while training, with the '
        "same results as 1)."
    )


class Trainer(StepsMixin):
    """netform's training engine, shared by ``Model``, ``Functional`` and ``Sequential``."""

    if TYPE_CHECKING:  # what the keras.Model this is mixed into provides, beyond StepsMixin's (Keras ships no types)
        name: str
        compiled: bool
        built: bool
        history: Any

        def get_metrics_result(self) -> dict[str, Any]: ...

        def reset_metrics(self) -> None: ...

    # ---------------------------------------------------------------- guards
    def _guard(self, where: str, *, needs_compile: bool = True) -> None:
        if tf.inside_function():
            raise EngineError(
                f"{where}() was called inside a tf.function (model {self.name!r}). "
                f"{where}() runs its own compiled loop and must be called eagerly; "
                f"call it outside the tf.function, or use `model.{where.replace('fit', 'train')}_step`/"
                "`model(x)` inside it."
            )
        if needs_compile and not self.compiled:
            raise EngineError(
                f"{where}() was called before compile() on model {self.name!r}. "
                "Call `model.compile(optimizer=..., loss=...)` first."
            )
        self._guard_strategy(where)

    def _model_strategy(self) -> tf.distribute.Strategy | None:
        return variable_strategy(self.variables) or ki.model_strategy(self)

    def _guard_strategy(self, where: str) -> None:
        current = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
        owner = self._model_strategy()
        if (
            current is not None
            and owner is not None
            and current is not owner
            or (current is not None and owner is None and self.variables)
        ):
            raise EngineError(
                f"{where}(): model {self.name!r} has variables created under {strategy_label(owner)}, "
                f"but {where}() is called under {strategy_label(current)}. "
                "Create, compile and train the model under the same strategy: build the model "
                "inside `with strategy.scope():` and call compile() there too."
            )

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, *args: Any, **kwargs: Any) -> None:
        """Configure training, exactly as ``keras.Model.compile``.

        ``steps_per_execution`` also takes ``"auto"``: ``fit``, ``evaluate``
        and ``predict`` then choose the steps per compiled call while they run
        (powers of two, see :class:`~netform.engine._steps.AutoSteps`), with
        the same weights, logs, ``History`` and outputs as
        ``steps_per_execution=1``; callbacks with batch hooks bound it (see
        :func:`~netform.engine._steps.auto_steps_cap`), and a predict call
        covers at most 1024 samples (or 32 batches of unknown size).

        ``jit_compile="auto"`` given in so many words (specs and ``netform
        train`` give it by default) makes ``fit`` time a few steps with and
        without XLA before training and train the faster way (see
        :func:`~netform.engine._steps.probe_jit_compile`; the choice, its
        reasons and the probe's cost are in ``history.telemetry.jit``); left
        to its default, ``jit_compile`` is Keras's ``"auto"`` (XLA on an
        accelerator, not on a CPU).

        Raises:
            EngineError: Called under a different distribution strategy than
                the one the model's variables were created under, or a
                ``steps_per_execution`` neither a positive int nor ``"auto"``.
        """
        _check_steps_per_execution(args[4] if len(args) > 4 else kwargs.get("steps_per_execution", 1))
        jit = args[5] if len(args) > 5 else kwargs.get("jit_compile")
        # Plain state, not tracked by Keras: netform probes only when "auto" is asked for in
        # so many words; compile()'s default (also "auto") keeps Keras's own choice.
        object.__setattr__(self, "_nf_jit_auto", isinstance(jit, str) and jit == "auto")
        object.__setattr__(self, "_nf_jit_choice", None)
        self._guard_strategy("compile")
        current = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
        if current is not None and ki.model_strategy(self) is None and not self.variables:
            ki.set_model_strategy(self, current)
        super().compile(optimizer, loss, *args, **kwargs)

    def get_compile_config(self) -> dict[str, Any]:
        """Keras's compile config; ``steps_per_execution="auto"`` is written as 1.

        ``"auto"`` is netform's schedule, with the results of 1: a saved file
        records 1, Keras's default, so that plain Keras loads it and trains it.
        """
        config = super().get_compile_config()
        if config and config.get("steps_per_execution") == "auto":
            config = {**config, "steps_per_execution": 1}
        return config

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compile from a saved compile config; like Keras, not when ``compile`` is overridden (it warns)."""
        if type(self).compile is not Trainer.compile:
            warnings.warn(
                "`compile()` was not called as part of model loading because the model's `compile()` "
                "method is custom. All subclassed Models that have `compile()` overridden should also "
                "override `get_compile_config()` and `compile_from_config(config)`. Alternatively, you "
                "can call `compile()` manually after loading.",
                stacklevel=2,
            )
            return
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------------ data
    def _strategy_for_data(self) -> tf.distribute.Strategy | None:
        strategy = ki.model_strategy(self) or (tf.distribute.get_strategy() if tf.distribute.has_strategy() else None)
        return strategy

    def _device_data_ok(self, mode: str) -> bool:
        """Whether ``mode``'s steps run in netform's own compiled loop, which can read arrays kept on the device.

        Not so when ``make_<mode>_function`` is overridden or ``<mode>_function``
        was set to a function of the user's (they read a ``tf.data`` iterator).
        """
        maker = getattr(type(self), f"make_{mode}_function", None)
        if maker is not getattr(StepsMixin, f"make_{mode}_function"):
            return False
        fn = getattr(self, f"{mode}_function", None)
        return fn is None or (isinstance(fn, StepFunction) and isinstance(fn.execution, ExecutionFunction))

    def _stream(self, x: Any, y: Any = None, sample_weight: Any = None, **kwargs: Any) -> DataStream:
        return DataStream(self, x, y, sample_weight, strategy=self._strategy_for_data(), **kwargs)

    def _eval_batch_size(
        self,
        mode: str,
        x: Any,
        y: Any,
        sample_weight: Any,
        batch_size: int | None,
        steps: int | None,
        callbacks: list[keras.callbacks.Callback] | None,
    ) -> int | None:
        """``batch_size``, or evaluate/predict's default for arrays (see :func:`~._data.default_eval_batch_size`)."""
        if batch_size is not None:
            return batch_size
        return default_eval_batch_size(
            self,
            x,
            y,
            sample_weight,
            mode=mode,
            steps=steps,
            strategy=self._strategy_for_data(),
            sparse_hooks_only=auto_steps_cap(list(callbacks or []), mode) > 1,
        )

    def _nf_symbolic_build(self, stream: DataStream) -> None:
        strategy = ki.model_strategy(self)
        if strategy is None:
            return  # built lazily when the step function is first traced, as in Keras
        stream.read_one_batch_like_keras()
        spec = stream.first_batch_spec()
        with strategy.scope():
            ki.symbolic_build(self, spec)

    # ------------------------------------------------------------- execution
    def _auto_steps(self, mode: str) -> AutoSteps:
        """The model's ``steps_per_execution="auto"`` controller for ``mode`` (kept across runs)."""
        controllers = self.__dict__.get("_nf_auto_steps_by_mode")
        if controllers is None:
            controllers = {}
            object.__setattr__(self, "_nf_auto_steps_by_mode", controllers)  # plain state, not tracked by Keras
        return controllers.setdefault(mode, AutoSteps())

    def _run_epoch(
        self, mode: str, stream: DataStream, fn: Any, cbs: CallbackDriver, telemetry: TelemetryRecorder | None
    ) -> Any:
        """Run one pass over ``stream``; yield each predict call's outputs and samples, or the last logs (tensors).

        With a fixed ``steps_per_execution`` the schedule is Keras's for that
        value. Under ``"auto"`` it is the schedule of 1, grouped: consecutive
        steps known to be there and inside the epoch run in one call, as many
        as the controller chooses (data of unknown length runs one step per
        call, as with 1); the stream's bookkeeping stays that of 1.
        """
        auto: AutoSteps | None = None
        if self.steps_per_execution == "auto":
            auto = self._auto_steps(mode)
            cap = 1 if self.run_eagerly else auto_steps_cap(cbs.callbacks, mode)
            if mode == "predict":
                # A call's outputs come back (and predict_iter yields them) in one piece:
                # at most EVAL_MAX_BATCH samples' worth, or AUTO_HOOK_CAP batches of unknown size.
                cap = min(cap, max(1, EVAL_MAX_BATCH // stream.batch_size) if stream.batch_size else AUTO_HOOK_CAP)
            auto.set_cap(cap)
        hooks = cbs.needs_batch_hooks(mode)
        stop_attr = {"train": "stop_training", "test": "stop_evaluating"}.get(mode)
        total = stream.num_batches
        # A call runs at most the steps left in the epoch; callbacks see the batch Keras's schedule
        # reports (begin + spe - 1, also past the epoch's end), a progress bar at most the last one.
        spe = 1 if auto is not None else fixed_steps_per_execution(self.steps_per_execution)
        schedule = stream.epoch(spe)
        logs: Any = None
        steps_run = 0
        previous: tuple[int, float] | None = None
        for begin, n, iterator in schedule:
            if auto is not None:
                now = time.perf_counter()
                if previous is not None:
                    auto.observe(previous[0], now - previous[1])
                ready = stream.available(auto.steps)
                n = 1 if not ready else max(1, min(ready, total - begin if total else ready))
                for _ in range(n - 1):
                    next(schedule)  # claim the grouped steps: they are there and inside the epoch
                previous = (n, now)
            else:
                ready = stream.available(n)
            if hooks:
                cbs.batch_begin(mode, begin)
            # As in Keras: a call asks for n steps and reports batch `begin + n - 1`
            # even when the data ends sooner; a call that finds no batch ends the epoch.
            if ready == 0:
                stream.end_of_data()
                break
            run = n if ready is None else min(ready, n)
            t0 = time.perf_counter()
            try:
                out, samples, done = fn(iterator, run, known=ready is not None)
            except (tf.errors.OutOfRangeError, StopIteration):
                stream.end_of_data()
                break
            steps_done = run if ready is not None else int(done)
            if steps_done == 0:
                stream.end_of_data()
                break
            stream.advance(steps_done)
            if telemetry is not None:
                telemetry.record(time.perf_counter() - t0, steps=steps_done, samples=samples)
            logs = out
            steps_run += steps_done
            if hooks:
                cbs.batch_end(mode, begin + n - 1, logs if mode != "predict" else {"outputs": out})
            if mode == "predict":
                yield out, samples  # the samples of the call: its outputs' rows when they keep the batch axis
            if stop_attr and getattr(self, stop_attr, False):
                break
        iterator = None
        _release_iterator(fn)
        if steps_run == 0 and logs is None and mode != "predict" and not stream.fresh:
            # The epoch continued an iterator (steps_per_epoch) that had no batch
            # left: Keras logs this empty epoch and starts the next on new data.
            logs = self.get_metrics_result()
        if steps_run == 0 and logs is None:
            raise DataError(
                f"{stream.where}(): the data yielded no batch. Expected at least one batch; "
                "a generator can be consumed only once, and a dataset may be empty after filtering."
            )
        if mode != "predict":
            yield logs

    def _run(self, *args: Any) -> Any:
        return next(iter(self._run_epoch(*args)))

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: list[keras.callbacks.Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        backup_dir: str | os.PathLike[str] | None = None,
    ) -> keras.callbacks.History:
        """Train the model; same arguments and result as ``keras.Model.fit``.

        The logs are Keras's (metrics only). Timings are kept apart, in
        ``history.telemetry`` and ``model.telemetry`` (a
        :class:`~netform.engine.TelemetryReport`, one
        :class:`~netform.engine.EpochTelemetry` per epoch); with
        ``verbose`` not 0, their one-line summary is printed at the end.

        Returns:
            The ``keras.callbacks.History``, with ``.telemetry``.

        Raises:
            EngineError: Not compiled, called inside a ``tf.function``, under
                another strategy than the model's, or while another training
                uses ``backup_dir``.
            DataError: The data is empty or does not fit the model's inputs.
        """
        self._guard("fit")
        epochs = capped_epochs(epochs)
        callbacks, backup = find_backup(callbacks, backup_dir)
        if backup is not None:
            backup.acquire(callbacks)  # one training per backup directory, locked until fit returns or raises
        unguard = guard_keras_backups(callbacks)  # Keras's BackupAndRestore deletes only its own files
        try:
            if validation_split and validation_data is None:
                (x, y, sample_weight), validation_data = split_validation(x, y, sample_weight, validation_split)
            if backup is not None and backup.take_data(x, y, sample_weight, shuffle=shuffle, steps=steps_per_epoch):
                shuffle = False  # netform shuffles, from a seed the backup keeps

            # In-memory arrays stay on the device (not under a TrainingBackup: it makes a stream per epoch).
            on_device = backup is None and self._device_data_ok("train")

            def make_stream(x: Any, y: Any, sample_weight: Any) -> DataStream:
                return self._stream(
                    x,
                    y,
                    sample_weight,
                    batch_size=batch_size,
                    steps=steps_per_epoch,
                    shuffle=shuffle,
                    class_weight=class_weight,
                    where="fit",
                    device=on_device,
                )

            stream = make_stream(x, y, sample_weight)
            val_stream = None
            if validation_data is not None:
                vx, vy, vsw = keras.utils.unpack_x_y_sample_weight(validation_data)
                val_stream = self._stream(
                    vx,
                    vy,
                    vsw,
                    batch_size=validation_batch_size or batch_size,
                    steps=validation_steps,
                    where="fit (validation_data)",
                    device=self._device_data_ok("test"),
                )
            self._nf_symbolic_build(stream)
            verbose = 1 if verbose == "auto" else verbose
            cbs = CallbackDriver(
                callbacks,
                model=self,
                add_history=True,
                verbose=verbose,
                epochs=epochs,
                steps=stream.num_batches,
            )
            telemetry = TelemetryRecorder()
            cbs.telemetry = telemetry
            self._nf_telemetry = telemetry.report
            self.stop_training = False
            if self.__dict__.get("_nf_jit_auto"):
                telemetry.report.jit = self._choose_jit(stream, epochs - initial_epoch, batch_size)
            train_fn = step_function(self, "train")
            resumed_epoch = backup.restore(self, stream) if backup is not None else None
            # a resumed training's CSV logs go on from the epoch resumed, as one uninterrupted run's
            continued = continue_csv_logs(cbs.callbacks, resumed_epoch) if resumed_epoch is not None else []
            cbs.on_train_begin()
            restore_append(continued)
            initial_epoch = ki.backup_initial_epoch(self) or initial_epoch
            if resumed_epoch is not None:
                initial_epoch = resumed_epoch
            epoch_logs: dict[str, Any] | None = None
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                epoch_stream = stream if backup is None else backup.epoch_stream(self, epoch, stream, make_stream)
                telemetry.start_epoch(epoch)
                cbs.on_epoch_begin(epoch)
                if epoch_stream is None:  # resumed from a backup taken after this epoch's last step
                    logs = self.get_metrics_result()
                else:
                    logs = self._run("train", epoch_stream, train_fn, cbs, telemetry)
                if epoch == initial_epoch and not self.run_eagerly and epoch_stream is not None:
                    # the cross-replica reduce, probed once per fit
                    telemetry.set_replica_reduce(probe_replica_reduce(self.distribute_strategy, logs))
                logs = dict(ki.metrics_result_or_logs(self, logs))
                if val_stream is not None and _validates_after(epoch, validation_freq):
                    t_val = time.perf_counter()
                    self._nf_symbolic_build(val_stream)  # as keras.Model.evaluate before each validation
                    val_logs = self._evaluate_stream(val_stream, cbs)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                    telemetry.validation_s = time.perf_counter() - t_val
                cbs.epoch_end(epoch, logs)
                cbs.epoch_telemetry(epoch, telemetry.end_epoch())
                epoch_logs = logs
                if self.stop_training:
                    break
            if isinstance(self.optimizer, keras.optimizers.Optimizer) and epochs > 0:
                self.optimizer.finalize_variable_values(self.trainable_weights)
            cbs.on_train_end(logs=pythonify_logs(epoch_logs))
            history = self.history
            history.telemetry = telemetry.report
            if verbose != 0:
                print(telemetry.report.summary(), flush=True)
            return history
        finally:
            unguard()
            if backup is not None:
                backup.release()

    def _choose_jit(self, stream: DataStream, epochs: int, batch_size: int | None) -> JitChoice:
        """``jit_compile="auto"``: the probe's choice, made at the first ``fit`` after ``compile``."""
        earlier = self.__dict__.get("_nf_jit_choice")
        if earlier is not None:
            return JitChoice(earlier.xla, f"chosen by an earlier fit: {earlier.reason}")
        batches = stream.num_batches
        planned = batches * epochs if batches else None
        choice = probe_jit_compile(self, stream.first_batch_spec(), stream.batch_size or batch_size, planned)
        if choice.probe_s is not None:
            object.__setattr__(self, "_nf_jit_choice", choice)
        return choice

    @property
    def telemetry(self) -> TelemetryReport | None:
        """The last ``fit``'s telemetry (as ``history.telemetry``), or ``None`` before any ``fit``."""
        return getattr(self, "_nf_telemetry", None)

    # -------------------------------------------------------------- evaluate
    def _evaluate_stream(self, stream: DataStream, cbs: CallbackDriver) -> dict[str, Any]:
        test_fn = step_function(self, "test")
        self.stop_evaluating = False
        stream.reset()  # validation_steps: each evaluation starts at the first batch, as in Keras
        cbs.on_test_begin()
        self.reset_metrics()
        logs = self._run("test", stream, test_fn, cbs, None)
        logs = pythonify_logs(ki.metrics_result_or_logs(self, logs))
        cbs.on_test_end(logs)
        return logs

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: list[keras.callbacks.Callback] | None = None,
        return_dict: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Evaluate the model; same arguments and result as ``keras.Model.evaluate``.

        Without ``batch_size``, in-memory arrays are evaluated in batches of
        up to 1024 instead of Keras's 32 where that gives the same results
        and no callback sees the difference (the rule:
        :func:`~netform.engine._data.default_eval_batch_size`).
        """
        self._guard("evaluate")
        if kwargs:
            raise EngineError(
                f"evaluate(): unknown arguments {sorted(kwargs)}; see keras.Model.evaluate for the accepted ones."
            )
        batch_size = self._eval_batch_size("test", x, y, sample_weight, batch_size, steps, callbacks)
        stream = self._stream(x, y, sample_weight, batch_size=batch_size, steps=steps, where="evaluate")
        self._nf_symbolic_build(stream)
        verbose = 1 if verbose == "auto" else verbose
        cbs = CallbackDriver(callbacks, model=self, verbose=verbose, epochs=1, steps=stream.num_batches)
        logs = self._evaluate_stream(stream, cbs)
        return logs if return_dict else ki.flatten_metrics_in_order(self, logs)

    # --------------------------------------------------------------- predict
    def predict_iter(
        self,
        x: Any,
        batch_size: int | None = None,
        *,
        steps: int | None = None,
        callbacks: list[keras.callbacks.Callback] | None = None,
    ) -> PredictionBatches:
        """Yield the model's outputs batch by batch, as numpy.

        Memory stays bounded by one batch of outputs, however long the data.
        The iterator's ``samples`` is the number of input samples behind the
        batch it yielded last (its rows, where the outputs keep the batch axis;
        an op that reduces or gathers over axis 0 gives other rows, as in Keras).

        Args:
            x: Inputs (arrays, dataset, generator or PyDataset).
            batch_size: Batch size for array inputs (default: 32, or up to
                1024 where outputs and callbacks are the same, see
                :func:`~netform.engine._data.default_eval_batch_size`).
            steps: Stop after this many batches.
            callbacks: Callbacks receiving the ``on_predict_*`` hooks.

        Returns:
            A :class:`~netform.engine._outputs.PredictionBatches` iterator: one
            batch of outputs (same structure as the model's outputs) per call.

        Example:
            >>> for batch in model.predict_iter(x, batch_size=1024):
            ...     write(batch)
        """
        return PredictionBatches(self._predict_calls(x, batch_size, steps, callbacks))

    def _predict_calls(
        self, x: Any, batch_size: int | None, steps: int | None, callbacks: list[keras.callbacks.Callback] | None
    ) -> Iterator[tuple[Any, Any]]:
        """:meth:`predict_iter`'s calls: each call's outputs (numpy) and its number of input samples."""
        self._guard("predict_iter", needs_compile=False)
        batch_size = self._eval_batch_size("predict", x, None, None, batch_size, steps, callbacks)
        stream = self._stream(x, batch_size=batch_size, steps=steps, where="predict")
        fn = step_function(self, "predict")
        cbs = CallbackDriver(callbacks, model=self, verbose=0, epochs=1, steps=stream.num_batches)
        self.stop_predicting = False
        cbs.on_predict_begin()
        for out, samples in self._run_epoch("predict", stream, fn, cbs, None):
            yield tree.map_structure(_to_numpy, out), samples
            if getattr(self, "stop_predicting", False):
                break
        cbs.on_predict_end()

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: list[keras.callbacks.Callback] | None = None,
    ) -> Any:
        """Predict; equals the concatenation of :meth:`predict_iter`'s batches."""
        self._guard("predict", needs_compile=False)
        verbose = 1 if verbose == "auto" else verbose
        cb_list = list(callbacks or [])
        if verbose != 0 and not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in cb_list):
            cb_list.append(keras.callbacks.ProgbarLogger())
        batches = list(self.predict_iter(x, batch_size=batch_size, steps=steps, callbacks=cb_list))
        return _concat_outputs(batches)

    # ------------------------------------------------------- single batches
    def _one_batch(self, x: Any, y: Any, sample_weight: Any) -> Any:
        data = tuple(v for v in (x, y, sample_weight) if v is not None) if y is not None else (x,)
        # Lists hold separate inputs (of any widths), not one tensor; a `None` input
        # (keras.Input(optional=True)) travels as an empty Optional, as in Keras's data.
        data = tree.map_structure(
            lambda v: tf.experimental.Optional.empty(None) if v is None else v, tree.lists_to_tuples(data)
        )
        return iter(tf.data.Dataset.from_tensors(data))

    def train_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Run one training step on one batch (as ``keras.Model.train_on_batch``)."""
        self._guard("train_on_batch")
        if class_weight is not None:
            stream = self._stream(
                x,
                y,
                sample_weight,
                batch_size=len(tree.flatten(x)[0]),
                class_weight=class_weight,
                where="train_on_batch",
            )
            it = iter(stream.dataset)
        else:
            it = self._one_batch(x, y, sample_weight)
        self.reset_metrics()
        logs = pythonify_logs(step_function(self, "train")(it, 1)[0])
        return logs if return_dict else ki.flatten_metrics_in_order(self, logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False) -> Any:
        """Run one evaluation step on one batch (as ``keras.Model.test_on_batch``)."""
        self._guard("test_on_batch")
        self.reset_metrics()
        logs = pythonify_logs(step_function(self, "test")(self._one_batch(x, y, sample_weight), 1)[0])
        return logs if return_dict else ki.flatten_metrics_in_order(self, logs)

    def predict_on_batch(self, x: Any) -> Any:
        """Predict one batch (as ``keras.Model.predict_on_batch``)."""
        self._guard("predict_on_batch", needs_compile=False)
        out = step_function(self, "predict")(self._one_batch(x, None, None), 1)[0]
        return tree.map_structure(_to_numpy, out)
