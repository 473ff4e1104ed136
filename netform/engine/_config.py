"""Train from a plain ``training:`` dict, as written in a netform spec.

Names resolve only among Keras's built-in public classes (``keras.optimizers``,
``keras.losses``, ``keras.callbacks``), and a loss or metric named ``"package>Name"``
among the classes and functions registered with Keras in this process: a spec
never imports code by path.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import keras

from ..errors import Diagnostic, EngineError, SpecError, did_you_mean
from ..spec._access import SpecAccess, callback_message, callback_problems
from ..spec._callback_files import CallbackFileRefused, LogNames, backup_overlaps, confine_paths, shared_files
from ..spec._training import CONFIG_ONLY_KEYS, DTYPE_POLICIES, TRAINING_KEYS, TrainingSpec
from ._data import array_samples, split_problem
from ._distribute import strategy_from_name
from netform.spec._access import NETWORK_STRATEGIES, network_strategy_message

__all__ = [
    "fit_from_training_config",
    "resolve_optimizer",
    "resolve_callbacks",
    "accumulation_problem",
    "check_backup_directories",
]

# A spec's training keys (read from the spec's schema, so both know the same ones) and the compile/fit
# arguments a plain dict may add.
_KNOWN_KEYS = TRAINING_KEYS | CONFIG_ONLY_KEYS


@contextlib.contextmanager
def _dtype_policy(name: str | None) -> Iterator[None]:
    """Keras's precision policy for the layers made inside the block; the previous one is put back after.

    Keras keeps its global dtype policy per thread (``keras.config.set_dtype_policy``
    writes thread-local state), so setting it here never changes what other
    threads build, and restoring it leaves the caller's setting as it was.
    """
    if name is None:
        yield
        return
    if name not in DTYPE_POLICIES:
        raise EngineError(
            f"training.dtype_policy: unknown policy {name!r}; expected one of "
            f"{', '.join(DTYPE_POLICIES)}.{did_you_mean(str(name), DTYPE_POLICIES)}"
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _output_layers(model: keras.Model) -> list[Any]:
    """The layers that produce the model's outputs (found through the public ``layer.output``)."""
    outputs = [id(t) for t in keras.tree.flatten(getattr(model, "outputs", None) or [])]
    found = []
    for layer in model.layers:
        try:
            produced = [id(t) for t in keras.tree.flatten(layer.output)]
        except (AttributeError, ValueError):  # a layer used several times, or never called
            continue
        if any(t in outputs for t in produced):
            found.append(layer)
    if not found and isinstance(model, keras.Sequential) and model.layers:
        found = [model.layers[-1]]
    node_layers = getattr(model, "node_layers", None)  # netform's subclass API: one layer per spec node
    if not found and isinstance(node_layers, dict):
        names = [str(name).split(".")[0] for name in getattr(model, "_output_names", ())]
        found = [node_layers[name] for name in names if name in node_layers]
    return found


def _keep_outputs_float32(model: keras.Model) -> None:
    """As Keras's mixed-precision guide recommends: the output layers compute in float32 (stable softmax and loss).

    Their variables are float32 already (a mixed policy keeps variables in
    float32), so only the compute dtype changes.
    """
    if not model.dtype_policy.name.startswith("mixed_"):
        return
    for layer in _output_layers(model):
        layer.dtype_policy = "float32"


def _public_classes(module: Any, base: type) -> dict[str, type]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, base)
    }


def _instantiate(kind: str, spec: Mapping[str, Any], classes: dict[str, type], where: str) -> Any:
    spec = dict(spec)
    type_name = spec.pop("type", None)
    if not isinstance(type_name, str):
        raise EngineError(
            f"{where}: a {kind} given as a mapping needs a `type` key naming a Keras class; received {dict(spec)!r}."
        )
    cls = classes.get(type_name)
    if cls is None:
        raise EngineError(
            f"{where}: unknown {kind} type {type_name!r}; expected a built-in keras class name such as "
            f"{', '.join(sorted(classes)[:5])}.{did_you_mean(type_name, classes)}"
        )
    try:
        return cls(**spec)
    except (TypeError, ValueError) as err:
        raise EngineError(
            f"{where}: could not create {type_name}({spec}): {err}. Check the argument names against keras.{kind}s.{type_name}."
        ) from err


