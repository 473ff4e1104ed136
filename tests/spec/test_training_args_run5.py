"""Training arguments Keras takes at compile but fails on (or burns resources with) while training.

``validate`` refuses them, located at the argument: a ``monitor`` Keras cannot direct with ``mode: auto``,
callback ``mode``/``update_freq``/``save_freq`` values Keras does not know, non-finite numbers in the
arguments of losses, metrics, optimizers and callbacks, and metric sizes past what a step can afford.
"""

from __future__ import annotations

import re

import textwrap
from typing import Any

import numpy as np
import pytest

from netform.errors import SpecError
from netform.spec import load_spec
from tests._helpers import heads_spec

ONE_HEAD = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 2, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      validation_split: 0.25
    """)

BINARY = ONE_HEAD.replace("units: 2, activation: softmax", "units: 1, activation: sigmoid").replace(
    "sparse_categorical_crossentropy", "binary_crossentropy")

TWO_HEADS = heads_spec("validation_split: 0.25", classes=2)


def _spec(base: str, extra: str) -> str:
    return base + textwrap.indent(textwrap.dedent(extra), "  ")


def _error(text: str) -> Any:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    return info.value.diagnostics[0]


def _keras_fails(metrics: list[Any], monitor: str, two_heads: bool) -> bool:
    """Whether plain Keras's fit with EarlyStopping(monitor, mode='auto') fails to direct the monitor."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.random((16, 4), dtype="float32")
    y = (x.sum(1, keepdims=True) > 2).astype("float32")
    inp = keras.Input((4,))
    if two_heads:
        h = keras.layers.Dense(8, activation="relu")(inp)
        model = keras.Model(inp, {"cls": keras.layers.Dense(2, activation="softmax", name="cls")(h),
                                  "reg": keras.layers.Dense(1, name="reg")(h)})
        model.compile(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                      metrics={"cls": metrics, "reg": []})
        ys: Any = {"cls": y[:, 0].astype("int64"), "reg": x[:, :1]}
    else:
        model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(inp))
        model.compile(loss="binary_crossentropy", metrics=metrics)
        ys = y
    try:
        model.fit(x, ys, epochs=1, verbose=0, validation_split=0.25,
                  callbacks=[keras.callbacks.EarlyStopping(monitor=monitor, mode="auto")])
    except ValueError as err:
        assert "automatically determine" in str(err)
        return True
    return False


# (metrics as the spec writes them, the same for Keras, monitor, two outputs?)
MONITOR_CASES = [
    ("[accuracy]", ["accuracy"], "val_accuracy", False),
    ("[accuracy]", ["accuracy"], "foo", False),
    ("[]", [], "learning_rate", False),
    ("[{type: AUC, name: roc}]", ["AUC"], "val_roc", False),
    ("[TruePositives]", ["TruePositives"], "true_positives", False),
    ("[mse]", ["mse"], "mse", False),
    ("[mse]", ["mse"], "mean_squared_error", False),
    ("{cls: [accuracy]}", ["accuracy"], "cls_accuracy", True),
    ("{cls: [accuracy]}", ["accuracy"], "val_cls_loss", True),
    ("{cls: [accuracy]}", ["accuracy"], "accuracy", True),
]


@pytest.mark.slow
@pytest.mark.parametrize("spec_metrics, keras_metrics, monitor, two", MONITOR_CASES)
def test_monitor_in_auto_mode_is_refused_exactly_where_keras_fails(
        spec_metrics: str, keras_metrics: list[Any], monitor: str, two: bool) -> None:
    import keras

    if "AUC" in keras_metrics:
        keras_metrics = [keras.metrics.AUC(name="roc")]
    text = _spec(TWO_HEADS if two else BINARY,
                 f"metrics: {spec_metrics}\ncallbacks: [{{type: EarlyStopping, monitor: {monitor}}}]\n")
    try:
        load_spec(text)
        refused = False
    except SpecError as err:
        diag = err.diagnostics[0]
        assert diag.path == ("training", "callbacks", 0, "monitor") and "mode 'auto'" in diag.message
        assert "mode: max" in diag.message and diag.line == 12 + two * 3
        refused = True
    assert refused == _keras_fails(keras_metrics, monitor, two)


