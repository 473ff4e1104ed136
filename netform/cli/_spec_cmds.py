"""``netform validate``, ``summary`` and ``schema``: none of them imports TensorFlow."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from pathlib import Path

from ..errors import Diagnostic, SaveError, SpecError
from ._args import UsageError
from ..spec import ModelSpec, load_spec, summary
from ..spec._access import spec_access
from ..spec._schema import json_schema

__all__ = [
    "cmd_validate", "cmd_summary", "cmd_schema", "load_plugins", "write_output", "spec_warnings", "format_warning",
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
                raise UsageError(f"--plugin {name}: no module named '{missing}'; give the module's import name "
                                 "(e.g. my_layers for my_layers.py) and make it importable: run from its folder, "
                                 "add the folder to PYTHONPATH, or install its package") from err
            raise UsageError(f"--plugin {name}: cannot import the plugin module ({err}); fix the import in the "
                             "module, or install what it needs") from err


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

    try:
        _files.write_bytes(path, data)
    except OSError as err:
        raise SaveError(f"{path}: cannot write {what} ({err.strerror or err}); any file that was there "
                        "before is left intact. Free some space or choose another path.") from err


def _expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(p.rglob("*.yaml")) + sorted(p.rglob("*.yml"))
        else:
            out.append(p)
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    """Check every spec; exit 0 when all are valid, 1 otherwise."""
    load_plugins(args.plugin)
    results = []
    ok = True
    for path in _expand(args.paths):
        try:
            with spec_access(allow_paths=getattr(args, "allow_paths", False),
                             allow_network=getattr(args, "allow_network", False)):
                spec = load_spec(path)
            warnings = spec_warnings(spec)
            results.append({"path": str(path), "valid": True, "errors": [], "name": spec.name, "kind": spec.kind,
                            "warnings": [d.to_dict() for d in warnings]})
        except SpecError as err:
            ok = False
            results.append({"path": str(path), "valid": False, "errors": [d.to_dict() for d in err.diagnostics],
                            "warnings": []})
            if args.format == "text":
                print(err, file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"valid": ok, "files": results}, indent=2))
    else:
        good = sum(r["valid"] for r in results)
        for r in results:
            if r["valid"]:
                print(f"{r['path']}: ok ({r['kind']} model '{r['name']}')")
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
    return f"{place}: warning: {d['path'] + ': ' if d['path'] else ''}{d['message']}"


def callbacks_not_run() -> contextlib.AbstractContextManager[object]:
    """Load specs for a command that never makes their training callbacks.

    Where a spec's callbacks would write, or whether they use the network,
    matters only to ``train`` (and to ``validate``, which reports it);
    ``summary``, ``render`` and ``build`` never create them, so those
    commands accept such specs as they stand.
    """
    return spec_access(allow_paths=True, allow_network=True, check_callbacks=False)


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the static summary of one spec."""
    load_plugins(args.plugin)
    with callbacks_not_run():
        info = summary(load_spec(args.path))
    if args.format == "json":
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print(info.to_text())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print (or write) the JSON Schema of the spec format."""
    load_plugins(args.plugin)
    text = json.dumps(json_schema(), indent=1)
    if args.output:
        write_output(args.output, (text + "\n").encode("utf-8"), "the JSON Schema")
    else:
        print(text)
    return 0
