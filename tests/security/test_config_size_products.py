"""Layers no static rule counts are counted by what their sizes make, not by their largest size alone.

Small edited ``.keras`` files made ``inspect`` and ``nf.load`` allocate gigabytes before a weight was read: a
``ReversibleEmbedding`` edited to 40,000 x 40,000 (14 KB; 7 GB, 56 s), an ``STFTSpectrogram`` edited to a
frame of 20,000 and an FFT of 40,000 (8.6 GB), a ``SpectralNormalization`` whose Dense was edited to 40,000
units on 40,000 features (7 GB), an ``RNN`` of an ``LSTMCell`` and a ``StackedRNNCells`` of ``GRUCell``s edited
to 40,000 units (25.6 GB asked for). Each was counted as 40,000 values, or none. Compile-time metrics with
thresholds hold four variables of that length, and are counted so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import keras
import pytest
from keras import layers

import netform as nf
from netform.cli import main
from netform.errors import FormatError

from ._helpers import json_member, rezip


def _edited(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    return Path(rezip(str(source), str(target), json_member("config.json", edit)))


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _set(class_name: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        for item in _walk(config):
            if item.get("class_name") == class_name and isinstance(item.get("config"), dict):
                item["config"].update(values)

    return edit


def _models() -> dict[str, tuple[keras.Model, Callable[[dict[str, Any]], None], str]]:
    ints = keras.Input((4,), dtype="int32")
    wave = keras.Input((64, 1))
    row = keras.Input((3,))
    seq = keras.Input((5, 3))

    def wide_input(config: dict[str, Any]) -> None:  # the Dense in the wrapper and its recorded input, 40,000
        _set("Dense", units=40_000)(config)
        for item in _walk(config):
            for key in ("batch_shape", "input_shape"):
                if isinstance(item.get(key), list) and item[key] and item[key][-1] == 3:
                    item[key][-1] = 40_000

    return {
        "reversible": (
            keras.Model(ints, layers.ReversibleEmbedding(10, 8, tie_weights=False)(ints)),
            _set("ReversibleEmbedding", input_dim=40_000, output_dim=40_000),
            "1,600,000,000",
        ),
        "stft": (
            keras.Model(wave, layers.STFTSpectrogram(frame_length=8, frame_step=4, fft_length=8, window=None)(wave)),
            _set("STFTSpectrogram", frame_length=20_000, fft_length=40_000),
            "800,040,000",
        ),
        "spectral": (keras.Model(row, layers.SpectralNormalization(layers.Dense(4))(row)), wide_input, "1,600,0"),
        "lstm_cell": (
            keras.Model(seq, layers.RNN(layers.LSTMCell(4))(seq)),
            _set("LSTMCell", units=40_000),
            "6,400,000,000",
        ),
        "gru_cells": (
            keras.Model(seq, layers.RNN(layers.StackedRNNCells([layers.GRUCell(4), layers.GRUCell(4)]))(seq)),
            _set("GRUCell", units=40_000),
            "4,800,000,000",
        ),
    }


@pytest.mark.parametrize("kind", ["reversible", "stft", "spectral", "lstm_cell", "gru_cells"])
def test_an_edited_size_is_counted_as_what_it_makes(kind: str, tmp_path: Path) -> None:
    model, edit, declared = _models()[kind]
    small = tmp_path / "m.keras"
    model.save(small)
    assert nf.load(small).count_params() == model.count_params()  # the file as Keras wrote it loads
    assert main(["inspect", str(small)]) == 0
    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=rf"declares {declared}[\d,]* weight values, more than"):
        nf.load(bomb)
    assert main(["inspect", str(bomb)]) == 5


def test_thresholds_count_four_variables_each(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.PrecisionAtRecall(0.5, num_thresholds=10)])
    small = tmp_path / "m.keras"
    model.save(small)
    assert nf.load(small).compiled

    def edit(config: dict[str, Any]) -> None:
        config["compile_config"]["metrics"][0]["config"]["num_thresholds"] = 16_000_000

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"declares metrics holding 64,000,000 values"):
        nf.load(bomb)


@pytest.mark.parametrize("where", ["input", "build_input_shape"])
def test_a_layer_without_its_build_config_is_counted_on_the_model_input(where: str, tmp_path: Path) -> None:
    # Keras builds a layer without a build_config on the shape that reaches it: an Input edited to 300,000,000
    # features and a Dense without its build_config made nf.load allocate 6.6 GB (the Dense was counted on
    # the smallest input, as 2 values)
    small = tmp_path / "sq.keras"
    keras.Sequential([keras.Input((4,)), layers.Dense(1)]).save(small)

    def edit(config: dict[str, Any]) -> None:
        listed = config["config"]["layers"]
        if where == "input":
            listed[0]["config"]["batch_shape"] = [None, 300_000_000]
            config.pop("build_config", None)
        else:  # a Sequential without its InputLayer, built on build_input_shape
            del listed[0]
            config["config"]["build_input_shape"] = [None, 300_000_000]
            config["build_config"] = {"input_shape": [None, 300_000_000]}
        listed[-1].pop("build_config", None)

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"declares 300,000,001 weight values, more than the 5"):
        nf.load(bomb)
    assert main(["inspect", str(bomb)]) == 5

    def unbuilt_only(config: dict[str, Any]) -> None:  # the same file without the edited size loads
        config["config"]["layers"][-1].pop("build_config", None)

    assert nf.load(_edited(small, tmp_path / "plain.keras", unbuilt_only)).count_params() == 5


def test_a_legacy_h5_sequential_is_counted_on_its_input(tmp_path: Path) -> None:
    # Keras's legacy model_config holds no build_config: its layers were counted on the smallest input, and an
    # Input edited to 300,000,000 features in a 12 KB .h5 cost inspect, summary, render and load 4.3 GB
    import h5py

    path = tmp_path / "sq.h5"
    keras.Sequential([keras.Input((4,)), layers.Dense(1)]).save(path)
    assert nf.load(path).count_params() == 5
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 300_000_000]
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(FormatError, match=r"declares 300,000,001 weight values, more than the 5"):
        nf.load(path)
    for command in ("inspect", "summary"):
        assert main([command, str(path)]) == 5


@pytest.mark.parametrize("edit_recorded", [False, True])
def test_a_legacy_h5_functional_is_counted_on_its_input(edit_recorded: bool, tmp_path: Path) -> None:
    # A Functional's legacy model_config holds no build_config either: Keras builds each layer on the tensor
    # the edited Input makes, whatever shape the layer's inbound node records
    import h5py

    path = tmp_path / "fn.h5"
    inputs = keras.Input((4,))
    hidden = layers.Dropout(0.1)(layers.Dense(3)(inputs))
    keras.Model(inputs, layers.Dense(2)(hidden)).save(path)
    assert nf.load(path).count_params() == 23
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 300_000_000]
        if edit_recorded:  # the shapes the inbound nodes record agree with the edit
            for item in _walk(config["config"]["layers"][1]["inbound_nodes"]):
                if "keras_history" in item:
                    item["shape"] = [None, 300_000_000]
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(FormatError, match=r"declares 900,000,0\d\d weight values, more than the 23"):
        nf.load(path)
    for command in ("inspect", "summary"):
        assert main([command, str(path)]) == 5


def _category_then_dense() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((10,)),
            layers.CategoryEncoding(num_tokens=20, output_mode="multi_hot", name="enc"),
            layers.Dense(8, name="dense"),
        ]
    )


def test_a_layer_after_one_without_a_static_rule_is_counted(tmp_path: Path) -> None:
    # CategoryEncoding has no static rule: the Dense after it, without its build_config, was not counted, and
    # a 14 KB file edited to 100,000,000 tokens made nf.load and render allocate 10.3 GB
    small = tmp_path / "cat.keras"
    _category_then_dense().save(small)

    def edit(config: dict[str, Any]) -> None:
        for layer in config["config"]["layers"]:
            if layer["config"]["name"] == "enc":
                layer["config"]["num_tokens"] = 100_000_000
            if layer["config"]["name"] == "dense":
                layer.pop("build_config", None)

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"declares 800,000,008 weight values, more than the 168"):
        nf.load(bomb)
    assert main(["render", str(bomb), "-o", str(tmp_path / "r.svg")]) == 5
    assert not (tmp_path / "r.svg").exists()
    assert nf.load(small).count_params() == 168


def test_a_spec_model_is_counted_after_a_layer_without_a_static_rule(tmp_path: Path) -> None:
    # the same layers in a netform SpecModel (its spec holds no build_config at all): 10.3 GB for inspect,
    # summary, export-spec and nf.load
    spec = nf.from_keras(_category_then_dense())
    small = tmp_path / "sub.keras"
    nf.save(nf.build(spec, api="subclass"), small)

    def edit(config: dict[str, Any]) -> None:
        for layer in _walk(config["config"]["spec"]):
            if layer.get("class_name") == "CategoryEncoding" and "config" in layer:
                layer["config"]["num_tokens"] = 100_000_000

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"declares 800,000,008 weight values"):
        nf.load(bomb)
    for command in ("inspect", "summary"):
        assert main([command, str(bomb)]) == 5
    assert nf.load(small).count_params() == 168


@pytest.mark.parametrize("layer", ["IntegerLookup", "StringLookup"])
def test_out_of_vocabulary_indices_are_bounded(layer: str, tmp_path: Path) -> None:
    # Keras lists num_oov_indices tokens when it makes a lookup layer: 900,000,000 in a 22 KB file cost summary,
    # inspect, render and nf.load 7.5 GB before a weight was read (no weight holds them)
    if layer == "IntegerLookup":
        inputs = keras.Input((3,), dtype="int64")
        lookup = layers.IntegerLookup(vocabulary=[1, 2, 3], output_mode="multi_hot")
    else:
        inputs = keras.Input((3,), dtype="string")
        lookup = layers.StringLookup(vocabulary=["a", "b", "c"], output_mode="multi_hot")
    small = tmp_path / "lookup.keras"
    keras.Model(inputs, layers.Dense(3)(lookup(inputs))).save(small)

    def edit(config: dict[str, Any]) -> None:
        for item in config["config"]["layers"]:
            if item["class_name"] == layer:
                item["config"]["num_oov_indices"] = 900_000_000

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    for load in (nf.load, nf.inspect):
        with pytest.raises(FormatError, match=r"num_oov_indices .*netform takes at most 1,000,000"):
            load(bomb)
    assert main(["render", str(bomb), "-o", str(tmp_path / "r.svg")]) == 5
    assert nf.load(small).count_params() == 15
    import h5py  # the same edit in a legacy .h5's model_config

    legacy = tmp_path / "lookup.h5"
    nf.load(small).save(legacy)
    with h5py.File(legacy, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(FormatError, match=r"num_oov_indices .*at most 1,000,000|alone declares 900,000,000"):
        nf.load(legacy)
    assert main(["summary", str(legacy)]) == 5
    spec = {
        "netform": 1,
        "kind": "functional",
        "inputs": {"x": {"shape": [3], "dtype": "int64"}},
        "nodes": {
            "look": {
                "type": "KerasLayer",
                "class_name": "IntegerLookup",
                "config": {"vocabulary": [1, 2, 3], "num_oov_indices": 900_000_000},
                "in": "x",
            }
        },
        "outputs": ["look"],
    }
    with pytest.raises(nf.SpecError, match=r"num_oov_indices"):
        nf.load_spec(spec)


@pytest.mark.parametrize("without_build_config", [False, True])
def test_normalization_constants_count_on_the_input(without_build_config: bool, tmp_path: Path) -> None:
    # a Normalization given its mean and variance broadcasts both to the input's kept axes when Keras builds
    # it: an input edited to 20,000 x 20,000 in a 15 KB file cost nf.load 3.8 GB (8.7 GB for four such layers),
    # counted as no weights
    inputs = keras.Input((7, 7))
    normed = layers.Normalization(axis=(1, 2), mean=0.5, variance=2.0)(inputs)
    small = tmp_path / "norm.keras"
    keras.Model(inputs, layers.GlobalAveragePooling1D()(normed)).save(small)

    def edit(config: dict[str, Any]) -> None:
        for item in _walk(config):
            for key in ("batch_shape", "input_shape", "shape"):
                if item.get(key) == [None, 7, 7]:
                    item[key] = [None, 20_000, 20_000]
        if without_build_config:
            for item in config["config"]["layers"]:
                if item["class_name"] == "Normalization":
                    item.pop("build_config", None)

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"declares 783,222,784 weight values, more than the 0"):
        nf.load(bomb)
    assert nf.load(small).count_params() == 0  # a small one still loads (its 98 constants are under the slack)


def test_text_vectorization_ngrams_are_bounded(tmp_path: Path) -> None:
    # Keras makes range(1, ngrams + 1) when it makes the layer: ngrams 10,000,000 in an 18 KB file took nf.load
    # and render 30 s (100,000,000: 249 s, 6 GB)
    inputs = keras.Input((1,), dtype="string")
    vectorize = layers.TextVectorization(
        max_tokens=20, ngrams=2, vocabulary=["a", "b", "c"], output_mode="int", output_sequence_length=5
    )
    small = tmp_path / "tv.keras"
    keras.Model(inputs, layers.Embedding(25, 3)(vectorize(inputs))).save(small)

    def edit(config: dict[str, Any]) -> None:
        for item in config["config"]["layers"]:
            if item["class_name"] == "TextVectorization":
                item["config"]["ngrams"] = 10_000_000

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"ngrams 10000000; netform takes n-grams up to 1,000"):
        nf.load(bomb)
    assert main(["render", str(bomb), "-o", str(tmp_path / "r.svg")]) == 5
    assert nf.load(small).count_params() == 75
    spec = {
        "netform": 1,
        "kind": "functional",
        "inputs": {"x": {"shape": [1], "dtype": "string"}},
        "nodes": {
            "tv": {
                "type": "KerasLayer",
                "class_name": "TextVectorization",
                "config": {"vocabulary": ["a", "b"], "ngrams": 10_000_000},
                "in": "x",
            }
        },
        "outputs": ["tv"],
    }
    with pytest.raises(nf.SpecError, match=r"ngrams"):
        nf.load_spec(spec)


@pytest.mark.parametrize("layer", ["StringLookup", "TextVectorization"])
def test_tf_idf_weights_padded_to_max_tokens_count(layer: str, tmp_path: Path) -> None:
    # Keras pads a tf-idf lookup's idf_weights to max_tokens when it makes the layer: max_tokens 400,000,000 in
    # a 13 KB file cost inspect, summary and nf.load 10 GB and 12-34 s
    inputs = keras.Input((1,), dtype="string")
    if layer == "StringLookup":
        made = layers.StringLookup(
            vocabulary=["a", "b", "c"],
            idf_weights=[1.0, 2.0, 3.0],
            output_mode="tf_idf",
            pad_to_max_tokens=True,
            max_tokens=10,
        )
    else:
        made = layers.TextVectorization(
            vocabulary=["a", "b", "c"],
            idf_weights=[1.0, 2.0, 3.0],
            output_mode="tf_idf",
            pad_to_max_tokens=True,
            max_tokens=10,
        )
    small = tmp_path / "tfidf.keras"
    keras.Model(inputs, made(inputs)).save(small)

    def edit(config: dict[str, Any]) -> None:
        for item in config["config"]["layers"]:
            if item["class_name"] == layer:
                item["config"]["max_tokens"] = 400_000_000

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    for load in (nf.load, nf.inspect):
        with pytest.raises(FormatError, match=r"declares 1,183,222,78\d weight values"):
            load(bomb)
    nf.load(small)  # the file as Keras wrote it loads


def test_rms_normalization_is_counted_on_its_axes(tmp_path: Path) -> None:
    # no static rule knows RMSNormalization: its scale over the input's axes was not counted, and a 12.9 KB
    # file edited to a 20,000 x 20,000 input with axis [1, 2] cost nf.load and render 5.3 GB
    inputs = keras.Input((4, 5))
    small = tmp_path / "rms.keras"
    keras.Model(inputs, layers.RMSNormalization()(inputs)).save(small)

    def edit(config: dict[str, Any]) -> None:
        listed = config["config"]["layers"]
        listed[0]["config"]["batch_shape"] = [None, 20_000, 20_000]
        listed[1]["build_config"]["input_shape"] = [None, 20_000, 20_000]
        listed[1]["config"]["axis"] = [1, 2]

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"declares 400,000,000 weight values, more than the 5"):
        nf.load(bomb)
    assert main(["inspect", str(bomb)]) == 5
    assert nf.load(small).count_params() == 5
