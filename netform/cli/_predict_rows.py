"""Whether a model gives one prediction row per input sample, checked before ``netform predict`` writes any.

The writer compares each batch's rows with its samples (:mod:`netform.cli._npy_stream`); a model that moves
the batch axis (``transpose`` with ``axes: [1, 0, 2]``) or reduces over it (``moments`` over axis 0) can give
as many rows as samples while no row is a sample's prediction. So a batch (``k`` samples, ``k`` the batch
size, 32 at most when none is given: the first batch whose samples are not all alike, as predict batches the
data, else the first) is predicted first, and when its rows are its samples:

* an output whose first axis has a fixed size while every input's first axis is the batch (``None``) does
  not keep the batch axis, and is refused;
* the same batch is predicted again with its samples reordered, one of them left out and another given
  twice; each row must follow its sample (row ``i`` of the second is row ``q[i]`` of the first, within a
  float tolerance). A model whose rows move, or depend on the other samples of their batch, fails it;
* a few of the batch's samples (4 at most: the first, the last, and those with the largest and the smallest
  sum of their values, so a batch extreme is among them) are predicted each alone, as a batch of one, and
  each row must be its sample's row of the first batch (within the same tolerance). A model whose rows are a
  statistic of their batch that the reordered batch keeps (``x * 0 + max(x, axis=0)`` when the maximum is
  given twice) fails it. When the inputs have a fixed batch size, each sample is given as a batch of that
  many copies of itself instead, its first row compared.

When a mismatch is seen the first batch is predicted once more: a model whose predictions change between two
runs of the same batch (randomness at inference) is not judged.

A model with a stateful layer is not probed (the probe would change the state its data is predicted from):
only its output shapes are checked. A batch of one sample is its own row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from ._npy_stream import _CAUSE, split_outputs

__all__ = ["alone_indices", "check_rows_per_sample", "probe_indices"]

#: Keras's batch size for predict when none is given: the probe's batch at most.
_PROBE_BATCH = 32


def probe_indices(k: int) -> list[int]:
    """The samples, by index into the first ``k``, that make the probe batch (``k`` of them, ``k >= 2``).

    A rotation of all but the last, whose place takes sample 0 again: every row but one moves, one sample is
    left out and one is given twice, so neither a model that moves rows (a reversal or rotation of the batch
    axis included) nor one whose rows depend on their batch's other samples passes unless the samples are alike.
    """
    if k == 2:
        return [1, 1]
    return [k - 2, *range(k - 2), 0]


#: How many samples of the first batch are predicted each alone.
_ALONE = 4


def _scores(batch: Any) -> np.ndarray | None:
    """Each sample's sum of its numeric values (non-finite ones as 0), over every input; ``None``: no number."""
    total = None
    for v in batch if isinstance(batch, list) else [batch]:
        a = np.asarray(v)
        if a.ndim == 0 or a.dtype.kind not in "biuf" or not len(a):
            continue  # text and other inputs: no order to find an extreme in
        flat = np.nan_to_num(a.reshape(len(a), -1).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        s = flat.sum(axis=1)
        total = s if total is None else total + s
    return total


def alone_indices(k: int, scores: np.ndarray | None) -> list[int]:
    """The samples, by index into the first ``k`` (``k >= 2``), predicted each alone: 4 at most, no repeat.

    The last (the one the reordered batch leaves out), the largest and the smallest by ``scores`` (a batch
    extreme: a statistic over the batch axis, its maximum, minimum or sort, is its own row only where a
    sample is that extreme), the first; others in order while fewer than 4 differ.
    """
    picked: list[int] = [k - 1]
    if scores is not None and len(scores) == k:
        picked += [int(np.argmax(scores)), int(np.argmin(scores))]
    picked += [0, *range(1, k - 1)]
    out: list[int] = []
    for i in picked:
        if i not in out:
            out.append(i)
        if len(out) == min(_ALONE, k):
            break
    return out


def _fixed_batch(model: Any) -> bool:
    """Whether an input's first axis has a fixed size (the model is predicted in batches of that size only)."""
    try:
        return any(len(t.shape) == 0 or t.shape[0] is not None for t in list(getattr(model, "inputs", None) or []))
    except (TypeError, ValueError, AttributeError):
        return True  # shapes not readable: keep the probe's batch size


def _walk(layer: Any, seen: set[int]) -> Any:
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield layer
    for sub in getattr(layer, "layers", None) or ():
        yield from _walk(sub, seen)


def _stateful(model: Any) -> bool:
    """Whether a layer keeps state from batch to batch (a probe would change the predictions that follow)."""
    return any(getattr(layer, "stateful", False) is True for layer in _walk(model, set()))


def _static_problem(model: Any, names: Sequence[str], chosen: Sequence[str]) -> tuple[str, str] | None:
    """``(output, shape)`` of a chosen output whose first axis has a fixed size while the inputs' is the batch."""
    inputs = list(getattr(model, "inputs", None) or [])
    outputs = list(getattr(model, "outputs", None) or [])
    if not inputs or len(outputs) != len(names):
        return None
    try:
        if any(len(t.shape) == 0 or t.shape[0] is not None for t in inputs):
            return None  # a fixed batch size: the outputs may keep it
        shapes = {n: tuple(t.shape) for n, t in zip(names, outputs)}
    except (TypeError, ValueError, AttributeError):
        return None
    for name in chosen:
        shape = shapes.get(name)
        if shape is not None and (len(shape) == 0 or shape[0] is not None):
            return name, "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
                "," if len(shape) == 1 else ""
            ) + ")"
    return None


