"""A layer made with ``trainable: false`` is frozen whole in the built and the loaded model, as ``summary`` counts it.

Keras 3 makes a frozen ``MultiHeadAttention`` (or ``GroupQueryAttention``) build its query, key, value and
output projections after it was frozen, and leaves them trainable: the model gathered 175 trainable weights
where ``summary`` said 7 trainable and 168 frozen, and ``fit`` changed them. The build and ``nf.load`` now
pass the flag on to what the layer made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf


def _counts(model: Any) -> tuple[int, int]:
    return (
        sum(int(np.prod(w.shape)) for w in model.trainable_weights),
        sum(int(np.prod(w.shape)) for w in model.non_trainable_weights),
    )


def _spec(node: str) -> str:
    return (
        "netform: 1\nkind: functional\ninputs: {x: {shape: [4, 6]}}\nnodes:\n"
        f"  m: {node}\n  o: {{type: Dense, units: 1, in: m}}\noutputs: [o]\n"
    )


CASES = [
    "{type: MultiHeadAttention, num_heads: 2, key_dim: 3, in: [x, x], trainable: false}",
    "{type: GroupQueryAttention, head_dim: 3, num_query_heads: 2, num_key_value_heads: 1, in: [x, x], "
    "trainable: false}",
]


@pytest.mark.parametrize("node", CASES)
@pytest.mark.parametrize("api", ["functional", "subclass"])
def test_a_frozen_attention_layer_is_frozen_in_the_model(node: str, api: str, tmp_path: Path) -> None:
    spec = nf.load_spec(_spec(node))
    info = nf.summary(spec)
    model = nf.build(spec, api=api)
    assert _counts(model) == (info.trainable_params, info.non_trainable_params)
    frozen = [np.array(w) for w in model.get_layer("m").weights]
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 4, 6)).astype("float32")
    model.fit(x, np.ones((8, 4, 1), "float32"), epochs=2, verbose=0)
    for old, new in zip(frozen, model.get_layer("m").weights):
        np.testing.assert_array_equal(old, np.array(new))
    path = tmp_path / "m.keras"
    nf.save(model, path)
    assert _counts(nf.load(path)) == _counts(model)
