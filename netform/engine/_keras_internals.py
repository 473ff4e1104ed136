"""The one place where netform touches Keras's private ``keras.src`` modules.

Keras 3 has no public API for these pieces, and rewriting them would only add
bugs: the data adapters (numpy / tf.data / generators / ``PyDataset`` into a
``tf.data.Dataset``), the deterministic train/validation split Keras's ``fit``
uses, the loss scaling used under distribution, and the ``Functional`` model
class. Everything else in :mod:`netform.engine` uses public Keras only, so a
Keras upgrade that moves these names breaks this module and nothing else.
"""

from __future__ import annotations

from typing import Any

from keras.src.losses import loss as _loss_module
from keras.src.models.functional import Functional as KerasFunctional
from keras.src.models.functional import functional_from_config as _functional_from_config
from keras.src.trainers import data_adapters as _data_adapters
from keras.src.trainers.data_adapters import array_slicing as _array_slicing

__all__ = [
    "KerasFunctional",
    "functional_from_config",
    "DataAdapter",
    "get_data_adapter",
    "train_validation_split",
    "unscale_loss_for_distribution",
    "scale_loss_for_distribution",
]

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
    return _array_slicing.train_validation_split(arrays, validation_split=validation_split)


def unscale_loss_for_distribution(value: Any) -> Any:
    """Undo the per-replica loss scaling Keras applies under distribution."""
    return _loss_module.unscale_loss_for_distribution(value)


def scale_loss_for_distribution(value: Any) -> Any:
    """Apply Keras's per-replica loss scaling (divide by replica count)."""
    return _loss_module.scale_loss_for_distribution(value)


def functional_from_config(cls: type, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuild a functional model of class ``cls`` from its config (Keras's own logic)."""
    return _functional_from_config(cls, config, custom_objects=custom_objects)
