"""`netform predict` writes the predictions of a model whose output is bfloat16.

A spec that validates (a bfloat16 Dense) and plain Keras files saved under ``mixed_bfloat16`` ended in exit 70
("cannot include dtype 'E' in a buffer"): NumPy writes no buffer of ml_dtypes' types, and a ``.npy`` of them
does not read back as numbers. They are written as float32, which holds each bfloat16 value exactly.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli import main

SPEC = ("netform: 1\nname: bf\nkind: sequential\ninputs:\n  x: {shape: [4], dtype: bfloat16}\nlayers:\n"
        "  - {type: Dense, units: 2, dtype: bfloat16}\n")


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_bfloat16_predictions_are_written_as_float32(tmp_path: Path, suffix: str) -> None:
    model = nf.build(nf.load_spec(SPEC))
    nf.save(model, tmp_path / "bf.keras")
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x)
    out = tmp_path / f"p{suffix}"
    assert main(["predict", str(tmp_path / "bf.keras"), "--data", str(tmp_path / "d.npz"), "-o", str(out)]) == 0
    got = np.load(out)
    values = got if suffix == ".npy" else got[got.files[0]]
    expected = np.asarray(model.predict(x.astype(keras.backend.standardize_dtype("bfloat16")), verbose=0))
    assert values.dtype == np.float32 and values.shape == (5, 2)
    np.testing.assert_array_equal(values, expected.astype(np.float32))
