"""``netform train``, ``evaluate`` and ``predict``: data from ``.npz`` or ``.csv``."""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import DataError, EngineError, FormatError, NetformError, SaveError, SpecError, did_you_mean, printable
from ..spec import load_spec
from ..spec._yaml import load_yaml
from ..spec._access import spec_access
from ._data_files import read_data
from ._args import UsageError, check_files
from ._columns import (
    check_rows,
    check_targets,
    class_weights,
    parse_choices,
    parse_class_weight,
    sample_weights,
    select,
)
from ._spec_cmds import format_warning, load_plugins, spec_warnings

__all__ = ["cmd_train", "cmd_evaluate", "cmd_predict", "read_data", "apply_overrides", "check_model_output"]


def _is_index(part: str) -> bool:
    """Whether a part of an override's key is a list index (ASCII digits only: ``int("²")`` fails)."""
    return part.isascii() and part.isdigit()


def _tensors(value: Any) -> Any:
    """Arrays of ``str`` objects (text columns for ``string`` inputs) as string tensors, which Keras reads."""
    if isinstance(value, list):
        return [_tensors(v) for v in value]
    if getattr(value, "dtype", None) is not None and value.dtype.kind in "OU":
        import tensorflow as tf

        return tf.constant(value.astype(str) if value.dtype.kind == "O" else value)
    return value


def _inputs_of(spec: Any) -> dict[str, tuple[str, tuple[Any, ...] | None]]:
    return {name: (inp.dtype, tuple(inp.shape)) for name, inp in spec.inputs.items()}


def _model_inputs(model: Any) -> tuple[list[str], dict[str, tuple[str, tuple[Any, ...] | None]]]:
    """A loaded model's input names, and their dtypes and shapes (batch left out)."""
    tensors = list(getattr(model, "inputs", None) or [])
    names = [t.name.split(":")[0] for t in tensors]
    info: dict[str, tuple[str, tuple[Any, ...] | None]] = {
        n: (str(getattr(t.dtype, "name", t.dtype)), tuple(t.shape[1:])) for n, t in zip(names, tensors)
    }
    return names, info


def apply_overrides(spec_path: str, overrides: list[str]) -> Any:
    """Load a spec with ``key.path=value`` overrides applied, validated like the file."""
    spec = load_spec(spec_path)
    if not overrides:
        return spec
    data = copy.deepcopy(spec.to_dict())
    for item in overrides:
        if "=" not in item:
            raise SpecError(f"override {item!r}: write KEY=VALUE, e.g. training.epochs=3", source=spec_path)
        key, raw = item.split("=", 1)
        if not raw.strip():  # YAML reads nothing as an empty document: say what to write instead
            raise SpecError(
                f"override {item!r}: the value after '=' is empty; write one, e.g. {key}=null for none or "
                f"{key}=\"''\" for an empty text",
                source=spec_path,
            )
        # The same bounded, located YAML reader as spec files (limits, long integers, tags refused).
        value, _ = load_yaml(raw, source=f"override {key}")
        # layers.0.scale, or layers[0].scale as netform's messages write a place in a spec
        parts = [p[1:-1] if p.startswith("[") else p for p in re.findall(r"\[[0-9]+\]|[^.\[\]]+", key)]
        if not parts or "".join(f"[{p}]" if _is_index(p) else f".{p}" for p in parts).lstrip(".") != re.sub(
            r"\.([0-9]+)(?=\.|$)", r"[\1]", key
        ):
            raise SpecError(
                f"override {item!r}: '{key}' is no path in a spec; write one such as training.epochs or "
                "layers[0].units (layers.0.units)",
                source=spec_path,
            )
        target: Any = data
        for i, part in enumerate(parts[:-1]):
            nxt = int(part) if isinstance(target, list) and _is_index(part) else part
            try:
                if isinstance(target, dict) and nxt not in target and parts[0] == "training":
                    target[nxt] = {}
                target = target[nxt]
            except (KeyError, IndexError, TypeError):
                place = "".join(f"[{p}]" if _is_index(p) else f".{p}" for p in parts[: i + 1]).lstrip(".")
                raise SpecError(f"override {item!r}: '{place}' is not in the spec", source=spec_path) from None
        last: Any = int(parts[-1]) if isinstance(target, list) and _is_index(parts[-1]) else parts[-1]
        target[last] = value
    return load_spec(data, source=f"{spec_path} (with overrides)")


