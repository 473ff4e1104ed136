"""`netform train` prints the metrics Keras logs, then the telemetry report."""

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
      x: {shape: [6]}
    layers:
      - {type: Dense, units: 8, activation: relu}
      - {type: Dense, units: 3, activation: softmax}
    training:
      optimizer: {type: Adam, learning_rate: 0.01}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
      batch_size: 16
      epochs: 2
    """)


def test_train_prints_telemetry_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tiny.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    np.savez(tmp_path / "data.npz", x=x, y=(x[:, 0] > 0).astype("int64"))
    code = main(["train", str(tmp_path / "tiny.yaml"), "--data", str(tmp_path / "data.npz"), "--verbose", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    final = next(line for line in lines if line.startswith("final: "))
    assert "samples_per_sec" not in final and "step_time" not in final and "checkpoint_time" not in final
    start = lines.index(next(line for line in lines if line.startswith("telemetry: ")))
    assert lines[start].startswith("telemetry: 2 epoch(s), 8 steps, 128 samples")
    report = "\n".join(lines[start:])
    assert "step time (ms, steady state)" in report and "samples/s" in report and "slowest step" in report
