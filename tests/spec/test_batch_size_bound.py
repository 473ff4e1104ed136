"""``training.batch_size`` past what TensorFlow holds is refused at validate, naming the field.

A spec with ``batch_size: 100000000000000000000`` passed ``validate``; ``netform train`` then failed with
"the data could not be read: Can't convert Python sequence with out-of-range integer to Tensor", blaming
the data.
"""

from __future__ import annotations

import pytest

import netform as nf


def _spec(batch_size: int) -> dict[str, object]:
    return {
        "netform": 1,
        "name": "m",
        "kind": "sequential",
        "inputs": {"x": {"shape": [4]}},
        "layers": [{"type": "Dense", "units": 2}],
        "training": {"loss": "mse", "batch_size": batch_size},
    }


@pytest.mark.parametrize("size", [10**20, 2**31])
def test_a_batch_size_past_the_bound_is_refused(size: int) -> None:
    with pytest.raises(nf.SpecError, match="training.batch_size: input should be less than or equal to 2147483647"):
        nf.load_spec(_spec(size))


def test_the_bound_itself_is_taken() -> None:
    assert nf.load_spec(_spec(2**31 - 1)).training is not None
