"""``training:`` mistakes that ``validate`` passed and that then stopped ``train`` with a foreign error.

Found by an independent attack: ModelCheckpoint file names that read a value the logs never hold
(``{val_loss}`` without validation data, ``{accuracy}`` without the metric, ``{batch}`` when saving once an
epoch, ``{loss:d}``), or that lack the ending Keras requires. Each is now refused where it is written (or,
when only the command line can supply it, before the first epoch), as a located :class:`SpecError`.
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

from netform.engine import fit_from_training_config
from netform.errors import SpecError
from netform.spec import load_spec

SPEC = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
      callbacks: [%s]
    """)


def _diag(text: str) -> Any:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    return info.value.diagnostics[0]


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((16, 4), dtype=np.float32), rng.integers(0, 3, 16)


def _keras_model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# --- ModelCheckpoint file names ---------------------------------------------------------------------------

REFUSED = [
    ("m{loss:d}.keras", {}, "formats {loss} with ':d'"),
    ("m{f1:.2f}.keras", {}, "names {f1}, which training never logs"),
    ("m{foo}.keras", {}, "names {foo}, which training never logs"),
    ("m{batch}.keras", {}, "names {batch}, which Keras fills only when it saves every N batches"),
    ("m{batch}{val_loss}.keras", {"save_freq": 2}, "names {val_loss}, but it saves every save_freq batches"),
]


@pytest.mark.parametrize("template, extra, words", REFUSED)
def test_a_checkpoint_name_keras_cannot_format_is_refused_where_it_is_written(
    template: str, extra: dict[str, Any], words: str
) -> None:
    args = "".join(f", {k}: {v}" for k, v in extra.items())
    diag = _diag(SPEC % f'{{type: ModelCheckpoint, filepath: "{template}"{args}}}')
    assert diag.path == ("training", "callbacks", 0, "filepath")
    assert diag.line == 11
    assert words in diag.message


@pytest.mark.parametrize("template, extra, words", REFUSED)
def test_keras_itself_fails_on_those_names_after_an_epoch(
    tmp_path: Path, template: str, extra: dict[str, Any], words: str
) -> None:
    x, y = _data()
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / template), **extra)
    with pytest.raises((KeyError, ValueError)):
        _keras_model().fit(x, y, batch_size=8, epochs=1, verbose=0, validation_split=0.25, callbacks=[cb])


@pytest.mark.parametrize(
    "filepath, words",
    [("", "must end in '.keras'"), ("{epoch}", "must end in '.keras'"), ("w{epoch}.keras", None)],
)
def test_a_checkpoint_name_without_keras_s_ending_is_refused(filepath: str, words: str | None) -> None:
    text = SPEC % f'{{type: ModelCheckpoint, filepath: "{filepath}"}}'
    if words is None:
        load_spec(text)
        keras.callbacks.ModelCheckpoint(filepath)
        return
    assert words in _diag(text).message
    with pytest.raises(ValueError, match="must end in"):
        keras.callbacks.ModelCheckpoint(filepath)


def test_a_weights_checkpoint_needs_the_weights_ending() -> None:
    diag = _diag(SPEC % '{type: ModelCheckpoint, filepath: "w.keras", save_weights_only: true}')
    assert "must end in '.weights.h5'" in diag.message
    with pytest.raises(ValueError, match="weights.h5"):
        keras.callbacks.ModelCheckpoint("w.keras", save_weights_only=True)


