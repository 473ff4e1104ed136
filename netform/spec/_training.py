"""The ``training:`` section of a spec: what the engine compiles and fits with.

Optimizers, losses, metrics and callbacks are Keras's built-in ones, named as
Keras names them (a string, or ``{type: Adam, learning_rate: 1e-3}``); a loss or
metric may also be one the program registered with Keras, as ``"package>Name"``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import AfterValidator, ConfigDict, Field, PositiveInt, ValidationInfo, field_validator, model_validator

from ..errors import did_you_mean
from ._access import (
    NETWORK_CALLBACKS,
    NETWORK_STRATEGIES,
    PATH_ARGUMENTS,
    callback_message,
    callback_problems,
    current_access,
    network_strategy_message,
)
from ._types import StrictScalars, TypedObject, check_arguments

__all__ = [
    "TrainingSpec",
    "DistributionSpec",
    "OPTIMIZERS",
    "LOSSES",
    "METRICS",
    "CALLBACKS",
    "NETFORM_CALLBACKS",
    "PATH_ARGUMENTS",
    "NETWORK_CALLBACKS",
    "STRATEGY_NAMES",
    "DTYPE_POLICIES",
    "TRAINING_KEYS",
    "CONFIG_ONLY_KEYS",
    "REGISTERED_KINDS",
]

# The one list of each closed choice: the spec's schema takes them as `Literal`s, the engine (which may import
# this TensorFlow-free module) reads the tuples, so a name added here is known to both.
StrategyName = Literal["default", "one_device", "mirrored", "multi_worker_mirrored"]
DtypePolicyName = Literal["float32", "mixed_float16", "mixed_bfloat16"]
#: the ``tf.distribute`` strategies ``training.distribution.strategy`` names
STRATEGY_NAMES: tuple[str, ...] = get_args(StrategyName)
#: Keras's precision policies ``training.dtype_policy`` names
DTYPE_POLICIES: tuple[str, ...] = get_args(DtypePolicyName)

#: the largest ``training.steps_per_execution`` a spec may give: far beyond any useful grouping
#: of steps (``"auto"`` stays well below it), small enough that a call's bookkeeping and Keras's
#: progress bar (drawn from the reported batch number) stay bounded
MAX_STEPS_PER_EXECUTION = 1 << 16

OPTIMIZERS = (
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "LossScaleOptimizer",
    "Muon",
    "Nadam",
    "RMSprop",
    "SGD",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamw",
    "adamax",
    "ftrl",
    "lamb",
    "lion",
    "nadam",
    "rmsprop",
    "sgd",
)
LOSSES = (
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Dice",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "Tversky",
    "CTC",
    "Circle",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "mse",
    "mae",
    "mape",
    "msle",
    "kld",
    "dice",
    "tversky",
    "ctc",
    "circle",
    "bce",
    "BCE",
    "KLD",
    "MAE",
    "MAPE",
    "MSE",
    "MSLE",
)
METRICS = (
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mse",
    "mae",
    "mape",
    "msle",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "root_mean_squared_error",
    "cosine_similarity",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    # the names keras.metrics.get reads (a class's snake_case name, an alias) whose class needs no argument
    "auc",
    "bce",
    "BCE",
    "MAE",
    "MAPE",
    "MSE",
    "MSLE",
    "binary_io_u",
    "concordance_correlation",
    "f1_score",
    "f_beta_score",
    "false_negatives",
    "false_positives",
    "log_cosh_error",
    "pearson_correlation",
    "precision",
    "r2_score",
    "recall",
    "true_negatives",
    "true_positives",
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "IoU",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "OneHotIoU",
    "OneHotMeanIoU",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "ConcordanceCorrelation",
    "PearsonCorrelation",
)
CALLBACKS = (
    "BackupAndRestore",
    "CSVLogger",
    "EarlyStopping",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "TensorBoard",
    "TerminateOnNaN",
    "SwapEMAWeights",
)
# netform's own callbacks a spec may name beside Keras's, with the arguments each takes (the first is required).
NETFORM_CALLBACKS: dict[str, tuple[str, ...]] = {
    # netform.engine.TrainingBackup: exact mid-epoch resume; `backup_dir` is its `directory`.
    "TrainingBackup": ("backup_dir", "save_every_steps", "save_every_epoch", "delete_on_finish"),
}


def _check_netform_callback(value: Any) -> None:
    """Refuse unknown or missing arguments of one of :data:`NETFORM_CALLBACKS`."""
    if not hasattr(value, "arguments") or value.type not in NETFORM_CALLBACKS:
        return
    names = NETFORM_CALLBACKS[value.type]
    for arg in value.arguments:
        if arg not in names:
            raise ValueError(
                f"{value.type} takes no argument '{arg}'{did_you_mean(arg, names)}; its arguments: {', '.join(names)}"
            )
    if names[0] not in value.arguments:
        raise ValueError(
            f"{value.type} needs `{names[0]}`: the folder its backup is kept in, e.g. "
            f"{{type: {value.type}, {names[0]}: backup}}"
        )
    every = value.arguments.get("save_every_steps")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(
            f"{value.type}.save_every_steps must be a positive whole number (or null: at the end of "
            f"each epoch only); received {every!r}"
        )


#: the kinds of ``training:`` objects a spec may name as ``"package>Name"``: a class (or function) the
#: program registered with ``keras.saving.register_keras_serializable``
REGISTERED_KINDS = ("loss", "metric")


def _registered(kind: str, name: str, value: Any) -> Any:
    """A ``"package>Name"`` loss or metric: registered with Keras in this process, or refused.

    Only Keras's registry is read (what the program or a ``--plugin`` module registered); a spec never imports.
    """
    from ._custom import keras_registered_object

    arguments = value.arguments if isinstance(value, TypedObject) else {}
    if keras_registered_object(kind, name, arguments) is None:
        package = name.split(">")[0]
        raise ValueError(
            f"unknown {kind} '{name}': no Keras {kind} class or function is registered under that name in this "
            f"program; define it in your code (or a module given with --plugin) with "
            f'@keras.saving.register_keras_serializable(package="{package}"); a spec never imports modules itself'
        )
    return value


#: The kinds whose ``{type: …}`` mapping makes a Keras class with its arguments (a name alone may be a shorthand)
_CLASS_KINDS = ("optimizer", "loss", "metric")


def _check_class(kind: str, name: str) -> None:
    """Refuse a ``{type: …}`` naming one of Keras's shorthands (``adam``, ``mse``): only a class takes arguments."""
    from ._keras_args import KERAS_ARGS

    classes = KERAS_ARGS.get(kind, {})
    if name in classes:
        return
    squashed = name.replace("_", "").lower()
    match = next((c for c in classes if c.lower() == squashed), None)
    write = f"{{type: {match}, …}}" if match else f"the class's name{did_you_mean(name, tuple(classes))}"
    if squashed in ("accuracy", "acc"):  # the name alone picks the class from the labels
        write = "{type: SparseCategoricalAccuracy} (integer labels), CategoricalAccuracy (one-hot) or BinaryAccuracy"
    raise ValueError(
        f"'{name}' is a shorthand Keras reads only as a name alone ({kind}: {name}); a {{type: …}} mapping names "
        f"a class, which takes the arguments: write {write}"
    )


