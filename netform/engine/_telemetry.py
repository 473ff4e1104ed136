"""Per-epoch training telemetry: step times, throughput, checkpoint time.

Timestamps are taken only around each call of the compiled train function
(one call runs ``steps_per_execution`` steps), so collecting them adds no
host synchronisation: the sample counts a call returns stay tensors until the
end of the epoch, when they are summed in one read.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["EpochTelemetry", "TELEMETRY_KEYS"]

#: The keys netform adds to each epoch's logs.
TELEMETRY_KEYS = ("step_time_ms_p50", "step_time_ms_p95", "samples_per_sec", "checkpoint_time_s")


class EpochTelemetry:
    """Collects one epoch's timings.

    Example:
        >>> t = EpochTelemetry()
        >>> t.start_epoch()
        >>> t.record(0.004, steps=2, samples=64)
        >>> sorted(t.summary())[0]
        'checkpoint_time_s'
    """

    def __init__(self) -> None:
        self._per_step_s: list[float] = []
        self._call_s: list[float] = []
        self._samples: list[Any] = []
        self._epoch_start = 0.0
        self.checkpoint_time_s = 0.0

    def start_epoch(self) -> None:
        """Forget the previous epoch's figures and start the clock."""
        self._per_step_s = []
        self._call_s = []
        self._samples = []
        self.checkpoint_time_s = 0.0
        self._epoch_start = time.perf_counter()

    def record(self, seconds: float, *, steps: int, samples: Any) -> None:
        """Record one execution call.

        Args:
            seconds: Wall time of the call.
            steps: Steps the call ran (an int; a call that ran fewer steps
                than asked for at the end of data is counted as asked).
            samples: Samples the call consumed: an int or a scalar tensor
                (read only at the end of the epoch).
        """
        self._call_s.append(seconds)
        self._per_step_s.append(seconds / max(steps, 1))
        self._samples.append(samples)

    def add_checkpoint_time(self, seconds: float) -> None:
        """Add time spent writing checkpoints during this epoch."""
        self.checkpoint_time_s += seconds

    def total_samples(self) -> int:
        """Samples seen this epoch (one host read of the summed counts)."""
        tensors = [s for s in self._samples if not isinstance(s, (int, np.integer))]
        total = sum(int(s) for s in self._samples if isinstance(s, (int, np.integer)))
        if tensors:
            total += int(tf.add_n([tf.cast(t, tf.int64) for t in tensors]).numpy())
        return total

    def summary(self) -> dict[str, float]:
        """The epoch's figures, ready to merge into the epoch logs.

        Returns:
            ``step_time_ms_p50``, ``step_time_ms_p95`` (per step, ms),
            ``samples_per_sec`` (over the time spent in train calls) and
            ``checkpoint_time_s``.
        """
        if self._per_step_s:
            per_step_ms = np.asarray(self._per_step_s) * 1e3
            p50, p95 = (float(v) for v in np.percentile(per_step_ms, [50, 95]))
        else:
            p50 = p95 = 0.0
        busy = float(sum(self._call_s))
        samples = self.total_samples()
        return {
            "step_time_ms_p50": p50,
            "step_time_ms_p95": p95,
            "samples_per_sec": float(samples / busy) if busy > 0 else 0.0,
            "checkpoint_time_s": float(self.checkpoint_time_s),
        }


class Stopwatch:
    """A context manager measuring wall time in seconds (``.seconds``)."""

    def __enter__(self) -> "Stopwatch":
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
