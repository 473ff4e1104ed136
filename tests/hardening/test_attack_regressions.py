"""Regressions from a second, independent run of the attacks on the safety promises.

Each case ended in a raw exception (CLI exit 70) before it was fixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netform
from netform.cli import main
from netform.errors import SpecError

TINY = """\
netform: 1
name: tiny
kind: sequential
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 2}
training:
  optimizer: adam
  loss: mse
  epochs: 1
"""


def test_an_empty_sequential_layers_list_is_a_located_spec_error() -> None:
    text = "netform: 1\nname: e\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers: []\n"
    with pytest.raises(SpecError, match=r"^<string>:6:1: layers: the model has an empty `layers:` list"):
        netform.load_spec(text)


@pytest.mark.parametrize("value", ["0", "-3", "9" * 30, "1e3", "many"])
def test_predict_batch_size_out_of_range_is_a_usage_error(tmp_path: Path, value: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 4), "float32"))
    with pytest.raises(SystemExit) as info:
        main(["predict", str(tmp_path / "m.keras"), "--data", str(tmp_path / "d.npz"), "-o",
              str(tmp_path / "p.npy"), "--batch-size", value])
    assert info.value.code == 2
    assert "expected a whole number from 1 to 2,147,483,647" in capsys.readouterr().err


def test_an_override_with_a_5000_digit_number_is_a_spec_error(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 4), "float32"), y=np.zeros((4, 2), "float32"))
    code = main(["train", str(spec), "--data", str(tmp_path / "d.npz"), "--verbose", "0",
                 "training.epochs=" + "9" * 5000])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "override training.epochs:1:1:" in err and "cannot be read as a YAML int" in err
