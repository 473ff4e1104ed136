"""``training:`` values that ``validate`` passed and that then stopped ``train`` inside Keras (exit 4).

Found by an independent attack: metrics Keras cannot compile (``Mean``, ``Sum``), constructor arguments outside
the ranges Keras's classes check (AUC ``num_labels``, Ftrl and Lion, FBetaScore, R2Score), a ``name`` that is
not a string, one device named twice, a CSVLogger file name that names no file, a ``{type: …}`` naming a
shorthand, a ``validation_split`` that leaves an empty set, and metrics whose logged names hide the loss or each
other. Each is now refused by ``validate`` where it is written, as a located :class:`SpecError` (exit 1), by the
rule Keras itself applies; the good value next to each still validates, and Keras takes it.
"""

from __future__ import annotations

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
from netform.engine import fit_from_training_config
from netform.errors import SpecError
from netform.spec import load_spec
from tests._helpers import heads_spec

SPEC = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3, activation: softmax}
    training:
      batch_size: 4
      %s
    """)
LOSS = "loss: sparse_categorical_crossentropy\n  "


def _text(line: str) -> str:
    return SPEC % (line if line.startswith("loss") else LOSS + line)


def _diags(text: str) -> list[Any]:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    return list(info.value.diagnostics)


def _data(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 4), dtype=np.float32), rng.integers(0, 3, n)


def _keras_fit(loss: Any = "sparse_categorical_crossentropy", metrics: Any = None, **fit: Any) -> Any:
    """Keras alone, as netform would compile and fit the spec's section."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss=loss, metrics=metrics)
    x, y = _data()
    return model.fit(x, y, batch_size=4, epochs=1, verbose=0, **fit)


def _mirrored(devices: list[str]) -> Any:
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices)


def _csv_log(name: str, folder: Path) -> None:
    cb = keras.callbacks.CSVLogger(str(folder / name) if name else name)
    cb.on_train_begin()


