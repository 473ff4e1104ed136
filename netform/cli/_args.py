"""The options of each sub-command."""

from __future__ import annotations

import argparse

from ..errors import NetformError

__all__ = ["UsageError", "check_files", "check_usage", "check_json_option"]


class UsageError(NetformError):
    """The command line asks for something that cannot be done as written (exit 2, like argparse's own errors)."""

    code = "NF-USAGE"
    exit_code = 2


def _plugin_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, to register custom layers and models (runs its code)",
    )


_MAX_BATCH = 2**31 - 1


def _batch_size(text: str) -> int:
    """A batch size: a whole number from 1 to 2**31-1 (TensorFlow's int32 limit)."""
    try:
        value = int(text) if len(text) <= 20 else None
    except ValueError:
        value = None
    if value is None or not 1 <= value <= _MAX_BATCH:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {_MAX_BATCH:,}; received {text[:40]!r}")
    return value


def _steps_per_execution(text: str) -> int | str:
    """``auto`` or a whole number from 1 to 2**31-1."""
    if text == "auto":
        return text
    try:
        return _batch_size(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected auto (measured and adapted while training) or a whole number from 1 to {_MAX_BATCH:,}; "
            f"received {text[:40]!r}"
        ) from None


def args_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files (or folders of them)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    _plugin_arg(p)
    p.add_argument(
        "--out-dir",
        default=".",
        metavar="DIR",
        help="folder under which the spec's callback paths are resolved and checked, as `train --out-dir` "
        "(default: the working directory)",
    )
    _access_args(p)


def _access_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-paths",
        action="store_true",
        help="let the spec's callbacks write anywhere (absolute paths, '..'), not only under --out-dir",
    )
    p.add_argument(
        "--allow-network",
        action="store_true",
        help="let the spec use the network (RemoteMonitor, gs://… and other remote paths, the "
        "multi_worker_mirrored strategy, which joins the cluster TF_CONFIG names)",
    )


def args_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="a spec file, or a saved .keras/.h5 model")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument(
        "--build",
        action="store_true",
        help="also build the model (imports TensorFlow) and read the shapes and parameter counts that have no "
        "static rule (custom layers, marked *) from it",
    )
    _plugin_arg(p)


def args_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    _plugin_arg(p)


def args_render(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SPEC_OR_FILE", help="a spec file or a saved model")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file: .svg, .png, .pdf, .dot, or .html (interactive, self-contained)",
    )
    p.add_argument("--format", choices=("svg", "png", "pdf", "dot", "html"), help="overrides the extension")
    p.add_argument("--direction", choices=("TB", "LR", "BT", "RL"), default="TB", help="layout direction")
    p.add_argument("--collapse", action="store_true", help="draw blocks and nested models as one box")
    p.add_argument(
        "--collapse-depth",
        type=int,
        metavar="N",
        help="draw blocks nested deeper than N levels as one box (0 = like --collapse)",
    )
    p.add_argument("--details", action="store_true", help="show key attributes (kernel size, strides, units, …)")
    p.add_argument("--no-shapes", action="store_true", help="leave shapes out")
    p.add_argument("--no-params", action="store_true", help="leave parameter counts out")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds graphviz may take to lay out an svg, png, pdf or html diagram (default 60, at most 86400)",
    )
    _plugin_arg(p)


def args_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="a spec file")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_FILE", help="where to save the model")
    p.add_argument("--api", choices=("sequential", "functional", "subclass"), help="which Keras API to build with")
    p.add_argument("--format", help="save format (default: from the extension)")
    _plugin_arg(p)


def args_export_spec(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL_FILE", help="a saved model")
    p.add_argument("-o", "--output", metavar="SPEC", help="where to write the spec (default: standard output)")
    _plugin_arg(p)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="FILE", help=".npz with named arrays, or .csv with named columns")
    _x_arg(p)
    p.add_argument(
        "--y",
        dest="y_keys",
        action="append",
        metavar="[OUTPUT=]COLUMNS",
        help="the targets of one output, like --x; default: the arrays named after the outputs, or 'y'",
    )


def _x_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--x",
        dest="x_keys",
        action="append",
        metavar="[INPUT=]COLUMNS",
        help="the data of one input: an array/column name, several joined by commas (f0,f1,f2) or glob "
        "patterns ('f*', in file order), joined side by side; repeat for each input, in order, or "
        "name it (image=px*); default: the arrays named after the inputs, or 'x'",
    )


def _sample_weight_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sample-weight",
        metavar="COLUMN",
        help="weight each sample by this column (.csv) or array (.npz) of the data file, as "
        "keras.Model.fit(sample_weight=...)",
    )


