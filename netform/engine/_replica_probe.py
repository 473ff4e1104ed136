"""The cross-replica reduction's time, measured by a probe of the same reductions.

Under a ``tf.distribute`` strategy with more than one replica, each training
step ends by reducing its per-replica results to single values
(:func:`~netform.engine._distribute.reduce_per_replica`: the step's outputs
averaged, its sample counts summed). That reduction runs inside the compiled
step, so the step's time cannot be split. :func:`probe_replica_reduce` times
it apart instead: it builds per-replica values with the structure, shapes and
dtypes of the step's outputs and sample count, on the strategy's replicas, and
runs exactly the step's reductions on them in a compiled function of their
own: one warm-up call (tracing), then the median of a few timed calls. The
figure is the probe's, not carved out of the steps; it includes the probe
call's own dispatch, so it is an upper bound of what a step spends reducing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from keras import tree

from ._distribute import _is_multi_worker, reduce_per_replica

__all__ = ["ReplicaReduce", "probe_replica_reduce"]

# Timed calls of the probe (after one warm-up call that traces it).
_ROUNDS = 9


@dataclass(frozen=True)
class ReplicaReduce:
    """The probe's figures.

    Attributes:
        ms_per_step: Median time (ms) of one compiled call running one step's
            reductions (outputs and sample count), over the probe's calls.
        probe_s: Wall time of the whole probe (tracing and warm-up included).
        replicas: Replicas in sync.
    """

    ms_per_step: float
    probe_s: float
    replicas: int


def _reductions(strategy: tf.distribute.Strategy, reduction: str) -> Any:
    """The step's reductions, compiled alone: ``reduction`` for the outputs, a sum for the sample count."""

    @tf.function(autograph=False)
    def run(outputs: Any, samples: Any) -> Any:
        return reduce_per_replica(outputs, strategy, reduction), reduce_per_replica(samples, strategy, "sum")

    return run


def probe_replica_reduce(
    strategy: tf.distribute.Strategy | None, outputs: Any, *, reduction: str = "mean"
) -> ReplicaReduce | None:
    """Time the reductions a training step runs under ``strategy``.

    Args:
        strategy: The model's strategy (``model.distribute_strategy``).
        outputs: One step's reduced outputs (the logs a compiled training call
            returns): the probe's per-replica values take their structure,
            shapes and dtypes; the step's sample count (an int64 scalar per
            replica) is added.
        reduction: The outputs' reduction (``"mean"`` for training and evaluation).

    Returns:
        The figures, or ``None`` with one replica or fewer, across several
        workers (the probe would add collective calls every worker must
        join), or when an output's shape is not fully known.
    """
    if strategy is None or strategy.num_replicas_in_sync < 2 or _is_multi_worker(strategy):
        return None
    leaves = [v for v in tree.flatten(outputs) if tf.is_tensor(v)]
    if any(not v.shape.is_fully_defined() for v in leaves):
        return None
    t0 = time.perf_counter()

    def make(ctx: tf.distribute.DistributedContext) -> Any:
        del ctx  # every replica gets the same values: ones, of each output's shape and dtype
        return tree.map_structure(lambda v: tf.ones(v.shape, v.dtype) if tf.is_tensor(v) else v, outputs), tf.ones(
            (), tf.int64
        )

    with strategy.scope():
        per_replica, samples = strategy.experimental_distribute_values_from_function(make)
    fn = _reductions(strategy, reduction)
    fn(per_replica, samples)  # warm-up: tracing and the first run
    times = []
    for _ in range(_ROUNDS):
        t = time.perf_counter()
        fn(per_replica, samples)  # returns when the reductions are done (eager execution is synchronous)
        times.append(time.perf_counter() - t)
    ms = float(np.median(times)) * 1e3
    return ReplicaReduce(ms_per_step=ms, probe_s=time.perf_counter() - t0, replicas=strategy.num_replicas_in_sync)
