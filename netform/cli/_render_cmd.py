"""``netform render``: draw a spec, a saved model or YAML as SVG, PNG, PDF or DOT."""

from __future__ import annotations

import argparse

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
    print(f"wrote {out}")
    return 0