def _output_names(model: Any, spec: Any) -> list[str]:
    names = list(getattr(model, "output_names", None) or [])
    if not names and spec is not None and spec.outputs:
        names = list(spec.outputs)
    return names


def _interrupted_path(output: str | None, out_dir: Path, name: str) -> str:
    """Where an interrupted run saves its model: beside ``-o`` as ``NAME.interrupted.EXT``, never over it."""
    if not output:
        return str(out_dir / f"{name}.interrupted.keras")
    path = Path(output)
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return str(path.with_name(f"{stem}.interrupted{suffix}"))


#: How many other names (``NAME.interrupted-1.EXT`` ...) an interrupted run tries when its first is taken.
_MAX_INTERRUPTED_NAMES = 100


def _numbered(path: str, n: int) -> str:
    """``runs/m.interrupted.keras`` as ``runs/m.interrupted-N.keras``."""
    head, marker, tail = path.rpartition(".interrupted")
    return f"{head}{marker}-{n}{tail}" if marker else f"{path}-{n}"


def _save_interrupted(model: Any, target: str) -> None:
    """Save an interrupted run's model at ``target``, or, when a file of the user's is there, under a free name.

    A save never replaces what is not an earlier save, so a user's file at
    ``NAME.interrupted.EXT`` is kept and the model goes to the first
    ``NAME.interrupted-N.EXT`` that holds nothing or an earlier save, and
    the message says which. A save that fails for another reason (a full
    disk) is reported on standard error: the command still exits 130, and
    the backup (if any) keeps the training's state.
    """
    from ..errors import NetformError
    from ..saving import save

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    for n in range(_MAX_INTERRUPTED_NAMES + 1):
        tried = target if n == 0 else _numbered(target, n)
        try:
            fmt = save(model, tried)
        except NetformError as err:
            if os.path.lexists(tried):  # something not netform's is there: keep it, try the next name
                print(
                    printable(f"note: {tried} is kept ({str(err).split('. ')[0]}); trying another name"),
                    file=sys.stderr,
                )
                continue
            print(printable(f"error: the interrupted model could not be saved: {err}"), file=sys.stderr)
            return
        print(printable(f"saved the interrupted model → {tried} [{fmt}]"))
        return
    print(
        printable(
            f"error: the interrupted model was not saved: {target} and the next {_MAX_INTERRUPTED_NAMES} numbered "
            "names are taken"
        ),
        file=sys.stderr,
    )


def _save_after_failure(built: list[Any], target: str, err: OSError | SaveError) -> None:
    """Save a model whose training a failed write stopped (a callback's file, the training backup), once it has
    taken a step (else nothing); ``err`` is the failure, named first and shown whole after.

    Saved as an interrupted run's (``NAME.interrupted.EXT`` beside ``-o``, never over a user's file); a
    backup, if any, is kept as the failed ``fit`` left it.
    """
    model = built[-1] if built else None
    optimizer = getattr(model, "optimizer", None)
    try:
        steps = int(optimizer.iterations) if optimizer is not None else 0
    except (TypeError, ValueError, AttributeError):
        steps = 0
    if steps > 0:
        if isinstance(err, SaveError):
            what = str(err).split("; ")[0]
        else:
            reason, file = getattr(err, "strerror", None) or err, getattr(err, "filename", None) or "a callback file"
            what = f"{reason} ({file})"
        print(printable(f"training stopped after {steps} step(s): {what[:300]}"), flush=True)
        _save_interrupted(model, target)


