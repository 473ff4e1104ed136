"""The seed given to ``keras.utils.set_random_seed``, read without drawing from any RNG.

Keras exports ``keras.utils.set_random_seed`` but not its getter: the value
is kept in ``keras.src.utils.rng_utils.get_random_seed`` (Keras reads it there
itself, e.g. for JAX distribution seeds). TensorFlow's own getter,
``tf.random.get_seed``, advances TensorFlow's operation-seed counter, and
NumPy's or Python's global RNG belong to the user, so this is the one way to
follow the user's seed without changing any process-wide state.
"""

from __future__ import annotations

__all__ = ["keras_random_seed"]


def keras_random_seed() -> int | None:
    """The integer passed to ``keras.utils.set_random_seed``, or ``None`` if it was never called."""
    # Private: keras.src.utils.rng_utils.get_random_seed (no public getter in Keras 3).
    from keras.src.utils import rng_utils

    seed = rng_utils.get_random_seed()
    return int(seed) if seed is not None else None
