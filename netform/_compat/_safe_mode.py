"""Force Keras's deserialization safe mode for the length of one call.

``keras.saving.deserialize_keras_object(config, safe_mode=True)`` is the public
way to refuse Lambda bytecode, but it gives way to a process-wide
``keras.config.enable_unsafe_deserialization()`` and it does not cover a
layer's own ``from_config`` (wrappers such as ``TimeDistributed`` or
``Bidirectional`` deserialize their inner layer from there). Keras keeps the
flag in ``keras.src.saving.serialization_lib.SafeModeScope``; no public API
sets it for a block of code, so it is wrapped here.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["safe_mode_scope"]


@contextlib.contextmanager
def safe_mode_scope(safe_mode: bool = True) -> Iterator[None]:
    """Run the block with Keras's safe mode set to ``safe_mode``, then restore the previous value.

    Args:
        safe_mode: ``True`` refuses Lambda bytecode and other unsafe configs,
            whatever ``keras.config.enable_unsafe_deserialization()`` said.
    """
    # Private: keras.src.saving.serialization_lib.SafeModeScope, the only scope
    # that nested from_config calls consult (Keras has no public equivalent).
    from keras.src.saving import serialization_lib

    with serialization_lib.SafeModeScope(safe_mode):
        yield