class _Interrupt:
    """Ctrl-C (SIGINT) during ``fit``: finish the current step, back up, stop; a second Ctrl-C stops at once.

    The handler is installed for the duration of the ``with`` block only and
    the previous one put back after it.
    """

    def __init__(self) -> None:
        self.requested = False
        self.where: tuple[int, int, int | None] | None = None  # (epoch, steps done, steps per epoch) when stopped
        self._previous: Any = None

    def __enter__(self) -> "_Interrupt":
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        import signal

        if self.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\ninterrupt: stopping at the end of this step (Ctrl-C again to stop at once)", file=sys.stderr, flush=True
        )
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._handle)

    def callback(self, backups: list[Any]) -> Any:
        """The callback that stops ``fit`` after the step in which Ctrl-C came (runs after the backups)."""
        import keras

        interrupt = self

        class StopOnInterrupt(keras.callbacks.Callback):
            # Stopping after the compiled call in which Ctrl-C came is soon enough: under
            # steps_per_execution="auto" this callback does not hold training to one step per call.
            sparse_batch_hooks = True

            def __init__(self) -> None:
                super().__init__()
                self._epoch = 0

            def on_train_begin(self, logs: Any = None) -> None:
                for backup in backups:
                    epoch, step = getattr(backup, "_resume_epoch", None), getattr(backup, "_resume_step", 0)
                    epochs = int(self.params.get("epochs") or 0)
                    if epoch is not None and epoch >= epochs > 0:  # a finished training whose model was not saved
                        print(
                            printable(
                                f"the backup in {backup.directory} holds the finished training ({epochs} epoch(s)): "
                                "nothing is left to train"
                            ),
                            flush=True,
                        )
                    elif epoch is not None:
                        total = self.params.get("steps")
                        of = f" of {total}" if total else ""
                        where = (
                            f"at the end of epoch {epoch + 1} (its {total} steps were run)"
                            if total and step >= total
                            else f"at epoch {epoch + 1}, step {step + 1}{of}"
                        )
                        print(printable(f"resuming {where} (from the backup in {backup.directory})"), flush=True)

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self._epoch = epoch

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if not interrupt.requested or interrupt.where is not None:
                    return
                steps = getattr(backups[0], "_step", batch + 1) if backups else batch + 1
                total = self.params.get("steps")
                if total and steps >= total:
                    return  # the epoch's last step: stop after its end, which the backups save as usual
                interrupt.where = (self._epoch, steps, total)
                for backup in backups:
                    backup.save()  # this very step, so that the next run resumes after it
                    backup.delete_on_finish = False
                self.model.stop_training = True

            def on_epoch_telemetry(self, epoch: int, record: Any) -> None:
                # After every on_epoch_end (the backups' included): Ctrl-C during the last step or validation.
                if not interrupt.requested or interrupt.where is not None:
                    return
                if epoch + 1 >= int(self.params.get("epochs") or 0):
                    return  # that was the last epoch: training is complete
                total = self.params.get("steps")
                interrupt.where = (epoch, int(total or 0), total)
                for backup in backups:
                    backup.delete_on_finish = False
                self.model.stop_training = True

        return StopOnInterrupt()


def check_model_output(output: str) -> None:
    """Refuse, before training, a ``-o`` that the save after it would refuse, with the save's own error.

    The checks :func:`netform.saving.save` makes before it looks at the model, run by its own function
    (``check_save_path``: the format the name says, then whether what is at the target may be replaced);
    then whether the target's folder can be written. No TensorFlow is imported.

    Raises:
        SaveError: The save would refuse ``output``, or its folder is not writable.
    """
    from ..errors import SaveError
    from ..saving._api import check_save_path

    check_save_path(output)  # refuses a path that climbs with '..' out of a missing folder
    from .._files import system_path

    target = system_path(output)  # where the save writes (``link/..`` climbs from where the link leads)
    folder = os.path.dirname(os.path.abspath(target.rstrip("/") or target))
    if os.path.isdir(folder) and not os.access(folder, os.W_OK | os.X_OK):
        raise SaveError(
            f"{output}: the folder {folder} is not writable (permission denied), so the trained model could not "
            "be saved there; make it writable, or name another file with -o"
        )


