"""``trainable: false`` on a wrapper freezes what it wraps, in the built model as in ``summary``.

Keras 3 makes a ``Bidirectional`` or ``TimeDistributed`` made with ``trainable=False`` report no trainable
weights of its own, but leaves the layers it made from its arguments trainable: the model gathered their
weights as trainable and ``fit`` changed them, while ``summary`` and ``inspect`` said the layer was frozen
(0 trainable / 96 non-trainable against Keras's 96 / 0). netform's build now freezes the wrapped layers too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf


def _spec(node: str, shape: str = "[5, 3]") -> str:
    return f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}}}\nnodes:\n  n: {node}\noutputs: [n]\n"


def _counts(model: Any) -> tuple[int, int]:
    return (
        sum(int(np.prod(w.shape)) for w in model.trainable_weights),
        sum(int(np.prod(w.shape)) for w in model.non_trainable_weights),
    )


GRU = "{module: keras.layers, class_name: GRU, config: {units: 2}}"
CASES = [
    "{type: Bidirectional, trainable: false, layer: {type: LSTM, units: 2}, in: x}",
    "{type: TimeDistributed, trainable: false, layer: {type: Dense, units: 2}, in: x}",
    "{type: KerasLayer, class_name: TimeDistributed, config: {trainable: false, layer: {module: keras.layers, "
    "class_name: Dense, config: {units: 2}}}, in: x}",
    f"{{type: KerasLayer, class_name: Bidirectional, config: {{trainable: false, layer: {GRU}}}, in: x}}",
    f"{{type: KerasLayer, class_name: Bidirectional, trainable: false, config: {{layer: {GRU}}}, in: x}}",
]


@pytest.mark.parametrize("node", CASES)
@pytest.mark.parametrize("api", ["functional", "sequential", "subclass"])
def test_the_built_model_is_frozen_where_summary_says_so(node: str, api: str) -> None:
    spec = nf.load_spec(_spec(node))
    row = nf.summary(spec).row("n")
    model = nf.build(spec, api=api)
    assert row.trainable == 0
    assert _counts(model) == (0, row.non_trainable)


def test_fit_leaves_a_frozen_wrapper_as_it_was_and_a_save_keeps_it_frozen(tmp_path: Path) -> None:
    import keras

    spec = nf.load_spec(_spec(CASES[0]))
    model = nf.build(spec)
    before = [np.array(w) for w in model.get_weights()]
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 5, 3)).astype("float32")
    model.fit(x, np.ones((8, 4), "float32"), epochs=2, verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    path = tmp_path / "m.keras"
    nf.save(model, path)
    assert _counts(nf.load(path)) == (0, 96)
    assert _counts(keras.saving.load_model(path)) == (0, 96)
    rebuilt = nf.build(nf.from_keras(model))
    assert _counts(rebuilt) == (0, 96)


def test_a_wrapper_left_trainable_keeps_a_frozen_inner_layer_frozen() -> None:
    spec = nf.load_spec(_spec("{type: Bidirectional, layer: {type: LSTM, units: 2, trainable: false}, in: x}"))
    row = nf.summary(spec).row("n")
    assert (row.trainable, row.non_trainable) == _counts(nf.build(spec)) == (0, 96)
