"""What passed validate (or loading) and then failed later with a raw error, or was refused with another type.

A lookup layer (``IntegerLookup``, ``StringLookup``, ``TextVectorization``) written as a ``KerasLayer``
without a vocabulary, a ragged nested list as an op's value argument, and ``AUC(num_labels: N,
multi_label: true)`` on an output that is not ``N`` wide are located SpecErrors at validate;
``Model.fit(validation_split=…)`` that leaves no sample to train or validate on says so (a ValueError,
as Keras's), with a value that works; a SavedModel graph that calls a function its library does not
hold is a FormatError naming the file and the function, for load and inspect. Each refusal is checked
against Keras (or TensorFlow) failing on the same thing, and a good form beside it works.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from netform.errors import DataError, FormatError, SpecError
from netform.spec import load_spec

from ._helpers import ONE_NODE_SPEC, first_located_error

SPEC = ONE_NODE_SPEC


def _spec(node: str, shape: str = "[2, 2]", dtype: str = "float32") -> str:
    return SPEC % (shape, dtype, node)


_error = first_located_error


def _fails(fn: Any) -> bool:
    try:
        fn()
    except Exception:  # noqa: BLE001 - TensorFlow's error types differ by op; failing is the point
        return True
    return False


def _predict(text: str, x: Any) -> np.ndarray:
    import netform as nf

    model = nf.build(load_spec(text))
    return np.asarray(model.predict(x, verbose=0))


# -- 1. lookup layers without a vocabulary ---------------------------------------
@pytest.mark.parametrize(
    ("class_name", "config", "dtype", "says"),
    [
        ("IntegerLookup", "{}", "int64", "needs its vocabulary"),
        ("IntegerLookup", "{vocabulary: null, num_oov_indices: 1}", "int64", "needs its vocabulary"),
        ("IntegerLookup", "{vocabulary: []}", "int64", "empty"),
        ("IntegerLookup", "{vocabulary: [1, a]}", "int64", "a list of whole numbers"),
        ("StringLookup", "{}", "string", "needs its vocabulary"),
        ("StringLookup", "{vocabulary: [a, 3]}", "string", "a list of strings"),
        ("StringLookup", "{vocabulary: {a: 1}}", "string", "a list of strings"),
        ("TextVectorization", "{}", "string", "needs its vocabulary"),
    ],
)
def test_a_lookup_layer_without_a_vocabulary_is_refused(class_name: str, config: str, dtype: str, says: str) -> None:
    node = f"{{type: KerasLayer, class_name: {class_name}, config: {config}, in: x}}"
    shape = "[]" if class_name == "TextVectorization" else "[2]"
    diag = _error(_spec(node, shape=shape, dtype=dtype))
    assert diag.path == ("nodes", "o")
    assert "config.vocabulary" in diag.message and says in diag.message and "vocabulary: [" in diag.message


@pytest.mark.parametrize(
    ("make", "x"),
    [
        (lambda: keras.layers.IntegerLookup(), np.array([[1, 2]])),
        (lambda: keras.layers.StringLookup(), np.array([["a", "b"]], dtype=object)),
        (lambda: keras.layers.TextVectorization(), np.array(["a b"], dtype=object)),
        (lambda: keras.layers.IntegerLookup(vocabulary=[]), np.array([[1, 2]])),
    ],
)
def test_keras_fails_on_a_lookup_layer_never_adapted(make: Any, x: Any) -> None:
    assert _fails(lambda: make()(x))


def test_an_integer_lookup_with_its_vocabulary_builds_and_predicts() -> None:
    text = _spec("{type: KerasLayer, class_name: IntegerLookup, config: {vocabulary: [3, 5]}, in: x}", "[3]", "int64")
    assert _predict(text, np.array([[3, 5, 7]])).tolist() == [[1, 2, 0]]
    load_spec(
        _spec("{type: KerasLayer, class_name: StringLookup, config: {vocabulary: [a, b]}, in: x}", "[2]", "string")
    )
    load_spec(
        _spec("{type: KerasLayer, class_name: TextVectorization, config: {vocabulary: [a]}, in: x}", "[]", "string")
    )


# -- 2. ragged nested lists in an op's value arguments ----------------------------
@pytest.mark.parametrize(
    ("node", "arg", "says"),
    [
        ("{op: add, in: x, x2: [[1, 2], [3]]}", "x2", "[0] holds 2 items but [1] holds 1"),
        ("{op: add, in: [x, [[1, 2], [3]]]}", None, "[0] holds 2 items but [1] holds 1"),
        ("{op: multiply, in: x, x2: [1, [2, 3]]}", "x2", "[1] is a list but [0] is 1"),
        ("{op: add, in: x, x2: [[[1], [2]], [[1], [2, 3]]]}", "x2", "[0][0] holds 1 items but [1][1] holds 2"),
        ("{op: full_like, in: x, fill_value: [[1, 2], [3]]}", "fill_value", "ragged"),
    ],
)
def test_a_ragged_list_in_an_op_argument_is_refused(node: str, arg: str | None, says: str) -> None:
    diag = _error(_spec(node))
    assert diag.path == ("nodes", "o", arg or "op")
    assert "ragged" in diag.message and says in diag.message and "rectangular" in diag.message


def test_tensorflow_fails_on_a_ragged_constant() -> None:
    assert _fails(lambda: keras.ops.add(np.ones((2, 2), "float32"), [[1, 2], [3]]))
    assert _fails(lambda: keras.ops.multiply(np.ones((2, 2), "float32"), [1, [2, 3]]))


def test_a_rectangular_list_in_an_op_argument_builds_and_predicts() -> None:
    out = _predict(_spec("{op: add, in: [x, [[1, 2], [3, 4]]]}"), np.zeros((1, 2, 2), "float32"))
    assert out.tolist() == [[[1, 2], [3, 4]]]
    out = _predict(_spec("{op: full_like, in: x, fill_value: [[1, 2], [3, 4]]}"), np.zeros((1, 2, 2), "float32"))
    assert out.tolist() == [[[1, 2], [3, 4]]]
    load_spec(_spec("{op: add, in: x, x2: [[1, 2], [3, 4]]}"))
    load_spec(_spec("{op: add, in: x, x2: [[]]}", shape="[1, 1]"))


# -- 3. AUC num_labels against the output's width ----------------------------------
AUC_SPEC = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: %d, activation: sigmoid}
    training:
      loss: binary_crossentropy
      metrics: [accuracy, {type: AUC, multi_label: true, num_labels: %d}]
    """)


