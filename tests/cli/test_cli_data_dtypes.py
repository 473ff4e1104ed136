"""The CLI's data files hold numbers netform trains on: bool, int, float (complex is refused, as object arrays are)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: tiny
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3}
    training:
      optimizer: sgd
      loss: mse
      epochs: 1
    """)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dtypes")
    (d / "s.yaml").write_text(SPEC)
    assert main(["build", str(d / "s.yaml"), "-o", str(d / "m.keras")]) == 0
    return d


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_predict_refuses_complex_arrays(work: Path, dtype: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Keras would cast complex to float32 with only a logged warning, dropping the imaginary part."""
    np.savez(work / "c.npz", x=np.full((3, 4), 1 + 5j, dtype=dtype))
    capsys.readouterr()
    code = main(["predict", str(work / "m.keras"), "--data", str(work / "c.npz"), "--x", "x",
                 "-o", str(work / "p.npy")])
    err = capsys.readouterr().err
    assert code == 4, err
    assert f"array 'x' holds {dtype} values" in err and "(bool, int, float)" in err
    assert not (work / "p.npy").exists()


def test_train_refuses_complex_labels(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(work / "t.npz", x=np.ones((8, 4), "float32"), y=np.full((8, 3), 2 - 1j))
    capsys.readouterr()
    code = main(["train", str(work / "s.yaml"), "--data", str(work / "t.npz"), "--x", "x", "--y", "y",
                 "-o", str(work / "t.keras")])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "array 'y' holds complex128 values" in err
    assert not (work / "t.keras").exists()


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "float16", "float64"])
def test_predict_takes_real_numbers(work: Path, dtype: str) -> None:
    np.savez(work / "r.npz", x=np.ones((3, 4), dtype=dtype))
    assert main(["predict", str(work / "m.keras"), "--data", str(work / "r.npz"), "--x", "x",
                 "-o", str(work / "r.npy")]) == 0
    assert np.load(work / "r.npy").shape == (3, 3)
