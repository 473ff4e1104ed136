"""Run graphviz's ``dot`` on DOT source to make SVG, PNG or PDF files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import RenderError

__all__ = ["FORMATS", "find_dot", "run_dot", "layout", "write_atomic"]

FORMATS = ("svg", "png", "pdf", "dot", "html")
_INSTALL = (
    "install graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) "
    "or `conda install graphviz`; or write DOT source with format='dot' (a .dot file), which needs no graphviz"
)
_TIMEOUT_S = 300


def find_dot() -> str:
    """The path of the ``dot`` executable.

    Raises:
        RenderError: ``dot`` is not on ``PATH`` (the message says how to install it).
    """
    path = shutil.which("dot")
    if path is None:
        raise RenderError(f"the graphviz `dot` program was not found on PATH, and SVG, PNG and PDF need it; {_INSTALL}")
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with netform's atomic writer (whole file or none, links never followed)."""
    from .. import _files

    _files.write_bytes(path, data)


def run_dot(source: str, fmt: str, path: Path) -> None:
    """Lay out ``source`` with ``dot`` and write the ``fmt`` image to ``path``.

    Args:
        source: DOT text.
        fmt: ``"svg"``, ``"png"`` or ``"pdf"``.
        path: Where the image goes (written atomically).

    Raises:
        RenderError: ``dot`` is missing, fails, or runs past the time limit.
    """
    data = layout(source, fmt)
    try:
        write_atomic(path, data)
    except OSError as err:
        raise RenderError(f"cannot write the diagram to {path}: {err.strerror or err}") from err


def layout(source: str, fmt: str) -> bytes:
    """The ``fmt`` image (``"svg"``, ``"png"`` or ``"pdf"``) graphviz's ``dot`` makes of ``source``.

    Raises:
        RenderError: ``dot`` is missing, fails, or runs past the time limit.
    """
    exe = find_dot()
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise RenderError(
            f"graphviz `dot` ran for more than {_TIMEOUT_S} s laying out the diagram; "
            "try format='dot', or expand_nested=False to draw blocks as single boxes"
        ) from err
    except OSError as err:
        raise RenderError(f"cannot run graphviz `dot` ({exe}): {err.strerror}; {_INSTALL}") from err
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise RenderError(
            f"graphviz `dot -T{fmt}` failed (exit {proc.returncode}): {detail or 'no output'}; "
            "the DOT source can be written with format='dot' to inspect it"
        )
    return proc.stdout