# (training line, path of the diagnostic, words of its message, what Keras does with it: raises)
REFUSED: list[tuple[str, tuple[str | int, ...], str, Callable[[Path], Any] | None]] = [
    (
        "metrics: [Mean]",
        ("training", "metrics", 0),
        "Mean cannot be a compiled metric",
        lambda _: _keras_fit(metrics=["Mean"]),
    ),
    (
        "metrics: [{type: Sum}]",
        ("training", "metrics", 0),
        "Sum cannot be a compiled metric",
        lambda _: _keras_fit(metrics=[keras.metrics.Sum()]),
    ),
    ("weighted_metrics: [accuracy, {type: Mean}]", ("training", "weighted_metrics", 1), "e.g. mae or accuracy", None),
    ("metrics: [{type: AUC, num_labels: 0}]", ("training", "metrics", 0, "num_labels"), "at least 1 (or null", None),
    (
        "metrics: [{type: AUC, multi_label: true, num_labels: -1}]",
        ("training", "metrics", 0, "num_labels"),
        "AUC.num_labels is -1; Keras takes it at least 1",
        lambda _: keras.metrics.AUC(multi_label=True, num_labels=-1),
    ),
    (
        "metrics: [{type: AUC, num_labels: 3}]",
        ("training", "metrics", 0, "num_labels"),
        "only with multi_label: true",
        lambda _: keras.metrics.AUC(num_labels=3),
    ),
    (
        "metrics: [{type: AUC, multi_label: true, num_labels: 2.5}]",
        ("training", "metrics", 0, "num_labels"),
        "a whole number",
        None,
    ),
    (
        "metrics: [{type: AUC, num_thresholds: 1}]",
        ("training", "metrics", 0, "num_thresholds"),
        "at least 2",
        lambda _: keras.metrics.AUC(num_thresholds=1),
    ),
    (
        "metrics: [{type: FBetaScore, beta: 2}]",
        ("training", "metrics", 0, "beta"),
        "write 2.0",
        lambda _: keras.metrics.FBetaScore(beta=2),
    ),
    (
        "metrics: [{type: F1Score, threshold: 0.0}]",
        ("training", "metrics", 0, "threshold"),
        "between 0.0 and 1.0 (0.0 excluded)",
        lambda _: keras.metrics.F1Score(threshold=0.0),
    ),
    (
        "metrics: [{type: R2Score, num_regressors: -1}]",
        ("training", "metrics", 0, "num_regressors"),
        "at least 0",
        lambda _: keras.metrics.R2Score(num_regressors=-1),
    ),
    (
        "loss: {type: SparseCategoricalCrossentropy, name: 5}",
        ("training", "loss", "name"),
        "a name is a string",
        lambda _: _keras_fit(loss=keras.losses.SparseCategoricalCrossentropy(name=5)),
    ),
    (
        "loss: {type: SparseCategoricalCrossentropy, name: [a]}",
        ("training", "loss", "name"),
        "a name is a string",
        lambda _: _keras_fit(loss=keras.losses.SparseCategoricalCrossentropy(name=["a"])),
    ),
    (
        "loss: {type: SparseCategoricalCrossentropy, name: a/b}",
        ("training", "loss", "name"),
        "write e.g. 'a_b'",
        lambda _: _keras_fit(loss=keras.losses.SparseCategoricalCrossentropy(name="a/b")),
    ),
    (
        "metrics: [{type: SparseCategoricalAccuracy, name: 5}]",
        ("training", "metrics", 0, "name"),
        "a name is a string",
        lambda _: keras.metrics.SparseCategoricalAccuracy(name=5),
    ),
    (
        "optimizer: {type: Adam, name: 5}",
        ("training", "optimizer", "name"),
        "a name is a string",
        lambda _: keras.optimizers.Adam(name=5),
    ),
    (
        "optimizer: {type: LossScaleOptimizer, inner_optimizer: adam, name: a/b}",
        ("training", "optimizer", "name"),
        "which takes no '/'",
        lambda _: keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), name="a/b"),
    ),
    (
        "distribution: {strategy: mirrored, devices: [/cpu:0, /CPU:0]}",
        ("training", "distribution", "devices"),
        "devices[1] '/CPU:0' is '/cpu:0' again",
        lambda _: _mirrored(["/cpu:0", "/CPU:0"]),
    ),
    (
        "distribution: {strategy: mirrored, devices: [/device:CPU:0, cpu:0]}",
        ("training", "distribution", "devices"),
        "TensorFlow takes each device once; remove devices[1]",
        lambda _: _mirrored(["/device:CPU:0", "cpu:0"]),
    ),
    (
        "distribution: {strategy: mirrored, devices: [CPU:0, /job:localhost/replica:0/task:0/device:CPU:1]}",
        ("training", "distribution", "devices"),
        "which TensorFlow reads as several workers",
        lambda _: _mirrored(["CPU:0", "/job:localhost/replica:0/task:0/device:CPU:1"]),
    ),
    (
        "distribution: {strategy: mirrored, devices: [cpu, cpu]}",
        ("training", "distribution", "devices"),
        "devices[1] 'cpu' is named twice",
        lambda _: _mirrored(["cpu", "cpu"]),
    ),
    (
        "distribution: {strategy: mirrored, devices: [/device:tpu:0]}",
        ("training", "distribution", "devices"),
        "is not a TensorFlow device name",
        None,
    ),
    (
        "callbacks: [{type: CSVLogger, filename: ''}]",
        ("training", "callbacks", 0, "filename"),
        "names no file",
        lambda folder: _csv_log("", folder),
    ),
    (
        "callbacks: [{type: CSVLogger, filename: '.'}]",
        ("training", "callbacks", 0, "filename"),
        "e.g. filename: training.csv",
        lambda folder: _csv_log(".", folder),
    ),
    (
        "callbacks: [{type: CSVLogger, filename: logs/}]",
        ("training", "callbacks", 0, "filename"),
        "names no file",
        None,
    ),
    (
        "optimizer: {type: Ftrl, learning_rate_power: 0.5}",
        ("training", "optimizer", "learning_rate_power"),
        "Keras takes it at most 0.0",
        lambda _: keras.optimizers.Ftrl(learning_rate_power=0.5),
    ),
    (
        "optimizer: {type: Ftrl, initial_accumulator_value: -0.1}",
        ("training", "optimizer", "initial_accumulator_value"),
        "at least 0.0",
        lambda _: keras.optimizers.Ftrl(initial_accumulator_value=-0.1),
    ),
    (
        "optimizer: {type: Ftrl, l1_regularization_strength: -1.0}",
        ("training", "optimizer", "l1_regularization_strength"),
        "at least 0.0",
        lambda _: keras.optimizers.Ftrl(l1_regularization_strength=-1.0),
    ),
    (
        "optimizer: {type: Ftrl, l2_regularization_strength: -1.0}",
        ("training", "optimizer", "l2_regularization_strength"),
        "at least 0.0",
        lambda _: keras.optimizers.Ftrl(l2_regularization_strength=-1.0),
    ),
    (
        "optimizer: {type: Ftrl, l2_shrinkage_regularization_strength: -1.0}",
        ("training", "optimizer", "l2_shrinkage_regularization_strength"),
        "at least 0.0",
        lambda _: keras.optimizers.Ftrl(l2_shrinkage_regularization_strength=-1.0),
    ),
    (
        "optimizer: {type: Ftrl, learning_rate_power: fast}",
        ("training", "optimizer", "learning_rate_power"),
        "Keras takes a number at most 0.0",
        lambda _: keras.optimizers.Ftrl(learning_rate_power="fast"),
    ),
    (
        "optimizer: {type: Lion, beta_1: 1.5}",
        ("training", "optimizer", "beta_1"),
        "between 0.0 and 1.0",
        lambda _: keras.optimizers.Lion(beta_1=1.5),
    ),
    (
        "optimizer: {type: Lion, beta_1: 0.0}",
        ("training", "optimizer", "beta_1"),
        "(0.0 excluded)",
        lambda _: keras.optimizers.Lion(beta_1=0.0),
    ),
    (
        "optimizer: {type: LossScaleOptimizer, inner_optimizer: {type: Lion, beta_1: -0.5}}",
        ("training", "optimizer", "inner_optimizer"),
        "LossScaleOptimizer.inner_optimizer: Lion.beta_1 is -0.5",
        lambda _: keras.optimizers.Lion(beta_1=-0.5),
    ),
    ("optimizer: {type: adam, learning_rate: 0.01}", ("training", "optimizer"), "write {type: Adam, …}", None),
    (
        "metrics: [{type: SparseCategoricalAccuracy, name: loss}]",
        ("training", "metrics", 0, "name"),
        "this metric is logged as 'loss', the name Keras logs the loss (training.loss) under",
        None,
    ),
    (
        "weighted_metrics: [{type: SparseCategoricalAccuracy, name: loss}]",
        ("training", "weighted_metrics", 0, "name"),
        "its value would replace the loss",
        None,
    ),
    (
        "metrics: [accuracy, mae, accuracy]",
        ("training", "metrics", 2),
        "this metric has the same name, 'accuracy', as training.metrics[0]",
        None,
    ),
    (
        "metrics: [{type: AUC, name: area}, {type: Precision, name: area}]",
        ("training", "metrics", 1),
        "the same name, 'area', as training.metrics[0]",
        None,
    ),
    (
        "metrics: [{type: AUC, curve: PR}, {type: AUC, curve: PR}]",
        ("training", "metrics", 1),
        "is the same metric, with the same arguments, as training.metrics[0]",
        None,
    ),
]


