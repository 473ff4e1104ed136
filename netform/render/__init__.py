"""Diagrams of specs, Keras models and saved model files, drawn with graphviz.

Drawing a spec never imports TensorFlow. Every source goes through one
intermediate :class:`~netform.render._diagram.Diagram` (nodes, edges,
clusters), which is written as DOT text and, for SVG/PNG/PDF, laid out by
graphviz's ``dot`` program.

Example::

    import netform as nf
    nf.render("models/mlp.yaml", "mlp.svg")
    nf.render(model, "model.png", direction="LR", expand_nested=False)
    nf.render("models/resnet_small.yaml", "resnet.svg", collapse_depth=1, details=True)
    nf.render("models/resnet_small.yaml", "resnet.html")   # interactive, self-contained
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

from ..errors import FormatError, RenderError
from ._diagram import Diagram, collapse
from ._graphviz import FORMATS, check_timeout, run_dot, write_atomic

# The spec layer (Pydantic schemas) and the DOT writer, which uses it, are imported where a diagram is drawn:
# a file no diagram is drawn of (a LiteRT or ONNX model, refused as ``load`` refuses it) costs neither.

__all__ = ["render", "diagram_of", "to_dot_source"]

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_DIRECTIONS = ("TB", "LR", "BT", "RL")


def _is_spec_text(text: str) -> bool:
    return "\n" in text and ":" in text


def diagram_of(obj: Any, *, expand_nested: bool = True, collapse_depth: int | None = None) -> Diagram:
    """The diagram graph of a spec, a spec file, YAML text, a Keras model or a saved model file.

    Args:
        obj: A :class:`~netform.ModelSpec`; a path to a ``.yaml``/``.yml``/``.json``
            spec or YAML text (neither imports TensorFlow); a ``keras.Model``;
            or the path of a saved model in any format :func:`netform.load` reads.
        expand_nested: Draw blocks and nested models as clusters (True) or each
            as one box, chained ``repeat`` uses as one box labelled ×N (False,
            the same as ``collapse_depth=0``).
        collapse_depth: Draw blocks nested deeper than this many levels as one
            box each (0: every top-level block is a box; 1: top-level blocks
            stay clusters, the blocks inside them are boxes; None: no limit).

    Returns:
        The :class:`Diagram`.

    Raises:
        RenderError: ``obj`` is none of these, the file does not exist, or
            ``collapse_depth`` is negative.
        SpecError: The spec is invalid.
        FormatError: The saved file cannot be read.
    """
    from ._from_keras import diagram_from_keras, is_keras_model

    if _is_model_spec(obj):
        diagram = _spec_diagram(obj)
    elif is_keras_model(obj):
        diagram = diagram_from_keras(obj)
    elif isinstance(obj, (str, os.PathLike)):
        text = os.fspath(obj)
        if isinstance(obj, str) and _is_spec_text(text):
            diagram = _spec_diagram(text)
        elif not os.path.exists(text):
            link = f" (a symbolic link to {os.readlink(text)!r}, which does not exist)" if os.path.islink(text) else ""
            raise RenderError(
                f"{text}: no such spec or model file{link} (looked in {Path.cwd()}); give a .yaml spec, "
                "a saved model (.keras, .h5, a SavedModel directory) or a ModelSpec / keras.Model"
            )
        elif text.lower().endswith(_SPEC_SUFFIXES):
            diagram = _spec_diagram(text)
        else:
            diagram = _diagram_of_file(text)
    else:
        raise RenderError(
            f"render() draws a ModelSpec, a spec file or YAML text, a keras.Model or a saved model "
            f"file; received {type(obj).__name__}"
        )
    depth = _collapse_depth(expand_nested, collapse_depth)
    return diagram if depth is None else collapse(diagram, depth)


def _is_model_spec(obj: Any) -> bool:
    """Whether ``obj`` is a :class:`~netform.ModelSpec` (there is none before the spec layer is imported)."""
    model = sys.modules.get("netform.spec._model")
    return model is not None and isinstance(obj, model.ModelSpec)


def _spec_diagram(spec: Any) -> Diagram:
    """The diagram of a ModelSpec, or of the spec a path or YAML text holds (read with :func:`netform.load_spec`)."""
    from ..spec import ModelSpec, load_spec
    from ._from_spec import diagram_from_spec

    return diagram_from_spec(spec if isinstance(spec, ModelSpec) else load_spec(spec))


def _collapse_depth(expand_nested: bool, collapse_depth: int | None) -> int | None:
    if collapse_depth is not None and (
        isinstance(collapse_depth, bool) or not isinstance(collapse_depth, int) or collapse_depth < 0
    ):
        raise RenderError(
            f"collapse_depth must be a whole number 0 or more (0 draws every top-level block as one "
            f"box), or None to draw every block expanded; received {collapse_depth!r}"
        )
    if not expand_nested:
        return 0
    return collapse_depth


def _diagram_of_file(path: str) -> Diagram:
    """A saved model's diagram: from its config without TensorFlow where it can, else of the loaded model.

    A ``.keras`` or ``.h5`` file's config is checked as loading checks it
    and walked as :func:`~._from_keras.diagram_from_keras` walks the loaded
    model; only what the config cannot tell (Keras ops, custom layers, call
    arguments, a layer without static shape rules, another format) loads the
    model with Keras. A config the walk leaves to Keras is first exported as
    ``export-spec`` exports it: one that makes no model Keras can build (a
    ``Dense`` called on 1,000 tensors) is refused as ``summary`` refuses it,
    without TensorFlow.
    """
    from ..saving._detect import DEPLOY_FORMATS, detect_format

    if detect_format(path) in DEPLOY_FORMATS:  # no Keras config: refused as load refuses it, before any import
        _load_model(path)
    from ._from_keras import diagram_from_config, diagram_from_keras

    if detect_format(path) == "savedmodel":
        from ..saving._static_reader import refuse_graph_only

        refuse_graph_only(path, "it has no layers to draw")
    if os.environ.get("NETFORM_RENDER_WITH_KERAS") != "1":
        from ..saving._config_bounds import config_memo
        from ..saving._config_walk import NeedsKeras, check_vouched, keras_describes, spec_from_config
        from ..saving._detect import detect_format
        from ..saving._static_reader import read_config

        fmt = detect_format(path)
        with config_memo():  # the checks and the walk convert each layer once
            config = read_config(path, fmt, compile=True) if fmt in ("keras", "h5", "savedmodel") else None
            if config is not None:
                try:
                    check_vouched(config)
                    return diagram_from_config(config)
                except NeedsKeras as why:
                    # only the live model tells: drawn as before (a config of many layers is not built only to
                    # be drawn), unless the config makes no model at all
                    try:
                        keras_describes(config, str(why))
                    except FormatError as err:
                        raise FormatError(f"{path}: {err}") from None
                try:
                    spec_from_config(config)
                except NeedsKeras:
                    pass
                except FormatError as err:
                    raise FormatError(f"{path}: {err}") from err
    return diagram_from_keras(_load_model(path))


def _load_model(path: str) -> Any:
    """Load a saved model with netform's loader (any format), falling back to Keras's."""
    try:
        from ..saving import load
    except ImportError:  # pragma: no cover - saving is part of netform; kept for partial installs
        import keras

        return keras.models.load_model(path)
    return load(path)


def to_dot_source(
    obj: Any,
    *,
    direction: str = "TB",
    expand_nested: bool = True,
    show_shapes: bool = True,
    show_params: bool = True,
    collapse_depth: int | None = None,
    details: bool = False,
) -> str:
    """DOT source of the diagram of ``obj`` (see :func:`render` for the arguments)."""
    _check_direction(direction)
    diagram = diagram_of(obj, expand_nested=expand_nested, collapse_depth=collapse_depth)
    from ._dot import DotOptions, to_dot

    return to_dot(diagram, DotOptions(direction, show_shapes, show_params, details=details))


def _check_direction(direction: str) -> None:
    if direction not in _DIRECTIONS:
        raise RenderError(f"direction must be one of {', '.join(_DIRECTIONS)}; received direction={direction!r}")


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is None:
        suffix = path.suffix.lower().lstrip(".")
        fmt = {"gv": "dot", "htm": "html"}.get(suffix, suffix)
        if fmt not in FORMATS:
            raise RenderError(
                f"{path}: cannot tell the diagram format from the extension '{path.suffix}'; "
                f"use .svg, .png, .pdf, .html or .dot, or pass format= (one of {', '.join(FORMATS)})"
            )
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise RenderError(f"unknown diagram format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def render(
    obj: Any,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    direction: str = "TB",
    expand_nested: bool = True,
    show_shapes: bool = True,
    show_params: bool = True,
    collapse_depth: int | None = None,
    details: bool = False,
    timeout: float | None = None,
) -> Path:
    """Draw a spec, a Keras model or a saved model file as a diagram.

    One box per layer (name, type, output shape, parameters), inputs and
    outputs marked, shapes on the edges where they change or merge, blocks and
    nested models as labelled clusters (or, past ``collapse_depth``, as one box
    showing the block's parameters and parameter count), shared layers drawn
    once with every use connected, a colour per layer family and a legend of
    what the diagram uses.

    ``.html`` writes one self-contained interactive page (the SVG inline, no
    network): pan and zoom, search by node name, blocks that collapse and
    expand on click, and a panel with a node's configuration, shape and
    parameters.

    Args:
        obj: A ModelSpec, a spec path or YAML text (no TensorFlow is imported),
            a ``keras.Model`` (Sequential, Functional or subclassed), or a saved
            model file in any format :func:`netform.load` reads.
        path: The output file.
        format: ``"svg"``, ``"png"``, ``"pdf"``, ``"html"`` or ``"dot"``; default from the extension.
        direction: Layout direction: ``"TB"``, ``"LR"``, ``"BT"`` or ``"RL"``.
        expand_nested: Clusters for blocks and nested models (True), or one box
            each with ``repeat: N`` shown as ×N (False).
        show_shapes: Show output shapes.
        show_params: Show parameter counts.
        collapse_depth: Blocks nested deeper than this many levels are drawn as
            one box (0: every top-level block; None: none).
        details: Add each layer's key attributes (kernel size, strides,
            activation, units, …) to its box.
        timeout: Seconds graphviz's ``dot`` may take to lay out an svg, png,
            pdf or html diagram (None: 60); past it ``dot`` is stopped and
            nothing is written. ``dot`` runs in a process of its own, its CPU
            time capped as well. A graph with many edges is drawn with
            straight, unlabelled edges and bounded layout passes; one too
            large to lay out in seconds is refused before ``dot`` runs.

    Returns:
        The path written.

    Raises:
        RenderError: Unknown format or direction, a negative ``collapse_depth``,
            a missing ``dot`` program for svg/png/pdf/html (with the install
            command), graphviz failing or running past ``timeout``, or a
            diagram too large to lay out (the message suggests a ``.dot``
            file, which needs no layout, or collapsing blocks).
        SpecError: The spec is invalid.

    Example::

        render("models/mlp.yaml", "mlp.svg", direction="LR")
    """
    out = Path(path)
    fmt = _format_of(out, format)
    timeout = check_timeout(timeout)
    if fmt == "html":
        from ._dot import DotOptions
        from ._html import write_html

        _check_direction(direction)
        full = diagram_of(obj, collapse_depth=None)
        write_html(
            full,
            out,
            DotOptions(direction, show_shapes, show_params, details=details),
            collapse_depth=_collapse_depth(expand_nested, collapse_depth),
            timeout=timeout,
        )
        return out
    _check_direction(direction)
    diagram = diagram_of(obj, expand_nested=expand_nested, collapse_depth=collapse_depth)
    from ._dot import DotOptions, check_layout_size, to_dot

    if fmt != "dot":
        check_layout_size(diagram)
    source = to_dot(diagram, DotOptions(direction, show_shapes, show_params, details=details))
    if fmt == "dot":
        try:
            write_atomic(out, source.encode("utf-8"))
        except OSError as err:
            raise RenderError(f"cannot write the diagram to {out}: {err.strerror or err}") from err
    else:
        run_dot(source, fmt, out, timeout)
    return out


class _RenderModule(types.ModuleType):
    """This package, callable as :func:`render`.

    ``netform.render`` is both this package and the function ``nf.render``:
    Python makes the package an attribute of ``netform`` whenever it is
    imported (``import netform.render``), hiding the function, so the package
    itself calls through to it.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        return render(*args, **kwargs)


sys.modules[__name__].__class__ = _RenderModule
