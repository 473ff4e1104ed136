"""CSV columns of categories reach `dtype: string` inputs as strings, through StringLookup; compared with Keras."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: shop
    kind: functional
    inputs:
      colour: {shape: [1], dtype: string}
      code: {shape: [1], dtype: string}
      num: {shape: [2]}
    nodes:
      colour_hot: {type: StringLookup, vocabulary: [red, green, blue], output_mode: one_hot, in: colour}
      code_hot: {type: StringLookup, vocabulary: ['10115', '20095'], output_mode: one_hot, in: code}
      both: {type: Concatenate, in: [colour_hot, code_hot, num]}
      out: {type: Dense, units: 1, kernel_initializer: {type: GlorotUniform, seed: 4}, in: both}
    outputs: [out]
    training:
      optimizer: {type: SGD, learning_rate: 0.05}
      loss: mse
      batch_size: 8
      epochs: 2
      shuffle: false
    """)
N = 32


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("strings")
    (d / "shop.yaml").write_text(SPEC)
    rng = np.random.default_rng(5)
    colour = rng.choice(["red", "green", "blue", "violet"], N)
    code = rng.choice(["10115", "20095", "80331"], N)  # categories written as numbers
    f = rng.normal(size=(N, 2)).round(3)
    y = (colour == "red") * 2.0 + (code == "10115") + f[:, 0]
    with open(d / "shop.csv", "w") as fh:
        fh.write("f0,colour,code,f1,y\n")
        for i in range(N):
            fh.write(f"{f[i, 0]},{colour[i]},{code[i]},{f[i, 1]},{y[i]:.4f}\n")
    return d


def _read(work: Path) -> dict[str, np.ndarray]:
    with open(work / "shop.csv") as fh:
        header = fh.readline().strip().split(",")
        rows = [line.strip().split(",") for line in fh]
    return {name: np.array([row[i] for row in rows]) for i, name in enumerate(header)}


def _keras_model() -> object:
    import keras

    colour, code, num = keras.Input((1,), dtype="string"), keras.Input((1,), dtype="string"), keras.Input((2,))
    both = keras.layers.Concatenate()([
        keras.layers.StringLookup(vocabulary=["red", "green", "blue"], output_mode="one_hot")(colour),
        keras.layers.StringLookup(vocabulary=["10115", "20095"], output_mode="one_hot")(code), num])
    out = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=4))(both)
    model = keras.Model([colour, code, num], out)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    return model