@pytest.mark.parametrize("cb", ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"])
def test_unknown_monitor_is_an_error_in_auto_mode_and_a_warning_with_a_mode(cb: str) -> None:
    from netform.spec._training_checks import training_warnings
    from netform.spec._load import graph_of

    extra = ", filepath: m.keras, save_best_only: true" if cb == "ModelCheckpoint" else ""
    diag = _error(_spec(ONE_HEAD, f"callbacks: [{{type: {cb}, monitor: foo{extra}}}]\n"))
    assert (diag.line, diag.column) == (11, len("  callbacks: [{type: ") + len(cb) + 3)
    assert f"{cb} watches 'foo' with mode 'auto'" in diag.message
    spec = load_spec(_spec(ONE_HEAD, f"callbacks: [{{type: {cb}, monitor: foo, mode: max{extra}}}]\n"))
    assert any("never logs" in w.message for w in training_warnings(spec, graph_of(spec), spec._smap))


@pytest.mark.parametrize("callback, field, fragment", [
    ("{type: EarlyStopping, mode: sideways}", "mode", "it must be 'auto', 'min' or 'max'"),
    ("{type: ReduceLROnPlateau, mode: MIN}", "mode", "it must be 'auto', 'min' or 'max'"),
    ("{type: ModelCheckpoint, filepath: m.keras, monitor: loss, mode: up}", "mode", "'auto', 'min' or 'max'"),
    ("{type: TensorBoard, log_dir: tb, update_freq: sometimes}", "update_freq", "positive whole number"),
    ("{type: TensorBoard, log_dir: tb, update_freq: 0}", "update_freq", "'batch' or 'epoch' or a positive"),
    ("{type: ModelCheckpoint, filepath: m.keras, save_freq: -5}", "save_freq", "'epoch' or a positive"),
    ("{type: ModelCheckpoint, filepath: m.keras, save_freq: sometimes}", "save_freq", "'epoch' or a positive"),
    ("{type: BackupAndRestore, backup_dir: b, save_freq: 0}", "save_freq", "'epoch' or a positive"),
    ("{type: EarlyStopping, monitor: '{epoch}', mode: min}", "monitor", "is not the name of a logged value"),
    ("{type: ReduceLROnPlateau, monitor: loss, factor: 1.5}", "factor", "between 0 and 1"),
    ("{type: EarlyStopping, monitor: loss, baseline: .nan}", "baseline", "must be finite"),
    ("{type: ReduceLROnPlateau, monitor: loss, min_delta: .inf}", "min_delta", "must be finite"),
])
def test_callback_arguments_keras_fails_on_are_located_errors(callback: str, field: str, fragment: str) -> None:
    diag = _error(_spec(ONE_HEAD, f"callbacks: [{callback}]\n"))
    assert diag.path == ("training", "callbacks", 0, field)
    assert diag.line == 11 and diag.column == len("  callbacks: [") + callback.index(field + ":") + 1
    assert fragment in diag.message


@pytest.mark.parametrize("callback", [
    "{type: TensorBoard, log_dir: tb, update_freq: batch}", "{type: TensorBoard, log_dir: tb, update_freq: 3}",
    "{type: ModelCheckpoint, filepath: m.keras, save_freq: epoch}",
    "{type: ModelCheckpoint, filepath: m.keras, save_freq: 2}",
    "{type: EarlyStopping, monitor: val_loss, mode: min, baseline: 0.5}",
])
def test_callback_arguments_keras_honours_still_validate(callback: str) -> None:
    load_spec(_spec(ONE_HEAD, f"callbacks: [{callback}]\n"))


@pytest.mark.parametrize("extra, path", [
    ("loss: {type: Huber, delta: .nan}\n", ("training", "loss", "delta")),
    ("optimizer: {type: Adam, learning_rate: .inf}\n", ("training", "optimizer", "learning_rate")),
    ("optimizer: {type: SGD, clipnorm: -.inf}\n", ("training", "optimizer", "clipnorm")),
    ("metrics: [{type: BinaryAccuracy, threshold: .nan}]\n", ("training", "metrics", 0, "threshold")),
    ("metrics: [{type: Precision, thresholds: [0.5, .nan]}]\n", ("training", "metrics", 0, "thresholds", 1)),
])
def test_non_finite_arguments_are_located_errors(extra: str, path: tuple[Any, ...]) -> None:
    text = ONE_HEAD.replace("  loss: sparse_categorical_crossentropy\n", "") if extra.startswith("loss") else ONE_HEAD
    diag = _error(_spec(text, extra))
    assert diag.path == path and "must be finite numbers" in diag.message
    assert diag.line == text.count("\n") + 1


def test_huber_nan_delta_makes_keras_train_on_nan() -> None:
    """Why NaN is refused: Keras builds the loss and trains, and every loss value is NaN."""
    import keras

    loss = keras.losses.Huber(delta=float("nan"))
    assert np.isnan(float(loss(np.zeros((2, 1), "float32"), np.ones((2, 1), "float32"))))
    diag = _error(_spec(ONE_HEAD.replace("  loss: sparse_categorical_crossentropy\n", ""),
                        "loss: {type: Huber, delta: .nan}\n"))
    assert diag.message.startswith("Huber.delta is nan")


@pytest.mark.parametrize("metric, field, fragment", [
    ("{type: AUC, num_thresholds: 20000000}", "num_thresholds", "the limit is 100,000"),
    ("{type: AUC, num_thresholds: 1}", "num_thresholds", "at least 2"),
    ("{type: PrecisionAtRecall, recall: 0.5, num_thresholds: 1000000000}", "num_thresholds", "100,000"),
    ("{type: SpecificityAtSensitivity, sensitivity: 0.5, num_thresholds: 0}", "num_thresholds", "at least 1"),
    ("{type: MeanIoU, num_classes: 100000000}", "num_classes", "num_classes² = 10,000,000,000,000,000"),
    ("{type: IoU, num_classes: 46341, target_class_ids: [0]}", "num_classes", "at most 46,340 classes"),
    ("{type: OneHotMeanIoU, num_classes: 0}", "num_classes", "positive whole number"),
    ("{type: AUC, num_thresholds: 100000, multi_label: true, num_labels: 100000}", "num_labels", "8 GB"),
])
def test_metric_sizes_are_bounded_statically(metric: str, field: str, fragment: str) -> None:
    diag = _error(_spec(ONE_HEAD, f"metrics: [{metric}]\n"))
    assert diag.path == ("training", "metrics", 0, field) and fragment in diag.message
    assert diag.line == 11 and diag.column == len("  metrics: [") + metric.index(field + ":") + 1


def test_iou_classes_are_bounded_by_the_memory_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import netform.spec._shapes as shapes

    monkeypatch.setattr(shapes, "_memory_values", lambda: 2**30 // 4)  # a machine with 1 GB
    diag = _error(_spec(ONE_HEAD, "metrics: [{type: MeanIoU, num_classes: 20000}]\n"))
    assert diag.path == ("training", "metrics", 0, "num_classes")
    assert "400,000,000 values" in diag.message and "this machine's memory (1 GB)" in diag.message
    assert "at most 11,585 classes here" in diag.message
    load_spec(_spec(ONE_HEAD, "metrics: [{type: MeanIoU, num_classes: 10000}]\n"))


def test_threshold_lists_are_bounded() -> None:
    listed = "[" + ", ".join(["0.5"] * 100_001) + "]"
    diag = _error(_spec(ONE_HEAD, f"metrics: [{{type: Recall, thresholds: {listed}}}]\n"))
    assert diag.path == ("training", "metrics", 0, "thresholds") and "100,001 thresholds" in diag.message


def test_metric_sizes_within_the_limits_validate_and_train() -> None:
    from netform.builder import build
    from netform.engine import fit_from_training_config

    spec = load_spec(_spec(BINARY, "metrics: [{type: AUC, num_thresholds: 100000}]\n"))
    x = np.random.default_rng(0).random((16, 4), dtype="float32")
    y = (x.sum(1, keepdims=True) > 2).astype("float32")
    history = fit_from_training_config(build(spec), spec.training.to_dict(), x, y, verbose=0)
    # Keras numbers a metric's name when the process made one of that name before (auc_1, auc_2, …).
    assert any(re.fullmatch(r"auc(_\d+)?", k) for k in history.history), sorted(history.history)
    assert any(re.fullmatch(r"val_auc(_\d+)?", k) for k in history.history), sorted(history.history)
