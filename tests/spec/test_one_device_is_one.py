"""``strategy: one_device`` takes one device: a list of two passed validate and trained on the first."""

from __future__ import annotations

import pytest

import netform as nf

SPEC = """\
netform: 1
name: tiny
kind: sequential
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, units: 2}
training:
  loss: mse
  distribution: {strategy: STRATEGY, devices: DEVICES}
"""


@pytest.mark.parametrize("devices", ["['CPU:0', 'GPU:0']", "['CPU:0', 'GPU:0', 'GPU:1']", "[]"])
def test_one_device_refuses_other_than_one(devices: str) -> None:
    with pytest.raises(nf.SpecError, match="one_device trains on one device"):
        nf.load_spec(SPEC.replace("STRATEGY", "one_device").replace("DEVICES", devices))


@pytest.mark.parametrize(("strategy", "devices"), [("one_device", "['CPU:0']"), ("one_device", "null")])
def test_one_device_takes_one(strategy: str, devices: str) -> None:
    nf.load_spec(SPEC.replace("STRATEGY", strategy).replace("DEVICES", devices))
