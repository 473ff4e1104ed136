"""Class and sample weights that are finite as Python floats but not as float32 are refused.

``--class-weight '{"0": 1e308, "1": 1e308}'`` passed the finiteness check (1e308 is a finite double), then
Keras cast the weights to float32: "overflow encountered in cast", a final loss of inf, exit 0. A whole
number of hundreds of digits stopped train with an unexpected OverflowError (exit 70). A ``--sample-weight``
column of float64 values over float32's range became inf the same way. Now each is refused as NaN is: a
usage error (exit 2) naming the class and its weight, or a data error (exit 4) naming the sample.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.cli._columns import parse_class_weight

SPEC = (
    "netform: 1\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"
    "  - {type: Dense, units: 2, activation: softmax}\n"
    "training:\n  loss: sparse_categorical_crossentropy\n  epochs: 1\n"
)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cw.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "cls.npz",
        x=rng.normal(size=(32, 4)).astype("float32"),
        y=rng.integers(0, 2, 32),
        w=np.full(32, 1.0),
        big=np.r_[np.ones(5), 1e308, np.ones(26)],
    )
    return tmp_path


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('{"0": 1e308, "1": 1e308}', "class 0 is 1e+308"),
        ('{"0": 1, "1": 3.5e38}', "class 1 is 3.5e+38"),
        ('{"0": 1, "1": ' + "9" * 400 + "}", "class 1 is a whole number of 400 digits"),
        ('{"0": NaN, "1": 1}', "class 0 is NaN"),
    ],
)
def test_a_class_weight_over_float32s_range_is_refused(work: Path, capsys, text: str, shown: str) -> None:
    capsys.readouterr()
    code = main(["train", "cw.yaml", "--data", "cls.npz", "--class-weight", text, "-o", "m.keras"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--class-weight: the weight of {shown};" in err and "3.4028235e+38" in err
    assert not (work / "m.keras").exists()


def test_a_sample_weight_over_float32s_range_is_refused(work: Path, capsys) -> None:
    capsys.readouterr()
    code = main(["train", "cw.yaml", "--data", "cls.npz", "--y", "y", "--x", "x", "--sample-weight", "big"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "--sample-weight big holds 1e+308 at sample 5" in err and "3.4028235e+38" in err


def test_weights_within_float32s_range_are_kept() -> None:
    top = float(np.finfo(np.float32).max)
    assert parse_class_weight('{"0": 0, "1": 3.4028234663852886e38}') == {0: 0.0, 1: top}
    assert parse_class_weight('{"0": 2, "1": 0.5}') == {0: 2.0, 1: 0.5}
    assert parse_class_weight("balanced") == "balanced"
