"""A quantized model (after ``model.quantize``) survives ``from_keras`` and ``export-spec``, and is counted as built.

``from_keras`` dropped the ``QuantizedDTypePolicy`` Keras writes without a ``name``: the rebuilt model was float32,
46 trainable parameters where the original has 6 trainable and 46 non-trainable, and the original's weights did
not fit it. A native layer with ``dtype: int8_from_float32`` was counted as a float layer by ``summary`` (15
trainable, where Keras makes 3 trainable and 15 non-trainable), and ``summary --build`` kept that count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
from netform.cli import main


def _counts(layers: Any) -> list[tuple[str, int, int]]:
    return [
        (
            layer.name,
            sum(int(np.prod(w.shape)) for w in layer.trainable_weights),
            sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights),
        )
        for layer in layers
    ]


def _copy_weights(source: Any, target: Any) -> None:
    """By variable path: Keras orders a float8 layer's variables one way after `quantize`, another when built so
    (plain Keras's `from_config` copy takes `set_weights` of the original no better)."""
    by_path = {w.path: w for w in source.weights}
    assert sorted(by_path) == sorted(w.path for w in target.weights)
    for variable in target.weights:
        variable.assign(by_path[variable.path])


def _quantized(mode: str) -> Any:
    import keras

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="d1")(inputs)
    outputs = keras.layers.Dense(2, name="d2")(hidden)
    model = keras.Model(inputs, outputs)
    model.quantize(mode)
    return model


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_from_keras_keeps_the_quantized_policy(mode: str) -> None:
    original = _quantized(mode)
    spec = nf.from_keras(original)
    rebuilt = nf.build(spec)
    assert _counts(rebuilt.layers[1:]) == _counts(original.layers[1:])
    assert [str(layer.dtype_policy) for layer in rebuilt.layers[1:]] == [
        str(layer.dtype_policy) for layer in original.layers[1:]
    ]
    _copy_weights(original, rebuilt)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(original(x)), rtol=1e-6, atol=1e-6)
    info = nf.summary(spec)
    assert info.total_params is None  # counted at build time, never as a float layer
    built = info.with_model(rebuilt)
    assert built.total_params == original.count_params()


def test_export_spec_of_a_plain_keras_file_keeps_the_policy(tmp_path: Path) -> None:
    import keras

    original = _quantized("int8")
    path = tmp_path / "q.keras"
    keras.saving.save_model(original, path)
    out = tmp_path / "q.yaml"
    assert main(["export-spec", str(path), "-o", str(out)]) == 0
    assert "QuantizedDTypePolicy" in out.read_text()
    rebuilt = nf.build(out)
    assert _counts(rebuilt.layers[1:]) == _counts(original.layers[1:])
    _copy_weights(original, rebuilt)


def test_a_native_layer_in_a_quantized_dtype_is_counted_at_build_time() -> None:
    spec = nf.load_spec(
        "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n"
        "  n: {type: Dense, units: 3, dtype: int8_from_float32, in: x}\n"
        "outputs: [n]\n"
    )
    info = nf.summary(spec)
    row = info.row("n")
    assert row.output_shape == (None, 3)
    assert (row.trainable, row.non_trainable) == (None, None)
    model = nf.build(spec)
    built = info.with_model(model).row("n")
    assert (built.trainable, built.non_trainable) == (3, 15)
