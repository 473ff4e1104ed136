"""A model file is held to the same cost bounds as a spec, in every format.

A 256 KB ``.keras`` holding a ``MultiHeadAttention`` of 3,000 heads over 1,000 steps loaded, and ``predict``
asked TensorFlow for 12 GB of attention scores (the bound held at validate only). A legacy ``.h5`` records no
``build_config``, so none of the per-layer bounds applied to it: an LSTM unrolled over 1,000 steps, a
``SpectralNormalization`` of 1,000 power iterations and a chain of unrolled layers each under its own limit all
loaded, where the same model as a ``.keras`` was refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import pytest

import netform as nf
from netform.errors import FormatError


def _attention(heads: int, steps: int) -> keras.Model:
    inputs = keras.Input((steps, 4))
    return keras.Model(inputs, keras.layers.MultiHeadAttention(num_heads=heads, key_dim=1)(inputs, inputs))


def _grouped(heads: int, steps: int) -> keras.Model:
    query, value = keras.Input((steps, 4)), keras.Input((steps, 4))
    layer = keras.layers.GroupQueryAttention(head_dim=1, num_query_heads=heads, num_key_value_heads=1)
    return keras.Model([query, value], layer(query, value))


def _additive(steps: int) -> keras.Model:
    query, value = keras.Input((steps, 4)), keras.Input((steps, 4))
    return keras.Model([query, value], keras.layers.AdditiveAttention()([query, value]))


def _dilated(dilation: int) -> keras.Model:
    inputs = keras.Input((64, 64, 3))
    return keras.Model(inputs, keras.layers.Conv2D(2, 3, dilation_rate=dilation, padding="same")(inputs))


def _chain(layers: int, steps: int = 200) -> keras.Model:
    inputs = keras.Input((steps, 4))
    x = inputs
    for _ in range(layers):
        x = keras.layers.SimpleRNN(4, unroll=True, return_sequences=True)(x)
    return keras.Model(inputs, x)


def _bidirectional(layers: int) -> keras.Model:
    inputs = keras.Input((200, 4))
    x = inputs
    for _ in range(layers):
        x = keras.layers.Bidirectional(keras.layers.SimpleRNN(4, unroll=True, return_sequences=True))(x)
    return keras.Model(inputs, x)


def _unrolled(steps: int) -> keras.Model:
    inputs = keras.Input((steps, 4))
    return keras.Model(inputs, keras.layers.SimpleRNN(4, unroll=True)(inputs))


def _spectral(iterations: int) -> keras.Model:
    inputs = keras.Input((8,))
    layer = keras.layers.SpectralNormalization(keras.layers.Dense(3), power_iterations=iterations)
    return keras.Model(inputs, layer(inputs))


REFUSED: list[tuple[Any, str]] = [
    (lambda: _attention(3_000, 1_000), r"attention scores hold 3,000,000,000 values a sample \(3,000 x 1,000 x 1,000\)"),
    (lambda: _grouped(3_000, 1_000), r"GroupQueryAttention's attention scores hold 3,000,000,000 values"),
    (lambda: _additive(50_000), r"AdditiveAttention's attention scores hold 10,000,000,000 values"),
    (lambda: _dilated(30_000), r"pads each sample to 90,000 x 90,000 \(24,300,000,000 values\)"),
    (lambda: _chain(6), r"1,200 copies of a step .*at most 1,024"),
    (lambda: _bidirectional(3), r"1,200 copies of a step .*at most 1,024"),
]
PASSED: list[Any] = [
    lambda: _attention(8, 1_000),
    lambda: _grouped(8, 1_000),
    lambda: _additive(1_000),
    lambda: _dilated(4),
    lambda: _chain(4),
    lambda: _bidirectional(2),
]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize(("make", "message"), REFUSED)
def test_a_model_file_past_the_spec_bounds_is_refused(tmp_path: Path, suffix: str, make: Any, message: str) -> None:
    path = tmp_path / f"m{suffix}"
    make().save(path)
    with pytest.raises(FormatError, match=message) as caught:
        nf.load(path)
    assert str(path) in str(caught.value) and "refused as corrupt or hostile" in str(caught.value)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("make", PASSED)
def test_the_same_layers_within_bounds_load(tmp_path: Path, suffix: str, make: Any) -> None:
    path = tmp_path / f"m{suffix}"
    make().save(path)
    nf.load(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _unrolled(1_000), r"SimpleRNN with unroll: true over 1,000 time steps"),
        (lambda: _spectral(1_000), r"has power_iterations 1000; netform takes at most 100"),
    ],
)
def test_a_legacy_h5_is_held_to_the_per_layer_bounds(tmp_path: Path, make: Any, message: str) -> None:
    """A ``.h5`` records no ``build_config``: the shapes come from the config's inputs, through the static rules."""
    path = tmp_path / "m.h5"
    make().save(path)
    with pytest.raises(FormatError, match=message):
        nf.load(path)
    with pytest.raises(FormatError, match=message):
        nf.inspect(path)