#: Keras classes whose constructor has arguments without a default (checked against Keras by a test), with
#: an example of each: a name alone makes Keras call the class without them, which it refuses
REQUIRED_ARGUMENTS: dict[tuple[str, str], dict[str, str]] = {
    ("metric", "IoU"): {"num_classes": "2", "target_class_ids": "[0]"},
    ("metric", "MeanIoU"): {"num_classes": "2"},
    ("metric", "OneHotIoU"): {"num_classes": "2", "target_class_ids": "[0]"},
    ("metric", "OneHotMeanIoU"): {"num_classes": "2"},
    ("metric", "PrecisionAtRecall"): {"recall": "0.5"},
    ("metric", "RecallAtPrecision"): {"precision": "0.5"},
    ("metric", "SensitivityAtSpecificity"): {"specificity": "0.5"},
    ("metric", "SpecificityAtSensitivity"): {"sensitivity": "0.5"},
    ("optimizer", "LossScaleOptimizer"): {"inner_optimizer": "adam"},
    ("callback", "BackupAndRestore"): {"backup_dir": "backup"},
    ("callback", "CSVLogger"): {"filename": "training.csv"},
    ("callback", "LearningRateScheduler"): {"schedule": "(a Python function)"},
    ("callback", "ModelCheckpoint"): {"filepath": "model.keras"},
}