def args_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="a spec file with a training: section")
    _data_args(p)
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="override spec values, e.g. training.epochs=3 nodes.dense1.units=512",
    )
    p.add_argument(
        "--val-data",
        metavar="FILE",
        help="validation data (.npz or .csv, the same names as --data), evaluated after every epoch",
    )
    p.add_argument(
        "--class-weight",
        metavar="balanced|JSON",
        help="weight the loss of each class: balanced (n_samples / (n_classes * count), from the "
        'training targets) or a JSON object such as \'{"0": 1.0, "1": 3.0}\'; one output only',
    )
    _sample_weight_arg(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="MODEL_FILE",
        help="save the trained model here (an interrupted run saves beside it, as NAME.interrupted.EXT)",
    )
    p.add_argument(
        "--backup-dir",
        metavar="DIR",
        help="back up training in DIR (every epoch, and every --backup-every steps); if DIR holds a "
        "backup, resume it at the exact step. Kept when training is interrupted, removed when it ends",
    )
    p.add_argument(
        "--backup-every",
        type=_batch_size,
        metavar="STEPS",
        help="with --backup-dir: also back up every STEPS training steps",
    )
    p.add_argument("--api", choices=("sequential", "functional", "subclass"), help="which Keras API to build with")
    p.add_argument(
        "--verbose", type=int, default=1, choices=(0, 1, 2), help="0 silent, 1 progress bar, 2 one line per epoch"
    )
    p.add_argument(
        "--steps-per-execution",
        type=_steps_per_execution,
        metavar="N|auto",
        help="training steps per compiled call, or auto: measured and adapted while training, with the "
        "results of 1 (default: the spec's training.steps_per_execution, itself auto by default)",
    )
    _plugin_arg(p)
    p.add_argument(
        "--out-dir",
        default=".",
        metavar="DIR",
        help="folder under which the spec's callback paths (logs, checkpoints, backups) are resolved "
        "(default: the working directory)",
    )
    _access_args(p)


def args_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL_FILE", help="a saved model")
    _data_args(p)
    _sample_weight_arg(p)
    p.add_argument("--batch-size", type=_batch_size, default=32, help="samples per batch (1 to 2**31-1)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    _plugin_arg(p)


def args_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL_FILE", help="a saved model")
    p.add_argument("--data", required=True, metavar="FILE", help=".npz or .csv input data")
    _x_arg(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="where to write predictions: OUT.npz holds one array per output, named after it; "
        "OUT.npy holds one output (the model's only one, or the one --output-name chooses)",
    )
    p.add_argument(
        "--output-name",
        dest="output_names",
        action="append",
        metavar="NAME",
        help="write only this output (repeat for several in an .npz); default: every output",
    )
    p.add_argument("--batch-size", type=_batch_size, default=256, help="samples per batch (1 to 2**31-1)")
    _plugin_arg(p)


def args_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="a saved model or weights file")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    _plugin_arg(p)


def args_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC", help="a saved model")
    p.add_argument("dst", metavar="DST", help="the new file (format from the extension or --format)")
    p.add_argument("--format", help="keras, h5, savedmodel, or the deployment formats onnx and tflite")
    p.add_argument(
        "--quantize",
        choices=("dynamic", "float16"),
        help="TFLite only: int8 weights with dynamic-range quantization, or float16 weights (default: float32)",
    )
    p.add_argument("--opset", type=int, help="ONNX only: the opset to write (default 17)")
    _plugin_arg(p)


def check_files(args: argparse.Namespace) -> None:
    """Refuse missing input files and impossible output paths before anything slow is imported.

    Commands call it first, before TensorFlow is imported, so that a typo in
    a path costs a fraction of a second, not a TensorFlow start-up.

    Raises:
        DataError: A data file (``--data``, ``--val-data``) does not exist (exit 4).
        UsageError: An output path cannot be written (exit 2).
    """
    import os

    from ..errors import DataError

    for option, attr in (("--data", "data"), ("--val-data", "val_data")):
        path = getattr(args, attr, None)
        if path is not None and not os.path.isfile(path):
            from ._data_files import not_a_data_file

            raise DataError(f"{option} {path}: {not_a_data_file(path)}")
    for option, attr in (("--out-dir", "out_dir"), ("--backup-dir", "backup_dir")):
        path = getattr(args, attr, None)
        if path is not None and os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{option} {path}: not a folder; give a folder (it is made if it does not exist)")
        problem = path_length_problem(path) if isinstance(path, str) and path else None
        if problem:
            raise UsageError(f"{option} {path}: {problem}")
    for option, output in (("-o", getattr(args, "output", None)), ("DST", getattr(args, "dst", None))):
        if isinstance(output, str):
            _check_output(option, output)
    output = getattr(args, "output", None)
    if getattr(args, "command", None) == "train" and isinstance(output, str) and output:
        # A run stopped with Ctrl-C saves beside -o as NAME.interrupted.EXT: that name must fit too.
        base = os.path.basename(output.rstrip(os.sep)) or output
        suffix = os.path.splitext(base)[1]
        interrupted = os.path.join(os.path.dirname(output), f"{base[: len(base) - len(suffix)]}.interrupted{suffix}")
        problem = path_length_problem(interrupted)
        if problem:
            raise UsageError(
                f"-o {output}: a run stopped with Ctrl-C saves its model beside it as {os.path.basename(interrupted)!r:.60}, "
                f"and {problem.replace('give a shorter', 'give -o a shorter')}"
            )


