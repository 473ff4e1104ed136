"""Inputs for the corpus models: deterministic random batches."""

from __future__ import annotations

import numpy as np


def floats(*shape: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """A float32 batch of the given shape (batch dimension included)."""
    return np.random.default_rng(0).uniform(low, high, shape).astype("float32")


def ints(*shape: int, high: int) -> np.ndarray:
    """An int32 batch of token ids in [0, high)."""
    return np.random.default_rng(1).integers(0, high, shape).astype("int32")
