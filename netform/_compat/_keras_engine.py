"""The private Keras and TensorFlow pieces :mod:`netform.engine` builds on.

Keras 3 has no public API for these, and rewriting them would only add bugs:
the data adapters (numpy / tf.data / generators / ``PyDataset`` into a
``tf.data.Dataset``), the deterministic train/validation split Keras's ``fit``
uses, the loss scaling used under distribution, the ``Functional`` model class,
and a few trainer attributes netform's ``fit``/``evaluate``/``predict`` must
read or set exactly as ``keras.Model``'s own loops do. Every function below
names the private name it reaches and why no public one does the job; the rest
of :mod:`netform.engine` uses public Keras and TensorFlow only, so an upgrade
that moves these names breaks this module and nothing else.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

# Private modules: Keras 3 exports none of these names (see each function below).
from keras.src.losses import loss as _loss_module
from keras.src.models.functional import Functional as KerasFunctional
from keras.src.models.functional import functional_from_config as _functional_from_config
from keras.src.trainers import data_adapters as _data_adapters
from keras.src.trainers.data_adapters import array_slicing as _array_slicing

__all__ = [
    "KerasFunctional",
    "functional_from_config",
    "sequential_inner_as",
    "DataAdapter",
    "get_data_adapter",
    "train_validation_split",
    "unscale_loss_for_distribution",
    "scale_loss_for_distribution",
    "model_strategy",
    "set_model_strategy",
    "symbolic_build",
    "metrics_result_or_logs",
    "flatten_metrics_in_order",
    "backup_initial_epoch",
    "loss_tracker",
    "call_flat",
    "in_multi_worker_mode",
    "distributed_value_strategy",
    "ignores_tf_logs",
    "mark_ignores_tf_logs",
    "checkpoint_batches_since_save",
    "TrackListedSublayers",
    "sublayers",
]

# Private: keras.src.trainers.data_adapters.data_adapter.DataAdapter (no public base class).
DataAdapter = _data_adapters.data_adapter.DataAdapter


def get_data_adapter(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    *,
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    shuffle: bool | str = False,
    class_weight: dict[int, float] | None = None,
) -> Any:
    """Wrap user data in the Keras data adapter that fits it.

    Args:
        x: Inputs: arrays, dicts/lists of arrays, ``tf.data.Dataset``, a
            generator or a ``keras.utils.PyDataset``.
        y: Targets (arrays only).
        sample_weight: Per-sample weights (arrays only).
        batch_size: Batch size for arrays.
        steps_per_epoch: Steps per epoch, if fixed.
        shuffle: Whether (or ``"batch"``) to shuffle arrays each epoch.
        class_weight: Mapping of class index to weight.

    Returns:
        A Keras ``DataAdapter`` with ``get_tf_dataset()`` and ``num_batches``.
    """
    # Private: keras.src.trainers.data_adapters.get_data_adapter; keras.Model.fit's own
    # dispatch (no public entry point turns user data into batches as fit does).
    return _data_adapters.get_data_adapter(
        x=x,
        y=y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        shuffle=shuffle,
        class_weight=class_weight,
    )


def train_validation_split(arrays: tuple[Any, ...], validation_split: float) -> tuple[Any, Any]:
    """Split arrays into (train, validation), the last part being validation.

    Args:
        arrays: ``(x, y, sample_weight)``.
        validation_split: Fraction in (0, 1) kept for validation.

    Returns:
        ``((x, y, sw), (val_x, val_y, val_sw))``.
    """
    # Private: keras.src.trainers.data_adapters.array_slicing.train_validation_split, the
    # split keras.Model.fit(validation_split=...) makes; no public function gives the same rows.
    return _array_slicing.train_validation_split(arrays, validation_split=validation_split)


def unscale_loss_for_distribution(value: Any) -> Any:
    """Undo the per-replica loss scaling Keras applies under distribution."""
    # Private: keras.src.losses.loss.unscale_loss_for_distribution (no public export).
    return _loss_module.unscale_loss_for_distribution(value)


def scale_loss_for_distribution(value: Any) -> Any:
    """Apply Keras's per-replica loss scaling (divide by replica count)."""
    # Private: keras.src.losses.loss.scale_loss_for_distribution (no public export).
    return _loss_module.scale_loss_for_distribution(value)