def _check_required(kind: str, name: str, value: Any) -> None:
    """Refuse a Keras class named alone whose constructor requires arguments (:data:`REQUIRED_ARGUMENTS`).

    A ``{type: …}`` mapping missing them is reported with the other argument checks (:func:`missing_arguments`).
    """
    needed = REQUIRED_ARGUMENTS.get((kind, name))
    if needed is not None and isinstance(value, str):
        raise ValueError(
            f"{name} cannot be named alone: Keras makes it only with its {', '.join(needed)}; write {_example(name, needed)}"
        )


def _example(name: str, needed: dict[str, str]) -> str:
    return "{type: " + name + "".join(f", {arg}: {v}" for arg, v in needed.items()) + "}"


def missing_arguments(kind: str, name: str, arguments: dict[str, Any]) -> str | None:
    """Why a ``{type: …}`` object lacks arguments its Keras constructor requires (``None``: it has them).

    LossScaleOptimizer, ModelCheckpoint and LearningRateScheduler are left to their own checks, which say more.
    """
    needed = REQUIRED_ARGUMENTS.get((kind, name))
    if needed is None or kind == "optimizer" or name in ("LearningRateScheduler", "ModelCheckpoint"):
        return None
    missing = [arg for arg in needed if arg not in arguments]
    if not missing:
        return None
    return (
        f"{name} needs {', '.join(missing)} (Keras has no default for {'it' if len(missing) == 1 else 'them'}); "
        f"write {_example(name, needed)}"
    )


def _known(kind: str, names: tuple[str, ...]):
    def check(value: Any) -> Any:
        name = value if isinstance(value, str) else value.type
        if ">" in name and kind in REGISTERED_KINDS:
            return _registered(kind, name, value)
        if name not in names:
            plural = kind + ("es" if kind.endswith("s") else "s")  # losses
            raise ValueError(
                f"unknown {kind} '{name}'{did_you_mean(name, names)}; use one of Keras's built-in {plural}"
            )
        _check_required(kind, name, value)
        if isinstance(value, TypedObject) and kind in _CLASS_KINDS:
            _check_class(kind, name)
        check_arguments(kind, value)
        if kind == "callback":
            _check_netform_callback(value)
            # A spec is untrusted: its callbacks stay under the output directory and off the network.
            problems = callback_problems(name, value.arguments, current_access())
            if problems:
                raise ValueError("; ".join(callback_message(p) for p in problems))
        return value

    return AfterValidator(check)


OptimizerRef = Annotated[Union[str, TypedObject], _known("optimizer", OPTIMIZERS)]
LossRef = Annotated[Union[str, TypedObject], _known("loss", LOSSES)]
MetricRef = Annotated[Union[str, TypedObject], _known("metric", METRICS)]
CallbackRef = Annotated[TypedObject, _known("callback", CALLBACKS + tuple(NETFORM_CALLBACKS))]


#: A TensorFlow device name, as ``tf.DeviceSpec`` reads one: ``/job:NAME/replica:N/task:N/device:TYPE:N`` with
#: the leading parts optional, or the short forms ``CPU:0``, ``/cpu:0``, ``/device:GPU:1`` (``*`` or no index: any).
#: A ``device:`` type is upper-case (TensorFlow refuses ``device:tpu``), ``cpu`` and ``gpu`` excepted.
DEVICE_NAME = re.compile(
    r"/?(?:job:(?P<job>[A-Za-z_][\w.-]*)/)?(?:replica:(?P<replica>\d+)/)?(?:task:(?P<task>\d+)/)?"
    r"(?:device:(?P<long>cpu|gpu|[A-Z][A-Z0-9_]*)|(?P<short>(?i:cpu|gpu|tpu)))(?::(?P<index>\d+|\*))?"
)


