"""netform's own ``type: Bidirectional`` takes a generic recurrent ``KerasLayer`` (``class_name: GRU``, ``RNN``, …).

It refused one with advice that fits no recurrent layer ("use TimeDistributed"), though Keras's Bidirectional
takes any ``keras.layers.RNN``. The static shapes and counts of the wrapped generic layer are Keras's, and the
rules that hold for a native wrapped layer (``go_backwards``, matching flags of the two directions) hold for
a generic one, read from its config.
"""

from __future__ import annotations

from typing import Any

import pytest

import netform as nf
from netform.errors import SpecError


def _spec(node: str, shape: str = "[10, 4]") -> str:
    return f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}}}\nnodes:\n  n: {node}\noutputs: [n]\n"


GRU = "{type: KerasLayer, class_name: GRU, config: {units: 3, return_sequences: true}}"
LSTM = "{type: KerasLayer, class_name: LSTM, config: {units: 5}}"
CASES = [
    (f"{{type: Bidirectional, layer: {GRU}, in: x}}", "[10, 4]"),
    (f"{{type: Bidirectional, layer: {LSTM}, merge_mode: sum, in: x}}", "[10, 4]"),
    (
        f"{{type: Bidirectional, layer: {LSTM}, backward_layer: {{type: KerasLayer, class_name: LSTM, "
        "config: {units: 5, go_backwards: true}}, in: x}",
        "[10, 4]",
    ),
    (
        f"{{type: Bidirectional, layer: {LSTM}, backward_layer: {{type: LSTM, units: 5, go_backwards: true}}, in: x}}",
        "[10, 4]",
    ),
    (
        "{type: Bidirectional, layer: {type: KerasLayer, class_name: SimpleRNN, config: {units: 2, "
        "trainable: false}}, in: x}",
        "[10, 4]",
    ),
    (
        "{type: Bidirectional, layer: {type: KerasLayer, class_name: ConvLSTM1D, config: {filters: 2, "
        "kernel_size: 3}}, in: x}",
        "[5, 8, 3]",
    ),
    (
        "{type: Bidirectional, layer: {type: KerasLayer, class_name: RNN, config: {cell: {module: keras.layers, "
        "class_name: SimpleRNNCell, config: {units: 2}}}}, in: x}",
        "[10, 4]",
    ),
]


def _keras_counts(layer: Any) -> tuple[int, int]:
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
    return trainable, frozen


@pytest.mark.parametrize(("node", "shape"), CASES)
def test_a_generic_recurrent_layer_in_bidirectional_is_counted_as_keras_builds_it(node: str, shape: str) -> None:
    spec = nf.load_spec(_spec(node, shape))
    row = {r.name: r for r in nf.summary(spec).rows}["n"]
    model = nf.build(spec)
    layer = model.get_layer("n")
    if "class_name: RNN" in node:  # a cell inside: no static rule, shown at build time (never a wrong answer)
        assert row.trainable is None
    else:
        assert (row.trainable, row.non_trainable) == _keras_counts(layer)
        assert tuple(row.output_shape) == tuple(model.output_shape)
    assert type(layer).__name__ == "Bidirectional"


def test_sequential_and_subclassed_builds_agree() -> None:
    text = (
        "netform: 1\nkind: sequential\ninputs: {x: {shape: [6, 3]}}\nlayers:\n"
        f"  - {{type: Bidirectional, layer: {GRU}}}\n"
    )
    spec = nf.load_spec(text)
    counts = {api: nf.build(spec, api=api).count_params() for api in ("sequential", "functional", "subclass")}
    assert set(counts.values()) == {nf.summary(spec).total_params}, counts


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ("{type: KerasLayer, class_name: Dense, config: {units: 3}}", "class Dense"),
        ("{type: KerasLayer, class_name: GRU, config: {units: 3, return_sequences: 'yes'}}", "true or false"),
        ("{type: KerasLayer, class_name: GRU, config: {units: 3, go_backwards: true}}", "go_backwards: false"),
        (
            "{type: KerasLayer, class_name: GRU, config: {units: 3, stateful: true, return_state: true}}",
            "stateful: true and return_state: true",
        ),
    ],
)
def test_what_keras_would_refuse_is_a_located_spec_error(layer: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        nf.load_spec(_spec(f"{{type: Bidirectional, layer: {layer}, in: x}}"))
    assert words in str(err.value)
    assert "nodes.n" in str(err.value)


def test_directions_must_agree_on_their_flags() -> None:
    with pytest.raises(SpecError, match="same return_sequences"):
        nf.load_spec(
            _spec(
                f"{{type: Bidirectional, layer: {GRU}, backward_layer: {{type: KerasLayer, class_name: GRU, "
                "config: {units: 3, go_backwards: true}}, in: x}"
            )
        )