@pytest.mark.parametrize(("units", "labels"), [(3, 4), (3, 2), (2, 1)])
def test_auc_num_labels_that_is_not_the_output_width_is_refused(units: int, labels: int) -> None:
    diag = _error(AUC_SPEC % (units, labels))
    assert diag.path == ("training", "metrics", 1, "num_labels")
    assert f"num_labels is {labels}" in diag.message and f"predicts {units} label" in diag.message
    assert f"num_labels: {units}" in diag.message

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[keras.metrics.AUC(multi_label=True, num_labels=labels)])
    x, y = np.ones((4, 4), "float32"), np.ones((4, units), "float32")
    assert _fails(lambda: model.fit(x, y, epochs=1, verbose=0))


def test_auc_num_labels_on_an_output_of_rank_3_is_refused() -> None:
    text = AUC_SPEC.replace("x: {shape: [4]}", "x: {shape: [5, 4]}") % (3, 3)
    diag = _error(text)
    assert diag.path == ("training", "metrics", 1, "num_labels") and "(batch, num_labels)" in diag.message
    metric = keras.metrics.AUC(multi_label=True, num_labels=3)
    assert _fails(lambda: metric.update_state(np.ones((2, 5, 3), "float32"), np.ones((2, 5, 3), "float32")))


def test_auc_num_labels_that_is_the_output_width_trains(tmp_path: Path) -> None:
    from netform.engine import fit_from_training_config

    spec = load_spec(AUC_SPEC % (3, 3))
    import netform as nf

    training = spec.training.model_dump(exclude_none=True)  # type: ignore[union-attr]
    x, y = np.random.default_rng(0).random((8, 4), dtype=np.float32), np.ones((8, 3), "float32")
    y[::2] = 0
    history = fit_from_training_config(
        lambda: nf.build(spec), {**training, "epochs": 1}, x, y, verbose=0, out_dir=tmp_path
    )
    assert any(key.startswith("auc") for key in history.history)