def test_the_names_keras_fills_are_accepted_and_saved_as_keras_saves_them(tmp_path: Path) -> None:
    template = "m{epoch:02d}-{loss:.2f}-{accuracy:.3f}-{val_accuracy:.1%}.keras"
    batches = "b{epoch}-{batch:03d}-{loss:.1e}.weights.h5"
    spec = load_spec(
        SPEC.replace("metrics: [accuracy]", "metrics: [accuracy]\n  validation_split: 0.25")
        % (
            f'{{type: ModelCheckpoint, filepath: "{template}"}}, '
            f'{{type: ModelCheckpoint, filepath: "{batches}", save_freq: 1, save_weights_only: true}}'
        )
    )
    x, y = _data()
    cbs = [
        keras.callbacks.ModelCheckpoint(str(tmp_path / "keras" / template)),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "keras" / batches), save_freq=1, save_weights_only=True),
    ]
    _keras_model().fit(x, y, batch_size=8, epochs=1, verbose=0, validation_split=0.25, callbacks=cbs)
    config = {**spec.training.to_dict(), "batch_size": 8}
    fit_from_training_config(_keras_model(), config, x, y, verbose=0, out_dir=tmp_path / "netform")
    assert len(list((tmp_path / "keras").iterdir())) == 3  # one per epoch, one per batch (2 batches)
    assert len(list((tmp_path / "netform").iterdir())) == 3


def test_the_learning_rate_is_a_field_after_reduce_lr_on_plateau_only() -> None:
    named = '{type: ModelCheckpoint, filepath: "m{learning_rate:.1e}.keras"}'
    assert "never logs" in _diag(SPEC % named).message
    load_spec(SPEC % f"{{type: ReduceLROnPlateau, monitor: loss}}, {named}")


@pytest.mark.parametrize("validation", ["none", "freq"])
def test_a_validation_field_without_validation_data_is_refused_before_training(
    tmp_path: Path, validation: str
) -> None:
    x, y = _data()
    config: dict[str, Any] = {
        "loss": "sparse_categorical_crossentropy",
        "callbacks": [{"type": "ModelCheckpoint", "filepath": "m{val_loss:.2f}.keras"}],
    }
    given = None if validation == "none" else (x, y)
    if validation == "freq":
        config["validation_freq"] = 2
    with pytest.raises(SpecError, match=r"names \{val_loss\}") as info:
        fit_from_training_config(_keras_model(), config, x, y, verbose=0, out_dir=tmp_path, validation_data=given)
    assert info.value.diagnostics[0].path == ("training", "callbacks", 0, "filepath")
    assert ("--val-data" in str(info.value)) == (validation == "none")
    assert not any(tmp_path.iterdir())
    config.pop("validation_freq", None)
    fit_from_training_config(_keras_model(), config, x, y, verbose=0, out_dir=tmp_path, validation_data=(x, y))
    assert [p.name.startswith("m") and p.suffix == ".keras" for p in tmp_path.iterdir()] == [True]


# --- argument values Keras's constructors refuse ------------------------------------------------------------

BARE = SPEC.replace("  loss: sparse_categorical_crossentropy\n  metrics: [accuracy]\n  callbacks: [%s]\n", "  %s\n")

