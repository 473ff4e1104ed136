"""netform's one exception hierarchy.

Every error netform raises on purpose is a :class:`NetformError`. Each class
has a stable ``code`` (for machines and for the CLI's exit status) and a
message that answers three questions: what happened and where, what was
expected, and how to fix it.
"""

from __future__ import annotations

import difflib
import heapq
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = [
    "NetformError",
    "SpecError",
    "Diagnostic",
    "RegistryError",
    "BuildError",
    "EngineError",
    "DataError",
    "FormatError",
    "UnsafeFileError",
    "CorruptFileError",
    "IncompatibleFileError",
    "SaveError",
    "RenderError",
    "did_you_mean",
    "printable",
]


#: names longer than this get no "did you mean" by likeness (only the same name in another case): comparing
#: long names costs time that grows with the product of their lengths
MAX_SUGGESTED_NAME = 64
# the most comparison work one suggestion may spend: the product of the two lengths for each pair compared in
# full, their sum for each pair counted (about 4 ms of CPU where difflib is slowest, names of few letters; far
# more than a misspelling among a few hundred short names needs)
_MAX_WORK = 12_000


def _close_matches(word: str, choices: list[str], n: int, work: list[int]) -> list[str]:
    """``difflib.get_close_matches(word, choices, n, 0.6)`` within the budget ``work[0]`` (spent as it goes).

    The cheap upper bounds of difflib (from the lengths, then the letters) spend at most half the budget;
    the candidates are then compared in full likeliest first, so a budget that runs out leaves only the
    least likely uncompared.
    """
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    bounded: list[tuple[float, str]] = []
    floor = work[0] // 2  # the cheap bounds spend at most half the budget, leaving the rest for full comparisons
    for choice in choices:
        matcher.set_seq1(choice)
        if matcher.real_quick_ratio() >= 0.6:  # (from the lengths alone)
            work[0] -= len(word) + len(choice)  # a count of the letters: about what a full comparison's cell costs
            if work[0] < floor:
                break
            quick = matcher.quick_ratio()
            if quick >= 0.6:
                bounded.append((quick, choice))
    bounded.sort(key=lambda item: -item[0])
    result: list[tuple[float, str]] = []
    for _, choice in bounded:
        work[0] -= len(word) * len(choice)
        if work[0] < 0:
            break
        matcher.set_seq1(choice)
        ratio = matcher.ratio()
        if ratio >= 0.6:
            result.append((ratio, choice))
    return [choice for _, choice in heapq.nlargest(n, result)]


def did_you_mean(name: str, choices: Iterable[str], *, n: int = 3) -> str:
    """Return ``" (Did you mean 'x'?)"`` for the closest match, or ``""``.

    The work is bounded: a name longer than :data:`MAX_SUGGESTED_NAME` is only
    matched against the same name in another case, and the full comparisons
    stop after a fixed amount of work (see :func:`_close_matches`).

    Args:
        name: The unknown name.
        choices: The known names.
        n: The most suggestions to offer.

    Returns:
        A suffix ready to append to an error message.
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return f" (Did you mean '{lowered[name.lower()]}'?)"
    if len(name) > MAX_SUGGESTED_NAME:
        return ""
    work = [_MAX_WORK]
    close = _close_matches(name, choices, n, work)
    if not close:  # in lower case: only the pairs that differ from those just compared
        lower = name.lower()
        others = list(lowered) if lower != name else [c for c in lowered if c != lowered[c]]
        close = [lowered[c] for c in _close_matches(lower, others, n, work)]
    if not close:
        return ""
    if len(close) == 1 or difflib.SequenceMatcher(None, name, close[0]).ratio() >= 0.85:
        return f" (Did you mean '{close[0]}'?)"
    return " (Did you mean one of: " + ", ".join(f"'{c}'" for c in close) + "?)"


def printable(text: str) -> str:
    """``text`` with every character that is not printable (C0 and C1 controls, DEL, line breaks, format
    characters such as bidirectional overrides, lone surrogates) written as its Python escape (``\\x1b``,
    ``\\n``, ``\\u202e``); printable text, letters of every script included, is kept.

    A diagnostic quotes names and values from the spec; written this way they cannot start a new line of
    output or send an escape sequence to the terminal.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class NetformError(Exception):
    """Base class of every error netform raises on purpose.

    Attributes:
        code: A stable, machine-readable code such as ``"NF-SPEC"``.
        exit_code: The exit status the ``netform`` command uses for it.
    """

    code: str = "NF-ERROR"
    exit_code: int = 1

    # Subclasses that are also ValueErrors keep Exception's constructor: AutoGraph
    # re-raises an error raised inside a tf.function with its own type only when
    # the type's __init__ is Exception.__init__ (else a StagingError hides it).
    __init__ = Exception.__init__