def _interrupted_clashes(spec: Any, out_dir: Path, output: str | None, access: Any, refused: set[int]) -> list[Any]:
    """The spec's callbacks whose files or folders meet the file a Ctrl-C saves the model to, as diagnostics.

    An interrupted run saves its model beside ``-o`` as ``NAME.interrupted.EXT`` (without ``-o``:
    ``<out-dir>/<spec name>.interrupted.keras``): a callback writing there (a ModelCheckpoint of that name)
    would have its file replaced by that save, or keep the model from being saved there.
    """
    from ..spec._access import PATH_ARGUMENTS, DEFAULT_PATHS
    from ..spec._callback_files import output_overlaps

    training = getattr(spec, "training", None)
    if training is None or not training.callbacks:
        return []
    target = _interrupted_path(output, out_dir, spec.name)
    listed = [(i, cb.type, cb.arguments) for i, cb in enumerate(training.callbacks) if cb.type in PATH_ARGUMENTS]
    named = f"-o {output}" if output else f"--out-dir {out_dir} and the spec's name '{spec.name}'"
    fix = "give -o another name" if output else "give another --out-dir"
    found = []
    for i, clash in output_overlaps(listed, out_dir, access, target):
        callback = training.callbacks[i]
        text = callback.arguments.get(clash.arg, DEFAULT_PATHS.get(callback.type, {}).get(clash.arg))
        if i in refused:
            continue
        kind = "file" if clash.arg in ("filename", "filepath") else "folder"
        path: tuple[str | int, ...] = ("training", "callbacks", i)
        found.append(
            spec._smap.diagnostic(
                f"{callback.type}.{clash.arg} {text!r} meets {target}, where a run stopped with Ctrl-C saves its "
                f"model (the name comes from {named}), so that save would replace the callback's {kind} or could "
                f"not be written; name another {kind} for the callback, or {fix}",
                path + ((clash.arg,) if clash.arg in callback.arguments else ()),
            )
        )
    return found