VALUES = [
    ("loss: {type: SparseCategoricalCrossentropy, reduction: bogus}", ("training", "loss", "reduction"),
     "Keras takes sum_over_batch_size", lambda: keras.losses.SparseCategoricalCrossentropy(reduction="bogus")),
    ("metrics: [{type: F1Score, average: bogus}]", ("training", "metrics", 0, "average"), "micro, macro, weighted",
     lambda: keras.metrics.F1Score(average="bogus")),
    ("metrics: [{type: IoU, num_classes: 3, target_class_ids: [7]}]", ("training", "metrics", 0, "target_class_ids"),
     "lie between 0 and 2", lambda: keras.metrics.IoU(num_classes=3, target_class_ids=[7])),
    ("metrics: [{type: Precision, thresholds: [0.5, 2.0]}]", ("training", "metrics", 0, "thresholds"),
     "between 0 and 1", lambda: keras.metrics.Precision(thresholds=[0.5, 2.0])),
    ("optimizer: {type: Adam, clipnorm: 1.0, global_clipnorm: 1.0}", ("training", "optimizer", "global_clipnorm"),
     "only one of clipnorm", lambda: keras.optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)),
    ("optimizer: {type: Adam, use_ema: true, ema_momentum: 5}", ("training", "optimizer", "ema_momentum"),
     "between 0 and 1", lambda: keras.optimizers.Adam(use_ema=True, ema_momentum=5)),
    ('optimizer: {type: Adam, learning_rate: "1e-3"}', ("training", "optimizer", "learning_rate"),
     "write 1.0e-3 or 0.001", lambda: keras.optimizers.Adam(learning_rate="1e-3")),
    ("optimizer: {type: Adam, learning_rate: 1e-3}", ("training", "optimizer", "learning_rate"),
     "YAML reads 1e-3 as text", lambda: keras.optimizers.Adam(learning_rate="1e-3")),
    ("optimizer: {type: SGD, learning_rate: 1}", ("training", "optimizer", "learning_rate"), "write 1.0",
     lambda: keras.optimizers.SGD(learning_rate=1)),
    ("optimizer: {type: Adam, learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.1}}",
     ("training", "optimizer", "learning_rate"), "ExponentialDecay needs decay_steps, decay_rate",
     lambda: keras.optimizers.schedules.ExponentialDecay(0.1)),
    ("optimizer: {type: Adam, learning_rate: {type: Exponential, initial_learning_rate: 0.1}}",
     ("training", "optimizer", "learning_rate"), "not one of Keras's learning-rate schedules", None),
    ("optimizer: {type: LossScaleOptimizer}", ("training", "optimizer"), "needs `inner_optimizer`",
     lambda: keras.optimizers.LossScaleOptimizer()),
    ("optimizer: {type: LossScaleOptimizer, inner_optimizer: adamm}", ("training", "optimizer", "inner_optimizer"),
     "(Did you mean 'adam'?)", None),
]


@pytest.mark.parametrize("line, path, words, keras_call", VALUES, ids=[v[1][-1] + ":" + v[2][:12] for v in VALUES])
def test_a_value_keras_refuses_is_refused_at_its_argument(line: str, path: tuple, words: str, keras_call: Any) -> None:
    text = BARE % (line if line.startswith("loss") else f"loss: sparse_categorical_crossentropy\n  {line}")
    diag = _diag(text)
    assert diag.path == path
    assert words in diag.message
    if keras_call is not None:
        with pytest.raises((ValueError, TypeError)):
            keras_call()


def test_the_schedules_are_keras_s_with_their_arguments() -> None:
    import inspect

    from netform.spec._training_checks import LR_SCHEDULES

    for name, (needed, optional) in LR_SCHEDULES.items():
        params = inspect.signature(getattr(keras.optimizers.schedules, name)).parameters.values()
        assert needed == tuple(p.name for p in params if p.default is inspect.Parameter.empty)
        assert set(optional) == {p.name for p in params if p.default is not inspect.Parameter.empty}


def test_a_schedule_and_a_loss_scale_optimizer_train_as_keras_makes_them(tmp_path: Path) -> None:
    from netform.engine._config import resolve_optimizer

    schedule = "{type: ExponentialDecay, initial_learning_rate: 0.1, decay_steps: 2, decay_rate: 0.5}"
    spec = load_spec(BARE % (
        "loss: sparse_categorical_crossentropy\n"
        f"  optimizer: {{type: LossScaleOptimizer, inner_optimizer: {{type: SGD, learning_rate: {schedule}}}}}"
    ))
    optimizer = resolve_optimizer(spec.training.to_dict()["optimizer"])
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(optimizer.inner_optimizer, keras.optimizers.SGD)
    made = optimizer.inner_optimizer._learning_rate
    assert made.get_config() == keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5).get_config()
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    history = fit_from_training_config(model, {**spec.training.to_dict(), "batch_size": 4, "epochs": 2}, x, y,
                                       verbose=0, out_dir=tmp_path)
    assert np.isfinite(history.history["loss"]).all()
    used = model.optimizer
    assert isinstance(used, keras.optimizers.LossScaleOptimizer)
    assert float(used.inner_optimizer.learning_rate) == pytest.approx(0.1 * 0.5 ** (8 / 2))  # 8 steps
    by_name = resolve_optimizer({"type": "LossScaleOptimizer", "inner_optimizer": "adam"})
    assert type(by_name.inner_optimizer) is keras.optimizers.Adam


