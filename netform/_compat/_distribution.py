"""The ``tf.distribute`` strategy a Keras optimizer was created under.

Keras's TensorFlow optimizer records ``tf.distribute.get_strategy()`` at
construction in the underscore attribute ``_distribution_strategy`` and later
creates its slot variables under it. No public API exposes it (an optimizer's
``variables`` tell it only for strategies whose variables are distributed,
not for ``OneDeviceStrategy``), so it is read here.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

__all__ = ["optimizer_strategy"]


def _default_strategy() -> tf.distribute.Strategy:
    # Private: tensorflow.python.distribute.distribute_lib._get_default_strategy; the public
    # tf.distribute.get_strategy() returns the default only outside every strategy scope.
    from tensorflow.python.distribute import distribute_lib

    return distribute_lib._get_default_strategy()


def optimizer_strategy(optimizer: Any) -> tuple[bool, tf.distribute.Strategy | None]:
    """The strategy ``optimizer`` creates its variables under.

    Args:
        optimizer: A Keras optimizer (or anything else).

    Returns:
        ``(known, strategy)``: ``known`` is False when the optimizer does not
        record one (not Keras's TensorFlow optimizer, or a Keras version that
        stopped recording it); ``strategy`` is ``None`` for the default strategy.
    """
    # Private: keras.src.backend.tensorflow.optimizer.TFOptimizer._distribution_strategy.
    strategy = getattr(optimizer, "_distribution_strategy", None)
    if not isinstance(strategy, tf.distribute.Strategy):
        return False, None
    return True, (None if strategy is _default_strategy() else strategy)