def test_auc_num_labels_on_an_output_of_width_1_is_left_to_keras() -> None:
    """Keras broadcasts one column over num_labels curves and trains: not refused."""
    load_spec(AUC_SPEC % (1, 3))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[keras.metrics.AUC(multi_label=True, num_labels=3)])
    model.fit(np.ones((4, 4), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)


# -- 4. Model.fit's validation_split on arrays --------------------------------------
def _netform_model() -> Any:
    import netform as nf

    spec = load_spec(
        "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: [4]}\n"
        "layers:\n  - {type: Dense, units: 3, activation: softmax}\n"
    )
    model = nf.build(spec)
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def _keras_fit(n: int, split: float) -> Any:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    x, y = np.ones((n, 4), "float32"), np.zeros(n, "int64")
    return model.fit(x, y, epochs=1, verbose=0, validation_split=split)


@pytest.mark.parametrize(("n", "split"), [(16, 0.999), (10, 0.9), (3, 0.67)])
def test_fit_with_a_split_that_leaves_no_training_sample_says_which_values_work(n: int, split: float) -> None:
    with pytest.raises(ValueError, match="not sufficient to split"):  # Keras's own refusal: a ValueError
        _keras_fit(n, split)
    x, y = np.ones((n, 4), "float32"), np.zeros(n, "int64")
    with pytest.raises(DataError) as info:
        _netform_model().fit(x, y, epochs=1, verbose=0, validation_split=split)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "array data" not in message
    assert "leaving none to train on" in message and "validation_data=" in message
    largest = float(re.search(rf"with {n} samples pass at most ([0-9.e-]+)", message).group(1))  # type: ignore[union-attr]
    assert "val_loss" in _keras_fit(n, largest).history  # the value it names works in Keras
    assert _fails(lambda: _keras_fit(n, np.nextafter(largest, 1.0)))  # and is the largest that does
    assert "val_loss" in _netform_model().fit(x, y, epochs=1, verbose=0, validation_split=largest).history


def test_fit_with_a_split_that_leaves_no_validation_sample_says_so() -> None:
    with pytest.raises(ValueError, match="not sufficient to split"):
        _keras_fit(16, 1e-20)
    with pytest.raises(DataError, match="rounds down to no validation sample.*a larger fraction"):
        _netform_model().fit(np.ones((16, 4), "float32"), np.zeros(16, "int64"), verbose=0, validation_split=1e-20)


def test_fit_with_one_sample_and_a_split_says_it_cannot_be_split() -> None:
    with pytest.raises(DataError, match=r"holds 1 sample\(s\), which cannot be split"):
        _netform_model().fit(np.ones((1, 4), "float32"), np.zeros(1, "int64"), verbose=0, validation_split=0.5)


def test_training_config_names_the_largest_split_that_works(tmp_path: Path) -> None:
    from netform.engine import fit_from_training_config

    x, y = np.ones((10, 4), "float32"), np.zeros(10, "int64")
    config = {"loss": "sparse_categorical_crossentropy", "validation_split": 0.95}
    with pytest.raises(SpecError) as info:
        fit_from_training_config(_netform_model, config, x, y, verbose=0, out_dir=tmp_path)
    message = info.value.diagnostics[0].message
    largest = float(re.search(r"with 10 samples write at most ([0-9.e-]+)", message).group(1))  # type: ignore[union-attr]
    assert "val_loss" in _keras_fit(10, largest).history


# -- 5. a SavedModel graph that calls a function its library lacks -------------------
def _savedmodel_missing_function(tmp_path: Path, cut: str = "serving") -> tuple[Path, str]:
    """A foreign SavedModel with one function cut out of its graph's function library.

    ``cut`` is ``"serving"`` (the function the serving signature's wrapper calls) or ``"restore"`` (the
    checkpoint restorer, which the main graph calls).
    """
    from tensorflow.core.protobuf import saved_model_pb2

    from tests.security.make_model_corpus import _foreign_savedmodel

    path = _foreign_savedmodel(tmp_path / "cut_savedmodel", lambda x: x * 2.0)
    graph = path / "saved_model.pb"
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(graph.read_bytes())
    graph_def = saved.meta_graphs[0].graph_def
    callers = graph_def.node if cut == "restore" else [n for fn in graph_def.library.function for n in fn.node_def]
    called = sorted(value.func.name for node in callers for value in node.attr.values() if value.HasField("func"))
    missing = next(n for n in called if ("traced_restore" in n) == (cut == "restore"))
    kept = [fn for fn in graph_def.library.function if fn.signature.name != missing]
    del graph_def.library.function[:]
    graph_def.library.function.extend(kept)
    graph.write_bytes(saved.SerializeToString())
    return path, missing


def test_tensorflow_fails_on_a_graph_calling_a_missing_function(tmp_path: Path) -> None:
    import tensorflow as tf

    path, _ = _savedmodel_missing_function(tmp_path, "serving")
    assert _fails(lambda: tf.saved_model.load(str(path)))


@pytest.mark.parametrize("how", ["load", "inspect", "cli_inspect"])
@pytest.mark.parametrize("cut", ["serving", "restore"])
def test_a_graph_calling_a_missing_function_is_a_format_error(
    tmp_path: Path, how: str, cut: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Safe mode classifies every function the graph calls: one its library lacks was a raw KeyError."""
    import netform as nf
    from netform.cli._main import main

    path, missing = _savedmodel_missing_function(tmp_path, cut)
    assert nf.saving.detect_format(str(path)) == "savedmodel"
    if how == "cli_inspect":
        assert main(["inspect", str(path)]) == FormatError.exit_code
        message = capsys.readouterr().err
    else:
        with pytest.raises(FormatError) as info:
            nf.load(str(path)) if how == "load" else nf.inspect(str(path))
        message = str(info.value)
    assert str(path) in message and f"'{missing}'" in message and "function library does not hold" in message


def test_a_graph_calling_a_missing_function_is_no_raw_error_out_of_safe_mode(tmp_path: Path) -> None:
    import netform as nf

    path, _ = _savedmodel_missing_function(tmp_path, "restore")
    try:
        nf.inspect(str(path), safe_mode=False)
    except FormatError:
        pass  # TensorFlow's own reading of it may refuse it: as netform's error


@pytest.mark.parametrize(
    ("layer", "dtype", "data"),
    [
        (lambda: keras.layers.IntegerLookup(), "int64", np.array([[3, 1], [3, 2]])),
        (lambda: keras.layers.StringLookup(), "string", np.array([["b", "a"], ["b", "c"]], dtype=object)),
    ],
)
def test_an_adapted_lookup_layer_exports_its_vocabulary(tmp_path: Path, layer: Any, dtype: str, data: Any) -> None:
    """An adapted layer's get_config() has no vocabulary: the spec of its model writes the one it learned."""
    import tensorflow as tf

    import netform as nf
    from netform.saving._config_walk import spec_from_file

    lookup = layer()
    lookup.adapt(data)
    inputs = keras.Input((2,), dtype=dtype)
    model = keras.Model(inputs, lookup(inputs))
    feed = tf.constant(data.tolist()) if dtype == "string" else data
    expected = np.asarray(model(feed))
    spec = nf.from_keras(model)
    rebuilt = nf.build(load_spec(spec.to_yaml()))
    assert (np.asarray(rebuilt(feed)) == expected).all()
    path = tmp_path / "lookup.keras"
    model.save(path)
    assert spec_from_file(path) is None  # the config alone does not hold the vocabulary: Keras loads the file