# --- distribution devices ----------------------------------------------------------------------------------

DEVICES = BARE % "loss: sparse_categorical_crossentropy\n  distribution: {strategy: mirrored, devices: [%s]}"


@pytest.mark.parametrize("device", ["grpc://127.0.0.1:5555", "localhost:5555", "/job:worker", "", "CPU:zero"])
def test_a_device_that_is_no_tensorflow_device_name_is_refused_at_validate(device: str) -> None:
    import tensorflow as tf

    diag = _diag(DEVICES % f'"{device}"')
    assert diag.path[:3] == ("training", "distribution", "devices")
    assert "is not a TensorFlow device name" in diag.message and "'CPU:0'" in diag.message
    try:  # TensorFlow refuses it too, or reads no device from it
        assert tf.DeviceSpec.from_string(device).device_type is None
    except ValueError:
        pass


NAMES = ["CPU:0", "/cpu:0", "GPU:1", "/device:GPU:0", "gpu:*", "/job:localhost/replica:0/task:0/device:CPU:0",
         "/job:worker/replica:0/task:0/device:CPU:0", "/task:1/device:TPU:3", "cpu"]


@pytest.mark.parametrize("device", NAMES)
def test_tensorflow_device_names_validate_and_parse_as_tensorflow_reads_them(device: str) -> None:
    import tensorflow as tf

    assert load_spec(DEVICES % f'"{device}"').training.distribution.devices == (device,)
    assert tf.DeviceSpec.from_string(device).device_type in ("CPU", "GPU", "TPU")


@pytest.mark.parametrize("device", ["/job:worker/replica:0/task:0/device:CPU:0", "GPU:7", "/device:CPU:3"])
def test_a_device_this_machine_lacks_is_refused_naming_the_devices_it_has(device: str) -> None:
    from netform.engine._distribute import strategy_from_name
    from netform.errors import EngineError

    with pytest.raises(EngineError, match="names no device of this machine; it has: .*/device:CPU:0"):
        strategy_from_name("mirrored", [device])
    with pytest.raises(EngineError, match=re.escape(repr(device))):
        strategy_from_name("one_device", [device])


def test_the_devices_this_machine_has_make_the_strategy() -> None:
    from netform.engine._distribute import strategy_from_name

    assert strategy_from_name("mirrored", ["/job:localhost/replica:0/task:0/device:CPU:0"]).num_replicas_in_sync == 1
    assert strategy_from_name("one_device", ["cpu:0"]).num_replicas_in_sync == 1
    assert strategy_from_name("mirrored", ["CPU"]).num_replicas_in_sync == 1


# --- very many unknown keys ---------------------------------------------------------------------------------

HEAD = "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n  - {type: Dense, units: 3}\n"


@pytest.mark.parametrize("where", ["training", "top"])
def test_tens_of_thousands_of_unknown_keys_are_refused_at_once(where: str) -> None:
    from netform.spec._expansion import MAX_HINTS
    from tests._budget import assert_cpu_under

    keys = "".join(f"{'  ' if where == 'training' else ''}k{i}: 1\n" for i in range(60_000))
    text = HEAD + ("training:\n  epochs: 1\n" if where == "training" else "") + keys

    errors: list[SpecError] = []

    def refuse() -> None:
        with pytest.raises(SpecError) as info:
            load_spec(text)
        errors.append(info.value)

    assert_cpu_under(refuse, 2.0, "refusing 60,000 unknown keys")
    diags = errors[-1].diagnostics
    prefix = ("training",) if where == "training" else ()
    assert diags[0].path == prefix + ("k0",) and "unknown field 'k0'" in diags[0].message
    assert len(diags) == MAX_HINTS + 1
    assert diags[-1].path == prefix + (f"k{MAX_HINTS}",) and "60,000 in all" in diags[-1].message


