"""An op's operand given by name as a YAML list is a constant array, as in ``in``.

``{op: add, in: x, x2: [1, 2, 3]}`` validated (its static shape broadcasts) and then failed at build: Keras's ops
infer no dtype from a Python list ("Invalid dtype: list").
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

import netform as nf
from netform.spec import load_spec

SPEC = """\
netform: 1
name: f
kind: functional
inputs:
  i: {shape: [3], dtype: %s}
nodes:
  o: %s
outputs: [o]
"""

X = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], "float32")
C = np.array([[True, False, True], [False, False, True]])


@pytest.mark.parametrize(
    ("dtype", "node", "data", "expected"),
    [
        ("float32", "{op: add, in: i, x2: [1, 2, 3]}", X, X + [1, 2, 3]),
        ("float32", "{op: multiply, in: i, x2: [[10.0, 20.0, 30.0]]}", X, X * [[10.0, 20.0, 30.0]]),
        ("bool", "{op: where, in: i, x1: [7.0, 8.0, 9.0], x2: 0.0}", C, np.where(C, [7.0, 8.0, 9.0], 0.0)),
    ],
)
def test_a_list_operand_given_by_name_builds_and_computes(
    tmp_path: Path, dtype: str, node: str, data: np.ndarray, expected: np.ndarray
) -> None:
    model = nf.build(load_spec(SPEC % (dtype, node)))
    np.testing.assert_allclose(np.asarray(model.predict(data, verbose=0)), expected, rtol=1e-6)
    nf.save(model, tmp_path / "m.keras")
    again = nf.load(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(again.predict(data, verbose=0)), expected, rtol=1e-6)