def cmd_train(args: argparse.Namespace) -> int:
    """Compile and fit a spec from its ``training:`` section, then save and report.

    Ctrl-C stops at the end of the current step: the model is saved beside
    ``-o`` as ``NAME.interrupted.EXT`` (without ``-o``: ``<out-dir>/<spec
    name>.interrupted.keras``), a ``--backup-dir`` backup is kept for the next
    run to resume from, and the exit code is 130.
    """
    check_files(args)  # missing files and impossible outputs, before any time is spent
    load_plugins(args.plugin)
    allow_paths, allow_network = getattr(args, "allow_paths", False), getattr(args, "allow_network", False)
    # A spec is untrusted: its callbacks write under --out-dir and stay off the network unless allowed.
    with spec_access(allow_paths=allow_paths, allow_network=allow_network):
        spec = apply_overrides(args.spec, args.overrides)
    from ..spec._training_checks import require_training

    require_training(spec)  # nothing to train with: said before TensorFlow starts
    for warning in spec_warnings(spec):  # the same warnings as `validate`, before the time is spent
        print(format_warning(warning), file=sys.stderr)
    out_dir = Path(getattr(args, "out_dir", None) or ".")
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"--out-dir {out_dir}: not a folder; give a folder for the spec's logs and checkpoints")
    if args.output:
        check_model_output(args.output)  # the save's refusals, before the time is spent (the save checks again)
    training = spec.training.to_dict() if spec.training is not None else {}
    # The callbacks' files against what is there (a user's file, the data this run reads), as `validate` checks
    # them: a located SpecError before the data is read or anything is built or written.
    from ..spec._callback_files import LogNames, callback_file_errors
    from ._spec_cmds import check_model_file
    from ..spec._training_checks import spec_log_names

    inputs = [
        (option, path)
        for option, path in (("--data", args.data), ("--val-data", getattr(args, "val_data", None)))
        if path
    ]
    inputs.append(("spec", args.spec))
    problems = callback_file_errors(
        spec,
        out_dir=out_dir,
        allow_paths=allow_paths,
        allow_network=allow_network,
        inputs=inputs,
        check_model_file=check_model_file,
        backup_dirs=[("--backup-dir", args.backup_dir)] if getattr(args, "backup_dir", None) else [],
        output=args.output,  # a callback writing -o, or a folder around it, would cost the trained model
    )
    from ..spec._access import SpecAccess

    refused = {d.path[2] for d in problems if len(d.path) > 2 and isinstance(d.path[2], int)}
    access = SpecAccess(allow_paths=allow_paths, allow_network=allow_network)
    problems += _interrupted_clashes(spec, out_dir, args.output, access, refused)
    if problems:
        raise SpecError(sorted(problems, key=lambda d: d.path[2]))
    if args.output and getattr(args, "backup_dir", None):
        from ..spec._callback_files import backup_dir_output_problem

        clash = backup_dir_output_problem(args.backup_dir, args.output)
        if clash:
            raise UsageError(clash)
    # Columns and weights are matched to the spec's inputs and outputs before TensorFlow starts.
    x_choices, y_choices = parse_choices(args.x_keys, "--x"), parse_choices(args.y_keys, "--y")
    outputs = list(spec.outputs or []) if spec.kind == "functional" else []
    check_targets(x_choices, list(spec.inputs), "--x")
    check_targets(y_choices, outputs, "--y")
    class_weight = parse_class_weight(getattr(args, "class_weight", None))
    weight_column = getattr(args, "sample_weight", None)
    data = read_data(args.data, text=True)
    x = select(data, x_choices, list(spec.inputs), "--x", _inputs_of(spec))
    y = select(data, y_choices, outputs, "--y")
    sample_weight = sample_weights(data, weight_column) if weight_column else None
    check_rows(args.data, x, y, sample_weight, weight_column)
    if class_weight is not None:
        training = {**training, "class_weight": class_weights(class_weight, y, args.data)}
    val_path = getattr(args, "val_data", None)
    validation: tuple[Any, ...] | None = None
    if val_path:
        val_data = read_data(val_path, text=True)
        validation = (
            select(val_data, x_choices, list(spec.inputs), "--x", _inputs_of(spec)),
            select(val_data, y_choices, outputs, "--y"),
        )
        if weight_column and weight_column in val_data:  # the validation file's own weights, when it has them
            validation += (sample_weights(val_data, weight_column),)
        check_rows(
            val_path, validation[0], validation[1], validation[2] if len(validation) > 2 else None, weight_column
        )
    from ..engine._config import accumulation_problem
    from ..engine._data import array_samples

    # An accumulation longer than the training applies no update: refused with the data's steps, before building
    # (fit_from_training_config's own check, located in the spec).
    accumulation = accumulation_problem(training, array_samples(x), validation_given=validation is not None)
    if accumulation is not None:
        raise SpecError([spec._smap.diagnostic(accumulation.message, accumulation.path)])
    from ..builder import build
    from ..engine import TrainingBackup, fit_from_training_config
    from ..engine._adapt import adapt_layers
    from ..engine._backup_lock import check_directory

    if getattr(args, "backup_dir", None):  # fit's refusals of the folder, before the model is built and adapted
        check_directory(Path(args.backup_dir), option="--backup-dir")

    if getattr(args, "steps_per_execution", None) is not None:
        training["steps_per_execution"] = args.steps_per_execution
    built: list[Any] = []

    def make_model() -> Any:
        # Built by fit_from_training_config inside the spec's distribution strategy, if any.
        built.append(build(spec, api=args.api))
        for layer, source, samples in adapt_layers(built[-1], spec, x):  # `adapt: true`, before training
            print(printable(f"adapted '{layer}' to {samples} sample(s) of input '{source}'"), flush=True)
        return built[-1]

    x, y = _tensors(x), _tensors(y)
    if validation is not None:
        validation = (_tensors(validation[0]), _tensors(validation[1]), *validation[2:])
    start = time.perf_counter()
    if training.get("callbacks"):
        out_dir.mkdir(parents=True, exist_ok=True)
    extra: list[Any] = []
    if getattr(args, "backup_dir", None):
        extra.append(TrainingBackup(args.backup_dir, save_every_steps=getattr(args, "backup_every", None)))
    interrupt = _Interrupt()
    try:
        with interrupt:
            from ..engine._config import resolve_callbacks

            # The spec's backups and --backup-dir's, which the Ctrl-C callback (last) saves at the step it stops.
            spec_callbacks = resolve_callbacks(
                training.get("callbacks"),
                out_dir=out_dir,
                allow_paths=allow_paths,
                allow_network=allow_network,
                log_names=LogNames(*spec_log_names(spec)),
                inputs=inputs,
                backup_dirs=[("--backup-dir", args.backup_dir)] if getattr(args, "backup_dir", None) else [],
            )
            # fit_from_training_config checks the spec's backup folders before the model is built.
            backups = [cb for cb in spec_callbacks + extra if isinstance(cb, TrainingBackup)]
            # The backups hold the training's state until its model is saved: removed below, once `-o` is written.
            deferred = _defer_backup_removal(spec_callbacks + extra)
            training = {**training, "callbacks": spec_callbacks}
            history = fit_from_training_config(
                make_model,
                training,
                x,
                y,
                sample_weight=sample_weight,
                validation_data=validation,
                verbose=args.verbose,
                out_dir=out_dir,
                allow_paths=allow_paths,
                allow_network=allow_network,
                callbacks=extra + [interrupt.callback(backups)],
            )
    except RuntimeError as err:
        if "NaN or Inf loss encountered" not in str(err):
            raise
        # Keras's TerminateOnNaN(raise_error=True) stopping the run: the data or the settings, not a fault of netform
        raise EngineError(
            f"training stopped by TerminateOnNaN: {' '.join(str(err).split())[:200]} The loss became NaN or "
            "infinite: check the data for NaN or infinite values, and lower the learning rate"
        ) from err
    except (OSError, SaveError) as err:  # a callback's file or folder could not be written
        # The epochs trained so far are not lost with the callback's file: the model is saved as a Ctrl-C saves it.
        _save_after_failure(built, _interrupted_path(args.output, out_dir, spec.name), err)
        if isinstance(err, SaveError):
            raise
        raise EngineError(
            f"training stopped: {err.strerror or err} ({err.filename or 'a callback file'}); "
            "check the callback paths of the spec and --out-dir"
        ) from err
    model = built[-1]
    elapsed = time.perf_counter() - start
    final = {k: float(v[-1]) for k, v in history.history.items() if v}
    if interrupt.where is not None:
        epoch, steps, total = interrupt.where
        of = f" of {total}" if total else ""
        print(f"interrupted '{spec.name}' at epoch {epoch + 1}, step {steps}{of}, after {elapsed:.1f} s")
    else:
        print(f"trained '{spec.name}' for {len(history.epoch)} epoch(s) in {elapsed:.1f} s")
    print("final: " + ", ".join(f"{k}={v:.4g}" for k, v in final.items()))
    telemetry = getattr(history, "telemetry", None)
    if telemetry is not None:
        print(telemetry.report())
    from ..saving import save

    if interrupt.where is not None:
        _save_interrupted(model, _interrupted_path(args.output, out_dir, spec.name))
        for backup in backups:
            print(printable(f"backup kept in {backup.directory}: run the same command again to resume at this step"))
        for folder in deferred.keras:
            print(printable(f"backup kept in {folder}: run the same command again to resume at its last epoch"))
        return 130  # an interrupt is exit 130 whatever became of the model (the backup holds its state)
    if args.output:
        try:
            fmt = save(model, args.output)
        except NetformError as err:
            kept = deferred.folders()
            if not kept or isinstance(err, SpecError):
                raise
            raise SaveError(
                f"{str(err).rstrip('.')}; the backup in {', '.join(kept)} still holds the trained state: run the same command "
                "again to resume and save"
            ) from err
        print(printable(f"saved → {args.output} [{fmt}]"))
    deferred.remove()
    return 0