#: The most bytes of a whole path the system takes (PATH_MAX on Linux, with its final NUL).
PATH_MAX = 4096


def path_length_problem(path: str) -> str | None:
    """Why ``path`` cannot be written, for its length alone: a name over 255 bytes, or a path over 4,096.

    The bytes are UTF-8's, as the file system counts them (``é`` is two). The whole path is the absolute
    one the system is given. No file is looked at, so a command checks its outputs before it starts.

    Returns:
        The reason (ending with the fix), or None when the path's length is not a problem.
    """
    import os

    from .._files import NAME_MAX

    def size(text: str) -> int:
        return len(text.encode("utf-8", "surrogateescape"))

    for part in os.path.abspath(path).split(os.sep):
        if size(part) > NAME_MAX:
            return (
                f"the name {part[:40]!r}... is {size(part):,} bytes long and a file system takes names of at most "
                f"{NAME_MAX} bytes; give a shorter name"
            )
    if size(os.path.abspath(path)) >= PATH_MAX:
        return (
            f"the path is {size(os.path.abspath(path)):,} bytes long (as an absolute path) and the system takes "
            f"paths of at most {PATH_MAX - 1:,} bytes; give a shorter path"
        )
    return None


def _check_output(option: str, output: str) -> None:
    """An output path names a file (or a link, replaced, never followed) in an existing folder."""
    import os
    import stat

    if not output:
        raise UsageError(f"{option} '': give the name of the file to write")
    problem = path_length_problem(output)
    if problem:
        raise UsageError(f"{option} {output}: {problem}")
    try:
        mode = os.lstat(output).st_mode
    except OSError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode) or stat.S_ISDIR(mode)):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a character device"
            if stat.S_ISCHR(mode)
            else "a block device"
            if stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise UsageError(
            f"{option} {output}: is {kind}; netform writes a new file and renames it into place, "
            "which would replace it: name a regular file"
        )
    from netform._files import special_link_problem

    if mode is not None and stat.S_ISLNK(mode):
        special = special_link_problem(output)
        if special:
            raise UsageError(
                f"{option} {output}: {special}; netform writes a new file and renames it into place, which would "
                "replace the link itself (/dev/stdout is one): name a regular file, or a link to one"
            )
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {output}: the folder {parent} does not exist; make it first, or write elsewhere")


#: The deepest nesting and the longest text read from a JSON option: far past any value the options take (a class
#: weight is one flat object), and within what Python's JSON reader reads without exhausting its recursion limit.
_JSON_MAX_DEPTH = 64
_JSON_MAX_CHARS = 1 << 20
#: A JSON string (its closing quote optional: an unterminated one runs to the end), or a bracket outside strings.
_JSON_TOKENS = r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]'


def check_json_option(text: str, option: str, how: str) -> None:
    """Refuse JSON text past the size and nesting any option takes, before Python's reader sees it.

    Python's JSON reader recurses once per level: thousands of ``[`` would end in a ``RecursionError``.

    Args:
        text: The option's value.
        option: The option, as the messages name it.
        how: What to give instead, ending the messages.

    Raises:
        UsageError: ``text`` is longer than 1 MiB or nested more than 64 levels deep.
    """
    import re

    if len(text) > _JSON_MAX_CHARS:
        raise UsageError(
            f"{option}: the value is {len(text):,} characters long, more than the {_JSON_MAX_CHARS:,} netform "
            f"reads; {how}"
        )
    if text.count("[") + text.count("{") <= _JSON_MAX_DEPTH:  # cannot be deeper: no need to scan
        return
    depth = 0
    for token in re.finditer(_JSON_TOKENS, text, re.DOTALL):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > _JSON_MAX_DEPTH:
                raise UsageError(
                    f"{option}: the JSON is nested more than {_JSON_MAX_DEPTH} levels deep (at character "
                    f"{token.start() + 1}); {how}"
                )
        elif char in "]}":
            depth = max(0, depth - 1)