@pytest.mark.parametrize("line, path, words, keras_call", REFUSED, ids=[r[0][:60] for r in REFUSED])
def test_a_value_keras_fails_on_is_refused_where_it_is_written(
    tmp_path: Path, line: str, path: tuple[str | int, ...], words: str, keras_call: Any
) -> None:
    text = _text(line)
    diags = _diags(text)
    assert len(diags) == 1, diags
    assert diags[0].path == path
    assert words in diags[0].message
    assert diags[0].line == text.splitlines().index("  " + line.splitlines()[-1].strip()) + 1
    if keras_call is not None:  # the rule is Keras's: Keras refuses the same value, where it is made or run
        with pytest.raises((ValueError, TypeError, AttributeError, AssertionError, OSError, RuntimeError)):
            keras_call(tmp_path)


# The good value next to each refused one: validates, and Keras makes it.
ACCEPTED: list[tuple[str, Callable[[], Any] | None]] = [
    ("metrics: [{type: MeanSquaredError}, {type: RootMeanSquaredError}]", None),
    (
        "metrics: [{type: AUC, multi_label: true, num_labels: 3}]",
        lambda: keras.metrics.AUC(multi_label=True, num_labels=3),
    ),
    ("metrics: [{type: AUC, multi_label: true, num_labels: null}]", lambda: keras.metrics.AUC(multi_label=True)),
    ("metrics: [{type: AUC, num_thresholds: 2}]", lambda: keras.metrics.AUC(num_thresholds=2)),
    (
        "metrics: [{type: FBetaScore, beta: 2.0, threshold: 1.0}]",
        lambda: keras.metrics.FBetaScore(beta=2.0, threshold=1.0),
    ),
    ("metrics: [{type: R2Score, num_regressors: 0}]", lambda: keras.metrics.R2Score(num_regressors=0)),
    ("loss: {type: SparseCategoricalCrossentropy, name: my_loss}", None),
    ("optimizer: {type: Adam, name: my_adam}", lambda: keras.optimizers.Adam(name="my_adam")),
    ("optimizer: {type: Adam, name: ''}", lambda: keras.optimizers.Adam(name="")),
    ("distribution: {strategy: mirrored, devices: [/cpu:0, /cpu:1]}", None),
    ("distribution: {strategy: mirrored, devices: [/job:localhost/task:0/cpu:0, /job:localhost/task:0/cpu:1]}", None),
    ("distribution: {strategy: one_device, devices: [/job:localhost/replica:0/task:0/device:CPU:0]}", None),
    ("callbacks: [{type: CSVLogger, filename: logs/train.csv}]", None),
    (
        "optimizer: {type: Ftrl, learning_rate_power: 0.0, initial_accumulator_value: 0.0, "
        "l1_regularization_strength: 0.01, l2_regularization_strength: 0.0}",
        lambda: keras.optimizers.Ftrl(
            learning_rate_power=0.0,
            initial_accumulator_value=0.0,
            l1_regularization_strength=0.01,
            l2_regularization_strength=0.0,
        ),
    ),
    ("optimizer: {type: Lion, beta_1: 1.0}", lambda: keras.optimizers.Lion(beta_1=1.0)),
    ("optimizer: {type: LossScaleOptimizer, inner_optimizer: {type: Lion, beta_1: 0.5}}", None),
    ("optimizer: {type: Adam, learning_rate: 0.01}", None),
    ("metrics: [{type: SparseCategoricalAccuracy, name: acc}]", None),
    ("metrics: [{type: SparseCategoricalAccuracy, name: a/b}]", None),  # a metric's name opens no name scope
    ("metrics: [accuracy, acc, mae]\n  weighted_metrics: [accuracy]", None),
    ("metrics: [{type: AUC, curve: PR}, {type: AUC, curve: ROC}]", None),
    ("validation_split: 0.999", None),  # the data's size is known at train only
]