def _refuse_static(model: Any, names: Sequence[str], chosen: Sequence[str], path: str) -> None:
    static = _static_problem(model, names, chosen)
    if static is not None:
        name, shape = static
        raise DataError(
            f"{path}: the model's output {name!r:.80} has the shape {shape}, whose first axis is not the batch "
            f"(its size is fixed, while the inputs' first axis is the batch, None), so it gives no prediction "
            f"per sample: {_CAUSE}; nothing was written."
        )


def _close(a: np.ndarray, b: np.ndarray, scale: np.ndarray | None = None) -> bool:
    """Whether ``a`` is ``b`` within the probe's tolerance; the absolute part scales with ``scale`` (``a``)."""
    if a.shape != b.shape:
        return False
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    rtol = 1e-2 if a.dtype.itemsize <= 2 else 1e-4
    ref = a if scale is None else scale
    finite = np.abs(ref[np.isfinite(ref)])
    atol = rtol * max(1.0, float(finite.max())) if finite.size else rtol
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _row(a: np.ndarray, i: int) -> np.ndarray:
    """Row ``i`` of ``a``, keeping its axis (``a`` itself when it has none: no row to compare)."""
    return a[i : i + 1] if a.ndim else a


def _take(x: Any, index: Any) -> Any:
    return [v[index] for v in x] if isinstance(x, list) else x[index]