#: The most characters of a diagnostic's message (and source): past it, the middle is left out, so that a
#: long value the message quotes (a 500 KB string given 3,000 times through one YAML anchor) stays short.
MAX_MESSAGE = 2_000
#: ... and of one key of its path (a spec's names are at most 1,024 characters; a key may be any text)
_MAX_PATH_PART = 1_024


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec, with its place.

    Attributes:
        message: What is wrong and what was expected (and a hint).
        path: The path in the spec, e.g. ``("nodes", "conv1", "kernel_size")``.
        source: The file name, or ``"<string>"`` for YAML text.
        line: 1-based line, or ``None`` when unknown.
        column: 1-based column, or ``None`` when unknown.
        limit: Whether the problem is a bound on what the model would cost to run (a tensor past the
            per-sample limit, steps Keras writes into the graph), not a fault of its form: a model file is
            refused on such a problem too.
    """

    message: str
    path: tuple[str | int, ...] = ()
    source: str = "<string>"
    line: int | None = None
    column: int | None = None
    limit: bool = False

    def __post_init__(self) -> None:
        # Every diagnostic is printed (validate's text and JSON, SpecError's message): the values it quotes
        # from the spec are escaped once here, so none can forge a line or a terminal escape.
        for name in ("message", "source"):
            value = getattr(self, name)
            if type(value) is not str:
                value = str(value)
            if len(value) > MAX_MESSAGE:  # a quoted value of 500 KB (one YAML anchor used 3,000 times)
                left = len(value) - MAX_MESSAGE + 200
                value = f"{value[: MAX_MESSAGE - 400]} … ({left:,} characters left out) … {value[-200:]}"
            if not value.isprintable():
                value = printable(value)
            object.__setattr__(self, name, value)
        if any(isinstance(part, str) and len(part) > _MAX_PATH_PART for part in self.path):  # a 500 KB key
            cut = tuple(
                f"{part[:_MAX_PATH_PART]}… ({len(part):,} characters)"
                if isinstance(part, str) and len(part) > _MAX_PATH_PART
                else part
                for part in self.path
            )
            object.__setattr__(self, "path", cut)

    @property
    def dotted_path(self) -> str:
        """The spec path written as ``nodes.conv1.kernel_size`` (list items as ``[3]``)."""
        out = ""
        for part in self.path:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += ("." if out else "") + printable(str(part))
        return out

    def __str__(self) -> str:
        place = self.source
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        dotted = self.dotted_path
        return f"{place}: {dotted + ': ' if dotted else ''}{self.message}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, used by ``netform validate --format json``."""
        return {
            "source": self.source,
            "line": self.line,
            "column": self.column,
            "path": self.dotted_path,
            "message": self.message,
        }


class SpecError(NetformError, ValueError):
    """A spec is not valid: YAML syntax, schema, graph or shape problems.

    All problems of one file are gathered in :attr:`diagnostics`; ``str()``
    lists them one per line, compiler style.
    """

    code = "NF-SPEC"
    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic] | str, *, source: str = "<string>") -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics, source=source)]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__(self._render())

    #: the most diagnostics ``str()`` lists; :attr:`diagnostics` keeps them all
    MAX_SHOWN = 100
    #: after this many errors the spec's layers and nodes are no longer checked (:attr:`stopped`)
    ERROR_LIMIT = 10_000
    #: how the diagnostic that ends a stopped check begins
    STOPPED = "checking stopped after"

    @property
    def stopped(self) -> bool:
        """Whether checking stopped at :attr:`ERROR_LIMIT` errors (the last diagnostic says where): more may follow."""
        return bool(self.diagnostics) and self.diagnostics[-1].message.startswith(self.STOPPED)

    def _render(self) -> str:
        total = len(self.diagnostics)
        lines = [str(d) for d in self.diagnostics[: self.MAX_SHOWN]]
        if self.stopped and total > self.MAX_SHOWN:
            lines.append(str(self.diagnostics[-1]))
            total -= 1
        if total > self.MAX_SHOWN:
            lines.append(f"… and {total - self.MAX_SHOWN:,} more errors")
        if total > 1:
            lines.append(f"{'at least ' if self.stopped else ''}{total:,} errors found.")
        return "\n".join(lines)


class RegistryError(SpecError):
    """A name did not resolve in a registry, or a class could not be registered."""

    code = "NF-REGISTRY"


class BuildError(NetformError):
    """A spec could not be turned into a Keras model (or a model into a spec)."""

    code = "NF-BUILD"
    exit_code = 3


class EngineError(NetformError, ValueError):
    """The training engine was used in a way it cannot honour.

    A ``ValueError`` too, as Keras's error in the same situations (``fit``
    before ``compile``, a strategy mismatch).
    """

    code = "NF-ENGINE"
    exit_code = 4


class DataError(EngineError, ValueError):
    """Data given to fit/evaluate/predict does not fit the model."""

    code = "NF-DATA"


class FormatError(NetformError, ValueError):
    """A file is not in a format netform can read, or is corrupt.

    A ``ValueError`` too, as Keras's error in the same situations (a missing,
    unknown or damaged file; a refusal in safe mode).
    """

    code = "NF-FORMAT"
    exit_code = 5


class UnsafeFileError(FormatError):
    """A file asks for something unsafe (code, links, bombs) and safe mode refused it."""

    code = "NF-UNSAFE"
    exit_code = 6


class CorruptFileError(FormatError, OSError):
    """A file cannot be opened as HDF5: damaged, truncated, or a ``.h5`` that is no HDF5 file.

    An ``OSError`` too, as h5py's error when Keras opens such a file, so code
    written for Keras keeps working: ``keras.callbacks.BackupAndRestore``
    catches it to fall back to its previous backup.
    """


class IncompatibleFileError(FormatError, TypeError):
    """A saved object cannot be rebuilt from its config by its class.

    For example a class without ``from_config``, or a ``get_config`` whose
    layers the class does not deserialize. A ``TypeError`` too, as Keras's
    error when it loads the same file.
    """


class SaveError(NetformError, ValueError):
    """A model could not be written; the previous file is left intact.

    A ``ValueError`` too, as Keras's error in the same situation (a path
    whose format cannot be told, an unsupported format for the model).
    """

    code = "NF-SAVE"
    exit_code = 5


class RenderError(NetformError):
    """A diagram could not be rendered."""

    code = "NF-RENDER"
    exit_code = 7