@pytest.mark.parametrize("line, keras_call", ACCEPTED, ids=[a[0][:60] for a in ACCEPTED])
def test_the_good_value_next_to_each_still_validates(line: str, keras_call: Any) -> None:
    load_spec(_text(line))
    if keras_call is not None:
        keras_call()


def test_the_metrics_keras_cannot_compile_are_those_whose_update_state_takes_no_labels() -> None:
    from netform.spec._training import METRICS
    from netform.spec._training_checks import NOT_COMPILED

    takes_values = set()
    for name in METRICS:
        cls = getattr(keras.metrics, name, None)
        if isinstance(cls, type):
            params = list(inspect.signature(cls.update_state).parameters)[1:3]
            if params != ["y_true", "y_pred"]:
                takes_values.add(name)
    assert takes_values == set(NOT_COMPILED)


def test_a_metric_named_loss_replaces_the_loss_in_keras_s_logs() -> None:
    """Why it is refused: Keras raises nothing, and the reported loss is the metric's value."""
    metric = keras.metrics.SparseCategoricalAccuracy(name="loss")
    logged = _keras_fit(metrics=[metric]).history["loss"][0]
    assert logged == pytest.approx(float(metric.result()))
    assert 0.0 <= logged <= 1.0  # an accuracy, where the loss of 3 classes is ~1.1


def test_several_outputs_a_metric_is_refused_where_its_name_is_an_output_s_loss() -> None:
    diags = _diags(heads_spec("metrics: {cls: [{type: SparseCategoricalAccuracy, name: loss}]}"))
    assert [d.path for d in diags] == [("training", "metrics", "cls", 0, "name")]
    assert "logged as 'cls_loss'" in diags[0].message and "(training.loss.cls)" in diags[0].message
    load_spec(heads_spec("metrics: {cls: [accuracy], reg: [mae]}"))
    load_spec(heads_spec("metrics: [mae, mae]"))  # a list as long as the outputs: Keras reads one metric per output
    diags = _diags(heads_spec("metrics: {reg: [mae, mae]}"))
    assert [d.path for d in diags] == [("training", "metrics", "reg", 1)]
    load_spec(heads_spec("metrics: {cls: [accuracy, {type: SparseCategoricalAccuracy, name: acc}]}"))


def test_several_problems_are_each_located(tmp_path: Path) -> None:
    text = _text("metrics: [Mean, accuracy, accuracy]\n  optimizer: {type: Ftrl, learning_rate_power: 1.0}")
    paths = {d.path for d in _diags(text)}
    assert paths == {
        ("training", "metrics", 0),
        ("training", "metrics", 2),
        ("training", "optimizer", "learning_rate_power"),
    }


# --- validation_split: only the data says which fractions leave both sets non-empty ------------------------


