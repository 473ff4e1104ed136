"""A dropout ``noise_shape`` is taken as Keras takes it: shorter ones cover the last axes.

``{type: Dropout, rate: 0.5, noise_shape: [1]}`` on a ``(batch, 4)`` input was refused ("does not
broadcast") though Keras builds and trains it: TensorFlow broadcasts the mask to the input from the
last axis. The static rule is compared with Keras on every noise shape of up to 3 entries drawn from
``None, 1, 2, 3, 4`` on inputs of rank 2 and 3.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from netform.spec._layer_base import ShapeError
from netform.spec.layers.regularization import Dropout

_BATCH = 5  # a batch size equal to no axis, so a mask that only fits a batch of 1 or of one axis's size fails


def _keras_keeps_the_shape(shape: tuple[int, ...], noise: list[int | None], batch: int = _BATCH) -> bool:
    import keras

    layer = keras.layers.Dropout(0.5, noise_shape=noise, seed=1)
    x = np.ones((batch, *shape), "float32")
    try:
        y = layer(x, training=True)
    except Exception:  # TensorFlow's refusal to broadcast the mask
        return False
    return tuple(y.shape) == x.shape


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 2)])
def test_noise_shapes_agree_with_keras(shape: tuple[int, ...]) -> None:
    disagree = []
    for rank in (1, 2, 3, 4):
        for noise in itertools.product([None, 1, 2, 3, 4], repeat=rank):
            try:
                Dropout(rate=0.5, noise_shape=noise).output_shape((None, *shape))
                ours = True
            except ShapeError:
                ours = False
            theirs = _keras_keeps_the_shape(shape, list(noise))
            # the batch size is not known at validate: a mask that fits some batch sizes is left to run time
            some_batch = (
                ours and not theirs and any(_keras_keeps_the_shape(shape, list(noise), b) for b in (1, 2, 3, 4))
            )
            if ours != theirs and not some_batch:
                disagree.append((noise, "taken" if ours else "refused", "Keras takes" if theirs else "Keras fails"))
    assert not disagree, disagree


def test_a_one_entry_mask_is_taken() -> None:
    assert Dropout(rate=0.5, noise_shape=(1,)).output_shape((None, 4)) == (None, 4)
    with pytest.raises(ShapeError, match="does not broadcast"):
        Dropout(rate=0.5, noise_shape=(1, 1, 1)).output_shape((None, 4))  # Keras would return (1, batch, 4)