def test_a_few_unknown_keys_still_get_a_suggestion() -> None:
    diag = _diag(HEAD + "training:\n  epoch: 1\n")
    assert diag.path == ("training", "epoch") and "(Did you mean 'epochs'?)" in diag.message


@pytest.mark.parametrize("field", ["callbacks", "metrics"])
def test_a_list_of_tens_of_thousands_of_training_objects_is_refused_at_once(field: str) -> None:
    from netform.spec._parse import MAX_TRAINING_ITEMS
    from tests._budget import assert_cpu_under

    item = "{type: EarlyStoping, k: 1}" if field == "callbacks" else "{type: Precison, k: 1}"
    text = HEAD + f"training:\n  {field}:\n" + f"    - {item}\n" * 30_000

    errors: list[SpecError] = []

    def refuse() -> None:
        with pytest.raises(SpecError) as info:
            load_spec(text)
        errors.append(info.value)

    assert_cpu_under(refuse, 2.0, f"refusing 30,000 {field}")
    (diag,) = errors[-1].diagnostics
    assert diag.path == ("training", field, MAX_TRAINING_ITEMS) and "lists 30,000 items; the limit is 1,000" in diag.message


def test_a_thousand_callbacks_still_validate() -> None:
    from netform.spec._parse import MAX_TRAINING_ITEMS

    spec = load_spec(HEAD + "training:\n  callbacks:\n" + "    - {type: TerminateOnNaN}\n" * MAX_TRAINING_ITEMS)
    assert len(spec.training.callbacks) == MAX_TRAINING_ITEMS


def test_validate_warns_of_a_validation_field_without_validation_split() -> None:
    from netform.cli._spec_cmds import spec_warnings

    template = '{type: ModelCheckpoint, filepath: "m{epoch}-{val_loss:.2f}.keras"}'
    (warning,) = [w for w in spec_warnings(load_spec(SPEC % template)) if "filepath" in w.path]
    assert warning.path == ("training", "callbacks", 0, "filepath") and "--val-data" in warning.message
    with_split = SPEC.replace("metrics: [accuracy]", "metrics: [accuracy]\n  validation_split: 0.25")
    assert not [w for w in spec_warnings(load_spec(with_split % template)) if "filepath" in w.path]


@pytest.mark.parametrize(
    "metric, field, refused",
    [
        ("{type: F1Score}", "f1_score", True),
        ("{type: Precision, thresholds: [0.3, 0.6], name: precision}", "precision", True),
        ("{type: F1Score, average: macro}", "f1_score", False),
        ("{type: Precision, thresholds: [0.3], name: precision}", "precision", False),
    ],
)
def test_a_number_format_of_a_metric_logged_as_a_list_is_refused(tmp_path: Path, metric: str, field: str,
                                                                 refused: bool) -> None:
    template = f"m{{{field}:.2f}}.keras"
    text = SPEC.replace("metrics: [accuracy]", f"metrics: [{metric}]").replace(
        "sparse_categorical_crossentropy", "categorical_crossentropy") % f'{{type: ModelCheckpoint, filepath: "{template}"}}'
    if refused:
        assert "one value per class or threshold" in _diag(text).message
    else:
        load_spec(text)
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2, 0, 1]]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", metrics=[_keras_metric(metric)])
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / template))
    if refused:  # Keras fails on it after the first epoch
        with pytest.raises(TypeError, match="format"):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    else:
        model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])


def _keras_metric(text: str) -> keras.metrics.Metric:
    from netform.engine._config import _resolve_metrics
    from netform.spec._yaml import load_yaml

    return _resolve_metrics(load_yaml(text)[0])


