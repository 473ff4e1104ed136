"""Which arrays or columns of a data file feed which input, output and weight (``--x``, ``--y``, ``--sample-weight``).

The rule, the same for ``--x`` (inputs) and ``--y`` (outputs):

* ``--x COLUMNS`` names one input's data. ``COLUMNS`` is one name, several
  names joined by commas (``--x f0,f1,f2``), or glob patterns (``--x 'f*'``,
  matched in the order of the file's columns); several columns are joined
  side by side into one array of shape ``(samples, columns)``.
* Repeat it for a model with several inputs: the first ``--x`` feeds the first
  input, and so on; or name the input, ``--x image=px* --x meta=age,height``
  (every ``--x`` named, each input once).
* Without ``--x``, the arrays named after the inputs, else the one named ``x``.

Syntax is checked before anything is read or imported (:func:`parse_choices`);
names of inputs as soon as the spec or model is known (:func:`check_targets`);
columns once the file is read (:func:`select`), each refusal naming the
column and the file.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import DataError, did_you_mean
from ._args import UsageError

if TYPE_CHECKING:
    from ._data_files import DataFile

__all__ = [
    "Choice",
    "parse_choices",
    "check_targets",
    "select",
    "sample_weights",
    "parse_class_weight",
    "class_weights",
]

_GLOB = "*?["
#: The largest float32: Keras weighs the loss in float32, so a greater weight is infinite there.
_FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Choice:
    """One ``--x``/``--y`` value: an optional input or output name, and the columns (names or patterns) it joins."""

    text: str
    target: str | None
    parts: tuple[str, ...]


def parse_choices(values: list[str] | None, option: str) -> list[Choice]:
    """Split ``--x``/``--y`` values into :class:`Choice` s; syntax only, before any file is read.

    Raises:
        UsageError: An empty name, ``NAME=`` without columns, named and unnamed values mixed, or a name twice.
    """
    choices = []
    for text in values or []:
        name, sep, columns = text.partition("=")
        target = name.strip() if sep else None
        parts = tuple(p.strip() for p in (columns if sep else text).split(","))
        if target == "" or not all(parts):
            raise UsageError(
                f"{option} {text}: write a column name, several joined by commas (f0,f1,f2), a glob "
                f"pattern ('f*'), or INPUT=COLUMNS to name the {_role(option)} they feed"
            )
        choices.append(Choice(text, target, parts))
    named = [c for c in choices if c.target is not None]
    if named and len(named) != len(choices):
        raise UsageError(
            f"{option}: name the {_role(option)} of every {option} (NAME=COLUMNS) or of none; "
            f"received {', '.join(c.text for c in choices)}"
        )
    seen = [c.target for c in named]
    twice = next((t for i, t in enumerate(seen) if t in seen[:i]), None)
    if twice is not None:
        raise UsageError(
            f"{option} {twice}=…: the {_role(option)} '{twice}' is given twice; give each one once "
            "(join its columns with commas)"
        )
    return choices


def _role(option: str) -> str:
    return "input" if option == "--x" else "output"


def check_targets(choices: list[Choice], names: list[str], option: str) -> None:
    """Check the ``NAME=`` of each choice, and their number, against the model's input (or output) names.

    Raises:
        UsageError: An unknown name (with a suggestion), an input left without data, or more ``--x`` than inputs.
    """
    role = _role(option)
    if not choices or not names:
        return
    if choices[0].target is None:
        if len(choices) != len(names):
            raise UsageError(
                f"{option} is given {len(choices)} times but the model has {len(names)} {role}(s) "
                f"({', '.join(names)}); give one {option} per {role}, in this order, or name them: "
                f"{option} {names[0]}=COLUMNS"
            )
        return
    for choice in choices:
        if choice.target not in names:
            raise UsageError(
                f"{option} {choice.text}: the model has no {role} '{choice.target}'"
                f"{did_you_mean(str(choice.target), names)}; its {role}s: {', '.join(names)}"
            )
    missing = [n for n in names if n not in {c.target for c in choices}]
    if missing:
        raise UsageError(f"{option}: no data for the {role} '{missing[0]}'; add {option} {missing[0]}=COLUMNS")


def _columns(data: DataFile, choice: Choice, option: str) -> list[str]:
    """The columns a choice names, in order: names as written, each pattern's matches in file order."""
    out: list[str] = []
    seen: set[str] = set()  # (a set: `--x 'c*,c*'` over 80,000 columns was quadratic, 30 s)
    for part in choice.parts:
        if any(ch in part for ch in _GLOB):
            matched = [name for name in data if fnmatch.fnmatchcase(name, part)]
            if not matched:
                raise DataError(
                    f"{data.path}: {option} {choice.text}: the pattern {part!r} matches no column or "
                    f"array; it has: {_listing(data)}"
                )
            fresh = [name for name in matched if name not in seen]
            out += fresh
            seen.update(fresh)
        elif part not in data:
            raise DataError(
                f"{data.path}: no array or column named {part!r} for the {option[2:]}"
                f"{did_you_mean(part, list(data))}; it has: {_listing(data)} "
                f"(choose with {option} NAME)"
            )
        elif part not in seen:
            out.append(part)
            seen.add(part)
    return out