def functional_from_config(cls: type, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuild a functional model of class ``cls`` from its config (Keras's own logic)."""
    # Private: keras.src.models.functional.functional_from_config; the public
    # keras.Model.from_config rebuilds a plain Functional, not an instance of ``cls``.
    return _functional_from_config(cls, config, custom_objects=custom_objects)


def sequential_inner_as(model: Any, cls: type) -> None:
    """Make the inner functional model a built ``keras.Sequential`` runs its layers through an instance of ``cls``."""
    # Private: Sequential.build stores its inner Functional as ``model._functional``
    # and Function keeps the nested input/output structures as ``_inputs_struct`` /
    # ``_outputs_struct``; no public API chooses the inner model's class. Same
    # inputs, outputs and name (an explicit name takes no new name counter).
    inner = model._functional
    if inner is not None and not isinstance(inner, cls):
        model._functional = cls(inputs=inner._inputs_struct, outputs=inner._outputs_struct, name=inner.name)


# ---------------------------------------------------------------- trainer state
def model_strategy(model: Any) -> tf.distribute.Strategy | None:
    """The strategy ``model`` was created (or first compiled) under, or ``None``.

    Private: ``keras.src.backend.tensorflow.trainer.TensorFlowTrainer._distribute_strategy``.
    The public ``model.distribute_strategy`` falls back to the strategy of the
    current scope, so it cannot tell "none recorded" from "the current one".
    """
    return getattr(model, "_distribute_strategy", None)


def set_model_strategy(model: Any, strategy: tf.distribute.Strategy) -> None:
    """Record ``strategy`` as ``model``'s own, as Keras does when a model is created in a scope.

    Private: ``TensorFlowTrainer._distribute_strategy``; ``distribute_strategy`` is a read-only property.
    """
    model._distribute_strategy = strategy


def symbolic_build(model: Any, data_batch: Any) -> None:
    """Build ``model``'s metrics and optimizer from one batch spec, as ``keras.Model.fit`` does first.

    Private: ``keras.src.trainers.trainer.Trainer._symbolic_build``; the public
    ``model.build`` builds the layers only, not the compiled loss and metrics.
    """
    model._symbolic_build(data_batch=data_batch)


def metrics_result_or_logs(model: Any, logs: Any) -> dict[str, Any]:
    """The epoch logs ``keras.Model.fit`` reports: the metric results, else the step's logs.

    Private: ``Trainer._get_metrics_result_or_logs``. ``model.get_metrics_result()``
    is public but drops the logs of a custom ``train_step`` whose keys are not metrics.
    """
    return model._get_metrics_result_or_logs(logs)


def flatten_metrics_in_order(model: Any, logs: dict[str, Any]) -> Any:
    """The ``return_dict=False`` form of ``evaluate``/``train_on_batch`` results, in Keras's order.

    Private: ``Trainer._flatten_metrics_in_order`` (the order follows ``metrics_names``
    with Keras's own special cases; no public function returns it).
    """
    return model._flatten_metrics_in_order(logs)


def backup_initial_epoch(model: Any) -> int | None:
    """The epoch a ``keras.callbacks.BackupAndRestore`` restored ``model`` to, if any.

    Private: ``keras.src.callbacks.backup_and_restore`` writes ``model._initial_epoch``
    in ``on_train_begin`` and ``keras.Model.fit`` reads it; there is no public channel.
    """
    return getattr(model, "_initial_epoch", None)


def loss_tracker(model: Any) -> Any:
    """The ``keras.metrics.Mean`` behind the ``loss`` entry of ``model``'s logs.

    Private: ``Trainer._loss_tracker``; it is one of ``model.metrics`` but not
    identifiable there by a public attribute.
    """
    return model._loss_tracker


def call_flat(concrete: Any, flat_args: list[Any], captured: list[Any]) -> Any:
    """Call a ``tf.function`` concrete function on already flattened tensors.

    Private: ``ConcreteFunction._call_flat``. The public ``concrete(*args)`` re-flattens
    and re-checks the arguments' structure on every call, which costs a host round
    of Python per step. Returns ``NotImplemented`` where a TensorFlow version lacks it
    (the caller then calls ``concrete`` publicly).
    """
    fn = getattr(concrete, "_call_flat", None)
    if fn is None:  # pragma: no cover - a TensorFlow without the flat entry point
        return NotImplemented
    return fn(flat_args, captured)


def in_multi_worker_mode(strategy: tf.distribute.Strategy) -> bool:
    """Whether a ``MultiWorkerMirroredStrategy`` spans more than this process.

    Private: ``strategy.extended._in_multi_worker_mode()``; TensorFlow has no public accessor
    (``cluster_resolver`` is set for a single worker too).
    """
    return bool(strategy.extended._in_multi_worker_mode())


def distributed_value_strategy(value: Any) -> tf.distribute.Strategy | None:
    """The strategy of a ``tf.distribute.DistributedValues`` (public ``distribute_strategy`` first).

    Private fallback: ``DistributedValues._distribute_strategy`` for values (not
    variables) that have no public ``distribute_strategy`` attribute.
    """
    return getattr(value, "distribute_strategy", None) or getattr(value, "_distribute_strategy", None)


# --------------------------------------------------------------------- callbacks
def ignores_tf_logs(callback: Any) -> bool:
    """Whether ``callback`` declares that its batch hooks need no numpy logs.

    Private: ``keras.callbacks.Callback._supports_tf_logs``, the flag Keras's own
    ``CallbackList`` reads for the same purpose; there is no public one.
    """
    return bool(getattr(callback, "_supports_tf_logs", False))


def checkpoint_batches_since_save(callback: Any) -> int | None:
    """Batches a ``keras.callbacks.ModelCheckpoint`` has seen since it last saved (``None`` if unknown).

    Private: ``ModelCheckpoint._batches_seen_since_last_saving``, reset to 0 when it
    writes; Keras has no public "saved" signal.
    """
    return getattr(callback, "_batches_seen_since_last_saving", None)


def mark_ignores_tf_logs(callback: Any) -> None:
    """Declare (Keras's ``_supports_tf_logs``) that ``callback`` never reads its batch logs."""
    callback._supports_tf_logs = True


def sublayers(layer: Any) -> list[Any]:
    """Every layer ``layer`` holds, at any depth (not itself).

    Private: ``Layer._flatten_layers`` is how Keras itself lists a layer's sublayers (those it made in
    ``build``, such as ``MultiHeadAttention``'s projections, have no public list).
    """
    return list(layer._flatten_layers(include_self=False, recursive=True))


# ---------------------------------------------------------------- checkpointing
class TrackListedSublayers:
    """Mixin: name every direct sublayer in TensorFlow's object graph, also those kept in lists.

    Keras tracks layers kept in lists and dicts for its own saving, but
    TensorFlow's object graph (``tf.train.Checkpoint``, SavedModel) only sees
    direct attributes. Private: ``Trackable._trackable_children`` is the hook
    TensorFlow asks (no public way to add children), and ``Layer._flatten_layers``
    is how Keras itself lists direct sublayers (``model.layers`` skips some
    tracked ones, e.g. of a subclassed model's nested containers).
    """

    def _trackable_children(self, save_type: str = "checkpoint", **kwargs: Any) -> dict[str, Any]:
        children = dict(super()._trackable_children(save_type, **kwargs))  # type: ignore[misc]
        known = {id(child) for child in children.values()}
        for layer in self._flatten_layers(include_self=False, recursive=False):  # type: ignore[attr-defined]
            if id(layer) not in known:
                children.setdefault(f"layer:{layer.name}", layer)
                known.add(id(layer))
        return children
