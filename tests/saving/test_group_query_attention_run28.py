"""``GroupQueryAttention``, which Keras exports under another name than its class (``GroupedQueryAttention``),
is read, written and exported like every other layer.

A plain Keras ``.keras`` of one was refused as corrupt by ``inspect`` and ``export-spec`` (its weights were looked
for at ``layers/group_query_attention``; Keras names the path after the class, ``grouped_query_attention``),
netform's own ``.h5`` save of a spec holding one was refused by ``load`` as "two configs describe different
models", and ``from_keras`` called the built layer "neither a Keras built-in layer nor registered".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netform as nf
from netform.cli import main

SPEC = (
    "netform: 1\nname: iso\nkind: functional\ninputs: {seq: {shape: [6, 5]}}\nnodes:\n"
    "  n: {type: GroupQueryAttention, in: [seq, seq], head_dim: 2, num_query_heads: 2, num_key_value_heads: 1}\n"
    "outputs: [n]\n"
)


def test_a_plain_keras_file_is_described_and_exported(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((6, 5))
    layer = keras.layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1)
    path = tmp_path / "gqa.keras"
    keras.Model(inputs, layer(inputs, inputs)).save(path)
    assert nf.inspect(path)["parameters"] == 73
    assert main(["export-spec", str(path), "-o", str(tmp_path / "gqa.yaml")]) == 0
    assert nf.build(tmp_path / "gqa.yaml").count_params() == 73


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_netform_reads_its_own_save(tmp_path: Path, suffix: str) -> None:
    model = nf.build(nf.load_spec(SPEC))
    path = tmp_path / f"g{suffix}"
    nf.save(model, path)
    assert nf.inspect(path)["parameters"] == 73
    loaded = nf.load(path)
    x = np.random.default_rng(0).normal(size=(2, 6, 5)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    assert main(["export-spec", str(path), "-o", str(tmp_path / "g.yaml")]) == 0


def test_from_keras_writes_the_native_type() -> None:
    model = nf.build(nf.load_spec(SPEC))
    spec = nf.from_keras(model)
    assert spec.nodes["n"].layer.type == "GroupQueryAttention"
    rebuilt = nf.build(spec)
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 6, 5)).astype("float32")
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), atol=1e-6)


def test_the_table_of_exported_names_is_keras_s() -> None:
    import keras

    from netform._keras_names import KERAS_CLASS_OF_EXPORT

    names = set(dir(keras.layers))
    found = {
        name: cls.__name__
        for name in names
        if isinstance(cls := getattr(keras.layers, name), type) and cls.__name__ != name and cls.__name__ not in names
    }
    assert found == KERAS_CLASS_OF_EXPORT
