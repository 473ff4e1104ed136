"""Reading in-memory arrays the way Keras's array data adapter reads them.

netform's evaluate/predict (and unshuffled fit) slice in-memory arrays into
the same consecutive batches as Keras's ``ArrayDataAdapter``, but without its
per-call ``tf.data`` map functions (traced anew on every ``evaluate`` or
``predict`` call, about 0.1-0.4 s). To give the same values, the arrays must
first be converted exactly as that adapter converts them (strings, dtypes,
pandas objects); Keras has no public function for that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from keras import tree

# Private: Keras's array adapter class and its converter; no public name exists.
from keras.src.trainers.data_adapters import array_data_adapter as _array_data_adapter
from keras.src.trainers.data_adapters import array_slicing as _array_slicing

__all__ = ["dense_array_inputs"]


def dense_array_inputs(adapter: Any) -> Any | None:
    """The packed ``(x, y, sample_weight)`` of an array adapter, converted as its ``tf.data`` pipeline converts them.

    Args:
        adapter: A Keras data adapter.

    Returns:
        The structure (lists as tuples) of numpy arrays / dense tensors, or
        ``None`` when ``adapter`` is not Keras's array adapter or holds data
        that is not dense (sparse, ragged, ``None`` for an optional input):
        the caller then keeps Keras's own pipeline.
    """
    # Private: keras.src...ArrayDataAdapter (the class keras.Model.fit picks for arrays),
    # its `_inputs` (the arrays it was given, packed) and array_slicing.convert_to_sliceable
    # (the conversion its get_tf_dataset applies before slicing).
    if type(adapter) is not _array_data_adapter.ArrayDataAdapter:
        return None
    inputs = _array_slicing.convert_to_sliceable(adapter._inputs, target_backend="tensorflow")
    inputs = tree.lists_to_tuples(inputs)
    for leaf in tree.flatten(inputs):
        if isinstance(leaf, np.ndarray) and leaf.dtype != object:
            continue
        if isinstance(leaf, tf.Tensor) and not isinstance(leaf, (tf.SparseTensor, tf.RaggedTensor)):
            continue
        return None
    return inputs