def check_rows_per_sample(
    model: Any,
    x: Any,
    names: Sequence[str],
    chosen: Sequence[str],
    batch_size: int | None,
    path: str,
    to_tensors: Any = lambda v: v,
) -> None:
    """Refuse a model whose chosen outputs do not give one row per input sample, before predicting the data.

    Args:
        model: The loaded model.
        x: Its input arrays (one array, or a list in the model's input order), one sample per row.
        names: The model's output names, in order.
        chosen: The outputs to be written.
        batch_size: ``--batch-size`` (``None``: Keras's 32); the probe's batch is at most this.
        path: The predictions file, for messages.
        to_tensors: How input arrays are given to the model (text columns as string tensors).

    Raises:
        DataError: An output keeps no batch axis (its static shape), or its rows do not follow their samples.
    """
    first = x[0] if isinstance(x, list) else x
    full = min(len(first), batch_size or _PROBE_BATCH)  # the size of the data's batches, all but the last
    if full < 2:
        return  # one sample a batch: its rows are its own
    if _stateful(model):
        _refuse_static(model, names, chosen, path)  # a probe would change the state the data is predicted from
        return
    start = _probe_start(x, len(first), full)
    k = min(full, len(first) - start)

    def run(inputs: Any, size: int = k) -> dict[str, np.ndarray]:
        out = split_outputs(model.predict(to_tensors(inputs), batch_size=size, verbose=0), names)
        return {n: np.asarray(out[n]) for n in chosen}

    batch = _take(x, slice(start, start + k))
    plain = run(batch)
    if any(a.ndim == 0 or len(a) != k for a in plain.values()):
        return  # other rows than samples: the writer refuses it, naming the counts
    _refuse_static(model, names, chosen, path)
    index = np.asarray(probe_indices(k))
    probed = run(_take(batch, index))
    moved = [n for n in chosen if not _close(probed[n], plain[n][index])]
    alone: tuple[int, str] | None = None
    sized: tuple[int, str] | None = None
    if not moved:
        # One predict call, each of its batches one sample: a batch of one, or with a fixed batch size a
        # batch of k copies of the sample (the probe's size), its first row compared.
        picks = alone_indices(k, _scores(batch))
        fixed = _fixed_batch(model)
        size = k if fixed else 1
        rows = run(_take(batch, np.repeat(picks, size)), size)
        for j, i in enumerate(picks):
            bad = [n for n in chosen if not _close(_row(rows[n], j * size), plain[n][i : i + 1], plain[n])]
            if bad:
                alone = i, bad[0]
                break
        # The data's last batch may hold fewer samples: a row may depend on its batch's size alone (x * f(n)
        # with f(1) = f(k)); the first samples of the batch are predicted as a batch of that size too.
        last = len(first) % full
        if alone is None and not fixed and 2 <= last < k:
            rows = run(_take(batch, slice(0, last)), last)
            bad = [n for n in chosen if not _close(rows[n], plain[n][:last], plain[n])]
            if bad:
                sized = last, bad[0]
        if alone is None and sized is None:
            return
    again = run(batch)
    if not all(_close(again[n], plain[n]) for n in chosen):
        return  # the same batch predicts differently (randomness at inference): the probe cannot tell
    if sized is not None:
        last, name = sized
        raise DataError(
            f"{path}: the model's output {name!r:.80} gives no prediction per sample: the first {last} samples "
            f"of the batch probed, predicted as a batch of {last} (the size of the data's last batch), have "
            f"other rows than in a batch of {k}, so a row depends on its batch and is not its sample's "
            f"prediction: {_CAUSE}; nothing was written."
        )
    if alone is not None:
        i, name = alone
        of = (
            f"of the first {k}"
            if start == 0
            else f"of the {k} from sample {start} on (the first batch whose samples differ)"
        )
        raise DataError(
            f"{path}: the model's output {name!r:.80} gives no prediction per sample: sample {start + i} {of}, "
            "predicted alone, has another row than in its batch, so a row depends on the other samples "
            f"of its batch and is not its sample's prediction: {_CAUSE}; nothing was written."
        )
    these = (
        f"the first {k} samples"
        if start == 0
        else f"the {k} samples from sample {start} on (the first batch whose samples differ)"
    )
    raise DataError(
        f"{path}: the model's output {moved[0]!r:.80} gives no prediction per sample: predicting {these} "
        "again with their order changed, one left out and one given twice, its rows did not "
        f"follow their samples, so a row is not its sample's prediction: {_CAUSE}; nothing was written."
    )


def _alike(batch: Any) -> bool:
    """Whether every sample of ``batch`` equals its first, in every input (then no probe tells rows apart)."""
    for v in batch if isinstance(batch, list) else [batch]:
        a = np.asarray(v)
        if a.ndim == 0 or len(a) < 2:
            continue
        try:
            if not bool(np.all(a[1:] == a[:1])):
                return False
        except (TypeError, ValueError):
            return False  # values that do not compare: probe them
    return True


def _probe_start(x: Any, n: int, size: int) -> int:
    """Where the batch the probe predicts starts: the first batch of ``size`` (as predict batches the data)
    whose samples are not all alike, or 0.

    In a batch of equal samples a row that is its batch's maximum (or any statistic of it) is its sample's
    own prediction, and a reordered batch is the same batch: a probe of it tells nothing, while a later batch
    of different samples would be mixed. Every batch is predicted before anything is written, so the probe
    may look at any of them.
    """
    for start in range(0, n - 1, size):
        if not _alike(_take(x, slice(start, min(start + size, n)))):
            return start
    return 0
