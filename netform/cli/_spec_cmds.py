"""``netform validate``, ``summary`` and ``schema``: none of them imports TensorFlow."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, SaveError, SpecError, printable
from ._args import UsageError
from ..spec._access import spec_access

if TYPE_CHECKING:
    from ..spec import ModelSpec

# The spec layer's schemas (Pydantic) are imported by the commands that read specs, not with this module:
# ``render`` takes its helpers from here, and a file it draws without a spec (or refuses) does not need them.

__all__ = [
    "cmd_validate",
    "cmd_summary",
    "cmd_schema",
    "load_plugins",
    "write_output",
    "write_fix",
    "spec_warnings",
    "format_warning",
]


def load_plugins(modules: list[str]) -> None:
    """Import user modules named with ``--plugin`` (an explicit opt-in to run their code).

    Raises:
        UsageError: A module cannot be imported (exit 2: the command line names it).
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing = getattr(err, "name", None)
            if isinstance(err, ModuleNotFoundError) and missing and (name == missing or name.startswith(missing + ".")):
                raise UsageError(
                    f"--plugin {name}: no module named '{missing}'; give the module's import name "
                    "(e.g. my_layers for my_layers.py) and make it importable: run from its folder, "
                    "add the folder to PYTHONPATH, or install its package"
                ) from err
            raise UsageError(
                f"--plugin {name}: cannot import the plugin module ({err}); fix the import in the "
                "module, or install what it needs"
            ) from err


def write_output(path: str, data: bytes, what: str) -> None:
    """Write a command's output file through netform's atomic writer.

    The file appears whole or not at all: a temporary file beside it (created
    exclusively, never through a link) is renamed over it at the end.

    Args:
        path: The ``-o`` path.
        data: The whole content.
        what: What is written, for the message.

    Raises:
        SaveError: The file could not be written; any old file is left intact.
    """
    from .. import _files
    from .._files import refuse_inside_savedmodel

    refuse_inside_savedmodel(path)  # a spec or schema never becomes one file of a SavedModel
    try:
        _files.write_bytes(path, data)
    except OSError as err:
        raise SaveError(
            f"{path}: cannot write {what} ({err.strerror or err}); any file that was there "
            f"before is left intact. {write_fix(err, path)}."
        ) from err


#: The error number of the kinds netform's atomic writer raises with a message only (``errno`` then is None).
_ERRNO_OF_KIND = (
    (IsADirectoryError, "EISDIR"),
    (NotADirectoryError, "ENOTDIR"),
    (PermissionError, "EACCES"),
    (FileExistsError, "EEXIST"),
)


