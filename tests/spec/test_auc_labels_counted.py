"""An AUC's four counters are counted, with its labels read from the output when ``num_labels`` is left out.

``AUC(num_thresholds: 100000, multi_label: true)`` on a 2,000-wide output (a 258-byte spec) passed validate and
cost ``train`` 7.9 GB for 8 samples: Keras reads num_labels from the first batch. The written-out count held each
counter to the limit, though AUC keeps four.
"""

from __future__ import annotations

import pytest

import netform as nf

SPEC = """\
netform: 1
name: auc
kind: sequential
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, units: UNITS, activation: sigmoid}
training:
  loss: binary_crossentropy
  metrics: [METRIC]
"""


def _spec(units: int, metric: str) -> str:
    return SPEC.replace("UNITS", str(units)).replace("METRIC", metric)


def test_labels_read_from_the_output_are_counted() -> None:
    with pytest.raises(nf.SpecError, match=r"6,000 labels, read from the first batch\): four counters .* "
                                           r"2,400,000,000 in all"):
        nf.load_spec(_spec(6000, "{type: AUC, num_thresholds: 100000, multi_label: true}"))
    nf.load_spec(_spec(2000, "{type: AUC, multi_label: true}"))
    nf.load_spec(_spec(2000, "{type: AUC, num_thresholds: 100000}"))  # one curve, not one per label


def test_the_four_counters_are_counted_when_labels_are_written() -> None:
    with pytest.raises(nf.SpecError, match=r"AUC keeps four counters of num_thresholds × num_labels values, "
                                           r"4,000,000,000 in all"):
        nf.load_spec(_spec(10000, "{type: AUC, num_thresholds: 100000, multi_label: true, num_labels: 10000}"))
    nf.load_spec(_spec(1000, "{type: AUC, num_thresholds: 1000, multi_label: true, num_labels: 1000}"))