def test_string_columns_train_and_predict_through_string_lookup_like_keras(work: Path) -> None:
    import keras
    import tensorflow as tf

    out = work / "shop.keras"
    # named inputs, in another order than the spec's
    assert main(["train", str(work / "shop.yaml"), "--data", str(work / "shop.csv"), "--x", "num=f0,f1",
                 "--x", "code=code", "--x", "colour=colour", "--y", "y", "--verbose", "0", "-o", str(out)]) == 0
    cols = _read(work)
    x = [tf.constant(cols["colour"].reshape(-1, 1)), tf.constant(cols["code"].reshape(-1, 1)),
         np.stack([cols["f0"], cols["f1"]], axis=1).astype("float32")]
    model = _keras_model()
    model.fit(x, cols["y"].astype("float32"), batch_size=8, epochs=2, shuffle=False, verbose=0)
    trained = keras.saving.load_model(out)
    for got, expected in zip(trained.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    # the saved model predicts from the same CSV: its string inputs read as text again
    assert main(["predict", str(out), "--data", str(work / "shop.csv"), "--x", "colour", "--x", "code",
                 "--x", "f0,f1", "-o", str(work / "p.npy")]) == 0
    np.testing.assert_allclose(np.load(work / "p.npy"), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_a_number_column_for_a_string_input_is_read_as_written(tmp_path: Path) -> None:
    from netform.cli._columns import parse_choices, select
    from netform.cli._data_files import read_data

    path = tmp_path / "codes.csv"
    path.write_text("code,n\n007,1\n10115,2\n1e3,3\n")
    data = read_data(str(path), text=True)
    got = select(data, parse_choices(["code"], "--x"), ["code"], "--x", {"code": ("string", (1,))})
    assert got.shape == (3, 1) and got[:, 0].tolist() == ["007", "10115", "1e3"]  # not 7.0, 10115.0, 1000.0
    numbers = select(data, parse_choices(["n"], "--x"), ["n"], "--x", {"n": ("float32", (1,))})
    assert numbers.tolist() == [1.0, 2.0, 3.0]


def test_npz_string_arrays_feed_string_inputs_and_are_refused_for_numbers(tmp_path: Path) -> None:
    from netform.cli._columns import parse_choices, select
    from netform.cli._data_files import read_data
    from netform.errors import DataError

    np.savez(tmp_path / "d.npz", colour=np.array(["red", "blue"]), n=np.array([1.0, 2.0]))
    data = read_data(str(tmp_path / "d.npz"), text=True)
    got = select(data, parse_choices(["colour"], "--x"), ["c"], "--x", {"c": ("string", (1,))})
    assert got.tolist() == [["red"], ["blue"]]
    with pytest.raises(DataError, match=r"d\.npz: array 'colour' holds strings \(<U4\); the input 'x' takes numbers "
                                        r"\(float32\)\. A column of categories goes to an input with `dtype: string`"):
        select(data, parse_choices(["colour"], "--x"), ["x"], "--x", {"x": ("float32", (1,))})
    with pytest.raises(DataError, match=r"d\.npz: array 'n' holds numbers \(float64\), but the input 'c' takes strings"):
        select(data, parse_choices(["n"], "--x"), ["c"], "--x", {"c": ("string", (1,))})
    with pytest.raises(DataError, match=r"array 'colour' holds <U4 values; netform trains on numbers"):
        read_data(str(tmp_path / "d.npz"))  # without text=True, as before


def test_string_lookup_adapts_its_vocabulary_like_keras() -> None:
    import keras
    import tensorflow as tf

    import netform as nf
    from netform.engine._adapt import adapt_layers

    spec = nf.load_spec(textwrap.dedent("""\
        netform: 1
        name: vocab
        kind: functional
        inputs:
          c: {shape: [1], dtype: string}
        nodes:
          look: {type: StringLookup, adapt: true, in: c}
        outputs: [look]
        """))
    words = tf.constant(np.array(["b", "a", "c", "a", "b", "a"]).reshape(-1, 1))
    model = nf.build(spec)
    assert adapt_layers(model, spec, words) == [("look", "c", 6)]
    reference = keras.layers.StringLookup()
    reference.adapt(words)
    assert model.get_layer("look").get_vocabulary() == reference.get_vocabulary() == ["[UNK]", "a", "b", "c"]
    np.testing.assert_array_equal(model.predict(words, verbose=0), reference(words).numpy())


@pytest.mark.parametrize(("field", "message"), [
    ("vocabulary: [a, b], adapt: true", "`adapt: true` computes the vocabulary from the training data; give "
                                        "`vocabulary`, or adapt, not both"),
    ("vocabulary: [a, a]", "the vocabulary holds 'a' twice; each string once"),
    ("vocabulary: vocab.txt", "input should be a valid"),
    ("output_mode: int", "StringLookup needs its vocabulary"),
    ("vocabulary: []", "an empty list is no vocabulary"),
])
def test_string_lookup_fields_are_checked(field: str, message: str) -> None:
    import netform as nf
    from netform.errors import SpecError

    spec = SPEC.replace("{type: StringLookup, vocabulary: [red, green, blue], output_mode: one_hot, in: colour}",
                        "{type: StringLookup, " + field + ", in: colour}")
    with pytest.raises(SpecError, match=r"nodes\.colour_hot.*" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        nf.load_spec(spec)


def test_a_string_lookup_fed_by_a_numeric_input_is_a_located_error() -> None:
    import netform as nf
    from netform.errors import SpecError

    with pytest.raises(SpecError) as err:
        nf.load_spec(SPEC.replace("colour: {shape: [1], dtype: string}", "colour: {shape: [1]}"))
    assert [str(d) for d in err.value.diagnostics] == [
        "<string>:9:3: nodes.colour_hot: StringLookup maps strings, but the input 'colour' that feeds it has dtype "
        "float32; give it `dtype: string` (a CSV column of categories then reaches it as text)"]