class _Pairs(list[tuple[str, object]]):
    """A JSON object read as its ``(key, value)`` pairs, in order, repeated keys included."""


def _check_class_weight_json(text: str) -> None:
    """Refuse a ``--class-weight`` object that Python's JSON reader cannot read, or that names a class twice.

    JSON keeps the last of two equal keys, and ``"00"`` and ``"0"`` both name class 0: either would drop a weight
    without a word. The rest (not JSON, not an object, a key that is no class) is left to the parser's messages.

    Raises:
        UsageError: Too long or too deep (:func:`check_json_option`), a number of thousands of digits, or two
            keys naming one class.
    """
    import json

    how = 'class weights are one flat JSON object of class index to weight, e.g. \'{"0": 1.0, "1": 3.0}\''
    check_json_option(text, "--class-weight", how)
    try:
        value = json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError:
        return  # reported with its column by the parser
    except ValueError as err:  # an integer of more digits than Python converts
        raise UsageError(f"--class-weight: a number in it cannot be read ({err}); {how}") from None
    if not isinstance(value, _Pairs):
        return
    seen: dict[int, str] = {}
    for key, _ in value:
        if not (key.isascii() and key.isdigit()) or len(key) > 10:
            continue
        other = seen.get(int(key))
        if other is None:
            seen[int(key)] = key
        elif other == key:
            raise UsageError(
                f"--class-weight: the key {key!r} is given twice, and JSON would keep only the last weight; "
                "give each class once"
            )
        else:
            raise UsageError(
                f"--class-weight: the keys {other!r} and {key!r} both name class {int(key)}; give each class once"
            )


def check_usage(args: argparse.Namespace) -> None:
    """Refuse options that contradict each other (exit 2); looks at no file, so it runs before any import.

    Raises:
        UsageError: ``render --format`` against the output's extension, a ``predict -o`` that is neither
            ``.npy`` nor ``.npz``, ``--backup-every`` without ``--backup-dir``, malformed
            ``--x``/``--y``/``--class-weight``, class and sample weights together.
    """
    import os

    if any(getattr(args, name, None) is not None for name in ("x_keys", "y_keys", "class_weight")):
        # the data options of train, evaluate and predict; the other commands do not import their parser
        from ._columns import parse_choices, parse_class_weight

        parse_choices(getattr(args, "x_keys", None), "--x")
        parse_choices(getattr(args, "y_keys", None), "--y")
        if getattr(args, "class_weight", None) not in (None, "balanced"):
            _check_class_weight_json(args.class_weight)
        if (
            parse_class_weight(getattr(args, "class_weight", None)) is not None
            and getattr(args, "sample_weight", None) is not None
        ):
            raise UsageError(
                "--class-weight and --sample-weight cannot be used together (Keras refuses class_weight "
                "with sample_weight); fold the class weights into the sample-weight column"
            )

    output = getattr(args, "output", None)
    if getattr(args, "command", None) == "render" and getattr(args, "format", None) and isinstance(output, str):
        suffix = os.path.splitext(output)[1].lower().lstrip(".")
        said = {"htm": "html", "gv": "dot"}.get(suffix, suffix)  # the extensions `render` reads as formats
        if said in ("svg", "png", "pdf", "dot", "html") and said != args.format:
            raise UsageError(
                f"--format {args.format} -o {output}: the file name says {said} but --format says "
                f"{args.format}; name the file {os.path.splitext(output)[0]}.{args.format}, "
                "or leave --format out"
            )
    if getattr(args, "command", None) == "predict" and isinstance(output, str) and output:
        # The writer knows two formats; any other name would hold .npy content under a misleading suffix.
        suffix = os.path.splitext(output)[1]
        if suffix.lower() not in (".npy", ".npz"):
            stem = output[: len(output) - len(suffix)] if suffix else output
            raise UsageError(
                f"-o {output}: predictions are written as .npy (one output) or .npz (one array per output), "
                f"and a name ending in {suffix or 'no suffix'} would hold one of those under another name; "
                f"name the file {stem}.npy or {stem}.npz"
            )
    if getattr(args, "backup_every", None) is not None and getattr(args, "backup_dir", None) is None:
        raise UsageError("--backup-every needs --backup-dir DIR: the folder the backups are written to")
