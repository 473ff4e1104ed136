"""Training telemetry, kept apart from the metrics logs.

``fit`` leaves its logs exactly as ``keras.Model.fit`` writes them (progress
bar, ``History.history``, ``CSVLogger``, ``TensorBoard`` scalars) and records
its timings here instead: one :class:`EpochTelemetry` per epoch, collected in
a :class:`TelemetryReport` that ``fit`` stores as ``history.telemetry`` and
``model.telemetry``.

Collecting costs two clock reads and a list append per compiled call: the
sample counts a call returns stay tensors until the end of the epoch, when
they are summed in one read, so no host synchronisation is added.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import keras
import numpy as np
import tensorflow as tf

from .._compat import _keras_engine as ki
from ..errors import EngineError

__all__ = ["EpochTelemetry", "JitChoice", "Telemetry", "TelemetryRecorder", "TelemetryReport"]


@dataclass(frozen=True)
class JitChoice:
    """What ``jit_compile="auto"`` chose for a ``fit``, and what the choice cost.

    Attributes:
        xla: Whether the training steps run with XLA (``jit_compile=True``).
        reason: Why, in words (the probe's verdict, or why there was no probe).
        probe_s: Wall time of the probe (tracing and compiling both ways
            included), or ``None`` when there was none; it is spent before
            the first epoch and is not part of any epoch's figures.
        probe_steps: Training steps the probe ran each way (their effects on
            the weights, optimizer and metrics are undone).
        graph_step_ms: The probe's step time without XLA (ms), or ``None``.
        xla_step_ms: The probe's step time with XLA (ms), or ``None``.
    """

    xla: bool
    reason: str
    probe_s: float | None = None
    probe_steps: int = 0
    graph_step_ms: float | None = None
    xla_step_ms: float | None = None

    def describe(self) -> str:
        """One phrase: the choice, the timings it rests on and the probe's cost."""
        text = f"XLA {'on' if self.xla else 'off'} (jit_compile=auto: {self.reason}"
        if self.graph_step_ms is not None and self.xla_step_ms is not None:
            text += f"; step {self.xla_step_ms:.3f} ms with XLA, {self.graph_step_ms:.3f} ms without"
        if self.probe_s is not None:
            ways = "each way" if self.xla_step_ms is not None else "without XLA"
            text += f"; probe {self.probe_steps} steps {ways}, {self.probe_s:.2f} s"
        return text + ")"


@dataclass(frozen=True)
class EpochTelemetry:
    """The timings of one training epoch.

    Step times are per step (a call running ``steps_per_execution`` steps
    counts as that many steps of equal time) and leave out the fit's first
    compiled call, which traces and compiles the function when it is new;
    that call is reported as ``first_call_s``.

    Attributes:
        epoch: The epoch index (as in ``History.epoch``).
        steps: Training steps run.
        samples: Training samples seen.
        epoch_s: Wall time of the whole epoch: data, steps, callbacks, validation.
        step_ms_p50: Median step time (ms), steady-state steps.
        step_ms_p95: 95th percentile step time (ms).
        step_ms_p99: 99th percentile step time (ms).
        step_ms_max: Slowest step time (ms).
        samples_per_sec: End-to-end throughput: ``samples / epoch_s``.
        in_graph_samples_per_sec: Samples per second of time inside steady-state compiled calls.
        callbacks_s: Time in training callbacks (batch and epoch hooks, checkpoints included).
        checkpoint_s: Time writing checkpoints (``ModelCheckpoint``,
            ``BackupAndRestore``, ``TrainingBackup``), or ``None`` when none was written.
        checkpoints: Checkpoints written.
        validation_s: Time of the validation pass, or ``None`` without one.
        data_and_loop_s: The rest of the epoch's time, outside compiled calls,
            callbacks and validation: creating and freeing input iterators, and
            the loop's own work.
        first_call_s: Time of the fit's first compiled call (tracing and
            compilation when the function was new), or ``None`` after the first epoch.
        replica_reduce_ms: Under a strategy with more than one replica (one
            host, compiled steps), the time (ms) of one step's cross-replica
            reduction of its outputs and sample count, measured once per fit
            by a probe running the same reductions on values of the same
            structure, shapes and dtypes (``netform.engine._replica_probe``;
            the median of its calls, dispatch included), not carved out of
            the steps; else ``None``.
        replica_reduce_probe_s: The probe's wall time, in the epoch it ran
            in (the first), left out of ``data_and_loop_s``; else ``None``.
    """

    epoch: int
    steps: int
    samples: int
    epoch_s: float
    step_ms_p50: float
    step_ms_p95: float
    step_ms_p99: float
    step_ms_max: float
    samples_per_sec: float
    in_graph_samples_per_sec: float
    callbacks_s: float
    checkpoint_s: float | None
    checkpoints: int
    validation_s: float | None
    data_and_loop_s: float
    first_call_s: float | None
    replica_reduce_ms: float | None = None
    replica_reduce_probe_s: float | None = None
    step_ms: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The figures as a plain dict (``step_ms``, the per-step times, left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "step_ms"}


def _percentiles(values: np.ndarray) -> tuple[float, float, float, float]:
    if values.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    p50, p95, p99 = (float(v) for v in np.percentile(values, [50, 95, 99]))
    return p50, p95, p99, float(values.max())


class TelemetryReport:
    """The telemetry of one ``fit``: a sequence of :class:`EpochTelemetry`, one per epoch.

    Example:
        >>> history = model.fit(x, y, epochs=3, verbose=0)  # doctest: +SKIP
        >>> history.telemetry[-1].step_ms_p95  # doctest: +SKIP
        4.1
        >>> print(history.telemetry.report())  # doctest: +SKIP
    """

    def __init__(self, epochs: list[EpochTelemetry] | None = None, jit: JitChoice | None = None) -> None:
        self.epochs: list[EpochTelemetry] = list(epochs or [])
        self.jit = jit  # what jit_compile="auto" chose, or None when it was not asked for

    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[EpochTelemetry]:
        return iter(self.epochs)

    def __getitem__(self, index: int) -> EpochTelemetry:
        return self.epochs[index]

    def __repr__(self) -> str:
        return f"TelemetryReport({len(self.epochs)} epochs)"

    def totals(self) -> dict[str, Any]:
        """Figures over the whole fit.

        Returns:
            ``epochs``, ``steps``, ``samples``, ``time_s``, ``first_call_s``,
            ``step_ms_p50/p95/p99/max`` (over every steady-state step),
            ``samples_per_sec`` (end-to-end), ``in_graph_samples_per_sec``,
            ``callbacks_s``, ``checkpoints``, ``checkpoint_s`` and ``validation_s``.
        """
        eps = self.epochs
        steps = np.concatenate([e.step_ms for e in eps]) if eps else np.zeros(0)
        p50, p95, p99, worst = _percentiles(steps)
        samples = sum(e.samples for e in eps)
        wall = sum(e.epoch_s for e in eps)
        in_graph = sum(e.samples / e.in_graph_samples_per_sec for e in eps if e.in_graph_samples_per_sec > 0)
        graph_samples = sum(e.samples for e in eps if e.in_graph_samples_per_sec > 0)
        first = next((e.first_call_s for e in eps if e.first_call_s is not None), None)
        return {
            "epochs": len(eps),
            "steps": sum(e.steps for e in eps),
            "samples": samples,
            "time_s": wall,
            "first_call_s": first,
            "step_ms_p50": p50,
            "step_ms_p95": p95,
            "step_ms_p99": p99,
            "step_ms_max": worst,
            "samples_per_sec": samples / wall if wall > 0 else 0.0,
            "in_graph_samples_per_sec": graph_samples / in_graph if in_graph > 0 else 0.0,
            "callbacks_s": sum(e.callbacks_s for e in eps),
            "checkpoints": sum(e.checkpoints for e in eps),
            "checkpoint_s": sum(e.checkpoint_s or 0.0 for e in eps),
            "validation_s": sum(e.validation_s or 0.0 for e in eps),
            "data_and_loop_s": sum(e.data_and_loop_s for e in eps),
        }

    def summary(self) -> str:
        """One line: the whole fit's figures (what ``fit(verbose>0)`` prints at the end)."""
        if not self.epochs:
            return "telemetry: no epoch ran"
        t = self.totals()
        parts = [
            f"telemetry: {t['epochs']} epoch(s), {t['steps']} steps in {t['time_s']:.2f} s",
        ]
        if t["first_call_s"] is not None:
            parts.append(f"first call (tracing) {t['first_call_s']:.2f} s")
        parts.append(
            f"step ms p50 {t['step_ms_p50']:.2f} p95 {t['step_ms_p95']:.2f} "
            f"p99 {t['step_ms_p99']:.2f} max {t['step_ms_max']:.2f}"
        )
        parts.append(
            f"{t['samples_per_sec']:,.0f} samples/s end-to-end ({t['in_graph_samples_per_sec']:,.0f} in compiled steps)"
        )
        parts.append(f"callbacks {t['callbacks_s']:.2f} s")
        if t["checkpoints"]:
            parts.append(f"{t['checkpoints']} checkpoint(s) in {t['checkpoint_s']:.2f} s")
        if self.jit is not None:
            parts.append(self.jit.describe())
        return " | ".join(parts)

    def report(self) -> str:
        """A few lines: the whole fit's figures, then the slowest epoch's."""
        if not self.epochs:
            return "telemetry: no epoch ran"
        t = self.totals()
        lines = [
            f"telemetry: {t['epochs']} epoch(s), {t['steps']:,} steps, {t['samples']:,} samples in {t['time_s']:.2f} s"
        ]
        if t["first_call_s"] is not None:
            lines.append(f"  first call (tracing, compilation)  {t['first_call_s']:.3f} s")
        lines.append(
            f"  step time (ms, steady state)       p50 {t['step_ms_p50']:.2f}  p95 {t['step_ms_p95']:.2f}  "
            f"p99 {t['step_ms_p99']:.2f}  max {t['step_ms_max']:.2f}"
        )
        lines.append(
            f"  samples/s                          {t['samples_per_sec']:,.0f} end-to-end, "
            f"{t['in_graph_samples_per_sec']:,.0f} in compiled steps"
        )
        lines.append(f"  callbacks                          {t['callbacks_s']:.3f} s")
        if t["checkpoints"]:
            lines.append(
                f"  checkpoints                        {t['checkpoints']} written in {t['checkpoint_s']:.3f} s"
            )
        if t["validation_s"]:
            lines.append(f"  validation                         {t['validation_s']:.3f} s")
        lines.append(f"  data and loop (outside the above)  {t['data_and_loop_s']:.3f} s")
        probed = next((e for e in self.epochs if e.replica_reduce_probe_s is not None), None)
        if probed is not None and probed.replica_reduce_ms is not None:
            lines.append(
                f"  cross-replica reduce (probe)       {probed.replica_reduce_ms:.3f} ms per step "
                f"(a probe of the same reductions, {probed.replica_reduce_probe_s:.3f} s)"
            )
        worst = max(self.epochs, key=lambda e: e.step_ms_max)
        lines.append(f"  slowest step                       {worst.step_ms_max:.2f} ms (epoch {worst.epoch + 1})")
        if self.jit is not None:
            lines.append(f"  compilation                        {self.jit.describe()}")
        return "\n".join(lines)


class TelemetryRecorder:
    """Collects the timings of a ``fit``, epoch by epoch (used by netform's loop).

    Example:
        >>> rec = TelemetryRecorder()
        >>> rec.start_epoch(0)
        >>> rec.record(0.004, steps=2, samples=64)
        >>> rec.record(0.002, steps=1, samples=32)
        >>> rec.end_epoch().steps
        3
    """

    def __init__(self) -> None:
        self.report = TelemetryReport()
        self._first_call_pending = True
        self.replica_reduce_ms: float | None = None  # the fit's replica probe (set_replica_reduce)
        self._start_epoch_state(0)

    def _start_epoch_state(self, epoch: int) -> None:
        self._epoch = epoch
        self._per_step_s: list[float] = []
        self._call_s: list[float] = []
        self._samples: list[Any] = []
        self._steps = 0
        self._first_call_s: float | None = None
        self._first_samples: Any = 0
        self.callbacks_s = 0.0
        self.checkpoint_s = 0.0
        self.checkpoints = 0
        self.validation_s: float | None = None
        self.replica_reduce_probe_s: float | None = None
        self._t0 = time.perf_counter()

    def start_epoch(self, epoch: int) -> None:
        """Start the epoch's clock (call before ``on_epoch_begin``)."""
        self._start_epoch_state(epoch)

    def record(self, seconds: float, *, steps: int, samples: Any) -> None:
        """Record one compiled call.

        Args:
            seconds: Wall time of the call.
            steps: Steps the call ran.
            samples: Samples the call consumed: an int or a scalar tensor
                (read only at the end of the epoch).
        """
        self._steps += steps
        if self._first_call_pending:
            self._first_call_pending = False
            self._first_call_s = seconds
            self._first_samples = samples
            return
        self._call_s.append(seconds)
        self._per_step_s.append(seconds / max(steps, 1))
        self._samples.append(samples)

    def add_callback_time(self, seconds: float) -> None:
        """Add time spent in training callbacks."""
        self.callbacks_s += seconds

    def add_checkpoint(self, seconds: float) -> None:
        """Record one checkpoint written in ``seconds`` (already counted as callback time)."""
        self.checkpoint_s += seconds
        self.checkpoints += 1

    def set_replica_reduce(self, probe: Any) -> None:
        """Keep a replica probe's figures (a ``ReplicaReduce``, or ``None`` when none ran)."""
        if probe is not None:
            self.replica_reduce_ms, self.replica_reduce_probe_s = probe.ms_per_step, probe.probe_s

    @staticmethod
    def _sum(values: list[Any]) -> int:
        tensors = [s for s in values if not isinstance(s, (int, np.integer))]
        total = sum(int(s) for s in values if isinstance(s, (int, np.integer)))
        if tensors:
            # One op and one host read for the whole epoch (a cast only for a count that is not int64).
            total += int(tf.add_n([t if t.dtype == tf.int64 else tf.cast(t, tf.int64) for t in tensors]).numpy())
        return total

    def end_epoch(self) -> EpochTelemetry:
        """Close the epoch (call after its last callback); return and keep its figures."""
        wall = time.perf_counter() - self._t0
        steady = self._sum(self._samples)
        samples = steady + (self._sum([self._first_samples]) if self._first_call_s is not None else 0)
        per_step_ms = np.asarray(self._per_step_s, dtype=np.float64) * 1e3
        p50, p95, p99, worst = _percentiles(per_step_ms)
        busy = float(sum(self._call_s))
        outside = wall - busy - (self._first_call_s or 0.0) - self.callbacks_s - (self.validation_s or 0.0)
        outside -= self.replica_reduce_probe_s or 0.0
        record = EpochTelemetry(
            epoch=self._epoch,
            steps=self._steps,
            samples=samples,
            epoch_s=wall,
            step_ms_p50=p50,
            step_ms_p95=p95,
            step_ms_p99=p99,
            step_ms_max=worst,
            samples_per_sec=samples / wall if wall > 0 else 0.0,
            in_graph_samples_per_sec=steady / busy if busy > 0 else 0.0,
            callbacks_s=self.callbacks_s,
            checkpoint_s=self.checkpoint_s if self.checkpoints else None,
            checkpoints=self.checkpoints,
            validation_s=self.validation_s,
            data_and_loop_s=max(0.0, outside),
            first_call_s=self._first_call_s,
            replica_reduce_ms=self.replica_reduce_ms,
            replica_reduce_probe_s=self.replica_reduce_probe_s,
            step_ms=per_step_ms,
        )
        self.report.epochs.append(record)
        return record


_TB_FIELDS = (
    "step_ms_p50",
    "step_ms_p95",
    "step_ms_p99",
    "step_ms_max",
    "samples_per_sec",
    "in_graph_samples_per_sec",
    "callbacks_s",
    "checkpoint_s",
    "validation_s",
    "data_and_loop_s",
    "first_call_s",
    "epoch_s",
    "replica_reduce_ms",
)


class Telemetry(keras.callbacks.Callback):
    """Asks ``fit`` to hand each epoch's telemetry on: to TensorBoard, or to your code.

    Telemetry is always collected (``history.telemetry``); pass this callback
    to also write it as TensorBoard scalars, under the ``telemetry/`` tag
    prefix, in ``<tensorboard>/train`` (the folder ``keras.callbacks.TensorBoard``
    writes its training scalars to), so the metric scalars stay Keras's own.

    Args:
        tensorboard: The TensorBoard log folder, or ``None`` to write nothing.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[
        ...     keras.callbacks.TensorBoard("logs"), nf.Telemetry(tensorboard="logs")])  # doctest: +SKIP
    """

    def __init__(self, tensorboard: str | Path | None = None) -> None:
        super().__init__()
        ki.mark_ignores_tf_logs(self)  # no batch hooks; never reads the logs
        self.tensorboard = None if tensorboard is None else Path(tensorboard)
        self._writer: Any = None
        self.epochs: list[EpochTelemetry] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epochs = []
        if self.tensorboard is not None:
            from netform._files import event_file_to_come

            planted = event_file_to_come(self.tensorboard / "train")
            if planted is not None:
                raise EngineError(
                    f"Telemetry(tensorboard={str(self.tensorboard)!r}) would write its events file where "
                    f"{planted} is, named for a time to come: TensorFlow names each events file for the second it "
                    "opens it and empties what is there, and netform never replaces a file it did not write. Move "
                    "that file away, or name another folder."
                )

    def on_epoch_telemetry(self, epoch: int, telemetry: EpochTelemetry) -> None:
        """Called by netform's ``fit`` after each epoch, once its figures are final.

        Args:
            epoch: The epoch index.
            telemetry: The epoch's figures.
        """
        self.epochs.append(telemetry)
        if self.tensorboard is None:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.tensorboard / "train"))
        with self._writer.as_default(step=epoch):
            for name in _TB_FIELDS:
                value = getattr(telemetry, name)
                if value is not None:
                    tf.summary.scalar(f"telemetry/{name}", float(value))
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