def test_the_inspecting_commands_refuse_them_too(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    _attention(3_000, 1_000).save(path)
    with pytest.raises(FormatError, match=r"attention scores hold 3,000,000,000"):
        nf.inspect(path)


def test_a_long_einsum_equation_is_refused_before_keras_reads_it(tmp_path: Path) -> None:
    """Keras reads an EinsumDense equation in time growing with the square of its length: eight equations of
    520,000 characters (one repeated letter, a 14 KB file) cost ``nf.load`` 40 s of CPU before Keras refused it."""
    import json
    import time
    import zipfile

    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, [keras.layers.EinsumDense("...ab,bc->...ac", output_shape=(4, 5))(inputs)
                                 for _ in range(8)])
    model.save(tmp_path / "ok.keras")
    nf.load(tmp_path / "ok.keras")
    with zipfile.ZipFile(tmp_path / "ok.keras") as archive:
        config = json.loads(archive.read("config.json"))
        members = {name: archive.read(name) for name in archive.namelist()}
    n = 520_000
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "EinsumDense":
            layer["config"]["equation"] = "..." + "b" * (n - 1) + "a,bc->..." + "a" * (n - 1) + "c"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "long.keras", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert (tmp_path / "long.keras").stat().st_size < 50_000
    start = time.process_time()
    with pytest.raises(FormatError, match=r"has equation '\.\.\.b+\.\.\.; 1,040,011 characters; netform takes at most 1,024"):
        nf.load(tmp_path / "long.keras")
    assert time.process_time() - start < 10  # (40 s before)
    spec = ("netform: 1\nkind: sequential\ninputs: {x: {shape: [4, 3]}}\nlayers:\n"
            f"  - {{type: EinsumDense, equation: '...{'b' * 2_000}a,bc->...ac', output_shape: [4, 5]}}\n")
    with pytest.raises(nf.SpecError, match=r"layers\[0\]\.equation: 2,014 characters; netform takes at most 1,024"):
        nf.load_spec(spec)


def _distributed(layers: int, steps: int = 250) -> keras.Model:
    inputs = keras.Input((steps, 4))
    x = inputs
    for _ in range(layers):
        x = keras.layers.TimeDistributed(keras.layers.Dense(4))(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("suffix", [".keras", ".h5", "_savedmodel"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _distributed(5), r"1,250 copies of a step"),
        (lambda: _attention(9, 16_384), r"attention scores hold 2,415,919,104 values a sample"),
    ],
)
def test_netform_does_not_save_what_its_loaders_refuse(tmp_path: Path, suffix: str, make: Any, message: str) -> None:
    """Five TimeDistributed layers over 250 fixed steps (each under its own limit) were saved, and the file was then
    refused as corrupt or hostile; the save is refused now, before anything is written."""
    path = tmp_path / f"m{suffix}"
    with pytest.raises(nf.SaveError, match=rf"past netform's limits for a model file.*{message}.*Nothing was written"):
        nf.save(make(), path)
    assert not path.exists()


def test_a_model_within_the_limits_is_saved_and_loaded(tmp_path: Path) -> None:
    nf.save(_distributed(4), tmp_path / "m.keras")
    nf.load(tmp_path / "m.keras")
