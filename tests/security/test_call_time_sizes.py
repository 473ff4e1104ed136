"""Sizes Keras allocates from at each call or step, whatever the data: bounded before anything runs.

An 18 KB ``.keras`` whose ``TextVectorization`` was edited to ``output_sequence_length: 300000000`` cost
``predict`` 7.8 GB for 2 rows and crashed it (``std::bad_alloc``, exit 134) for 4. A 177 KB ``.keras`` of one
``Dense(1)`` on 40,000 inputs with an ``OrthogonalRegularizer(mode="rows")`` made a 40,000 x 40,000 matrix
(6.4 GB) at every ``evaluate``, and the message advised a smaller batch.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli._main import main


def _edited(src: Path, dst: Path, old: str, new: str) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                text = data.decode()
                assert old in text
                data = text.replace(old, new).encode()
            zout.writestr(item, data)
    return dst


def test_a_text_vectorization_padding_every_text_to_millions_is_refused(tmp_path: Path) -> None:
    inputs = keras.Input((1,), dtype="string")
    tv = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=10, vocabulary=["a", "b", "c"])
    outputs = keras.layers.Dense(1)(keras.ops.cast(tv(inputs), "float32"))
    good = tmp_path / "tv.keras"
    keras.Model(inputs, outputs).save(good)
    assert nf.load(good) is not None
    bad = _edited(good, tmp_path / "bad.keras", '"output_sequence_length": 10', '"output_sequence_length": 300000000')
    with pytest.raises(nf.FormatError, match="output_sequence_length"):
        nf.load(bad)
    with pytest.raises(nf.FormatError, match="output_sequence_length"):
        nf.inspect(str(bad))


def test_a_spec_s_text_vectorization_is_bounded_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tv.yaml"
    spec.write_text(
        "netform: 1\nname: tv\nkind: sequential\ninputs: {t: {shape: [1], dtype: string}}\nlayers:\n"
        "  - {type: KerasLayer, class_name: TextVectorization, config: {max_tokens: 20, "
        "output_sequence_length: 300000000, vocabulary: [a, b]}}\n"
    )
    assert main(["validate", str(spec)]) == 1
    assert "output_sequence_length" in capsys.readouterr().err


def _orthogonal(inputs: int, mode: str = "rows") -> keras.Model:
    x = keras.Input((inputs,))
    regularizer = keras.regularizers.OrthogonalRegularizer(factor=0.01, mode=mode)
    model = keras.Model(x, keras.layers.Dense(1, kernel_regularizer=regularizer)(x))
    model.compile(loss="mse")
    return model


def test_an_orthogonal_regularizer_of_a_huge_matrix_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "orth.keras"
    _orthogonal(40_000).save(path)
    assert path.stat().st_size < 400_000
    with pytest.raises(nf.FormatError, match="40,000 x 40,000 matrix"):
        nf.load(path)
    small = tmp_path / "small.keras"
    _orthogonal(40_000, mode="columns").save(small)  # a 1 x 1 matrix each step
    model = nf.load(small)
    model.evaluate(np.zeros((4, 40_000), "float32"), np.zeros((4, 1), "float32"), verbose=0)


def test_an_orthogonal_regularizer_of_a_huge_matrix_is_refused_in_a_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "orth.yaml"
    text = (
        "netform: 1\nname: orth\nkind: sequential\ninputs: {x: {shape: [SIZE]}}\nlayers:\n"
        "  - {type: Dense, units: 1, kernel_regularizer: {type: OrthogonalRegularizer, factor: 0.01, mode: rows}}\n"
        "  - {type: KerasLayer, class_name: Dense, config: {units: 2, kernel_regularizer: "
        "{class_name: OrthogonalRegularizer, config: {factor: 0.01, mode: columns}}}}\n"
    )
    spec.write_text(text.replace("SIZE", "40000"))
    assert main(["validate", str(spec)]) == 1
    assert "40,000 x 40,000 matrix" in capsys.readouterr().err
    spec.write_text(text.replace("SIZE", "4000"))
    assert nf.build(str(spec)).count_params() == 4001 + 4


def test_a_generic_layer_s_orthogonal_regularizer_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "orth.yaml"
    spec.write_text(
        "netform: 1\nname: orth\nkind: sequential\ninputs: {x: {shape: [8]}}\nlayers:\n"
        "  - {type: KerasLayer, class_name: Dense, config: {units: 40000, kernel_regularizer: "
        "{class_name: OrthogonalRegularizer, config: {factor: 0.01, mode: columns}}}}\n"
    )
    with pytest.raises(nf.SpecError, match="40,000 x 40,000 matrix"):
        nf.build(str(spec))


def test_the_check_after_any_build_finds_each_regularized_weight() -> None:
    from netform.builder._build import heavy_regularizer

    x = keras.Input((3,))
    embedded = keras.layers.Embedding(
        40_000, 2, embeddings_regularizer=keras.regularizers.OrthogonalRegularizer(mode="rows")
    )(keras.ops.cast(x, "int32"))
    model = keras.Model(x, embedded)
    assert "40,000 x 40,000 matrix" in str(heavy_regularizer(model))
    assert heavy_regularizer(_orthogonal(400)) is None


def test_an_orthogonal_activity_regularizer_of_a_huge_matrix_is_refused(tmp_path: Path) -> None:
    x = keras.Input((1,))
    regularizer = keras.regularizers.OrthogonalRegularizer(factor=0.01, mode="columns")
    model = keras.Model(x, keras.layers.Dense(40_000, activity_regularizer=regularizer)(x))
    path = tmp_path / "act.keras"
    model.save(path)
    with pytest.raises(nf.FormatError, match="activity_regularizer OrthogonalRegularizer"):
        nf.load(path)
    spec = tmp_path / "act.yaml"
    spec.write_text(
        "netform: 1\nname: act\nkind: sequential\ninputs: {x: {shape: [1]}}\nlayers:\n"
        "  - {type: Dense, units: 40000, activity_regularizer: {type: OrthogonalRegularizer, mode: columns}}\n"
    )
    with pytest.raises(nf.BuildError, match="40,000 x 40,000 matrix"):
        nf.build(str(spec))
    spec.write_text(spec.read_text().replace("40000", "400"))
    assert nf.build(str(spec)).count_params() == 800