def canonical_device(device: str) -> str:
    """A device name as TensorFlow's ``device_util.canonicalize`` writes it (``/cpu:0`` and ``CPU`` are one device).

    Parts left out are this process's (job localhost, replica 0, task 0, index 0); ``cpu``/``gpu`` are upper-cased.
    """
    parts = DEVICE_NAME.fullmatch(device)
    if parts is None:
        return device
    kind = parts["short"].upper() if parts["short"] else parts["long"]
    kind = kind.upper() if kind in ("cpu", "gpu") else kind
    index = parts["index"] if parts["index"] not in (None, "*") else "0"
    return (
        f"/job:{parts['job'] or 'localhost'}/replica:{int(parts['replica'] or 0)}/task:{int(parts['task'] or 0)}"
        f"/device:{kind}:{int(index)}"
    )


def _check_devices(value: tuple[str, ...] | None, info: ValidationInfo) -> tuple[str, ...] | None:
    """Refuse a device that is not a TensorFlow device name (a URL, a host name): TensorFlow fails on it mid-setup.

    Also a device named twice, in any of its spellings (``/cpu:0`` and ``CPU:0``): a strategy's replicas are
    one per device, and TensorFlow stops on a duplicate when the strategy is made; and, for ``mirrored``,
    devices whose job, replica and task are written differently, which TensorFlow reads as several workers.
    """
    devices = value or ()
    seen: dict[str, int] = {}
    for i, device in enumerate(devices):
        if not DEVICE_NAME.fullmatch(device):
            shown = device if len(device) <= 80 else device[:77] + "..."
            raise ValueError(
                f"{shown!r} is not a TensorFlow device name; write one such as 'CPU:0', '/gpu:1' or "
                "'/job:localhost/replica:0/task:0/device:GPU:0' (a device of this machine; workers of a cluster "
                "are set with TF_CONFIG and strategy: multi_worker_mirrored)"
            )
        first = seen.setdefault(canonical_device(device), i)
        if first != i:
            same = "is named twice" if devices[first] == device else f"is {devices[first]!r} again"
            raise ValueError(
                f"devices[{i}] {device!r} {same} (devices[{first}]; both are "
                f"{canonical_device(device)}): TensorFlow takes each device once; remove devices[{i}]"
            )
    workers = {_worker(d) for d in devices}
    if info.data.get("strategy") == "mirrored" and len(workers) > 1:
        raise ValueError(
            f"the devices of strategy: mirrored are written with different job, replica or task parts ("
            f"{', '.join(repr(d) for d in devices)}), which TensorFlow reads as several workers (it refuses them "
            "for mirrored); write them alike, e.g. ['CPU:0', 'CPU:1'] (the devices of this machine)"
        )
    return value


def _worker(device: str) -> tuple[str | None, ...]:
    """The job, replica and task a device name writes (``None`` where it leaves one out), as TensorFlow reads them."""
    parts = DEVICE_NAME.fullmatch(device)
    if parts is None:
        return (device,)
    return (parts["job"], *(None if parts[k] is None else str(int(parts[k])) for k in ("replica", "task")))


