"""The order in which ``keras.Model.fit`` reads shuffled in-memory arrays, computed without its pipeline.

Keras's ``ArrayDataAdapter.get_tf_dataset`` (Keras 3, TensorFlow backend)
shuffles arrays through a ``tf.data`` pipeline of *indices*:
``tf.range(num_samples)`` passed through ``tf.random.shuffle`` in a ``map``
(``shuffle=True``), cut into consecutive batches of ``batch_size`` (the last
one partial), or each of those batches passed through ``tf.random.shuffle``
in a ``map`` (``shuffle="batch"``); the data rows are then gathered by those
indices. Neither shuffle gets a seed argument, so TensorFlow gives the op the
seeds ``tf.compat.v1.random.get_seed(0)`` (the global seed of
``keras.utils.set_random_seed``/``tf.random.set_seed``, and 0: the first
unseeded random op of its function), or random seeds when no global seed is
set. Each new iterator (each epoch) instantiates the functions anew, with a
fresh kernel: under a global seed every epoch reads the same order, and
without one every epoch draws a new order. ``shuffle="batch"`` draws batch
after batch from one kernel.

``RandomShuffle`` is Philox-based: a kernel seeded ``(seed, seed2)`` starts at
key ``seed``, counter ``(0, seed2)``, and each shuffle of ``n >= 2`` rows
reserves ``ceil((n - 1) / 4)`` 128-bit Philox blocks. Its stateless twin
``StatelessShuffle`` (the op behind ``tf.random.experimental.stateless_shuffle``)
runs the same algorithm from an explicit key and counter, so
:func:`epoch_order` gives, from the same seeds, exactly the indices Keras's
pipeline reads, as one tensor and without building that pipeline.
``tests/engine/test_device_data.py`` compares it with Keras's own adapter
(seeded and not, both modes, partial last batches, several epochs), so a
Keras or TensorFlow release that shuffles differently fails there.
"""

from __future__ import annotations

import tensorflow as tf

# Private: the global seed set by tf.random.set_seed (keras.utils.set_random_seed calls it).
# Public alternative: trace a tf.function and read `concrete.graph.seed` (costs a trace);
# tf.compat.v1.random.get_seed cannot tell "no global seed" from the seed 87654321.
from tensorflow.python.eager import context as _context

__all__ = ["epoch_order", "shuffle_seeds"]

_PHILOX = 1  # tf.random.Algorithm.PHILOX


def shuffle_seeds() -> tuple[int, int] | None:
    """The ``(seed, seed2)`` TensorFlow gives Keras's unseeded shuffle ops now, or ``None`` with no global seed.

    ``None`` means Keras's shuffles draw random seeds: a new order on each iteration.
    """
    if _context.global_seed() is None:
        return None
    seed, seed2 = tf.compat.v1.random.get_seed(0)  # the op-level seed of the function's first random op
    return int(seed), int(seed2)


def _blocks(n: tf.Tensor) -> tf.Tensor:
    """Philox blocks one RandomShuffle of ``n`` rows reserves (none for fewer than 2 rows)."""
    return tf.where(n >= 2, (n + 2) // 4, tf.zeros_like(n))


@tf.function(
    input_signature=[tf.TensorSpec([], tf.int64)] * 3 + [tf.TensorSpec([], tf.uint64)] * 2,
    autograph=False,
)
def _batch_order(
    num_samples: tf.Tensor, batch_size: tf.Tensor, num_batches: tf.Tensor, key: tf.Tensor, seed2: tf.Tensor
) -> tf.Tensor:
    # Batch k is drawn after batches 0..k-1 from the same kernel: its counter starts past
    # the blocks they reserved (all full batches reserve the same number).
    full_blocks = _blocks(batch_size)

    def body(k: tf.Tensor, parts: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
        low = k * batch_size
        high = tf.minimum(low + batch_size, num_samples)
        counter = tf.stack([tf.cast(k * full_blocks, tf.uint64), seed2])
        part = tf.raw_ops.StatelessShuffle(
            value=tf.range(low, high, dtype=tf.int64), key=tf.reshape(key, [1]), counter=counter, alg=_PHILOX
        )
        return k + 1, parts.write(tf.cast(k, tf.int32), part)

    parts = tf.TensorArray(tf.int64, size=tf.cast(num_batches, tf.int32), infer_shape=False, element_shape=[None])
    _, parts = tf.while_loop(lambda k, _: k < num_batches, body, (tf.constant(0, tf.int64), parts))
    return parts.concat()


def epoch_order(num_samples: int, batch_size: int, shuffle: bool | str, seeds: tuple[int, int]) -> tf.Tensor:
    """The sample indices of one epoch, in the order Keras's array pipeline reads them.

    Args:
        num_samples: Samples in the arrays.
        batch_size: Samples per batch.
        shuffle: ``fit``'s ``shuffle``: ``True`` (one permutation of all
            samples) or ``"batch"`` (each batch's samples permuted).
        seeds: The shuffle ops' ``(seed, seed2)`` (:func:`shuffle_seeds`, or
            random ones for an unseeded epoch).

    Returns:
        An int64 vector of ``num_samples`` indices (on the host).
    """
    key = tf.constant(seeds[0], tf.uint64)
    seed2 = tf.constant(seeds[1], tf.uint64)
    with tf.device("/CPU:0"):
        if shuffle == "batch":
            num_batches = -(-num_samples // batch_size)
            return _batch_order(
                tf.constant(num_samples, tf.int64),
                tf.constant(batch_size, tf.int64),
                tf.constant(num_batches, tf.int64),
                key,
                seed2,
            )
        return tf.raw_ops.StatelessShuffle(
            value=tf.range(num_samples, dtype=tf.int64),
            key=tf.reshape(key, [1]),
            counter=tf.stack([tf.constant(0, tf.uint64), seed2]),
            alg=_PHILOX,
        )
