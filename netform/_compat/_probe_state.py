"""Process-wide state a throwaway Keras layer would change, kept as it was around its making.

netform's static summary may make an instance of a layer class the user
registered with Keras, only to ask its own ``compute_output_shape`` for a
shape. Making a layer advances Keras's per-class counters of automatic names
(``dense``, ``dense_1``, …), and a layer that makes a seed generator draws from
Python's global RNG; a summary must change neither. The name counters live in
``keras.src.backend.common.global_state`` under ``"object_name_uids"``
(read by ``keras.src.utils.naming.uniquify``); Keras has no public API to read
or restore them (``keras.backend.clear_session`` resets everything, the user's
models' names included).
"""

from __future__ import annotations

import contextlib
import random
from typing import Iterator

__all__ = ["state_kept"]


@contextlib.contextmanager
def state_kept() -> Iterator[None]:
    """Keras's automatic-name counters and Python's and NumPy's global RNGs are put back as they were after the block."""
    # Private: keras.src.backend.common.global_state (no public getter or setter of the name counters).
    from keras.src.backend.common import global_state
    import numpy as np

    uids = global_state.get_global_attribute("object_name_uids")
    names = dict(uids) if uids is not None else {}
    python_rng = random.getstate()
    numpy_rng = np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_rng)
        np.random.set_state(numpy_rng)
        current = global_state.get_global_attribute("object_name_uids")
        if current is not None:
            current.clear()
            current.update(names)