def _listing(data: DataFile, most: int = 20) -> str:
    names = list(data)
    more = f", … ({len(names) - most} more)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def select(
    data: DataFile,
    choices: list[Choice],
    names: list[str],
    option: str,
    inputs: dict[str, tuple[str, tuple[Any, ...] | None]] | None = None,
) -> Any:
    """The array (one input or output) or list of arrays (several, in model order) that ``choices`` name.

    Args:
        data: The data file's arrays.
        choices: Parsed ``--x`` or ``--y`` values; empty for the defaults.
        names: The model's input (or output) names, in order; may be empty.
        option: ``"--x"`` or ``"--y"``.
        inputs: For ``--x``: ``{input: (dtype, shape without batch)}``; a
            ``string`` input takes text columns (as ``str`` objects, shape
            ``(samples, 1)`` for an input of shape ``[1]``), every other one
            numbers.

    Raises:
        DataError: A missing column, a pattern that matches nothing, a
            column of text for numbers (or of numbers for text), columns that
            cannot be joined — each naming the column and the file.
    """
    if not choices:
        default = names if names and all(n in data for n in names) else [option[2:]]
        choices = [Choice(n, None, (n,)) for n in default]
    if choices[0].target is not None:
        order = {n: i for i, n in enumerate(names)}
        choices = sorted(choices, key=lambda c: order.get(str(c.target), len(order)))
    arrays = []
    for i, choice in enumerate(choices):
        target = choice.target or (names[i] if i < len(names) else None)
        dtype, shape = (inputs or {}).get(str(target), ("float32", None))
        arrays.append(_array(data, choice, option, str(target or option[2:]), dtype, shape))
    return arrays[0] if len(arrays) == 1 else arrays


def _array(data: DataFile, choice: Choice, option: str, target: str, dtype: str, shape: tuple[Any, ...] | None) -> Any:
    import numpy as np

    columns = _columns(data, choice, option)
    role = "input" if option == "--x" else "output"
    if dtype == "string":
        numeric = [c for c in columns if c not in data.text_at]
        if numeric and data.path.lower().endswith(".csv"):  # categories written as numbers: their text, as written
            from ._data_files import read_text_columns

            texts = read_text_columns(data.path, numeric)
        elif numeric:
            raise DataError(
                f"{data.path}: array {numeric[0]!r} holds numbers ({data[numeric[0]].dtype}), but the "
                f"{role} '{target}' takes strings (dtype: string); save it as strings, or give the "
                "input a numeric dtype"
            )
        else:
            texts = {}
        values = [texts.get(c, data[c]) for c in columns]
    else:
        text = [c for c in columns if c in data.text_at]
        if text:
            if role == "input":
                hint = (
                    f"the input '{target}' takes numbers ({dtype}). A column of categories goes to an input "
                    "with `dtype: string` whose first layer is StringLookup (it maps each string to an index)"
                )
            else:
                hint = f"the targets of '{target}' must be numbers: write the classes as integers 0, 1, …"
            joined = f"; {option} {choice.text} joins columns of numbers" if len(columns) > 1 else ""
            raise DataError(f"{data.not_a_number(text[0])}{joined}; {hint}")
        values = [data[c] for c in columns]
    if len(values) == 1:
        value = values[0]
        if dtype == "string" and value.ndim == 1 and shape is not None and len(shape) == 1:
            value = value.reshape(-1, 1)
        return value
    for column, value in zip(columns, values):
        if value.ndim > 2 or len(value) != len(values[0]):
            raise DataError(
                f"{data.path}: {option} {choice.text}: {column!r} has shape {value.shape}; columns "
                f"joined into one array need one value (or one row of values) per sample, "
                f"{len(values[0])} samples"
            )
    return np.concatenate([v.reshape(len(v), -1) for v in values], axis=1)


def sample_weights(data: DataFile, name: str) -> Any:
    """The ``--sample-weight`` column: one number per sample, as a 1-D float32 array.

    Raises:
        DataError: No such column, a column of text, or more than one value per sample.
    """
    import numpy as np

    if name not in data:
        raise DataError(
            f"{data.path}: no array or column named {name!r} for --sample-weight"
            f"{did_you_mean(name, list(data))}; it has: {_listing(data)}"
        )
    if name in data.text_at:
        raise DataError(f"{data.not_a_number(name)}; --sample-weight {name} must hold one number per sample")
    weights = np.asarray(data[name])
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.ndim != 1:
        raise DataError(
            f"{data.path}: --sample-weight {name} has shape {weights.shape}; it must hold one number "
            "per sample (shape (samples,))"
        )
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0) | (np.abs(weights) > _FLOAT32_MAX))
    if len(bad):
        raise DataError(
            f"{data.path}: --sample-weight {name} holds {weights[bad[0]]} at sample {bad[0]}; weights "
            f"must be finite numbers, 0 or more, and at most {_FLOAT32_MAX:.8g} (the largest float32, as Keras "
            "weighs the loss)"
        )
    return weights.astype("float32")


