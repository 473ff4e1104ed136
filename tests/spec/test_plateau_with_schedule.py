"""``ReduceLROnPlateau`` cannot lower a learning rate an optimizer takes from a schedule.

Keras refuses to set such a rate ("its learning rate is not settable"): ``train`` failed the first time the loss
stopped improving, after the epochs trained so far, and a backup of that run failed again at the same point.
"""

from __future__ import annotations

import pytest

import netform as nf

SPEC = """\
netform: 1
name: lr
kind: sequential
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 1}
training:
  optimizer: OPTIMIZER
  loss: mse
  batch_size: 8
  epochs: 3
  callbacks:
    - {type: ReduceLROnPlateau, monitor: loss, patience: 0}
"""
SCHEDULE = "{type: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 10, decay_rate: 0.9}"


@pytest.mark.parametrize(
    "optimizer",
    [f"{{type: Adam, learning_rate: {SCHEDULE}}}",
     f"{{type: LossScaleOptimizer, inner_optimizer: {{type: SGD, learning_rate: {SCHEDULE}}}}}"],
)
def test_a_plateau_callback_beside_a_schedule_is_refused(optimizer: str) -> None:
    with pytest.raises(nf.SpecError, match=r"<string>:14:\d+: .*ReduceLROnPlateau lowers the optimizer's learning "
                                           r"rate, but the optimizer takes it from the schedule ExponentialDecay"):
        nf.load_spec(SPEC.replace("OPTIMIZER", optimizer))


@pytest.mark.parametrize("optimizer", ["adam", "{type: Adam, learning_rate: 0.01}"])
def test_a_plateau_callback_beside_a_number_is_taken(optimizer: str) -> None:
    nf.load_spec(SPEC.replace("OPTIMIZER", optimizer))
    nf.load_spec(SPEC.replace("OPTIMIZER", f"{{type: Adam, learning_rate: {SCHEDULE}}}").replace(
        "    - {type: ReduceLROnPlateau, monitor: loss, patience: 0}\n", "    - {type: TerminateOnNaN}\n"))
