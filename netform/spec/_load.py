"""``load_spec``: from a file, YAML text or a dict to a checked :class:`ModelSpec`."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, SpecError
from ._graph import MAX_GRAPH_NODES, Graph, resolve
from ._model import ModelSpec
from ._parse import dedupe, parse_spec
from ._shapes import NodeShape, infer_shapes
from ._training_checks import training_errors
from ._yaml import LIMITS, SourceMap, load_yaml
from . import layers

if TYPE_CHECKING:
    from ._summary import Summary  # imported by summary() only: loading a spec does not build its table

__all__ = ["load_spec", "graph_of", "shapes_of", "summary"]

SpecLike = ModelSpec | str | os.PathLike[str] | dict[str, Any]
# counted while the YAML is read, before anything is built (`parse_spec` checks a dict given directly)
_MAX_ENTRIES = {"layers": MAX_GRAPH_NODES, "nodes": MAX_GRAPH_NODES}


def _looks_like_path(text: str) -> bool:
    if "\n" in text or ":" in text.split("/", 1)[0] and not os.path.exists(text):
        return False
    return text.endswith((".yaml", ".yml", ".json")) or os.path.exists(text)


def _kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _read(path: Path) -> str | bytes:
    """The bytes of a spec file: a regular file only (never waits on a FIFO), at most the size limit."""
    try:
        if path.is_dir():
            raise SpecError([Diagnostic("this is a directory; give the path of a .yaml spec file", source=str(path))])
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then tells what was opened.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError([Diagnostic(f"no such spec file (looked in {Path.cwd()})", source=str(path))]) from None
    except OSError as err:
        raise SpecError([Diagnostic(f"cannot read the spec file: {err.strerror}", source=str(path))]) from err
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(
                [
                    Diagnostic(
                        f"this is {_kind_of(info.st_mode)}, not a spec file; give the path of a .yaml file",
                        source=str(path),
                    )
                ]
            )
        try:
            data = fh.read(LIMITS.max_bytes + 1)  # bounded even if the file grows while it is read
        except OSError as err:  # EIO (/proc/self/mem), a file on a failing disk or a gone network share
            raise SpecError([Diagnostic(f"cannot read the spec file: {err.strerror}", source=str(path))]) from err
    if max(info.st_size, len(data)) > LIMITS.max_bytes:
        raise SpecError(
            [
                Diagnostic(
                    f"the file is {max(info.st_size, len(data)) / 1e6:.1f} MB; specs are limited to "
                    f"{LIMITS.max_bytes / 1e6:.0f} MB (a model spec is usually a few KB: is this the right file?)",
                    source=str(path),
                )
            ]
        )
    return data


def load_spec(spec: SpecLike, *, source: str | None = None) -> ModelSpec:
    """Load and check a spec: YAML syntax, schemas, graph and static shapes.

    Args:
        spec: A path to a YAML file, YAML text, a dict, or a ModelSpec.
        source: The name used in error messages (defaults to the path).

    Returns:
        The validated :class:`ModelSpec`.

    Raises:
        SpecError: Every problem found, each with file, line, column and
            spec path.

    Example::

        spec = netform.load_spec("models/mlp.yaml")
        assert netform.load_spec(spec.to_yaml()) == spec
    """
    return _load(spec, source)


def _load(spec: SpecLike, source: str | None) -> ModelSpec:
    if isinstance(spec, ModelSpec):
        data, smap = spec.to_dict(), spec._smap or SourceMap(spec.source)
    elif isinstance(spec, dict):
        data, smap = spec, SourceMap(source or "<dict>")
    elif isinstance(spec, os.PathLike) or (isinstance(spec, str) and _looks_like_path(spec)):
        path = Path(spec)
        data, smap = load_yaml(_read(path), source or str(spec), max_entries=_MAX_ENTRIES)
    elif isinstance(spec, (str, bytes)):
        data, smap = load_yaml(spec, source or "<string>", max_entries=_MAX_ENTRIES)
    else:
        raise SpecError(f"load_spec takes a path, YAML text, a dict or a ModelSpec; received {type(spec).__name__}")
    model, diags = parse_spec(data, smap)
    if model is None:
        raise SpecError(dedupe(diags))
    try:
        graph = resolve(model)
        model._cache["graph"] = graph
        shapes = infer_shapes(graph, smap)
    except SpecError as err:
        raise SpecError(dedupe(diags + err.diagnostics)) from None
    diags += training_errors(model, graph, smap, shapes)  # per-output loss/metrics keys name outputs of the graph
    if {"preprocessing", "lookup"} & layers._loaded:  # `adapt: true` layers take a model input directly
        from .layers.preprocessing import adapt_errors

        diags += adapt_errors(graph, smap)
    if "lookup" in layers._loaded:  # a StringLookup's input holds strings
        from .layers.lookup import lookup_errors

        diags += lookup_errors(graph, smap)
    if diags:
        raise SpecError(dedupe(diags))
    model._cache["shapes"] = shapes
    return model


def graph_of(spec: ModelSpec) -> Graph:
    """The resolved graph of a spec (cached)."""
    if "graph" not in spec._cache:
        spec._cache["graph"] = resolve(spec)
    return spec._cache["graph"]


def shapes_of(spec: ModelSpec) -> dict[str, NodeShape]:
    """Static shapes and parameter counts of every node (cached)."""
    if "shapes" not in spec._cache:
        spec._cache["shapes"] = infer_shapes(graph_of(spec), spec._smap)
    return spec._cache["shapes"]


def summary(spec: SpecLike) -> Summary:
    """Per-node output shapes and parameter counts, and totals, without TensorFlow.

    Args:
        spec: A ModelSpec, or anything :func:`load_spec` takes.

    Returns:
        A :class:`Summary`; ``str(summary)`` is a Keras-style table.

    Raises:
        SpecError: The spec is not valid.
    """
    model = spec if isinstance(spec, ModelSpec) else load_spec(spec)
    from ._summary import build_summary

    return build_summary(graph_of(model), shapes_of(model))