def resolve_optimizer(value: Any) -> Any:
    """``"adam"``, ``{"type": "Adam", "learning_rate": 1e-3}`` or an optimizer → optimizer.

    A mapping's ``learning_rate`` may itself be a mapping naming a ``keras.optimizers.schedules`` class
    (``{"type": "ExponentialDecay", "initial_learning_rate": 0.01, ...}``), and a ``LossScaleOptimizer``'s
    ``inner_optimizer`` a name or mapping: both are made as Keras's deserialization makes them.
    """
    if isinstance(value, Mapping):
        value = dict(value)
        rate = value.get("learning_rate")
        if isinstance(rate, Mapping):  # a schedule, {type: ExponentialDecay, ...}, as Keras deserializes one
            value["learning_rate"] = _instantiate(
                "schedule",
                rate,
                _public_classes(keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule),
                "training.optimizer.learning_rate",
            )
        inner = value.get("inner_optimizer")
        if value.get("type") == "LossScaleOptimizer" and isinstance(inner, (str, Mapping)):
            value["inner_optimizer"] = resolve_optimizer(inner)  # Keras's own deserialization reads it the same way
        return _instantiate(
            "optimizer", value, _public_classes(keras.optimizers, keras.optimizers.Optimizer), "training.optimizer"
        )
    if isinstance(value, str):
        classes = _public_classes(keras.optimizers, keras.optimizers.Optimizer)
        if value in classes:
            return classes[value]()
        try:
            return keras.optimizers.get(value)
        except ValueError as err:
            raise EngineError(
                f"training.optimizer: unknown optimizer {value!r}.{did_you_mean(value, classes)}"
            ) from err
    return value


def _registered(kind: str, value: Any, where: str) -> Any:
    """A ``"package>Name"`` loss or metric (a name, or ``{"type": "package>Name", …}``) → the object, or ``None``.

    Only classes and functions registered with ``keras.saving.register_keras_serializable`` in this
    process are found (Keras cannot read such a name as a loss or metric identifier itself); a class is
    made with the mapping's arguments, checked against its constructor first.

    Raises:
        EngineError: Nothing of that kind registered under the name, or arguments it does not take.
    """
    from ..spec._custom import keras_registered_object

    name = value if isinstance(value, str) else value.get("type") if isinstance(value, Mapping) else None
    if not (isinstance(name, str) and ">" in name):
        return None
    args = {k: v for k, v in value.items() if k != "type"} if isinstance(value, Mapping) else {}
    try:
        obj = keras_registered_object(kind, name, args)
    except ValueError as err:
        raise EngineError(f"{where}: {err}.") from err
    if obj is None:
        raise EngineError(
            f"{where}: unknown {kind} {name!r}: no Keras {kind} class or function is registered under that name; "
            f'define it (or import its module; netform train --plugin MODULE) with @keras.saving.register_keras_serializable(package="{name.split(">")[0]}").'
        )
    if not isinstance(obj, type):
        return obj  # a registered function, used as it is
    try:
        return obj(**args)
    except (TypeError, ValueError) as err:
        raise EngineError(f"{where}: could not create {name}({args}): {err}.") from err


def _resolve_loss(value: Any, where: str = "training.loss") -> Any:
    registered = _registered("loss", value, where)
    if registered is not None:
        return registered
    if isinstance(value, Mapping) and "type" in value and isinstance(value["type"], str):
        return _instantiate("loss", value, _public_classes(keras.losses, keras.losses.Loss), where)
    if isinstance(value, Mapping):
        return {k: _resolve_loss(v, f"{where}.{k}") for k, v in value.items()}
    return value