def check_rows(path: str, x: Any, y: Any, weights: Any, option: str | None) -> None:
    """Refuse inputs, targets and ``--sample-weight`` that do not hold one row each per sample, before TensorFlow.

    Raises:
        DataError: Naming each part's row count.
    """
    import numpy as np

    parts: list[tuple[str, Any]] = []
    for what, value in (("--x", x), ("--y", y)):
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and np.ndim(item) > 0:
                parts.append((what, item))
    if weights is not None:
        parts.append((f"--sample-weight {option}", weights))
    counts = {what: len(item) for what, item in parts}
    rows = {len(item) for _, item in parts}
    if len(rows) > 1:
        listed = ", ".join(f"{what} {count:,}" for what, count in counts.items())
        raise DataError(
            f"{path}: the columns given do not hold one row each per sample ({listed} rows); give arrays of "
            "as many rows as there are samples"
        )


def parse_class_weight(text: str | None) -> str | dict[int, float] | None:
    """``balanced``, or the JSON object of ``--class-weight`` as ``{class: weight}``; checked before any import.

    Raises:
        UsageError: Not ``balanced`` nor a JSON object of class indices (``"0"``, ``"1"``, …) to numbers 0 or more.
    """
    if text is None or text == "balanced":
        return text
    how = 'give `balanced`, or a JSON object of class index to weight, e.g. \'{"0": 1.0, "1": 3.0}\''
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"--class-weight {text[:80]}: not valid JSON ({err.msg} at column {err.colno}); {how}"
        ) from None
    if not isinstance(value, dict) or not value:
        raise UsageError(f"--class-weight {text[:80]}: expected a JSON object with one entry per class; {how}")
    out: dict[int, float] = {}
    for key, weight in value.items():
        if not (key.isascii() and key.isdigit()) or len(key) > 10:
            raise UsageError(
                f"--class-weight: {key!r} is not a class index; classes are 0, 1, 2, … as in the labels; {how}"
            )
        # Compared, not converted: an integer of hundreds of digits is no float; NaN fails every comparison.
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= _FLOAT32_MAX:
            shown = json.dumps(weight)
            if len(shown) > 40 and isinstance(weight, int) and not isinstance(weight, bool):
                shown = f"a whole number of {len(shown.lstrip('-'))} digits"
            raise UsageError(
                f"--class-weight: the weight of class {key} is {shown[:40]}; a weight is a finite number, 0 or "
                f"more, and at most {_FLOAT32_MAX:.8g} (the largest float32, as Keras weighs the loss)"
            )
        out[int(key)] = float(weight)
    return out


def class_weights(spec: str | dict[int, float], y: Any, where: str) -> dict[int, float]:
    """The ``class_weight`` dictionary for ``fit`` from ``--class-weight`` and the training targets.

    ``balanced`` is scikit-learn's ``n_samples / (n_classes * bincount(y))``
    over the classes present; one-hot targets count by ``argmax``, as Keras
    reads them.

    Raises:
        UsageError: Several outputs (Keras weights classes of one), targets
            that are not class labels, or a class the targets do not have.
    """
    import numpy as np

    if isinstance(y, list):
        raise UsageError(
            f"--class-weight: the model has {len(y)} outputs; class weights apply to a model with one "
            "output, as in Keras (use --sample-weight for several)"
        )
    y = np.asarray(y)
    one_hot = y.ndim > 1 and y.shape[-1] > 1
    if one_hot:
        labels = np.argmax(y.reshape(len(y), -1), axis=-1)
        classes = list(range(y.shape[-1]))
    else:
        flat = y.reshape(len(y)).astype("float64") if y.ndim <= 1 or y.size == len(y) else None
        if flat is None or not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat)) or np.any(flat < 0):
            raise UsageError(
                f"--class-weight: the targets in {where} are not class labels (integers 0, 1, … or "
                "one-hot rows); class weights need classes"
            )
        labels = flat.astype("int64")
        classes = [int(c) for c in np.unique(labels)]
    if spec == "balanced":
        counts = np.bincount(labels)
        present = [c for c in classes if c < len(counts) and counts[c]]
        return {c: float(len(labels) / (len(present) * counts[c])) for c in present}
    assert isinstance(spec, dict)
    unknown = sorted(set(spec) - set(classes))
    if unknown:
        listing = ", ".join(str(c) for c in classes[:20]) + (", …" if len(classes) > 20 else "")
        raise UsageError(
            f"--class-weight: class {unknown[0]} is not among the classes of the targets in {where} "
            f"({listing}); weight those classes"
        )
    return dict(spec)