@pytest.mark.parametrize(
    "split, samples, words",
    [
        (
            0.999,
            16,
            "holds out all 16 training samples for validation, leaving none to train on; with 16 samples "
            "write at most 0.9375",
        ),
        (0.5, 1, "holds 1 sample(s), which cannot be split"),
        (1e-20, 16, "rounds down to no validation sample"),
    ],
)
def test_a_validation_split_that_leaves_an_empty_set_stops_before_training(
    tmp_path: Path, split: float, samples: int, words: str
) -> None:
    x, y = _data(samples)
    with pytest.raises(ValueError, match="not sufficient to split"):  # what Keras says, after the model is built
        _keras_fit_xy(x, y, validation_split=split)
    built: list[Any] = []

    def model() -> keras.Model:
        built.append(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")]))
        return built[-1]

    config = {"loss": "sparse_categorical_crossentropy", "validation_split": split}
    with pytest.raises(SpecError) as info:
        fit_from_training_config(model, config, x, y, verbose=0, out_dir=tmp_path)
    diag = info.value.diagnostics[0]
    assert diag.path == ("training", "validation_split") and words in diag.message
    assert not built  # refused before the model is built
    if samples > 1:  # validation data given: Keras ignores the split, and so does the check
        history = fit_from_training_config(model, config, x, y, verbose=0, out_dir=tmp_path, validation_data=(x, y))
        assert "val_loss" in history.history


def _keras_fit_xy(x: np.ndarray, y: np.ndarray, **fit: Any) -> Any:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    return model.fit(x, y, epochs=1, verbose=0, **fit)


def test_a_split_that_leaves_one_sample_on_each_side_trains(tmp_path: Path) -> None:
    x, y = _data(16)
    config = {"loss": "sparse_categorical_crossentropy", "validation_split": 0.9375, "batch_size": 4}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    history = fit_from_training_config(model, config, x, y, verbose=0, out_dir=tmp_path)
    assert np.isfinite(history.history["val_loss"]).all()


# --- the command line: validate exits 1; good values train -------------------------------------------------


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    x, y = _data()
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.mark.parametrize(
    "line, words",
    [
        ("metrics: [{type: Mean}]", "Mean cannot be a compiled metric"),
        ("metrics: [{type: AUC, num_labels: 0}]", "AUC.num_labels is 0"),
        ("loss: {type: SparseCategoricalCrossentropy, name: 5}", "a name is a string"),
        ("distribution: {strategy: mirrored, devices: [/cpu:0, /CPU:0]}", "TensorFlow takes each device once"),
        ("callbacks: [{type: CSVLogger, filename: '.'}]", "names no file"),
        ("optimizer: {type: Ftrl, learning_rate_power: 0.5}", "at most 0.0"),
        ("optimizer: {type: Lion, beta_1: 1.5}", "between 0.0 and 1.0"),
        ("metrics: [{type: SparseCategoricalAccuracy, name: loss}]", "the name Keras logs the loss"),
    ],
)
def test_validate_exits_1_naming_the_place_and_train_refuses_it_too(
    tmp_path: Path, data: Path, line: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(_text(line))
    assert main(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:{10 if line.startswith('loss') else 11}:" in err and words in err
    code = main(["train", str(spec), "--data", str(data), "--y", "y", "--out-dir", str(tmp_path / "out")])
    assert code == 1 and words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "line",
    [
        "optimizer: {type: Ftrl, learning_rate_power: -0.5, l1_regularization_strength: 0.01}\n"
        "  metrics: [accuracy, {type: SparseCategoricalAccuracy, name: acc}]\n  weighted_metrics: [accuracy]",
        "optimizer: {type: Lion, beta_1: 0.9}\n  validation_split: 0.25\n"
        "  callbacks: [{type: CSVLogger, filename: logs/train.csv}]",
    ],
)
def test_the_good_values_train_from_the_command_line(
    tmp_path: Path, data: Path, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(_text(line))
    assert main(["validate", str(spec)]) == 0
    out = tmp_path / "out"
    code = main(
        ["train", str(spec), "--data", str(data), "--y", "y", "--out-dir", str(out), "-o", str(tmp_path / "m.keras")]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "final:" in printed
    if "CSVLogger" in line:
        assert (out / "logs" / "train.csv").read_text().startswith("epoch")
        assert "val_loss" in printed
    else:
        assert "acc=" in printed and "weighted_accuracy=" in printed


def test_validation_split_too_large_for_the_data_is_exit_1_from_train(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(_text("validation_split: 0.999"))
    assert main(["validate", str(spec)]) == 0
    capsys.readouterr()
    code = main(["train", str(spec), "--data", str(data), "--y", "y", "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "training.validation_split" in err and "leaving none to train on" in err and "Keras" not in err
