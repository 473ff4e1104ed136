"""Diagrams of specs, Keras models and saved model files, drawn with graphviz.

Drawing a spec never imports TensorFlow. Every source goes through one
intermediate :class:`~netform.render._diagram.Diagram` (nodes, edges,
clusters), which is written as DOT text and, for SVG/PNG/PDF, laid out by
graphviz's ``dot`` program.

Example::

    import netform as nf
    nf.render("models/mlp.yaml", "mlp.svg")
    nf.render(model, "model.png", direction="LR", expand_nested=False)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import RenderError
from ..spec import ModelSpec, load_spec
from ._diagram import Diagram, collapse
from ._dot import DotOptions, to_dot
from ._from_spec import diagram_from_spec
from ._graphviz import FORMATS, run_dot, write_atomic

__all__ = ["render", "diagram_of", "to_dot_source"]

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_DIRECTIONS = ("TB", "LR", "BT", "RL")


def _is_spec_text(text: str) -> bool:
    return "\n" in text and ":" in text


def diagram_of(obj: Any, *, expand_nested: bool = True) -> Diagram:
    """The diagram graph of a spec, a spec file, YAML text, a Keras model or a saved model file.

    Args:
        obj: A :class:`~netform.ModelSpec`; a path to a ``.yaml``/``.yml``/``.json``
            spec or YAML text (neither imports TensorFlow); a ``keras.Model``;
            or the path of a saved model in any format :func:`netform.load` reads.
        expand_nested: Draw blocks and nested models as clusters (True) or each
            as one box, chained ``repeat`` uses as one box labelled ×N (False).

    Returns:
        The :class:`Diagram`.

    Raises:
        RenderError: ``obj`` is none of these, or the file does not exist.
        SpecError: The spec is invalid.
        FormatError: The saved file cannot be read.
    """
    from ._from_keras import diagram_from_keras, is_keras_model

    if isinstance(obj, ModelSpec):
        diagram = diagram_from_spec(obj)
    elif is_keras_model(obj):
        diagram = diagram_from_keras(obj)
    elif isinstance(obj, (str, os.PathLike)):
        text = os.fspath(obj)
        if isinstance(obj, str) and _is_spec_text(text):
            diagram = diagram_from_spec(load_spec(text))
        elif not os.path.exists(text):
            raise RenderError(f"{text}: no such spec or model file (looked in {Path.cwd()}); give a .yaml spec, "
                              "a saved model (.keras, .h5, a SavedModel directory) or a ModelSpec / keras.Model")
        elif text.lower().endswith(_SPEC_SUFFIXES):
            diagram = diagram_from_spec(load_spec(text))
        else:
            diagram = diagram_from_keras(_load_model(text))
    else:
        raise RenderError(f"render() draws a ModelSpec, a spec file or YAML text, a keras.Model or a saved model "
                          f"file; received {type(obj).__name__}")
    return diagram if expand_nested else collapse(diagram)


def _load_model(path: str) -> Any:
    """Load a saved model with netform's loader (any format), falling back to Keras's."""
    try:
        from ..saving import load
    except ImportError:  # pragma: no cover - saving is part of netform; kept for partial installs
        import keras

        return keras.models.load_model(path)
    return load(path)


def to_dot_source(obj: Any, *, direction: str = "TB", expand_nested: bool = True, show_shapes: bool = True,
                  show_params: bool = True) -> str:
    """DOT source of the diagram of ``obj`` (see :func:`render` for the arguments)."""
    if direction not in _DIRECTIONS:
        raise RenderError(f"direction must be one of {', '.join(_DIRECTIONS)}; received direction={direction!r}")
    diagram = diagram_of(obj, expand_nested=expand_nested)
    return to_dot(diagram, DotOptions(direction, show_shapes, show_params))


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is None:
        suffix = path.suffix.lower().lstrip(".")
        fmt = "dot" if suffix == "gv" else suffix
        if fmt not in FORMATS:
            raise RenderError(f"{path}: cannot tell the diagram format from the extension '{path.suffix}'; "
                              f"use .svg, .png, .pdf or .dot, or pass format= (one of {', '.join(FORMATS)})")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise RenderError(f"unknown diagram format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def render(obj: Any, path: str | os.PathLike[str], *, format: str | None = None, direction: str = "TB",
           expand_nested: bool = True, show_shapes: bool = True, show_params: bool = True) -> Path:
    """Draw a spec, a Keras model or a saved model file as a diagram.

    One box per layer (name, type, output shape, parameters), inputs and
    outputs marked, shapes on the edges where they change or merge, blocks and
    nested models as labelled clusters, shared layers drawn once with every
    use connected, colours by layer family and a legend.

    Args:
        obj: A ModelSpec, a spec path or YAML text (no TensorFlow is imported),
            a ``keras.Model`` (Sequential, Functional or subclassed), or a saved
            model file in any format :func:`netform.load` reads.
        path: The output file.
        format: ``"svg"``, ``"png"``, ``"pdf"`` or ``"dot"``; default from the extension.
        direction: Layout direction: ``"TB"``, ``"LR"``, ``"BT"`` or ``"RL"``.
        expand_nested: Clusters for blocks and nested models (True), or one box
            each with ``repeat: N`` shown as ×N (False).
        show_shapes: Show output shapes.
        show_params: Show parameter counts.

    Returns:
        The path written.

    Raises:
        RenderError: Unknown format or direction, a missing ``dot`` program for
            svg/png/pdf (with the install command), or graphviz failing.
        SpecError: The spec is invalid.

    Example::

        render("models/mlp.yaml", "mlp.svg", direction="LR")
    """
    out = Path(path)
    fmt = _format_of(out, format)
    source = to_dot_source(obj, direction=direction, expand_nested=expand_nested, show_shapes=show_shapes,
                           show_params=show_params)
    if fmt == "dot":
        try:
            write_atomic(out, source.encode("utf-8"))
        except OSError as err:
            raise RenderError(f"cannot write the diagram to {out}: {err.strerror}") from err
    else:
        run_dot(source, fmt, out)
    return out
