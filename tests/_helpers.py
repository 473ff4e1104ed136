"""Specs and data several test suites share."""

from __future__ import annotations

import numpy as np


def heads_spec(*training: str, classes: int = 3) -> str:
    """The functional spec ``heads``: input ``x`` (4 values) → Dense ``h`` (8, relu) → two outputs.

    ``cls`` is a softmax over ``classes`` and ``reg`` one value; the training section gives each its loss
    (``{cls: sparse_categorical_crossentropy, reg: mse}``), then the lines ``training`` (``"epochs: 1"``, …),
    one per line, so the spec's last line is the last of them.
    """
    lines = [
        "netform: 1",
        "name: heads",
        "kind: functional",
        "inputs:",
        "  x: {shape: [4]}",
        "nodes:",
        "  h: {type: Dense, units: 8, activation: relu, in: x}",
        f"  cls: {{type: Dense, units: {classes}, activation: softmax, in: h}}",
        "  reg: {type: Dense, units: 1, in: h}",
        "outputs: [cls, reg]",
        "training:",
        "  loss: {cls: sparse_categorical_crossentropy, reg: mse}",
        *(f"  {line}" for line in training),
    ]
    return "\n".join(lines) + "\n"


def heads_data(n: int, classes: int = 3) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` samples for :func:`heads_spec`: ``x`` drawn from a fixed seed, class ids for ``cls``, ``reg`` the sum of ``x``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, {"cls": rng.integers(0, classes, n), "reg": x.sum(axis=1, keepdims=True)}
