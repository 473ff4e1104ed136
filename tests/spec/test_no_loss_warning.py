"""A training section without a loss is warned of at validate: ``train`` failed only after TensorFlow started
("No loss to compute") on a model without regularization losses."""

from __future__ import annotations

import pytest

from netform.cli._main import main

SPEC = """\
netform: 1
name: tb
kind: sequential
inputs: {image: {shape: [8, 8, 1]}}
layers:
  - {type: Flatten}
  - {type: Dense, units: 10, activation: softmax}
training:
  epochs: 1
LOSS"""


def test_no_loss_is_warned_of(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("LOSS", ""))
    assert main(["validate", str(spec)]) == 0
    assert "there is no loss" in capsys.readouterr().err
    spec.write_text(SPEC.replace("LOSS", "  loss: sparse_categorical_crossentropy\n"))
    assert main(["validate", str(spec)]) == 0
    assert "no loss" not in capsys.readouterr().err