class _Deferred:
    """The backups of a ``train`` run that ``fit`` would have removed at its end: removed once the model is saved."""

    def __init__(self, training: list[Any], keras: list[str]) -> None:
        self.training = training  # netform's TrainingBackup callbacks
        self.keras = keras  # the folders of Keras's BackupAndRestore callbacks

    def folders(self) -> list[str]:
        return [str(b.directory) for b in self.training] + self.keras

    def remove(self) -> None:
        """Remove each backup (netform's and Keras's files only); a backup that cannot be removed is said."""
        from ..errors import EngineError

        for backup in self.training:
            try:
                backup.discard()
            except EngineError as err:
                print(printable(f"warning: the backup in {backup.directory} was left as it is: {err}"), file=sys.stderr)
        for folder in self.keras:
            _remove_keras_backup(folder)


def _defer_backup_removal(callbacks: list[Any]) -> _Deferred:
    """Keep the backups past ``fit``: their removal is left to the command, after ``-o`` is saved."""
    import keras

    from ..engine import TrainingBackup

    training, folders = [], []
    for cb in callbacks:
        if isinstance(cb, TrainingBackup) and cb.delete_on_finish:
            cb.delete_on_finish = False
            training.append(cb)
        elif isinstance(cb, keras.callbacks.BackupAndRestore) and cb.delete_checkpoint:
            cb.delete_checkpoint = False  # a public attribute: Keras reads it in on_train_end
            folders.append(str(cb.backup_dir))
    return _Deferred(training, folders)


