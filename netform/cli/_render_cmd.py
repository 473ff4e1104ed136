"""``netform render``: draw a spec, a saved model or YAML as SVG, PNG, PDF or DOT."""

from __future__ import annotations

import argparse
import os

from ..errors import printable
from ._spec_cmds import callbacks_not_run, load_plugins

__all__ = ["cmd_render"]


def cmd_render(args: argparse.Namespace) -> int:
    """Render ``args.source`` to ``args.output``; print the path written.

    Args:
        args: Parsed ``netform render`` arguments: ``source``, ``output``,
            ``format``, ``direction``, ``collapse``, ``collapse_depth``,
            ``details``, ``no_shapes``, ``no_params``, ``timeout`` (seconds
            graphviz may take; None: the default) and ``plugin``.

    Returns:
        0 on success (errors are raised as :class:`~netform.NetformError` and
        turned into exit codes by the CLI's main).
    """
    _refuse_folder(args)
    load_plugins(list(getattr(args, "plugin", None) or []))
    from ..render import render

    with callbacks_not_run():
        out = render(
            args.source,
            args.output,
            format=args.format,
            direction=args.direction,
            expand_nested=not args.collapse,
            show_shapes=not args.no_shapes,
            show_params=not args.no_params,
            collapse_depth=getattr(args, "collapse_depth", None),
            details=bool(getattr(args, "details", False)),
            timeout=getattr(args, "timeout", None),
        )
    print(f"wrote {printable(str(out))}")  # a file name may hold an escape sequence
    return 0


def _refuse_folder(args: argparse.Namespace) -> None:
    """Refuse an ``-o`` that is a folder before anything is drawn, naming a file in it to give instead.

    A diagram is one file, written beside its target and renamed over it: a folder there is never
    replaced, and an ``-o`` that names one (``-o out`` or ``-o out/``) says no file name to write.

    Raises:
        RenderError: ``args.output`` is an existing folder (or a link to one).
    """
    output = args.output
    if not isinstance(output, str) or not os.path.isdir(output):
        return
    from ..errors import RenderError

    ext = getattr(args, "format", None) or "svg"
    source = args.source if isinstance(args.source, str) else ""
    stem = os.path.basename(source.rstrip(os.sep)).split(".")[0]
    stem = stem if stem not in ("", "-") else "model"
    suggestion = os.path.join(output, f"{stem}.{ext}")
    raise RenderError(
        f"-o {output}: is a folder, and a diagram is written to one file (a folder is never replaced); "
        f"give a file name, such as {suggestion} (ending in .svg, .png, .pdf, .html or .dot)"
    )
