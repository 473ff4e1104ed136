"""Turning per-batch prediction outputs into what ``predict`` returns, as Keras does.

``predict`` is the concatenation of :meth:`predict_iter`'s batches. The rules
are Keras's (``potentially_ragged_concat`` in Keras's TensorFlow trainer),
applied leaf by leaf over the outputs' structure:

* one batch: returned as it is;
* ``tf.SparseTensor``: ``tf.sparse.concat`` along the batch axis;
* ``tf.RaggedTensor``: ``tf.concat`` along the batch axis;
* scalars (a ``predict_step`` returning one number per batch): stacked;
* arrays whose non-batch dimensions agree: concatenated;
* arrays whose non-batch dimensions differ between batches: a
  ``tf.RaggedTensor``, its constant trailing dimensions kept as its inner shape.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import tensorflow as tf
from keras import tree

from ..errors import DataError

__all__ = ["to_numpy", "concat_outputs", "PredictionBatches"]


def to_numpy(value: Any) -> Any:
    """One output leaf as numpy; sparse and ragged tensors are kept as they are (as in Keras).

    Args:
        value: A tensor, array or Python number.

    Returns:
        A numpy array (a numpy scalar for a scalar tensor), or the sparse or
        ragged tensor itself.
    """
    if isinstance(value, (tf.RaggedTensor, tf.SparseTensor)):
        return value
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _concat_leaf(parts: list[Any]) -> Any:
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, tf.SparseTensor):
        return tf.sparse.concat(axis=0, sp_inputs=list(parts))
    if isinstance(first, tf.RaggedTensor):
        return tf.concat(list(parts), axis=0)
    arrays = [np.asarray(part) for part in parts]
    if arrays[0].ndim == 0:
        return np.stack(arrays)
    inner = [a.shape[1:] for a in arrays]
    if all(shape == inner[0] for shape in inner):
        return np.concatenate(arrays, axis=0)
    if len({len(shape) for shape in inner}) != 1:
        raise DataError(
            "predict(): the batches' outputs have different ranks "
            f"({sorted({a.ndim for a in arrays})}), so they cannot be joined. "
            "Make predict_step return outputs of the same rank for every batch, or use predict_iter()."
        )
    # Keras's rule: the rightmost dimensions that agree in every batch form the inner shape.
    constant = [all(shape[d] == inner[0][d] for shape in inner) for d in range(len(inner[0]))]
    n_inner = constant[::-1].index(False)
    inner_shape = arrays[0].shape[len(arrays[0].shape) - n_inner :] if n_inner else None
    return tf.ragged.constant(arrays, inner_shape=inner_shape).merge_dims(0, 1)


def concat_outputs(batches: list[Any]) -> Any:
    """Join per-batch outputs (numpy, sparse or ragged) the way ``keras.Model.predict`` does.

    Args:
        batches: The batches' outputs, each with the same structure.

    Returns:
        The joined outputs, with the structure of the batches' outputs.

    Raises:
        DataError: There is no batch, or one leaf has a different rank in
            different batches.
    """
    if not batches:
        raise DataError("predict(): the data yielded no batch; expected at least one.")
    if len(batches) == 1:
        return batches[0]
    return tree.map_structure(lambda *parts: _concat_leaf(list(parts)), *batches)


class PredictionBatches:
    """What :meth:`predict_iter` returns: an iterator over the outputs of each predict call, as numpy.

    ``samples`` is the number of input samples the last batch of outputs was
    computed from (``None`` before the first): a model whose outputs keep the
    batch axis gives that many rows, one per sample, and a writer that stores
    one row per sample checks it (an op that reduces, gathers or joins over
    the batch axis gives another count; the outputs are still yielded as the
    model computed them, as Keras's ``predict`` returns them).
    """

    def __init__(self, calls: Iterator[tuple[Any, Any]]) -> None:
        self._calls = calls
        self.samples: int | None = None

    def __iter__(self) -> PredictionBatches:
        return self

    def __next__(self) -> Any:
        outputs, samples = next(self._calls)
        self.samples = None if samples is None else int(samples)
        return outputs

    def close(self) -> None:
        """Stop early, as a generator's ``close()`` does (no more calls are run)."""
        close = getattr(self._calls, "close", None)
        if close is not None:
            close()
