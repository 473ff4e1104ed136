"""Shared fixtures for the engine tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 8)).astype("float32")
    y = rng.integers(0, 3, size=(90,)).astype("int64")
    return x, y


@pytest.fixture
def images():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, size=(60,)).astype("int64")
    return x, y
