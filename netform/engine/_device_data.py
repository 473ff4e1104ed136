"""In-memory arrays that stay on the device for a whole ``fit``.

Keras's ``fit`` reads in-memory arrays through a ``tf.data`` pipeline built
for each call (its map functions traced anew, 76-94 ms on the benchmark
models) that gathers every batch on the host, one pipeline element per step,
and on an accelerator copies it over. When the arrays fit (at most
:data:`DEVICE_DATA_MAX_BYTES`), no strategy distributes them and netform's
own step functions run the steps, netform instead copies them to the device
once per ``fit`` and the compiled loop gathers each batch there, from the
epoch's order of sample indices: the order Keras's pipeline reads, computed
from the same seeds by the same shuffle algorithm
(:mod:`netform._compat._keras_shuffle`); with a global seed it is the same
every epoch and computed once. The batches, their order and so the weights,
logs and callbacks' batch numbers are those of ``keras.Model.fit``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from keras import tree

from .._compat import _keras_shuffle

__all__ = ["DEVICE_DATA_MAX_BYTES", "DeviceArrays", "DeviceCursor", "device_arrays"]

# Arrays (inputs, targets and sample weights together) of at most this size stay on the device.
DEVICE_DATA_MAX_BYTES = 1 << 30


def _device_name() -> str:
    """Where Keras's ops run by default: the first GPU when there is one, else the CPU."""
    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


def _nbytes(leaf: Any) -> int:
    if isinstance(leaf, np.ndarray):
        return int(leaf.nbytes)
    return int(np.prod(leaf.shape, dtype=np.int64)) * leaf.dtype.size


class DeviceCursor:
    """One pass over :class:`DeviceArrays`: the epoch's order and the position in it.

    netform's compiled loop (:class:`~netform.engine._steps.ExecutionFunction`)
    runs steps on the batches ``order[i * batch_size : (i + 1) * batch_size]``
    from :attr:`position` on, and moves it.
    """

    def __init__(self, source: DeviceArrays) -> None:
        self.source = source
        self.position = 0
        self._order: tf.Tensor | None = None

    @property
    def order(self) -> tf.Tensor:
        """The epoch's sample indices, drawn at the first read (an iterator made and dropped unread costs nothing)."""
        if self._order is None:
            self._order = self.source.draw_order()
        return self._order

    @property
    def remaining(self) -> int:
        """Batches not read yet."""
        return self.source.num_batches - self.position

    def __iter__(self) -> DeviceCursor:
        return self

    def __next__(self) -> Any:
        """The next batch, gathered eagerly (the compiled loop gathers its batches itself)."""
        if self.remaining <= 0:
            raise StopIteration
        low = self.position * self.source.batch_size
        rows = self.order[low : min(low + self.source.batch_size, self.source.num_samples)]
        self.position += 1
        return tree.map_structure(lambda t: tf.gather(t, rows), self.source.data)


class DeviceArrays:
    """Arrays copied once to the device, read batch by batch in Keras's order.

    Iterating gives a :class:`DeviceCursor` over a new epoch, ordered as a new
    iterator over Keras's array pipeline (``shuffle`` ``False``, ``True`` or
    ``"batch"``).
    """

    def __init__(self, data: Any, *, num_samples: int, batch_size: int, shuffle: bool | str) -> None:
        self.data = data
        self.flat = tree.flatten(data)
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.num_batches = -(-self.num_samples // self.batch_size)
        self.shuffle = shuffle
        # Keras's array pipeline gives batches a static size when every batch is full (no partial last
        # batch), and None otherwise; the gathered batches carry the same shapes, so a loss or layer that
        # Keras refuses at trace time (shapes that cannot broadcast) is refused here the same way.
        self.static_batch: int | None = self.batch_size if self.num_samples % self.batch_size == 0 else None
        self.element_spec = tree.map_structure(
            lambda t: tf.TensorSpec([self.static_batch] + list(t.shape[1:]), t.dtype), data
        )
        # The whole arrays (any number of samples), as the compiled loop is traced for them.
        self.data_spec = tree.map_structure(lambda t: tf.TensorSpec([None] + list(t.shape[1:]), t.dtype), data)
        # A hashable description of the data's structure and specs: one trace of the loop per key.
        self.key = (repr(tree.map_structure(lambda _: 0, data)), tuple(tree.flatten(self.element_spec)))
        self.batch_size_t = tf.constant(self.batch_size, tf.int64)
        self._device = _device_name()
        # Keras takes the shuffle's seeds when it builds its pipeline, at the start of fit.
        self._seeds = _keras_shuffle.shuffle_seeds() if shuffle else None
        self._fixed_order: tf.Tensor | None = None
        self._rng = np.random.default_rng() if shuffle and self._seeds is None else None

    def cardinality(self) -> int:
        """Batches per epoch (as ``tf.data.Dataset.cardinality``)."""
        return self.num_batches

    def draw_order(self) -> tf.Tensor:
        """The sample indices of a new epoch (Keras's order; the same every time when fixed)."""
        if self._fixed_order is not None:
            return self._fixed_order
        if not self.shuffle:
            order = tf.range(self.num_samples, dtype=tf.int64)
        else:
            seeds = self._seeds
            if seeds is None:
                # No global seed: Keras's kernels draw random seeds on each iteration.
                assert self._rng is not None
                seeds = (int(self._rng.integers(1, 2**63)), int(self._rng.integers(0, 2**63)))
            order = _keras_shuffle.epoch_order(self.num_samples, self.batch_size, self.shuffle, seeds)
        with tf.device(self._device):
            order = tf.identity(order)
        if not self.shuffle or self._seeds is not None:
            self._fixed_order = order  # the same order on every iteration
        return order

    def __iter__(self) -> DeviceCursor:
        return DeviceCursor(self)


def device_arrays(arrays: Any, *, batch_size: int, shuffle: bool | str) -> DeviceArrays | None:
    """Arrays on the device for :class:`DeviceArrays`, or ``None`` when they do not qualify.

    They qualify when every leaf is a dense numeric array (numpy or tensor)
    with a batch axis and together they take at most :data:`DEVICE_DATA_MAX_BYTES`.

    Args:
        arrays: The packed ``(x, y, sample_weight)``, converted as Keras's
            array pipeline converts them (see
            :func:`netform._compat._keras_arrays.dense_array_inputs`).
        batch_size: Samples per batch.
        shuffle: ``fit``'s ``shuffle``.
    """
    leaves = tree.flatten(arrays)
    if not leaves:
        return None
    total = 0
    for leaf in leaves:
        dtype = tf.as_dtype(leaf.dtype)
        if not (dtype.is_floating or dtype.is_integer or dtype.is_bool) or len(leaf.shape) == 0:
            return None
        total += _nbytes(leaf)
    if total > DEVICE_DATA_MAX_BYTES:
        return None
    num_samples = int(leaves[0].shape[0])
    device = _device_name()
    with tf.device(device):
        data = tree.map_structure(lambda a: tf.identity(tf.convert_to_tensor(a)), arrays)
    return DeviceArrays(data, num_samples=num_samples, batch_size=batch_size, shuffle=shuffle)
