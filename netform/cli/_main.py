"""Argument parsing and the one place where errors become exit codes.

Exit codes: 0 success; 1 invalid spec; 2 usage error; 3 build error;
4 engine/data error; 5 file format or save error; 6 unsafe file refused;
7 render error; 70 an unexpected internal error (a bug: please report it);
130 interrupted with Ctrl-C (``train`` saves the model and its backup first).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import traceback
import warnings
from typing import Any, Callable, NoReturn, Sequence

from ..errors import DataError, NetformError, SaveError, printable

__all__ = ["main", "build_parser", "cli_words", "INTERNAL_ERROR"]

#: Exit code of an unexpected error (a bug), as in BSD's sysexits ``EX_SOFTWARE``.
INTERNAL_ERROR = 70

# command → (module, function, help); modules are imported only when run.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("netform.cli._spec_cmds", "cmd_validate", "check spec files (no TensorFlow)"),
    "summary": ("netform.cli._spec_cmds", "cmd_summary", "print shapes and parameter counts (no TensorFlow)"),
    "schema": ("netform.cli._spec_cmds", "cmd_schema", "print the JSON Schema of the spec format"),
    "render": ("netform.cli._render_cmd", "cmd_render", "draw a spec, model or saved file with graphviz"),
    "build": ("netform.cli._model_cmds", "cmd_build", "build a spec into an untrained saved model"),
    "export-spec": ("netform.cli._model_cmds", "cmd_export_spec", "write the spec of a saved model"),
    "train": ("netform.cli._train_cmds", "cmd_train", "compile and fit a spec on .npz or .csv data"),
    "evaluate": ("netform.cli._train_cmds", "cmd_evaluate", "evaluate a saved model on data"),
    "predict": ("netform.cli._train_cmds", "cmd_predict", "stream predictions of a saved model to .npy"),
    "inspect": ("netform.cli._model_cmds", "cmd_inspect", "describe a saved model file"),
    "convert": ("netform.cli._model_cmds", "cmd_convert", "convert a saved model to another format"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    from . import _args

    parser = _Parser(prog="netform", description="Keras models as validated YAML specs.")
    parser.add_argument("--version", action="version", version=f"netform {_version()}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the Python traceback of an unexpected error (also accepted after the command)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        getattr(_args, "args_" + name.replace("-", "_"))(p)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors quote what was typed with control characters escaped (an argument
    may be a file name holding an escape sequence); the sub-commands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        super().error(_terminal_safe(message))


def _version() -> str:
    from .. import __version__

    return __version__


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A warning as one ``warning: …`` line on stderr, as the CLI writes errors (not Python's source line)."""
    text = " ".join(str(message).split())
    print(f"warning: {_terminal_safe(cli_words(text))}", file=sys.stderr if file is None else file)