class DistributionSpec(StrictScalars):
    """Which ``tf.distribute`` strategy training runs under."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: StrategyName = Field(
        "default",
        description="The tf.distribute strategy: default, one_device, mirrored or multi_worker_mirrored "
        "(which uses the network: allowed with netform train --allow-network).",
    )

    @field_validator("strategy")
    @classmethod
    def _network(cls, value: str) -> str:
        access = current_access()
        if value in NETWORK_STRATEGIES and access.check_callbacks and not access.allow_network:
            raise ValueError(network_strategy_message(value))
        return value

    devices: Annotated[tuple[str, ...] | None, AfterValidator(_check_devices)] = Field(
        None,
        description="Devices of this machine for one_device (one) or mirrored (several), as TensorFlow names them, "
        "e.g. ['/cpu:0'] or ['GPU:0', 'GPU:1']; null for all.",
    )

    @model_validator(mode="after")
    def _one_device(self) -> "DistributionSpec":
        if self.strategy == "one_device" and self.devices is not None and len(self.devices) != 1:
            raise ValueError(
                f"one_device trains on one device, and devices lists {len(self.devices)} "
                f"({', '.join(self.devices[:4])}{', …' if len(self.devices) > 4 else ''}); name one, or use "
                "strategy: mirrored for several"
            )
        return self


class TrainingSpec(StrictScalars):
    """How to compile and fit the model: optimizer, loss, metrics, loop settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: OptimizerRef = Field(
        "adam",
        description="A Keras optimizer by name or as {type: Adam, learning_rate: 0.001}; a spec without one "
        "trains with Adam (netform.Model.compile() keeps Keras's default, rmsprop).",
    )
    # Left to right: `{type: Huber}` is one loss (a mapping of output names is tried only when it is none).
    loss: LossRef | dict[str, LossRef] | None = Field(
        None,
        description="A Keras loss, or one per output name for a model with several outputs.",
        union_mode="left_to_right",
    )
    loss_weights: tuple[float, ...] | dict[str, float] | None = Field(
        None, description="Weights of the per-output losses."
    )
    metrics: tuple[MetricRef, ...] | dict[str, tuple[MetricRef, ...]] | None = Field(
        None, description="Metrics, or a list of metrics per output name."
    )
    weighted_metrics: tuple[MetricRef, ...] | dict[str, tuple[MetricRef, ...]] | None = Field(
        None, description="Metrics weighted by sample_weight or class_weight."
    )
    batch_size: PositiveInt = Field(
        32,
        le=2**31 - 1,
        description="Samples per gradient step (at most 2,147,483,647; past 2**63 TensorFlow cannot hold it).",
    )
    epochs: PositiveInt = Field(1, description="Passes over the training data.")
    validation_split: float = Field(0.0, ge=0.0, lt=1.0, description="Fraction of the data held out for validation.")
    shuffle: bool = Field(True, description="Shuffle the training data every epoch.")
    callbacks: tuple[CallbackRef, ...] = Field(
        (), description="Keras callbacks, e.g. {type: EarlyStopping, patience: 3}."
    )
    steps_per_execution: Annotated[int, Field(ge=1, le=MAX_STEPS_PER_EXECUTION)] | Literal["auto"] = Field(
        "auto",
        description="Training steps run inside one compiled call, at most 65536; auto (the default): netform "
        "measures and adapts it while training, with the results of 1 (netform.Model.compile() keeps Keras's "
        "default, 1).",
    )
    jit_compile: bool | Literal["auto"] = Field("auto", description="Compile steps with XLA: true, false or auto.")
    distribution: DistributionSpec | None = Field(None, description="The tf.distribute strategy to train under.")
    dtype_policy: DtypePolicyName | None = Field(
        None,
        description="Keras's precision policy for building and training this spec: mixed_float16 (GPUs; the "
        "loss is scaled as Keras does), mixed_bfloat16 (TPUs, recent CPUs and GPUs) or float32. The output layers "
        "stay float32; the process-wide policy is left as it was.",
    )

    def to_dict(self) -> dict[str, Any]:
        """The section as written in YAML (non-default values only)."""
        return self.model_dump(mode="json", exclude_defaults=True)


#: the keys a spec's ``training:`` section may hold
TRAINING_KEYS: frozenset[str] = frozenset(TrainingSpec.model_fields)
#: the keys ``fit_from_training_config`` takes beyond a spec's (arguments of ``compile``/``fit`` a spec leaves out)
CONFIG_ONLY_KEYS: frozenset[str] = frozenset(
    {
        "run_eagerly",
        "class_weight",
        "steps_per_epoch",
        "validation_steps",
        "validation_freq",
        "initial_epoch",
    }
)
