"""Loss and metric arguments that ``validate`` passed and that then stopped ``train`` inside Keras (exit 4).

Found by an independent attack: ``{type: BinaryAccuracy, threshold: {a: 1}}`` failed at the first step with
Keras's ``TypeError``, and ``{type: CosineSimilarity, axis: 5}`` with "Invalid reduction dimension", although a
loss's ``axis`` was already checked against its output's rank. Now every argument of Keras's built-in losses and
metrics that Keras uses as a number, a whole number or a condition (threshold(s), axis, k, top_k, num_classes,
class ids, from_logits, …) is checked for its form where it is written, a list or mapping refused unless Keras
takes one, and every ``axis`` of a loss or metric is checked against the rank of the output it is compiled for.
Each is a located :class:`SpecError` (exit 1) naming the field and what Keras takes; the good value next to each
still validates, and Keras makes it and trains with it.
"""

from __future__ import annotations

import re

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import inspect
import textwrap
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import pytest

from netform.cli._main import main
from netform.spec import load_spec
from tests._helpers import heads_spec
from tests.spec.test_training_run9 import _data, _diags, _text

def _keras_fit(loss: Any = None, metrics: Any = None, sparse: bool = False) -> Any:
    """Keras alone, as netform would compile and fit the spec's section (one-hot labels unless ``sparse``)."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    default = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
    model.compile(loss=loss or default, metrics=metrics)
    x, y = _data()
    return model.fit(x, y if sparse else np.eye(3, dtype="float32")[y], batch_size=4, epochs=1, verbose=0)


# (training line, path of the diagnostic, words of its message, what Keras does with it: raises; None: Keras
# takes it and computes something else than was written)
REFUSED: list[tuple[str, tuple[str | int, ...], str, Callable[[], Any] | None]] = [
    (
        "metrics: [{type: BinaryAccuracy, threshold: {a: 1}}]",
        ("training", "metrics", 0, "threshold"),
        "BinaryAccuracy.threshold is {'a': 1}; Keras takes a number, e.g. threshold: 0.5",
        lambda: _keras_fit(metrics=[keras.metrics.BinaryAccuracy(threshold={"a": 1})]),
    ),
    (
        "metrics: [{type: BinaryAccuracy, threshold: [0.5]}]",
        ("training", "metrics", 0, "threshold"),
        "Keras takes a number",
        None,
    ),
    (
        "metrics: [{type: CosineSimilarity, axis: 5}]",
        ("training", "metrics", 0, "axis"),
        "CosineSimilarity.axis is 5; output 'dense' has 2 axes (shape [None, 3]), so axis lies between -2 and 1",
        lambda: _keras_fit(metrics=[keras.metrics.CosineSimilarity(axis=5)]),
    ),
    (
        "metrics: [{type: PearsonCorrelation, axis: -3}]",
        ("training", "metrics", 0, "axis"),
        "axis lies between -2 and 1; Keras's default is -1",
        lambda: _keras_fit(metrics=[keras.metrics.PearsonCorrelation(axis=-3)]),
    ),
    (
        "metrics: [{type: SparseCategoricalCrossentropy, axis: 2}]",
        ("training", "metrics", 0, "axis"),
        "SparseCategoricalCrossentropy.axis is 2; output 'dense' has 2 axes",
        lambda: _keras_fit(metrics=[keras.metrics.SparseCategoricalCrossentropy(axis=2)], sparse=True),
    ),
    (
        "loss: {type: SparseCategoricalCrossentropy, axis: 0}",
        ("training", "loss", "axis"),
        "SparseCategoricalCrossentropy.axis is 0; Keras (TensorFlow) takes only the last axis of output 'dense' "
        "(shape [None, 3]): write axis: -1",
        lambda: _keras_fit(loss=keras.losses.SparseCategoricalCrossentropy(axis=0), sparse=True),
    ),
    (
        "metrics: [{type: CosineSimilarity, axis: x}]",
        ("training", "metrics", 0, "axis"),
        "CosineSimilarity.axis is the text 'x'; Keras takes a whole number",
        lambda: _keras_fit(metrics=[keras.metrics.CosineSimilarity(axis="x")]),
    ),
    (
        "metrics: [{type: CosineSimilarity, axis: [0, 1]}]",
        ("training", "metrics", 0, "axis"),
        "Keras takes a whole number",
        None,
    ),
    (
        "metrics: [{type: TopKCategoricalAccuracy, k: 2.0}]",
        ("training", "metrics", 0, "k"),
        "TopKCategoricalAccuracy.k is 2.0; Keras takes a whole number at least 1, e.g. k: 5",
        lambda: _keras_fit(metrics=[keras.metrics.TopKCategoricalAccuracy(k=2.0)]),
    ),
    (
        "metrics: [{type: SparseTopKCategoricalAccuracy, k: 0}]",
        ("training", "metrics", 0, "k"),
        "SparseTopKCategoricalAccuracy.k is 0; Keras takes it at least 1",
        None,  # Keras counts the top 0 classes: the metric is always 0
    ),
    (
        "metrics: [{type: Precision, top_k: [1]}]",
        ("training", "metrics", 0, "top_k"),
        "Precision.top_k is [1]; Keras takes a whole number at least 1 (or null",
        None,
    ),
    (
        "metrics: [{type: Recall, top_k: -1}]",
        ("training", "metrics", 0, "top_k"),
        "Keras takes it at least 1",
        lambda: keras.metrics.Recall(top_k=-1).update_state([[0, 1]], [[0.2, 0.8]]),
    ),
    (
        "metrics: [{type: Precision, class_id: one}]",
        ("training", "metrics", 0, "class_id"),
        "Precision.class_id is the text 'one'; Keras takes a whole number (or null",
        None,
    ),
    (
        "metrics: [{type: Precision, thresholds: {a: 0.5}}]",
        ("training", "metrics", 0, "thresholds"),
        "Precision.thresholds is {'a': 0.5}; Keras takes a number, or a list of them (or null",
        None,
    ),
    (
        "metrics: [{type: Recall, thresholds: [0.5, x]}]",
        ("training", "metrics", 0, "thresholds"),
        "which holds 'x'; Keras takes a number, or a list of them",
        lambda: keras.metrics.Recall(thresholds=[0.5, "x"]).update_state([[1.0]], [[0.7]]),
    ),
    (
        "metrics: [{type: AUC, thresholds: 0.5}]",
        ("training", "metrics", 0, "thresholds"),
        "AUC.thresholds is 0.5; Keras takes a list of numbers (or null",
        lambda: keras.metrics.AUC(thresholds=0.5),
    ),
    (
        "metrics: [{type: AUC, num_thresholds: many}]",
        ("training", "metrics", 0, "num_thresholds"),
        "AUC.num_thresholds is the text 'many'; Keras takes a whole number, e.g. num_thresholds: 200",
        lambda: keras.metrics.AUC(num_thresholds="many"),
    ),
    (
        "metrics: [{type: AUC, from_logits: 'yes'}]",
        ("training", "metrics", 0, "from_logits"),
        "AUC.from_logits is the text 'yes'; Keras takes true or false, e.g. from_logits: false",
        None,  # any text is true to Keras: 'no' would apply a sigmoid too
    ),
    (
        "metrics: [{type: MeanIoU, num_classes: three}]",
        ("training", "metrics", 0, "num_classes"),
        "MeanIoU.num_classes is the text 'three'; Keras takes a whole number",
        lambda: keras.metrics.MeanIoU(num_classes="three"),
    ),
    (
        "metrics: [{type: MeanIoU, num_classes: 3, ignore_class: 1.5}]",
        ("training", "metrics", 0, "ignore_class"),
        "MeanIoU.ignore_class is 1.5; Keras takes a whole number (or null",
        None,  # Keras compares the labels with 1.5: it ignores no class
    ),
    (
        "metrics: [{type: IoU, num_classes: 3, target_class_ids: 1}]",
        ("training", "metrics", 0, "target_class_ids"),
        "IoU.target_class_ids is 1; Keras takes a list of whole numbers",
        lambda: keras.metrics.IoU(num_classes=3, target_class_ids=1),
    ),
    (
        "metrics: [{type: BinaryIoU, target_class_ids: [0, a]}]",
        ("training", "metrics", 0, "target_class_ids"),
        "which holds 'a'; Keras takes a list of whole numbers, e.g. target_class_ids: [0, 1]",
        lambda: keras.metrics.BinaryIoU(target_class_ids=[0, "a"]),
    ),
    (
        "loss: {type: SparseCategoricalCrossentropy, ignore_class: {a: 1}}",
        ("training", "loss", "ignore_class"),
        "SparseCategoricalCrossentropy.ignore_class is {'a': 1}; Keras takes a whole number (or null",
        lambda: _keras_fit(loss=keras.losses.SparseCategoricalCrossentropy(ignore_class={"a": 1}), sparse=True),
    ),
    (
        "loss: {type: CategoricalCrossentropy, label_smoothing: [0.1]}",
        ("training", "loss", "label_smoothing"),
        "CategoricalCrossentropy.label_smoothing is [0.1]; Keras takes a number, e.g. label_smoothing: 0.0",
        None,
    ),
    (
        "loss: {type: Huber, delta: 1e-3}",
        ("training", "loss", "delta"),
        "Huber.delta is the text '1e-3'; Keras takes a number (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)",
        lambda: _keras_fit(loss=keras.losses.Huber(delta="1e-3")),
    ),
    (
        "loss: {type: CategoricalCrossentropy, axis: 1.0}",
        ("training", "loss", "axis"),
        "CategoricalCrossentropy.axis is 1.0; Keras takes a whole number, e.g. axis: -1",
        None,
    ),
    (
        "loss: {type: BinaryCrossentropy, from_logits: 1}",
        ("training", "loss", "from_logits"),
        "BinaryCrossentropy.from_logits is 1; Keras takes true or false",
        None,
    ),
    (
        "loss: {type: Dice, axis: [1, 7]}",
        ("training", "loss", "axis"),
        "Dice.axis holds 7; output 'dense' has 2 axes (shape [None, 3]), so axis lies between -2 and 1",
        lambda: _keras_fit(loss=keras.losses.Dice(axis=[1, 7])),
    ),
    (
        "loss: {type: Tversky, axis: one}",
        ("training", "loss", "axis"),
        "Tversky.axis is the text 'one'; Keras takes a whole number, or a list of them (or null",
        lambda: _keras_fit(loss=keras.losses.Tversky(axis="one")),
    ),
]


@pytest.mark.parametrize("line, path, words, keras_call", REFUSED, ids=[r[0][:60] for r in REFUSED])
def test_a_value_keras_fails_on_is_refused_where_it_is_written(
    line: str, path: tuple[str | int, ...], words: str, keras_call: Any
) -> None:
    text = _text(line)
    diags = _diags(text)
    assert len(diags) == 1, diags
    assert diags[0].path == path
    assert words in diags[0].message
    assert diags[0].line == text.splitlines().index("  " + line.splitlines()[-1].strip()) + 1
    if keras_call is not None:  # the rule is Keras's: Keras refuses the same value, where it is made or run
        with pytest.raises(Exception):  # noqa: B017 - Keras and TensorFlow raise several types for these
            keras_call()


# The good value next to each refused one: validates, and Keras makes it and computes with it.
ACCEPTED: list[tuple[str, Callable[[], Any] | None]] = [
    (
        "metrics: [{type: BinaryAccuracy, threshold: 0.7}, {type: BinaryAccuracy, threshold: 0, name: b0}]",
        lambda: _keras_fit(metrics=[keras.metrics.BinaryAccuracy(threshold=0.7)]),
    ),
    (
        "metrics: [{type: CosineSimilarity, axis: 1}, {type: PearsonCorrelation, axis: -2}]",
        lambda: _keras_fit(metrics=[keras.metrics.CosineSimilarity(axis=1), keras.metrics.PearsonCorrelation(axis=-2)]),
    ),
    (
        "metrics: [{type: SparseCategoricalCrossentropy, axis: -1}]",
        lambda: _keras_fit(metrics=[keras.metrics.SparseCategoricalCrossentropy(axis=-1)], sparse=True),
    ),
    (
        "metrics: [{type: SparseTopKCategoricalAccuracy, k: 2}]",
        lambda: _keras_fit(metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2)], sparse=True),
    ),
    ("metrics: [{type: Precision, top_k: 1, class_id: 2}, {type: Recall, top_k: null}]", None),
    ("metrics: [{type: Precision, thresholds: 0.3}, {type: Recall, thresholds: [0.3, 0.6]}]", None),
    ("metrics: [{type: AUC, thresholds: [0.3, 0.6], from_logits: true, num_thresholds: 50}]", None),
    ("metrics: [{type: MeanIoU, num_classes: 3, ignore_class: 1, sparse_y_pred: false}]", None),
    (
        "metrics: [{type: IoU, num_classes: 3, target_class_ids: [0, 1]}, {type: BinaryIoU, target_class_ids: [1]}]",
        None,
    ),
    ("metrics: [{type: AUC, multi_label: true, label_weights: [1.0, 2, 0.5], num_labels: 3}]", None),
    ("loss: {type: SparseCategoricalCrossentropy, ignore_class: null, from_logits: false}", None),
    (
        "loss: {type: CategoricalCrossentropy, label_smoothing: 0.1, axis: -1}",
        lambda: keras.losses.CategoricalCrossentropy(label_smoothing=0.1, axis=-1),
    ),
    ("loss: {type: Huber, delta: 1.0e-3}", lambda: _keras_fit(loss=keras.losses.Huber(delta=1.0e-3))),
    ("loss: {type: Dice, axis: [1]}", lambda: _keras_fit(loss=keras.losses.Dice(axis=[1]))),
    ("loss: {type: Tversky, axis: null, alpha: 0.3, beta: 0.7}", None),
    ("loss: {type: Dice, axis: -1}", lambda: _keras_fit(loss=keras.losses.Dice(axis=-1))),
]


@pytest.mark.parametrize("line, keras_call", ACCEPTED, ids=[a[0][:60] for a in ACCEPTED])
def test_the_good_value_next_to_each_still_validates(line: str, keras_call: Any) -> None:
    load_spec(_text(line))
    if keras_call is not None:
        keras_call()


def _builtins(kind: str) -> dict[str, Any]:
    from netform.spec._keras_args import KERAS_ARGS

    module = keras.losses if kind == "loss" else keras.metrics
    return {name: getattr(module, name) for name in KERAS_ARGS[kind] if isinstance(getattr(module, name), type)}


@pytest.mark.parametrize("kind", ["loss", "metric"])
def test_every_number_or_condition_argument_of_keras_s_losses_and_metrics_is_checked(kind: str) -> None:
    """Each argument whose Keras default is a number or true/false, or that names a size, class or axis, has a
    form checked at validate: a mapping there is refused, at the argument, for every built-in class."""
    from netform.spec._training_checks import _bounds

    named = {"axis", "threshold", "thresholds", "num_classes", "class_id", "target_class_ids", "top_k", "k"}
    checked = 0
    for name, cls in _builtins(kind).items():
        for arg, param in inspect.signature(cls.__init__).parameters.items():
            default = param.default
            if arg in ("self", "name", "dtype", "kwargs", "reduction"):
                continue
            numeric = isinstance(default, (bool, int, float)) or arg in named or arg.endswith(("_class", "_labels"))
            if not numeric:
                continue
            assert _bounds(kind, name, arg) is not None, f"{kind} {name}.{arg} (default {default!r}) is not checked"
            written = f"{{type: {name}, {arg}: {{a: 1}}}}"
            text = _text(f"loss: {written}" if kind == "loss" else f"metrics: [{written}]")
            where = ("training", "loss", arg) if kind == "loss" else ("training", "metrics", 0, arg)
            found = [d for d in _diags(text) if d.path == where]
            assert found and f"{name}.{arg} is {{'a': 1}}; Keras takes" in found[0].message, (name, arg)
            checked += 1
    assert checked > (10 if kind == "loss" else 40)


def test_an_axis_is_checked_against_the_output_it_is_compiled_for() -> None:
    """With several outputs, a metric listed for one output is checked against that output's rank only."""
    diags = _diags(heads_spec("metrics: {cls: [{type: CosineSimilarity, axis: 2}]}"))
    assert [d.path for d in diags] == [("training", "metrics", "cls", 0, "axis")]
    assert "output 'cls' has 2 axes (shape [None, 3])" in diags[0].message
    diags = _diags(heads_spec("metrics: [{type: PearsonCorrelation, axis: 3}]"))
    assert [d.path for d in diags] == [("training", "metrics", 0, "axis")]
    load_spec(heads_spec("metrics: {cls: [{type: CosineSimilarity, axis: 1}], reg: [{type: PearsonCorrelation}]}"))