MORE = [
    ("optimizer: {type: SGD, momentum: -1.0}", "momentum", "between 0.0 and 1.0",
     lambda: keras.optimizers.SGD(momentum=-1.0), None),
    ("metrics: [{type: AUC, curve: bogus}]", "curve", "Keras takes roc, pr, prgain", lambda: keras.metrics.AUC(curve="bogus"), None),
    ("metrics: [{type: AUC, summation_method: bogus}]", "summation_method", "interpolation, minoring, majoring",
     lambda: keras.metrics.AUC(summation_method="bogus"), None),
    ("metrics: [{type: R2Score, class_aggregation: bogus}]", "class_aggregation", "uniform_average",
     lambda: keras.metrics.R2Score(class_aggregation="bogus"), None),
    ("metrics: [{type: FBetaScore, beta: -1.0}]", "beta", "greater than 0.0", lambda: keras.metrics.FBetaScore(beta=-1.0), None),
    ("metrics: [{type: SensitivityAtSpecificity, specificity: 2.0}]", "specificity", "between 0.0 and 1.0",
     lambda: keras.metrics.SensitivityAtSpecificity(specificity=2.0), None),
    ("callbacks: [{type: TensorBoard, log_dir: tb, profile_batch: 'a,b'}]", "profile_batch", "e.g. [10, 20]",
     lambda: keras.callbacks.TensorBoard(profile_batch="a,b"), None),
    ("callbacks: [{type: TensorBoard, log_dir: tb, profile_batch: [5, 2]}]", "profile_batch", "e.g. [10, 20]",
     lambda: keras.callbacks.TensorBoard(profile_batch=[5, 2]), None),
    ("loss: {type: Tversky, alpha: bogus}", "alpha", "the text 'bogus'", None, lambda: keras.losses.Tversky(alpha="bogus")),
]


@pytest.mark.parametrize("line, arg, words, made, trained", MORE, ids=[m[0][:40] for m in MORE])
def test_more_values_keras_refuses_are_refused_at_their_argument(line: str, arg: str, words: str, made: Any,
                                                                 trained: Any) -> None:
    import tensorflow as tf

    text = BARE % (line if line.startswith("loss") else f"loss: categorical_crossentropy\n  {line}")
    diag = _diag(text)
    assert diag.path[-1] == arg and words in diag.message
    if made is not None:  # Keras refuses it when the object is made
        with pytest.raises(ValueError):
            made()
        return
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)  # ... or at the first training step
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2, 0, 1]]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    obj = trained()
    model.compile(loss=obj if isinstance(obj, keras.losses.Loss) else "categorical_crossentropy",
                  metrics=[obj] if isinstance(obj, keras.metrics.Metric) else None)
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        model.fit(x, y, epochs=1, verbose=0)


def test_a_model_with_several_outputs_names_its_metrics_by_output(tmp_path: Path) -> None:
    from tests._helpers import heads_spec

    import netform

    def text(template: str) -> str:
        return heads_spec(
            "validation_split: 0.25\n  metrics: {cls: [accuracy]}\n"
            f'  callbacks: [{{type: ModelCheckpoint, filepath: "{template}"}}]',
            classes=2,
        )

    assert "names {accuracy}, which training never logs" in _diag(text("m{accuracy:.2f}.keras")).message
    spec = load_spec(text("m{epoch}-{cls_loss:.2f}-{val_reg_loss:.2f}-{val_cls_accuracy:.2f}-{loss:.1f}.keras"))
    x = np.random.default_rng(0).random((16, 4), dtype=np.float32)
    y = {"cls": np.arange(16) % 2, "reg": x[:, :1]}
    fit_from_training_config(lambda: netform.build(spec), spec.training.to_dict(), x, y, verbose=0, out_dir=tmp_path)
    assert len(list(tmp_path.glob("m1-*.keras"))) == 1