def _resolve_metrics(value: Any, where: str = "training.metrics") -> Any:
    """Metric names pass through; ``{"type": …}`` objects and registered ``"package>Name"`` become metrics, per output too."""
    if value is None:
        return None
    registered = _registered("metric", value, where)
    if registered is not None:
        return registered
    if isinstance(value, Mapping) and isinstance(value.get("type"), str):
        return _instantiate("metric", value, _public_classes(keras.metrics, keras.metrics.Metric), where)
    if isinstance(value, Mapping):
        return {k: _resolve_metrics(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve_metrics(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _confine(
    name: str,
    args: dict[str, Any],
    base: Path,
    access: SpecAccess,
    where: str,
    folders: list[str],
    log_names: LogNames | None = None,
    inputs: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Resolve a callback's paths under ``base`` and refuse what ``access`` does not allow.

    The folders that files of the callback go in are added to ``folders``, to be made once every
    callback has passed.
    """
    args = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in args.items()}
    problems = callback_problems(name, args, access)
    if problems:
        raise EngineError(f"{where}: {callback_message(problems[0], cli=False)}.")
    try:
        from ..saving._target import check_target  # saving imports the engine

        return confine_paths(
            name, args, base, access, folders, check_model_file=check_target, log_names=log_names, inputs=inputs
        )
    except CallbackFileRefused as err:
        raise EngineError(f"{where}: {err}") from None


def resolve_callbacks(
    values: Any,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    allow_paths: bool = False,
    allow_network: bool = False,
    log_names: LogNames | None = None,
    inputs: Sequence[tuple[str, str]] = (),
    backup_dirs: Sequence[tuple[str, str]] = (),
) -> list[keras.callbacks.Callback]:
    """Turn ``[{"type": "EarlyStopping", "patience": 2}, ...]`` into callbacks.

    A training config is untrusted input: the paths of its callbacks
    (``CSVLogger.filename``, ``ModelCheckpoint.filepath``, ``TensorBoard.log_dir``,
    ``BackupAndRestore.backup_dir``, ``TrainingBackup.backup_dir``) are resolved under ``out_dir`` and may not
    leave it (absolute paths, ``..``, symbolic links), and callbacks that use
    the network (``RemoteMonitor``, ``gs://…`` paths) are refused, unless allowed.
    Callback objects pass through unchanged.

    Args:
        values: Mappings with a ``type`` key naming a ``keras.callbacks`` class or netform's
            ``TrainingBackup`` (``{type: TrainingBackup, backup_dir: backup, save_every_steps: 100}``:
            exact mid-epoch resume, see :class:`~netform.engine.TrainingBackup`), or callbacks.
        out_dir: The folder relative paths resolve under (default: the working directory).
        allow_paths: Accept absolute paths and paths outside ``out_dir``.
        allow_network: Accept network callbacks and remote file systems.
        log_names: What the training logs: an existing ``CSVLogger`` file is replaced only when it is a log
            of these values (``fit_from_training_config`` and ``netform train`` give them; ``None``: any names).
        inputs: ``(what, path)`` of the files the run reads (``("--data", "d.csv")``), which no callback
            may write.
        backup_dirs: ``(what, path)`` of the run's other ``TrainingBackup`` folders (``("--backup-dir", "bk")``),
            relative to the working directory: no callback file may lie in what a backup owns (nor in what
            a ``TrainingBackup`` or ``BackupAndRestore`` of ``values`` owns).

    Returns:
        The callbacks, in order.

    Raises:
        EngineError: An unknown callback, bad arguments, or a path or network use not allowed.
        SpecError: A callback file inside a training backup's folder (located at the callback's argument),
            as ``netform train`` and ``validate`` refuse it; nothing is made.
    """
    from ._backup import TrainingBackup  # imported late: _backup imports the trainer's helpers

    classes = {**_public_classes(keras.callbacks, keras.callbacks.Callback), "TrainingBackup": TrainingBackup}
    base = Path(out_dir) if out_dir is not None else Path.cwd()
    access = SpecAccess(allow_paths=allow_paths, allow_network=allow_network)
    folders: list[str] = []
    out = []
    checkpoints: list[tuple[keras.callbacks.Callback, list[str]]] = []  # with the folders made for each
    for i, value in enumerate(values or []):
        where = f"training.callbacks[{i}]"
        if isinstance(value, Mapping):
            args = dict(value)
            name = args.pop("type", None)
            first = len(folders)
            if isinstance(name, str) and name in classes:
                args = _confine(name, args, base, access, where, folders, log_names, inputs)
            if name == "TrainingBackup" and "backup_dir" in args:  # the spec's name of its `directory`
                args["directory"] = args.pop("backup_dir")
            out.append(_instantiate("callback", {"type": name, **args}, classes, where))
            if isinstance(out[-1], keras.callbacks.ModelCheckpoint):
                checkpoints.append((out[-1], folders[first:]))
        elif isinstance(value, keras.callbacks.Callback):
            out.append(value)
        else:
            raise EngineError(f"{where}: expected a mapping with `type` or a Callback; received {value!r}.")
    _check_backup_overlaps(values, base, access, backup_dirs)
    from ..saving._atomic import missing_folders  # saving imports the engine

    # The folders about to be made, deepest first, before any is: each checkpoint's own are removed
    # again if one of its writes fails (see _remove_folders_on_failure).
    made = {folder: missing_folders(os.path.join(folder, "file")) for folder in folders}
    for cb, own in checkpoints:
        _remove_folders_on_failure(cb, sorted({f for folder in own for f in made[folder]}, key=len, reverse=True))
    for folder in folders:  # Keras's CSVLogger opens its file without making its folder
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as err:
            raise EngineError(
                f"training.callbacks: cannot make the folder {folder} for a callback's file: "
                f"{err.strerror}; check --out-dir and the callback paths."
            ) from err
    return out


def _remove_folders_on_failure(cb: keras.callbacks.Callback, made: list[str]) -> None:
    """Have a ``ModelCheckpoint`` whose write fails remove the folders netform made for it, when empty.

    ``made`` are the folders (deepest first) that did not exist before :func:`resolve_callbacks` made
    them for the callback's file. A write that raises (a model Keras cannot serialize, a folder made
    read-only, a full disk) ends the training; the folders are then removed while each is empty, so
    one that holds anything (an earlier epoch's checkpoint, a CSVLogger log, a user's file) stays with
    the folders above it. The callback's own hooks are wrapped on the instance; it stays a Keras
    ``ModelCheckpoint``.
    """
    if not made:
        return
    from ..saving._atomic import remove_made_folders  # saving imports the engine

    for name in ("on_epoch_end", "on_train_batch_end"):
        hook = getattr(cb, name)

        def guarded(*args: Any, _hook: Callable[..., Any] = hook, **kwargs: Any) -> Any:
            try:
                return _hook(*args, **kwargs)
            except BaseException:
                remove_made_folders(made)
                raise

        setattr(cb, name, guarded)


def _check_backup_overlaps(values: Any, base: Path, access: SpecAccess, backup_dirs: Sequence[tuple[str, str]]) -> None:
    """Refuse a config callback whose file lies in what a training backup of the run owns, or that another
    callback writes too (the checks of ``netform train`` and ``validate``:
    :func:`netform.spec._callback_files.backup_overlaps` and :func:`~netform.spec._callback_files.shared_files`).

    Raises:
        SpecError: At ``training.callbacks[i].ARG``, the first such callback.
    """
    listed = [
        (i, value["type"], {k: v for k, v in value.items() if k != "type"})
        for i, value in enumerate(values or [])
        if isinstance(value, Mapping) and isinstance(value.get("type"), str)
    ]
    # Two callbacks writing one file, two TrainingBackups in the config (one given beside them: fit's own refusal).
    found = shared_files(listed, base, access) or backup_overlaps(listed, base, access, backup_dirs)
    if found:
        index, refusal = found[0]
        raise SpecError([Diagnostic(str(refusal).rstrip("."), ("training", "callbacks", index, refusal.arg))])


def accumulation_problem(
    training: Mapping[str, Any], samples: int | None, *, validation_given: bool = False
) -> Diagnostic | None:
    """An optimizer's ``gradient_accumulation_steps`` past the steps a training on ``samples`` samples runs.

    Keras applies one update every ``gradient_accumulation_steps`` steps: a training of fewer steps ends
    without changing a weight. The steps are Keras's: ``steps_per_epoch`` (else ``ceil(training samples /
    batch_size)``, the training samples being those ``validation_split`` leaves when no validation data is
    given) times the epochs from ``initial_epoch`` to ``epochs``. ``fit_from_training_config`` and
    ``netform train`` refuse it before the model is built; ``validate`` refuses the values past any training.

    Args:
        training: The ``training:`` mapping (a spec's ``training.to_dict()``, or the config given to
            :func:`fit_from_training_config`).
        samples: The samples of the training data (``None``: not known, nothing is checked).
        validation_given: Whether validation data is given apart (``validation_split`` is then not applied).

    Returns:
        The problem at the optimizer's ``gradient_accumulation_steps`` (its path in the spec), or None.
    """
    optimizer = training.get("optimizer")
    if samples is None or not isinstance(optimizer, Mapping):
        return None
    args: Mapping[str, Any] = optimizer
    path: tuple[str | int, ...] = ("training", "optimizer")
    where = f"{optimizer.get('type')}.gradient_accumulation_steps"
    inner = optimizer.get("inner_optimizer")
    if optimizer.get("type") == "LossScaleOptimizer" and isinstance(inner, Mapping):
        args, path = inner, path + ("inner_optimizer",)
        where = f"LossScaleOptimizer.inner_optimizer: {inner.get('type')}.gradient_accumulation_steps"
    steps = args.get("gradient_accumulation_steps")
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not steps >= 2:
        return None

    def number(key: str, default: Any) -> Any:
        value = training.get(key, default)
        value = default if value is None else value
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    batch_size, epochs, first = number("batch_size", 32), number("epochs", 1), number("initial_epoch", 0)
    split = 0.0 if validation_given else number("validation_split", 0.0)
    given = training.get("steps_per_epoch")
    if None in (batch_size, epochs, first, split) or batch_size < 1 or not 0 <= split < 1:
        return None  # the values themselves are refused elsewhere
    kept = int(math.floor(samples * (1.0 - split))) if split else samples
    if isinstance(given, int) and not isinstance(given, bool) and given >= 1:
        per_epoch, of = given, f"steps_per_epoch: {given}"
    else:
        per_epoch = max(1, math.ceil(kept / batch_size))
        of = f"{per_epoch} batch(es) of {batch_size} from {kept} training sample(s)"
    run = int(epochs) - int(first)
    total = per_epoch * max(run, 0)
    if steps <= total:
        return None
    return Diagnostic(
        f"{where} is {steps!r}, but this training runs only {total} steps ({run} epoch(s) of {of}); Keras "
        f"applies one update every {steps!r} steps, so no weight would change: write at most {total}, train "
        "for more epochs, or leave it out (no accumulation)",
        path + ("gradient_accumulation_steps",) if path[-1] != "inner_optimizer" else path,
    )


def check_backup_directories(callbacks: Sequence[keras.callbacks.Callback], *, option: str | None = None) -> None:
    """Refuse, before a model is built, a ``TrainingBackup`` folder that its ``fit`` would refuse.

    The refusals of :func:`netform.engine._backup_lock.check_directory` (another training's lock, a
    ``state`` folder that is not netform's backup or holds a file of another's, a folder that cannot be
    made); nothing is created or changed. ``fit`` checks everything again when it starts.

    Args:
        callbacks: The training's callbacks; its ``TrainingBackup`` ones are checked.
        option: How the messages name the folder (default ``TrainingBackup.backup_dir``).

    Raises:
        EngineError: What is wrong with the folder, and what to do.
        FormatError: Its ``state`` is not netform's backup, or holds a file that is not netform's.
    """
    from ._backup import TrainingBackup
    from ._backup_lock import check_directory

    for cb in callbacks:
        if isinstance(cb, TrainingBackup):
            check_directory(cb.directory, option=option or "TrainingBackup.backup_dir")


def _steps_per_execution(value: Any, model: keras.Model) -> int | str:
    """``training.steps_per_execution``: a positive int or ``"auto"`` (a spec's default).

    ``"auto"`` is netform's; a plain ``keras.Model`` gets 1, whose results ``"auto"`` has.

    Raises:
        EngineError: Any other value, naming the accepted ones.
    """
    if value == "auto":
        from ._trainer import Trainer  # imported late: the trainer imports much of the engine

        return value if isinstance(model, Trainer) else 1
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise EngineError(
        f'training.steps_per_execution: expected a positive int or "auto" (the default: netform measures and '
        f"adapts the steps per compiled call while training, with the results of 1); received {value!r}."
    )


def _check_checkpoint_validation(
    callbacks: list[keras.callbacks.Callback], validation_split: float, validation_data: Any, validation_freq: Any
) -> None:
    """Refuse a ModelCheckpoint whose file name reads a ``val_`` value this run never logs, before training.

    Keras formats the name from the epoch's logs and stops with a ``KeyError`` after the first epoch
    when they lack the value: without validation data, or on an epoch ``validation_freq`` skips.

    Raises:
        SpecError: The callback's place, the field and the two ways out.
    """
    from ..spec._training_checks import template_fields

    validated = validation_split > 0 or validation_data is not None
    for i, cb in enumerate(callbacks):
        template = getattr(cb, "filepath", None)
        if not isinstance(cb, keras.callbacks.ModelCheckpoint) or not isinstance(template, str):
            continue
        if cb.save_freq != "epoch":
            continue  # batch-level saves: the spec's checks refuse val_ fields there
        fields = [f for f, _ in template_fields(template) if f.startswith("val_")]
        if not fields:
            continue
        if not validated:
            why = "this run has no validation data (training.validation_split is 0 and none is given)"
            fix = "pass validation data (netform train --val-data FILE), set training.validation_split (e.g. 0.2)"
        elif validation_freq != 1:
            why = f"validation_freq is {validation_freq!r}, so some epochs log no validation values"
            fix = "validate every epoch (validation_freq: 1)"
        else:
            continue
        raise SpecError(
            [
                Diagnostic(
                    f"ModelCheckpoint.filepath {template!r} names {{{fields[0]}}}, but {why}; {fix}, or name "
                    f"{{{fields[0][4:]}}} instead",
                    ("training", "callbacks", i, "filepath"),
                )
            ]
        )


def _check_validation_split(validation_split: float, x: Any, validation_data: Any) -> None:
    """Refuse a ``validation_split`` that leaves no sample to train on, or none to validate on, before training.

    Keras trains on the first ``floor(n * (1 - validation_split))`` samples and validates on the rest (given
    ``validation_data``, it ignores the split); the spec's range (0 <= x < 1) cannot know ``n``.
    ``Model.fit`` refuses the same splits with the same reasons (``_data.split_problem``).

    Raises:
        SpecError: At ``training.validation_split``, with the values that suit this data.
    """
    samples = array_samples(x) if validation_split and validation_data is None else None
    problem = split_problem(samples, validation_split) if samples is not None else None
    if problem is None:
        return
    why, values = problem
    if values is None:
        fix = "give validation data (netform train --val-data FILE) or more samples, or set validation_split: 0"
    elif "larger" in values:
        fix = f"{values.format(verb='write')}, or set validation_split: 0"
    else:
        fix = f"{values.format(verb='write')}, or give validation data"
    raise SpecError(
        [Diagnostic(f"validation_split is {validation_split!r}, but {why}; {fix}", ("training", "validation_split"))]
    )


def _training_mapping(training: Any) -> Mapping[str, Any]:
    """The keys of a ``training:`` section: a mapping as given, a spec's ``TrainingSpec`` as its ``to_dict()``.

    Raises:
        EngineError: ``training`` is neither.
    """
    if isinstance(training, Mapping):
        return training
    if isinstance(training, TrainingSpec):
        return training.to_dict()
    raise EngineError(
        f"training must be a mapping of a spec's training: keys (or the spec's TrainingSpec, spec.training), "
        f"not {type(training).__name__}"
    )


def fit_from_training_config(
    model: keras.Model | Callable[[], keras.Model],
    training: Mapping[str, Any] | TrainingSpec,
    x: Any,
    y: Any = None,
    *,
    sample_weight: Any = None,
    validation_data: Any = None,
    verbose: int | str = 1,
    callbacks: list[keras.callbacks.Callback] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    allow_paths: bool = False,
    allow_network: bool = False,
) -> keras.callbacks.History:
    """Compile and fit ``model`` as a spec's ``training:`` section says.

    Args:
        model: A netform model, or a zero-argument function returning one
            (needed with a non-default ``distribution``, so that the model
            is built inside the strategy's scope).
        training: A spec's ``training:`` section (``spec.training``) or a mapping of its keys (all optional): optimizer, loss, metrics, loss_weights,
            weighted_metrics, batch_size, epochs, validation_split, shuffle,
            callbacks, steps_per_execution (default ``"auto"``), jit_compile, run_eagerly,
            distribution ({"strategy": name, "devices": [...]}), class_weight,
            steps_per_epoch, validation_steps, validation_freq, initial_epoch,
            dtype_policy ("float32", "mixed_float16" or "mixed_bfloat16": Keras's policy
            for the layers built here, outputs kept float32; needs ``model`` as a function).
        x, y: Training data.
        sample_weight: Optional weight of each training sample, as in ``fit``.
        validation_data: Optional validation data.
        verbose: Progress display, as in ``fit``.
        callbacks: Extra callback objects, after those of the config.
        out_dir: The folder the config's callback paths resolve under
            (default: the working directory); they may not leave it.
        allow_paths: Let the config's callbacks write anywhere.
        allow_network: Let the config's callbacks use the network
            (``RemoteMonitor``, remote file systems).

    Returns:
        The ``History`` of the run.

    Raises:
        EngineError: Unknown keys, optimizer, loss or callback types; a
            callback path outside ``out_dir`` or a network callback not allowed; a
            file at a callback's path that is not its own earlier output (a
            ``CSVLogger`` file with a column this training does not log) (all
            refused before the model is built or anything is written).
        SpecError: A ModelCheckpoint file name that reads a ``val_`` value this run never logs (no
            validation data, or ``validation_freq`` skipping epochs), a ``validation_split`` that leaves
            no sample to train or to validate on, a ``gradient_accumulation_steps`` past the steps the
            training runs, or a callback file inside a training backup's folder (the config's or one of
            ``callbacks``), refused before the model is built, as ``netform train`` refuses them.
        FormatError: A ``TrainingBackup`` folder whose ``state`` is not netform's backup (before the model
            is built; a folder ``fit`` would refuse otherwise is an ``EngineError``).

    Example:
        >>> fit_from_training_config(model, {"optimizer": "adam", "loss": "mse", "epochs": 2}, x, y)
    """
    training = _training_mapping(training)
    unknown = sorted(set(training) - _KNOWN_KEYS)
    if unknown:
        raise EngineError(
            f"training: unknown key {unknown[0]!r}; expected some of {sorted(_KNOWN_KEYS)}.{did_you_mean(unknown[0], _KNOWN_KEYS)}"
        )
    # Callbacks first: a refused path or network use stops before anything is built or written. A CSVLogger
    # replaces only a log of the values this training logs (the outputs' names, when the model is given).
    from ..spec._training_checks import logged_names

    from ._backup import TrainingBackup

    # An accumulation longer than the training applies no update (`netform train` refuses it the same way).
    accumulation = accumulation_problem(training, array_samples(x), validation_given=validation_data is not None)
    if accumulation is not None:
        raise SpecError([accumulation])
    outputs = getattr(model, "output_names", None) if isinstance(model, keras.Model) else None
    known = tuple(outputs) if isinstance(outputs, (list, tuple)) and all(isinstance(o, str) for o in outputs) else None
    extra = list(callbacks or [])
    cbs = (
        resolve_callbacks(
            training.get("callbacks"),
            out_dir=out_dir,
            allow_paths=allow_paths,
            allow_network=allow_network,
            log_names=LogNames(*logged_names(training, known)),
            backup_dirs=[("TrainingBackup", os.fspath(cb.directory)) for cb in extra if isinstance(cb, TrainingBackup)],
        )
        + extra
    )
    check_backup_directories(cbs)  # what fit refuses of a backup folder, before the model is built
    _check_checkpoint_validation(
        cbs, float(training.get("validation_split", 0.0) or 0.0), validation_data, training.get("validation_freq", 1)
    )
    _check_validation_split(float(training.get("validation_split", 0.0) or 0.0), x, validation_data)
    dist = training.get("distribution") or {}
    if isinstance(dist, str):
        dist = {"strategy": dist}
    name = dist.get("strategy", "default")
    if str(name).strip().lower().replace("-", "_") in NETWORK_STRATEGIES and not allow_network:
        raise EngineError(network_strategy_message(str(name), cli=False))
    strategy = strategy_from_name(name, dist.get("devices"))
    scope = strategy.scope() if name != "default" else contextlib.nullcontext()
    policy = training.get("dtype_policy")
    if policy is not None and isinstance(model, keras.Model):
        raise EngineError(
            "training.dtype_policy applies while the model is built; pass a function that builds it "
            "(fit_from_training_config(lambda: netform.build(spec), ...)), or build it under "
            "keras.config.set_dtype_policy yourself."
        )
    with scope:
        if not isinstance(model, keras.Model) and callable(model):
            with _dtype_policy(policy):  # Keras's LossScaleOptimizer comes with compile, from the model's policy
                model = model()
            _keep_outputs_float32(model)
        model.compile(
            optimizer=resolve_optimizer(training.get("optimizer", "adam")),
            loss=_resolve_loss(training.get("loss")),
            metrics=_resolve_metrics(training.get("metrics")),
            loss_weights=training.get("loss_weights"),
            weighted_metrics=_resolve_metrics(training.get("weighted_metrics"), "training.weighted_metrics"),
            steps_per_execution=_steps_per_execution(training.get("steps_per_execution", "auto"), model),
            jit_compile=training.get("jit_compile", "auto"),
            run_eagerly=bool(training.get("run_eagerly", False)),
        )
    return model.fit(
        x,
        y,
        batch_size=training.get("batch_size"),
        epochs=int(training.get("epochs", 1)),
        verbose=verbose,
        callbacks=cbs,
        validation_split=float(training.get("validation_split", 0.0)),
        validation_data=validation_data,
        sample_weight=sample_weight,
        shuffle=training.get("shuffle", True),
        class_weight=training.get("class_weight"),
        steps_per_epoch=training.get("steps_per_epoch"),
        validation_steps=training.get("validation_steps"),
        validation_freq=training.get("validation_freq", 1),
        initial_epoch=int(training.get("initial_epoch", 0)),
    )