def _terminal_safe(text: str) -> str:
    """An error's text as printed: each line with every character that is not printable (an escape from a
    file's layer name, a NUL) written as its Python escape, so no message sends a terminal escape; the lines a
    message is made of (a SpecError's diagnostics, each escaped already) are kept."""
    return "\n".join(printable(line) for line in text.split("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``netform`` command and return its exit code."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `--debug` is accepted anywhere on the line, also after the sub-command.
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args, extra = parser.parse_known_args(argv)
    # `train` takes KEY=VALUE overrides anywhere on the line, also after options.
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    if overrides and getattr(args, "command", None) == "train":
        args.overrides = list(args.overrides) + overrides
        extra = [e for e in extra if e not in overrides]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not args.command:
        parser.print_help()
        return 2
    module, func, _ = COMMANDS[args.command]
    try:
        from ._args import check_files, check_usage
        from ._same_file import check_output_is_no_input

        check_usage(args)  # contradicting options, before the command's module (and TensorFlow) is imported
        check_files(args)  # missing data files and impossible output paths, as early
        check_output_is_no_input(args)  # `-o d.npz` with `--data d.npz` would replace the data
        handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), func)
        with warnings.catch_warnings():  # restores the process's own display when the command returns
            warnings.showwarning = _show_warning
            return handler(args)
    except NetformError as err:
        print(f"error: {_terminal_safe(cli_words(str(err)))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # TensorFlow's runtime errors on the user's data, then bugs
        reason = _runtime_data_error(err) if args.command in _DATA_COMMANDS else None
        if reason is not None:
            if debug:
                traceback.print_exc()
            print(f"error: {_terminal_safe(reason)}", file=sys.stderr)
            return _DATA_ERROR
        code = _KERAS_COMMANDS.get(args.command)
        reason = _keras_refusal(err, args.command) if code is not None else None
        if reason is not None and code is not None:
            if debug:
                traceback.print_exc()
            print(f"error: {_terminal_safe(reason)}", file=sys.stderr)
            return code
        if isinstance(err, FileNotFoundError) and "No usable temporary directory" in str(err):
            # Python's tempfile found no folder it can write a byte in (a full disk, `ulimit -f 0`): TensorFlow
            # asks for one as it is imported, so no model command can run; the environment's fault, not a bug
            if debug:
                traceback.print_exc()
            print(
                f"error: no temporary folder is writable ({_terminal_safe(str(err)[:300])}); TensorFlow needs "
                "one as it starts: free space there, raise the file-size limit (ulimit -f), or set TMPDIR to a "
                "writable folder. Nothing was written.",
                file=sys.stderr,
            )
            return SaveError.exit_code
        # the one place a bug becomes exit code 70, not a traceback
        if debug:
            traceback.print_exc()
        where = f" (in {args.command})"
        # One line: TensorFlow's messages carry a whole pseudo-traceback ("Detected at node ..."); --debug shows it.
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
        print(
            f"error: unexpected {type(err).__name__}{where}: {_terminal_safe(first[:500])}\n"
            "This is a bug in netform or in a --plugin module; run again with --debug for the traceback "
            "and please report it.",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


#: Commands that run a model on the user's data; exit code of a data error (netform.errors.DataError).
_DATA_COMMANDS = frozenset({"train", "evaluate", "predict"})
_DATA_ERROR = DataError.exit_code


# Keras's and TensorFlow's messages when the labels' shape does not fit the loss or a metric (a ValueError at
# the first trace of the training step: shapes of the data are known only then).
_SHAPE_MISMATCH = re.compile(
    r"Dimensions must be equal|Shapes \S.* are incompatible|Arguments `target` and `output` must have the same shape"
)
#: Keras's functions that compute a step's loss and metrics on the labels.
_STEP_FRAMES = frozenset({"train_step", "test_step", "compute_loss", "compute_metrics"})


def _in_training_step(err: BaseException) -> bool:
    """Whether ``err`` was raised inside Keras's training or evaluation step (not in netform's own code)."""
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name in _STEP_FRAMES and "keras" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _runtime_data_error(err: BaseException) -> str | None:
    """A one-line message for TensorFlow's refusal to run the model on these values, else None.

    Shapes and dtypes are checked before a model runs; what is left is what only the values show (an index out
    of range for ``take``/``Embedding``, a tensor too large for memory at this batch size). TensorFlow raises
    these as ``InvalidArgumentError``/``ResourceExhaustedError`` from inside the compiled step: on the command
    line they are data errors (exit 4), not bugs. So is Keras's ``ValueError`` on labels whose shape does not fit
    the loss or a metric (integer labels for ``Huber``), raised in the first trace of the training or evaluation
    step. The library itself raises TensorFlow's or Keras's error, as Keras does.
    """
    if type(err) is ValueError and _SHAPE_MISMATCH.search(str(err)) and _in_training_step(err):
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
        return (
            f"the labels do not fit the loss or a metric: {first[:500].rstrip('.')}; check the labels' shape and type against "
            "the loss (e.g. integer class labels need a sparse_* loss, one-hot labels a categorical one)"
        )
    names = {cls.__name__ for cls in type(err).__mro__}
    if not type(err).__module__.startswith("tensorflow") or "OpError" not in names:
        return None
    kind = type(err).__name__
    if kind not in ("InvalidArgumentError", "ResourceExhaustedError"):
        return None
    lines = [line.strip() for line in str(err).splitlines()]
    node = next((m.group(1) for line in lines if (m := re.match(r"Detected at node (\S+)", line))), None)
    # TensorFlow's text is "Graph execution error:", a pseudo-traceback of "File …" lines, then the reason.
    reasons = [
        line
        for line in lines
        if line
        and any(c.isalnum() for c in line)  # not a brace closing TensorFlow's node listing
        and not line.startswith(("File ", "Graph execution error", "Detected at node", "[["))
    ]
    reason = re.sub(r"\s*\[\[.*$", "", reasons[-1] if reasons else kind)[:500]
    where = f" (at node '{node}')" if node else ""
    if kind == "ResourceExhaustedError":
        return (
            f"not enough memory to run the model on this data{where}: {reason}; lower --batch-size, or, where the "
            "layer at that node makes a large tensor whatever the batch (a large kernel, dilation or size setting), "
            "make that setting smaller (--debug shows TensorFlow's message)"
        )
    return (
        f"the model cannot run on these values{where}: {reason}; check the data against what the model's "
        "layers accept, e.g. indices within range (--debug shows TensorFlow's message)"
    )


#: Commands that hand a spec's objects to Keras → the exit code of Keras refusing one (build 3, engine 4).
_KERAS_COMMANDS = {"build": 3, "train": 4, "evaluate": 4, "predict": 4, "convert": 5}
#: Errors Keras raises on arguments it cannot use (a loss of the wrong rank, an op's impossible argument).
_KERAS_REFUSALS = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    ArithmeticError,
    AssertionError,
    NotImplementedError,  # a layer Keras has no call for in its dtype policy (a Conv1D in int8)
)


def _raised_in(err: BaseException) -> str:
    """The file of the innermost frame of ``err``'s traceback ("" without one)."""
    tb = err.__traceback__
    last = ""
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last.replace("\\", "/")


def _keras_refusal(err: BaseException, command: str) -> str | None:
    """A one-line message when Keras or TensorFlow itself refused what the spec asks of it, else None.

    ``validate`` checks what netform knows of Keras's rules; an argument combination it does not know (a loss
    whose rank does not fit the labels, a metric's update arguments, an op's argument that fails only when the
    graph is traced) is refused by Keras's own code, with its own error. On the command line that is the
    spec's or the data's fault, not a bug in netform: an error raised inside Keras or TensorFlow (the innermost
    frame of its traceback in their code, never in netform's or a plugin's) gets the command's exit code.
    """
    where = _raised_in(err)
    inside = ("/keras/" in where or "/tensorflow/" in where or "/tf_keras/" in where) and "/netform/" not in where
    if not inside:
        return None
    names = {cls.__name__ for cls in type(err).__mro__}
    if not isinstance(err, _KERAS_REFUSALS) and not (
        type(err).__module__.startswith("tensorflow") and "OpError" in names
    ):
        return None
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line]  # (Keras colours the layer name in its call errors)
    first = lines[0] if lines else type(err).__name__
    if first.startswith("Exception encountered when calling") and len(lines) > 1:
        first = f"{first.rstrip('.')}: {lines[1]}"  # the reason is on the line after Keras's heading
    verb = {"build": "build", "convert": "rebuild"}.get(command, "run")
    return (
        f"Keras refused to {verb} the model ({type(err).__name__}): {first[:500].rstrip('.')}; check the spec's layers and ops, "
        "and its training section (loss, metrics, optimizer, distribution) against Keras's documentation and "
        "the data (--debug shows the traceback)"
    )


# The library's messages name Python arguments; on the command line they name the options that do the same.
_CLI_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"""\bformat=(['"])(\w+)\1"""), r"--format \2"),
    (re.compile(r"\b([Pp])ass format=(?!\w)"), r"\1ass --format"),
    (re.compile(r"\bexpand_nested=False\b"), "--collapse"),
    (re.compile(r"\b(?:allow_paths|allow_network)=True \(netform train (--allow-(?:paths|network))\)"), r"\1"),
    (
        re.compile(r"\b([Ll])oad it with safe_mode=False\b"),
        r"\1oad it from Python with netform.load(path, safe_mode=False)",
    ),
)


def cli_words(message: str) -> str:
    """A library message as the command line says it: ``--format dot``, not ``format='dot'``."""
    for pattern, replacement in _CLI_WORDS:
        message = pattern.sub(replacement, message)
    return message


def _entry() -> None:  # pragma: no cover - console script shim
    raise SystemExit(main())


if __name__ == "__main__":
    _entry()