def test_a_metric_axis_past_a_3d_output_is_refused_and_one_within_it_validates() -> None:
    text = textwrap.dedent("""\
        netform: 1
        name: seq
        kind: sequential
        inputs:
          x: {shape: [5, 4]}
        layers:
          - {type: Dense, units: 3}
        training:
          loss: mse
          metrics: [{type: CosineSimilarity, axis: %s}]
        """)
    diags = _diags(text % 3)
    assert [d.path for d in diags] == [("training", "metrics", 0, "axis")]
    assert "has 3 axes (shape [None, 5, 3]), so axis lies between -3 and 2" in diags[0].message
    load_spec(text % 2)
    load_spec(text % -3)


# --- the command line: the attack's specs exit 1 at validate and at train; good values train -------------------

ATTACK_SPEC = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 2, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      epochs: 1
      batch_size: 8
      metrics: [%s]
    """)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    y = rng.integers(0, 2, 16)
    np.savez(path, x=rng.random((16, 4), dtype=np.float32), y=y, onehot=np.eye(2, dtype=np.float32)[y])
    return path


@pytest.mark.parametrize(
    "metric, words",
    [
        ("{type: BinaryAccuracy, threshold: {a: 1}}", "training.metrics[0].threshold: BinaryAccuracy.threshold is"),
        ("{type: CosineSimilarity, axis: 5}", "training.metrics[0].axis: CosineSimilarity.axis is 5; output"),
    ],
)
def test_the_attack_s_specs_exit_1_at_validate_and_at_train(
    tmp_path: Path, data: Path, metric: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(ATTACK_SPEC % metric)
    assert main(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:12:" in err and words in err
    code = main(["train", str(spec), "--data", str(data), "--y", "y", "--out-dir", str(tmp_path / "out")])
    assert code == 1 and words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "labels, metrics, logged",
    [
        (
            "onehot",
            "{type: BinaryAccuracy, threshold: 0.7}, {type: CosineSimilarity, axis: 1}, "
            "{type: TopKCategoricalAccuracy, k: 1}, {type: AUC, thresholds: [0.3, 0.6], from_logits: false}",
            ("binary_accuracy=", "cosine_similarity=", "top_k_categorical_accuracy=", "auc="),
        ),
        (
            "y",
            "{type: SparseCategoricalCrossentropy, axis: 1, from_logits: false}, "
            "{type: MeanIoU, num_classes: 2, ignore_class: null, sparse_y_pred: false, axis: -1}, "
            "{type: SparseTopKCategoricalAccuracy, k: 1, from_sorted_ids: false}",
            ("sparse_categorical_crossentropy=", "mean_io_u=", "sparse_top_k_categorical_accuracy="),
        ),
    ],
)
def test_the_good_values_train_from_the_command_line(
    tmp_path: Path, data: Path, labels: str, metrics: str, logged: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    text = ATTACK_SPEC % metrics
    if labels == "onehot":
        text = text.replace("loss: sparse_categorical_crossentropy", "loss: categorical_crossentropy")
    spec.write_text(text)
    assert main(["validate", str(spec)]) == 0
    out = tmp_path / "out"
    code = main(
        ["train", str(spec), "--data", str(data), "--y", labels, "--out-dir", str(out), "-o", str(tmp_path / "m.keras")]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "final:" in printed
    for name in logged:
        # Keras numbers a metric's default name per process (auc, auc_1, …): other tests made AUCs before
        assert re.search(rf"\b{name.rstrip('=')}(_\d+)?=", printed), printed
    assert (tmp_path / "m.keras").is_file()
