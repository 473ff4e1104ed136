"""Shared test set-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


#: Tests of minutes that run in a subprocess of their own: collected first, so that the suite's workers start
#: them early and share the rest of the tests around them (left last, one could run alone at the end).
_FIRST = ("tests/keras_suite/test_keras_suite.py::test_keras_tests_on_the_expected_list_pass_on_netform",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the long subprocess tests of :data:`_FIRST` first; the others keep their order."""
    first = [item for item in items if item.nodeid.startswith(_FIRST)]
    if first:
        rest = [item for item in items if not item.nodeid.startswith(_FIRST)]
        items[:] = first + rest
