"""Deep graphs build: the recursion Keras needs is granted for the build only."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys

import pytest

import netform as nf
import netform.builder  # noqa: F401  (imported before the recursion limit is lowered)


@pytest.mark.parametrize("api", ["functional", "sequential"])
def test_deep_chain_builds_under_a_low_recursion_limit(api: str) -> None:
    lines = ["netform: 1", "kind: sequential", "inputs: {x: {shape: [2]}}", "layers:"]
    lines += ["  - {type: Dense, units: 2}"] * 300
    spec = nf.load_spec("\n".join(lines) + "\n")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(350)  # far less than Keras needs for 300 layers
    try:
        model = nf.build(spec, api=api)
        assert sys.getrecursionlimit() == 350
    finally:
        sys.setrecursionlimit(old)
    assert model.count_params() == 300 * 6
