"""Distribution: picking a ``tf.distribute`` strategy and reducing results.

``strategy_from_name`` maps the spec's ``training.distribution.strategy`` to a
strategy object. ``reduce_per_replica`` turns the per-replica values a step
returns into single values exactly as Keras's trainer does: metric results are
averaged (they are already synchronised across replicas, so the mean equals
each replica's value) and predictions are concatenated in replica order.
"""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf
from keras import tree

from .._compat import _keras_engine as ki
from ..errors import EngineError, did_you_mean
from ..spec._training import STRATEGY_NAMES  # the one list, shared with the spec's schema

__all__ = [
    "strategy_from_name",
    "reduce_per_replica",
    "variable_strategy",
    "check_optimizer_strategy",
    "check_devices",
    "STRATEGY_NAMES",
    "REDUCTIONS",
]

# The reductions Keras's `reduce_per_replica` knows (keras/src/backend/tensorflow/trainer.py).
REDUCTIONS = ("auto", "first", "concat", "mean", "sum")


def strategy_from_name(name: str, devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Return the ``tf.distribute`` strategy called ``name``.

    Args:
        name: ``"default"``, ``"one_device"``, ``"mirrored"`` or
            ``"multi_worker_mirrored"``.
        devices: Devices for ``one_device`` (the first is used) and
            ``mirrored``; ``None`` lets TensorFlow choose.

    Returns:
        The strategy. Enter ``strategy.scope()`` before building the model.

    Raises:
        EngineError: ``name`` is not one of the known strategies, or ``devices`` names a device this
            machine does not have (:func:`check_devices`).

    Example:
        >>> strategy = strategy_from_name("mirrored", devices=["/cpu:0"])
    """
    key = str(name).strip().lower().replace("-", "_")
    if devices and key in ("one_device", "mirrored"):
        check_devices(devices[:1] if key == "one_device" else devices)
    if key == "default":
        return tf.distribute.get_strategy()
    if key == "one_device":
        device = devices[0] if devices else ("/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0")
        return tf.distribute.OneDeviceStrategy(device)
    if key == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if key == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise EngineError(
        f"Unknown distribution strategy {name!r} in `training.distribution.strategy`; "
        f"expected one of {', '.join(repr(n) for n in STRATEGY_NAMES)}."
        f"{did_you_mean(str(name), STRATEGY_NAMES)}"
    )


def _matches(given: tf.DeviceSpec, local: tf.DeviceSpec) -> bool:
    """Whether the device ``local`` is one ``given`` names (each part it sets agrees; ``*``: any index)."""
    for part in ("job", "replica", "task"):
        value = getattr(given, part)
        if value is not None and value != getattr(local, part):
            return False
    if given.device_type is not None and given.device_type.upper() != (local.device_type or "").upper():
        return False
    return given.device_index is None or given.device_index == local.device_index


def check_devices(devices: Sequence[str]) -> None:
    """Refuse device names that name no device of this machine, before a strategy is made on them.

    TensorFlow fails later, while the model is built or trained, with "unknown device" or a parse error of
    its own; here the message names the device and the devices there are.

    Args:
        devices: TensorFlow device names, e.g. ``["/gpu:0", "GPU:1"]``.

    Raises:
        EngineError: A name TensorFlow cannot read, or one that matches no logical device of this machine.
    """
    local = [tf.config.list_logical_devices(kind) for kind in ("CPU", "GPU", "TPU")]
    names = [d.name for group in local for d in group]
    # this process's devices, named in full (TensorFlow lists them without their job, replica and task)
    specs = [
        tf.DeviceSpec(job="localhost", replica=0, task=0).make_merged_spec(tf.DeviceSpec.from_string(n)) for n in names
    ]
    for device in devices:
        try:
            given = tf.DeviceSpec.from_string(device)
        except (ValueError, TypeError) as err:
            raise EngineError(
                f"training.distribution.devices: {device!r} is not a TensorFlow device name ({err}); "
                f"this machine has: {', '.join(names)}"
            ) from err
        if given.device_type is None or not any(_matches(given, s) for s in specs):
            raise EngineError(
                f"training.distribution.devices: {device!r} names no device of this machine; it has: "
                f"{', '.join(names)} (write e.g. {names[0].split('/device:')[-1] if names else 'CPU:0'!r})"
            )


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(ki.in_multi_worker_mode(strategy))


def _is_per_replica(obj: Any) -> bool:
    return isinstance(obj, tf.distribute.DistributedValues) and isinstance(obj, tf.__internal__.CompositeTensor)


def _concat(tensors: Sequence[Any]) -> Any:
    if isinstance(tensors[0], tf.SparseTensor):
        return tf.sparse.concat(axis=0, sp_inputs=list(tensors))
    if isinstance(tensors[0], (tf.Tensor, tf.Variable)) and tensors[0].shape.rank == 0:
        return tf.stack(tensors, axis=0)
    return tf.concat(tensors, axis=0)


def _multi_worker_concat(value: Any, strategy: tf.distribute.Strategy) -> Any:
    """Gather a per-replica value from every worker, in global replica order."""
    gathered = strategy.gather(value, axis=0)
    if _is_per_replica(value):
        shapes = tf.concat([tf.expand_dims(tf.shape(v)[0], 0) for v in value.values], axis=0)
    else:
        shapes = tf.expand_dims(tf.shape(value)[0], 0)
    all_shapes = strategy.gather(shapes, axis=0)
    parts = tf.split(gathered, num_or_size_splits=all_shapes, num=strategy.num_replicas_in_sync)
    per_worker = len(strategy.extended.worker_devices)
    ordered: list[Any] = []
    for replica in range(per_worker):
        ordered += parts[replica::per_worker]
    return _concat(ordered)


def reduce_per_replica(values: Any, strategy: tf.distribute.Strategy, reduction: str) -> Any:
    """Reduce a structure of per-replica values to single values.

    Args:
        values: A structure of ``PerReplica`` values or plain tensors.
        strategy: The strategy that produced them.
        reduction: ``"mean"`` (metric results), ``"sum"`` (counts),
            ``"concat"`` (predictions along the batch axis), ``"first"``
            (the first replica's value) or ``"auto"`` (``"first"`` under a
            ``TPUStrategy``, else ``"mean"``), as in Keras.

    Returns:
        The same structure holding plain tensors.

    Raises:
        EngineError: ``reduction`` is not one of these names (Keras raises
            ``ValueError`` for it; ``EngineError`` is one), even when nothing
            needs reducing.
    """
    if reduction not in REDUCTIONS:
        raise EngineError(
            f"reduce_per_replica(): unknown reduction {reduction!r}; "
            f"expected one of {', '.join(repr(r) for r in REDUCTIONS)}.{did_you_mean(str(reduction), REDUCTIONS)}"
        )
    if reduction == "auto":
        reduction = "first" if isinstance(strategy, tf.distribute.TPUStrategy) else "mean"
    multi_worker = _is_multi_worker(strategy)

    def _reduce(v: Any) -> Any:
        if multi_worker and reduction != "first":
            if reduction == "concat":
                return _multi_worker_concat(v, strategy)
            if reduction == "sum":
                return strategy.reduce("SUM", v, axis=None)
            return strategy.reduce("MEAN", v, axis=None)
        if not _is_per_replica(v):
            return v
        local = strategy.experimental_local_results(v)
        if reduction == "first":
            return local[0]
        if reduction == "concat":
            return _concat(local)
        if reduction == "sum":
            return tf.reduce_sum(local)  # every element, as Keras sums (a count per replica: their total)
        return tf.reduce_mean(local, axis=0)

    return tree.map_structure(_reduce, values)


def variable_strategy(variables: Sequence[Any]) -> tf.distribute.Strategy | None:
    """The strategy the given Keras variables were created under, if any.

    Args:
        variables: Keras variables (``keras.Variable``).

    Returns:
        The strategy of the first distributed variable, else ``None``
        (meaning the default strategy).
    """
    for v in variables:
        tf_var = getattr(v, "value", v)
        if isinstance(tf_var, tf.distribute.DistributedValues):
            return ki.distributed_value_strategy(tf_var)
        return None
    return None


def strategy_label(strategy: tf.distribute.Strategy | None) -> str:
    """A short, readable name for a strategy (``None`` means the default)."""
    if strategy is None or strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return "the default strategy"
    return f"{type(strategy).__name__} at {id(strategy):#x}"


def check_optimizer_strategy(optimizer: Any, model_strategy: tf.distribute.Strategy | None, *, where: str) -> None:
    """Refuse an optimizer created under another strategy than the model's.

    Keras's TensorFlow optimizer creates its slot variables under the strategy
    that was current when the optimizer was made; used with a model built under
    another strategy, TensorFlow fails later, when they are created, with a
    bare ``RuntimeError`` ("Mixing different tf.distribute.Strategy objects").

    Args:
        optimizer: The compiled optimizer.
        model_strategy: The strategy the model's variables were created under
            (``None``: the default strategy).
        where: The call being checked, for the message.

    Raises:
        EngineError: The strategies differ; the message names both and the fix.
    """
    from .._compat._distribution import optimizer_strategy  # private-API isolation: imported when needed

    known, opt_strategy = optimizer_strategy(optimizer)
    if not known or opt_strategy is model_strategy:
        return
    raise EngineError(
        f"{where}(): the optimizer {type(optimizer).__name__} was created under {strategy_label(opt_strategy)}, "
        f"but the model's variables were created under {strategy_label(model_strategy)}. "
        "Create the optimizer under the model's strategy: inside `with strategy.scope():` "
        '(or pass its name, e.g. `optimizer="adam"`, to compile() called inside the scope).'
    )