def write_fix(err: OSError, path: str | os.PathLike[str]) -> str:
    """What to do about a write of ``path`` that failed with ``err``: the advice that fits its cause, naming the path.

    Free space is the advice for a full disk or quota only; a folder in the way, a file where a folder should
    be, no permission, a read-only disk or a name too long each get their own fix.

    Args:
        err: The error the write raised.
        path: The file written.

    Returns:
        One sentence, capitalised, without its final full stop.
    """
    import errno

    shown = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(shown))
    code = err.errno
    if code is None:
        code = next((getattr(errno, name) for kind, name in _ERRNO_OF_KIND if isinstance(err, kind)), None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"Free some space on the disk holding {folder} (or raise your quota there), or write elsewhere"
    if code == errno.EFBIG:
        return (
            f"The file is larger than a file may be here (the process's file size limit, ulimit -f, or the file "
            f"system of {folder}): raise the limit, or write elsewhere"
        )
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system: write elsewhere"
    if code in (errno.EACCES, errno.EPERM):
        return f"Make the folder {folder} writable (and {shown}, if it exists), or write elsewhere"
    if code == errno.ENAMETOOLONG:
        from .._files import TMP_MARK

        longer = 1 + 16 + len(TMP_MARK)  # the temporary file beside it: "." + 16 hex digits + the mark + the name
        return (
            f"Choose a shorter name or path than {shown}: a file system takes at most 255 bytes a name (and a "
            f"path of limited length), and the file is first written under a name {longer} characters longer"
        )
    if code == errno.EISDIR:
        return f"{shown} is a folder, which is left as it is: name a file to write"
    if code == errno.ENOTDIR:
        return f"A part of {folder} is not a folder (a file is in the way): name a file in an existing folder"
    if code == errno.EEXIST:
        return f"Move away what is at {shown}, or name another file"
    return f"Check {folder} and {shown}, or choose another path"


def _expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(p.rglob("*.yaml")) + sorted(p.rglob("*.yml"))
        else:
            out.append(p)
    return out


def check_model_file(path: str, fmt: str) -> None:
    """The savers' rule for replacing a model file (a SaveError if a save of ``fmt`` may not replace ``path``);
    netform.saving is imported only when a callback's model file exists."""
    from ..saving._target import check_target

    check_target(path, fmt)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check every spec; exit 0 when all are valid, 1 otherwise.

    The files the spec's callbacks would write are checked as ``train`` checks them, under ``--out-dir``
    (default: the working directory): a user's file there is an error.
    """
    from ..spec import load_spec
    from ..spec._callback_files import callback_file_errors

    load_plugins(args.plugin)
    results: list[dict[str, Any]] = []  # one JSON object per file
    ok = True
    allow_paths, allow_network = getattr(args, "allow_paths", False), getattr(args, "allow_network", False)
    for path in _expand(args.paths):
        try:
            with spec_access(allow_paths=allow_paths, allow_network=allow_network):
                spec = load_spec(path)
            problems = callback_file_errors(
                spec,
                out_dir=getattr(args, "out_dir", None),
                allow_paths=allow_paths,
                allow_network=allow_network,
                check_model_file=check_model_file,
            )
            if problems:
                raise SpecError(problems)
            warnings = spec_warnings(spec)
            results.append(
                {
                    "path": str(path),
                    "valid": True,
                    "errors": [],
                    "errors_total": 0,
                    "errors_not_listed": 0,
                    "checking_stopped": False,
                    "name": spec.name,
                    "kind": spec.kind,
                    "warnings": [d.to_dict() for d in warnings],
                }
            )
        except SpecError as err:
            ok = False
            # as many as the text lists (SpecError.MAX_SHOWN), with the count of the rest: 72,000 errors of a
            # 754 KB spec made 29 MB of JSON
            # (a check stopped at SpecError.ERROR_LIMIT errors lists the diagnostic that says where, last)
            found = err.diagnostics[:-1] if err.stopped else err.diagnostics
            shown = found[: SpecError.MAX_SHOWN] + err.diagnostics[len(found) :]
            results.append(
                {
                    "path": str(path),
                    "valid": False,
                    "errors": [d.to_dict() for d in shown],
                    "errors_total": len(found),
                    "errors_not_listed": len(found) - min(len(found), SpecError.MAX_SHOWN),
                    "checking_stopped": err.stopped,
                    "warnings": [],
                }
            )
            if args.format == "text":
                print(err, file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"valid": ok, "files": results}, indent=2))
    else:
        good = sum(r["valid"] for r in results)
        for r in results:
            if r["valid"]:
                # a file name may hold an escape sequence or a line break: printed escaped, as the errors are
                print(printable(f"{r['path']}: ok ({r['kind']} model '{r['name']}')"))
        # Warnings come after the errors: valid specs whose training would fail silently.
        for r in results:
            for w in r["warnings"]:
                print(format_warning(w), file=sys.stderr)
        n_warn = sum(len(r["warnings"]) for r in results)
        print(f"{good} of {len(results)} spec(s) valid" + (f", {n_warn} warning(s)." if n_warn else "."))
    return 0 if ok else 1


def spec_warnings(spec: ModelSpec) -> list[Diagnostic]:
    """Located warnings about a valid spec: training settings that make training fail silently."""
    from ..spec._load import graph_of
    from ..spec._training_checks import training_warnings

    return training_warnings(spec, graph_of(spec), spec._smap)


def format_warning(diag: Diagnostic | dict[str, object]) -> str:
    """``file:line:col: warning: path: message``, as compilers write warnings."""
    d = diag.to_dict() if isinstance(diag, Diagnostic) else diag
    place = str(d["source"]) + "".join(f":{d[k]}" for k in ("line", "column") if d[k] is not None)
    where = f"{d['path']}: " if d["path"] else ""
    return printable(f"{place}: warning: {where}{d['message']}")


def callbacks_not_run() -> contextlib.AbstractContextManager[object]:
    """Load specs for a command that never makes their training callbacks.

    Where a spec's callbacks would write, or whether they use the network,
    matters only to ``train`` (and to ``validate``, which reports it);
    ``summary``, ``render`` and ``build`` never create them, so those
    commands accept such specs as they stand.
    """
    return spec_access(allow_paths=True, allow_network=True, check_callbacks=False)


_MODEL_MAGIC = (b"PK\x03\x04", b"\x89HDF\r\n\x1a\n")


def _is_model_file(path: str) -> bool:
    """A saved model (a ``.keras`` archive or folder, an HDF5, LiteRT or ONNX file) rather than a spec, from its
    first bytes."""
    p = Path(path)
    try:
        if not os.path.lexists(p):
            from ..saving._atomic import recover  # no TensorFlow

            recover(str(p))  # a model folder a save is swapping has no name for an instant: wait for it
        info = os.stat(p)
    except (OSError, ValueError):
        return False
    if stat.S_ISDIR(info.st_mode):
        return True
    if not stat.S_ISREG(info.st_mode):
        # A FIFO, device or socket: never opened here (a FIFO would wait for a writer);
        # the spec reader refuses it with a located error.
        return False
    try:
        # O_NONBLOCK: the path may have been swapped for a FIFO since the stat; fstat tells what was opened.
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return False
        head = fh.read(64)
    if head.startswith(_MODEL_MAGIC) or p.suffix.lower() in (".keras", ".h5", ".hdf5", ".tflite", ".onnx"):
        return True
    from ..saving._detect import deploy_kind  # no TensorFlow

    return deploy_kind(head, info.st_size) is not None  # a LiteRT or ONNX model, by its content


def model_file_spec(path: str) -> ModelSpec:
    """The spec of a saved ``.keras`` / ``.h5`` model, as ``netform export-spec`` writes it.

    The config is walked without TensorFlow; where only a live model tells
    (ops, custom layers, call arguments) the model is loaded with Keras.

    Raises:
        FormatError: The file holds no architecture (weights only) or is not
            a model format ``summary`` reads.
    """
    from ..errors import FormatError
    from ..saving._config_walk import spec_from_file
    from ..saving._detect import detect_format

    fmt = detect_format(path)
    if fmt in ("weights_h5", "legacy_h5_weights", "tf_checkpoint"):
        raise FormatError(
            f"{path}: the file holds only weights ({fmt}), no architecture, so it has no summary; "
            "summarize the spec or the .keras/.h5 model the weights belong to "
            f"(`netform inspect {path}` lists the weights' names and shapes)."
        )
    if fmt not in ("keras", "h5", "savedmodel"):
        raise FormatError(
            f"{path}: a {fmt} file; `netform summary` reads specs and .keras/.h5/SavedModel models "
            f"(`netform inspect {path}` describes this file)."
        )
    spec = spec_from_file(path)
    if spec is None and fmt == "savedmodel" and _embedded_config(path) is None:
        raise FormatError(
            f"{path}: a SavedModel without a Keras architecture (written by another tool, or without netform's "
            f"copy of the model), so it has no summary; `netform inspect {path}` lists its signatures."
        )
    if spec is None:
        from ..builder import from_keras  # also registers netform's model classes for loading
        from ..saving import load

        spec = from_keras(load(path))
    return spec


def _embedded_config(path: str) -> object:
    """The config of the Keras model a SavedModel folder carries (None: it carries none), checked as load checks it.

    A model the static walk cannot export is then loaded with Keras, whose refusal is reported, rather
    than called a SavedModel without an architecture.
    """
    from ..saving._static_reader import read_config

    return read_config(path, "savedmodel")


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the static summary of one spec, or of a saved ``.keras`` / ``.h5`` model's exported spec.

    With ``--build`` the spec is also built, and what has no static rule is read from the model.
    """
    from ..spec import load_spec, summary

    load_plugins(args.plugin)
    if _is_model_file(args.path):
        spec = model_file_spec(args.path)
    else:
        with callbacks_not_run():
            spec = load_spec(args.path)
    info = summary(spec)
    if getattr(args, "build", False):  # what has no static rule, read from the built model
        from ..builder import build  # TensorFlow only when asked for

        with callbacks_not_run():
            info = info.with_model(build(spec))
    if args.format == "json":
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print("\n".join(printable(line) for line in info.to_text().split("\n")))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print (or write) the JSON Schema of the spec format."""
    from ..spec._schema import json_schema

    load_plugins(args.plugin)
    text = json.dumps(json_schema(), indent=1)
    if args.output:
        write_output(args.output, (text + "\n").encode("utf-8"), "the JSON Schema")
    else:
        print(text)
    return 0
