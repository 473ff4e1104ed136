"""Run graphviz's ``dot`` on DOT source to make SVG, PNG or PDF files."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
from pathlib import Path

from ..errors import RenderError

__all__ = ["FORMATS", "DEFAULT_TIMEOUT_S", "find_dot", "run_dot", "layout", "write_atomic", "check_timeout"]

FORMATS = ("svg", "png", "pdf", "dot", "html")
_INSTALL = (
    "install graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) "
    "or `conda install graphviz`; or write DOT source with format='dot' (a .dot file), which needs no graphviz"
)
# How long ``dot`` may lay a diagram out (wall clock; its CPU time is capped at the same number of seconds).
# A 1,000-node model takes well under a second; a graph that takes minutes is not worth waiting for.
DEFAULT_TIMEOUT_S = 60.0
# The longest layout timeout: a day. Past it the wait and the CPU cap overflow what the OS takes.
MAX_TIMEOUT_S = 86_400.0
_SMALLER = (
    "write DOT source instead (`-o NAME.dot`, format='dot'), which needs no layout, or draw blocks as "
    "single boxes (`--collapse` / `--collapse-depth N`, collapse_depth=N)"
)


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
    from .._files import refuse_inside_savedmodel

    refuse_inside_savedmodel(str(path))  # a diagram never becomes one file of a SavedModel
    _files.write_bytes(path, data)


def check_timeout(timeout: float | None) -> float:
    """``timeout`` as seconds (None: :data:`DEFAULT_TIMEOUT_S`).

    Raises:
        RenderError: ``timeout`` is not a number greater than 0 and at most :data:`MAX_TIMEOUT_S`.
    """
    if timeout is None:
        return DEFAULT_TIMEOUT_S
    # Compared, not converted: NaN fails both comparisons, and an integer of any size compares exactly.
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT_S:
        try:
            shown = repr(timeout)
        except ValueError:  # an integer of more digits than Python writes out
            shown = "an integer of thousands of digits"
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise RenderError(
            f"the layout timeout must be a number of seconds greater than 0 and at most {MAX_TIMEOUT_S:,.0f} "
            f"(a day; default {DEFAULT_TIMEOUT_S:g}); received timeout={shown}"
        )
    return float(timeout)


def run_dot(source: str, fmt: str, path: Path, timeout: float | None = None) -> None:
    """Lay out ``source`` with ``dot`` and write the ``fmt`` image to ``path``.

    Args:
        source: DOT text.
        fmt: ``"svg"``, ``"png"`` or ``"pdf"``.
        path: Where the image goes (written atomically: nothing is written when ``dot`` fails).
        timeout: Seconds ``dot`` may run (None: :data:`DEFAULT_TIMEOUT_S`).

    Raises:
        RenderError: ``dot`` is missing, fails, or runs past the time limit.
    """
    data = layout(source, fmt, timeout)
    try:
        write_atomic(path, data)
    except OSError as err:
        raise RenderError(f"cannot write the diagram to {path}: {err.strerror or err}") from err


def _child_limits(cpu_s: int) -> None:  # pragma: no cover - runs in the child between fork and exec
    """Cap the ``dot`` child's CPU time (the child only: netform's own limits are never changed)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        cpu_s = min(cpu_s, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, hard))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` and its process group (``dot`` runs in a session of its own) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.communicate()


def layout(source: str, fmt: str, timeout: float | None = None) -> bytes:
    """The ``fmt`` image (``"svg"``, ``"png"`` or ``"pdf"``) graphviz's ``dot`` makes of ``source``.

    ``dot`` runs in a process group of its own with its CPU time capped; past
    ``timeout`` seconds of wall-clock time the group is killed, so no layout
    outlives the call.

    Raises:
        RenderError: ``dot`` is missing, fails, or runs past the time limit.
    """
    limit = check_timeout(timeout)
    exe = find_dot()
    posix = os.name == "posix"
    cpu_s = math.ceil(limit) + 1
    try:
        proc = subprocess.Popen(
            [exe, f"-T{fmt}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=posix,
            preexec_fn=(lambda: _child_limits(cpu_s)) if posix else None,  # only setrlimit: safe before exec
        )
    except OSError as err:
        raise RenderError(f"cannot run graphviz `dot` ({exe}): {err.strerror}; {_INSTALL}") from err
    try:
        out, err_out = proc.communicate(source.encode("utf-8"), timeout=limit)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise RenderError(
            f"graphviz `dot` took more than {limit:g} s to lay out the diagram and was stopped; "
            f"{_SMALLER}, or allow more time (`--timeout S`, timeout=S)"
        ) from None
    except BaseException:
        _kill(proc)
        raise
    if posix and proc.returncode == -signal.SIGXCPU:
        raise RenderError(
            f"graphviz `dot` used more than {cpu_s} s of CPU time laying out the diagram and was stopped; "
            f"{_SMALLER}, or allow more time (`--timeout S`, timeout=S)"
        )
    if posix and proc.returncode < 0:  # killed by a signal: graphviz itself crashed on this layout
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise RenderError(
            f"graphviz `dot -T{fmt}` crashed ({name}) laying out the diagram, a fault of graphviz's own with this "
            f"graph (some graphs of long parallel edges crash it); {_SMALLER}"
        )
    if proc.returncode != 0 or not out:
        detail = err_out.decode("utf-8", "replace").strip()[-2000:]
        raise RenderError(
            f"graphviz `dot -T{fmt}` failed (exit {proc.returncode}): {detail or 'no output'}; "
            "the DOT source can be written with format='dot' to inspect it"
        )
    return out