def _remove_keras_backup(folder: str) -> None:
    """What Keras's ``BackupAndRestore`` deletes at the end of training: its files, then the folder if left empty.

    Its folder held only these files when training started (``validate``'s checks); anything that
    appeared since is not Keras's and is kept, with the folder.
    """
    from ..spec._callback_files import _BACKUP_FILES  # what Keras's BackupAndRestore writes in its folder

    for name in sorted(_BACKUP_FILES):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.unlink(path)
    with contextlib.suppress(OSError):  # not empty: something else is in it
        os.rmdir(folder)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a saved model on named data."""
    check_files(args)
    load_plugins(args.plugin)
    from ..saving._detect import detect_format
    from ..saving._static_reader import refuse_graph_only

    if detect_format(args.model) == "savedmodel":  # another tool's graph: no loss or metrics, said before loading
        refuse_graph_only(args.model, f"it has no loss or metrics to evaluate (`netform predict {args.model}` runs it)")
    from .. import builder  # noqa: F401  (registers netform's model classes for loading)
    from ..saving import load

    model = load(args.model)
    names, inputs = _model_inputs(model)
    outputs = _output_names(model, None)
    x_choices, y_choices = parse_choices(args.x_keys, "--x"), parse_choices(args.y_keys, "--y")
    check_targets(x_choices, names, "--x")
    check_targets(y_choices, outputs, "--y")
    data = read_data(args.data, text=True)
    x = select(data, x_choices, names, "--x", inputs)
    y = select(data, y_choices, outputs, "--y")
    weight_column = getattr(args, "sample_weight", None)
    sample_weight = sample_weights(data, weight_column) if weight_column else None
    check_rows(args.data, x, y, sample_weight, weight_column)
    x = _tensors(x)
    result = model.evaluate(x, y, sample_weight=sample_weight, batch_size=args.batch_size, verbose=0, return_dict=True)
    if args.format == "json":
        print(json.dumps({k: float(v) for k, v in result.items()}))
    else:
        print(", ".join(f"{k}={float(v):.4g}" for k, v in result.items()))
    return 0


def _entry_name_problem(name: str) -> str | None:
    """Why an output name cannot be the name of an ``.npz`` member (``NAME.npy``), or None.

    Output names come from the model file (a foreign SavedModel's signature keys): netform refuses such
    names in archives it reads, so it writes none either.
    """
    if not name or len(name) > 255:
        return "is empty or longer than 255 characters"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "holds a path separator or names a folder"
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in name):
        return "holds a control character"
    return None


def _chosen_outputs(names: list[str], wanted: list[str] | None, output: str) -> list[str]:
    """The outputs ``predict`` writes, checked before any prediction is made."""
    for name in wanted or []:
        if name not in names:
            raise UsageError(
                f"--output-name {name}: the model has no output '{name}'"
                f"{did_you_mean(name, names)}; its outputs: {', '.join(names)}"
            )
    chosen = list(dict.fromkeys(wanted or names))
    if output.lower().endswith(".npz"):
        for name in chosen:
            problem = _entry_name_problem(name)
            if problem is not None:
                raise FormatError(
                    f"the model's output {name!r:.80} {problem}, so it cannot name an array of an .npz archive "
                    f"(a tool that unpacks it could write outside its folder); write this output to an .npy file "
                    f"with --output-name and -o NAME.npy"
                )
    if not output.lower().endswith(".npz") and len(chosen) > 1:
        stem = output[:-4] if output.lower().endswith(".npy") else output
        raise UsageError(
            f"-o {output}: the model has {len(chosen)} outputs ({', '.join(chosen)}) and an .npy file "
            f"holds one; write them all to an .npz (-o {stem}.npz, one array per output), or choose "
            f"one with --output-name {chosen[0]}"
        )
    return chosen


def _check_predictions_file(output: str) -> None:
    """Refuse, before the model is loaded, a ``-o`` that names a folder or lies in a folder that cannot be written.

    Raises:
        UsageError: What is wrong with ``output``, and what to name instead.
    """
    if os.path.isdir(output) and not os.path.islink(output):  # a link is replaced, never followed
        raise UsageError(
            f"-o {output}: is a folder, and predict writes one .npy or .npz file, which never replaces a folder; "
            f"name a file (e.g. {os.path.join(output, 'predictions' + (Path(output).suffix or '.npz'))}), or move "
            "the folder away"
        )
    from .._files import system_path
    from .._files import refuse_inside_savedmodel

    refuse_inside_savedmodel(output)  # predictions never become one file of a SavedModel
    try:
        folder = os.path.dirname(os.path.abspath(system_path(output)))  # where the write goes (``link/..``)
    except OSError as err:
        raise UsageError(f"-o {output}: {err.strerror}") from None
    if os.path.isdir(folder) and not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(
            f"-o {output}: the folder {folder} is not writable (permission denied); make it writable, or name a "
            "file in another folder with -o"
        )


def cmd_predict(args: argparse.Namespace) -> int:
    """Stream predictions of a saved model, one batch at a time: every output to ``.npz``, or one to ``.npy``."""
    check_files(args)
    _check_predictions_file(args.output)
    load_plugins(args.plugin)
    from .. import builder  # noqa: F401  (registers netform's model classes for loading)
    from ..saving import load

    model = load(args.model, compile=False)
    names = _output_names(model, None)
    if not names:  # keras.Sequential has no output_names: its one output is its last layer's
        count = len(getattr(model, "outputs", None) or [0])
        layers = getattr(model, "layers", None) or []
        names = [layers[-1].name] if count == 1 and layers else [f"output_{i}" for i in range(count)]
    chosen = _chosen_outputs(names, args.output_names, args.output)
    inputs, info = _model_inputs(model)
    x_choices = parse_choices(args.x_keys, "--x")
    check_targets(x_choices, inputs, "--x")
    data = read_data(args.data, text=True)
    x = select(data, x_choices, inputs, "--x", info)
    first = x[0] if isinstance(x, list) else x
    from ._predict_rows import check_rows_per_sample

    # One row per sample, or nothing written: the outputs' shapes, then a probe on the first batch.
    check_rows_per_sample(model, x, names, chosen, args.batch_size, args.output, _tensors)
    x = _tensors(x)
    n = len(first)
    batches = (
        model.predict_iter(x, batch_size=args.batch_size)
        if hasattr(model, "predict_iter")
        else iter([model.predict(x, batch_size=args.batch_size, verbose=0)])
    )
    from ._npy_stream import write_predictions

    row = write_predictions(args.output, batches, n, names, chosen)
    what = f"output{'s' if len(chosen) > 1 else ''} {', '.join(chosen)}"
    print(printable(f"wrote {row} prediction(s) of {what} → {args.output}"))
    return 0
