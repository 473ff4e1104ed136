"""Shared layers must fit their new inputs, and tensors given to `call:` must fit the layer, at validate."""

from __future__ import annotations


import pytest

from netform.errors import SpecError
from netform.spec import load_spec


def _spec(inputs: str, nodes: str, outputs: str = "[a, b]") -> str:
    body = "".join(f"  {line}\n" for line in nodes.splitlines() if line)
    return f"netform: 1\nkind: functional\ninputs: {inputs}\nnodes:\n{body}outputs: {outputs}\n"


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(text, source="m.yaml")
    return str(info.value)


# --- a shared layer's weights must fit the shared use's input -------------------------------------

SHARED_MISFITS = {
    "lstm": ("{x: {shape: [5, 3]}, y: {shape: [5, 6]}}", "a: {type: LSTM, units: 2, in: x}"),
    "prelu": ("{x: {shape: [3]}, y: {shape: [5]}}", "a: {type: PReLU, in: x}"),
    "prelu_same_count": ("{x: {shape: [2, 3]}, y: {shape: [3, 2]}}", "a: {type: PReLU, in: x}"),
    "prelu_rank": ("{x: {shape: [3]}, y: {shape: [4, 3]}}", "a: {type: PReLU, in: x}"),
    "layer_norm": ("{x: {shape: [3]}, y: {shape: [5]}}", "a: {type: LayerNormalization, in: x}"),
    "batch_norm": ("{x: {shape: [3]}, y: {shape: [5]}}", "a: {type: BatchNormalization, in: x}"),
    "batch_norm_rank": ("{x: {shape: [3]}, y: {shape: [4, 3]}}", "a: {type: BatchNormalization, in: x}"),
    "dense": ("{x: {shape: [8]}, y: {shape: [4]}}", "a: {type: Dense, units: 8, in: x}"),
    "conv2d": (
        "{x: {shape: [8, 8, 3]}, y: {shape: [8, 8, 5]}}",
        "a: {type: Conv2D, filters: 2, kernel_size: 3, in: x}",
    ),
    "bidirectional": (
        "{x: {shape: [4, 3]}, y: {shape: [4, 5]}}",
        "a: {type: Bidirectional, layer: {type: LSTM, units: 2}, in: x}",
    ),
}


@pytest.mark.parametrize("case", sorted(SHARED_MISFITS))
def test_shared_layer_misfit_is_refused(case: str) -> None:
    inputs, owner = SHARED_MISFITS[case]
    msg = _error(_spec(inputs, f"{owner}\nb: {{shares: a, in: y}}\n"))
    assert "m.yaml:" in msg and "nodes.b" in msg
    assert "'b' shares the layer of 'a'" in msg
    assert "give 'b' inputs" in msg


def test_shared_misfit_names_both_shapes() -> None:
    msg = _error(
        _spec("{x: {shape: [5, 3]}, y: {shape: [5, 6]}}", "a: {type: LSTM, units: 2, in: x}\nb: {shares: a, in: y}\n")
    )
    assert "(None, 5, 3)" in msg and "(None, 5, 6)" in msg


@pytest.mark.parametrize(
    "case",
    ["mha_rank", "mha_swapped"],
)
def test_shared_attention_misfit_is_refused(case: str) -> None:
    if case == "mha_rank":
        inputs = "{x: {shape: [4, 3]}, y: {shape: [2, 4, 3]}}"
        nodes = "a: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [x, x]}\nb: {shares: a, in: [y, y]}\n"
    else:
        inputs = "{x: {shape: [4, 3]}, y: {shape: [4, 5]}}"
        nodes = "a: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [x, y]}\nb: {shares: a, in: [y, x]}\n"
    assert "'b' shares the layer of 'a'" in _error(_spec(inputs, nodes))


def test_shared_attention_other_widths_refused() -> None:
    inputs = "{x: {shape: [4, 3]}, y: {shape: [4, 5]}}"
    nodes = "a: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [x, x]}\nb: {shares: a, in: [y, y]}\n"
    assert "'b' shares the layer of 'a'" in _error(_spec(inputs, nodes))


SHARED_FITS = {
    # the same weights on other sizes of axes that hold no weights (Keras builds and runs each of these)
    "lstm_steps": ("{x: {shape: [4, 3]}, y: {shape: [7, 3]}}", "a: {type: LSTM, units: 2, in: x}", "[y]"),
    "bidirectional_steps": (
        "{x: {shape: [4, 3]}, y: {shape: [7, 3]}}",
        "a: {type: Bidirectional, layer: {type: LSTM, units: 2}, in: x}",
        "[y]",
    ),
    "conv2d_spatial": (
        "{x: {shape: [8, 8, 3]}, y: {shape: [6, 9, 3]}}",
        "a: {type: Conv2D, filters: 2, kernel_size: 3, in: x}",
        "[y]",
    ),
    "dense_rank": ("{x: {shape: [3]}, y: {shape: [4, 3]}}", "a: {type: Dense, units: 2, in: x}", "[y]"),
    "layer_norm_rank": ("{x: {shape: [3]}, y: {shape: [4, 3]}}", "a: {type: LayerNormalization, in: x}", "[y]"),
    "mha_lengths": (
        "{x: {shape: [4, 3]}, v: {shape: [6, 5]}, y: {shape: [7, 3]}, w: {shape: [2, 5]}}",
        "a: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [x, v]}",
        "[y, w]",
    ),
}


@pytest.mark.parametrize("case", sorted(SHARED_FITS))
def test_shared_layer_fit_is_accepted(case: str) -> None:
    inputs, owner, ins = SHARED_FITS[case]
    load_spec(_spec(inputs, f"{owner}\nb: {{shares: a, in: {ins}}}\n"))


# --- tensors given to `call:` -------------------------------------------------------------------


def test_initial_state_width_refused() -> None:
    msg = _error(
        _spec(
            "{x: {shape: [5, 3]}, s: {shape: [7]}}",
            "a: {type: Dense, units: 7, in: s}\nb: {type: LSTM, units: 4, in: x, call: {initial_state: [a, a]}}\n",
            "[b]",
        )
    )
    assert "nodes.b.call.initial_state" in msg
    assert "(None, 7)" in msg and "(batch, 4)" in msg


def test_initial_state_count_refused() -> None:
    msg = _error(
        _spec(
            "{x: {shape: [5, 3]}, s: {shape: [4]}}",
            "a: {type: Dense, units: 4, in: s}\nb: {type: LSTM, units: 4, in: x, call: {initial_state: [a]}}\n",
            "[b]",
        )
    )
    assert "nodes.b.call.initial_state" in msg and "LSTM takes 2 initial states" in msg


def test_initial_state_rank_refused() -> None:
    msg = _error(
        _spec(
            "{x: {shape: [5, 3]}, s: {shape: [2, 4]}}",
            "b: {type: LSTM, units: 4, in: x, call: {initial_state: [s, s]}}\n",
            "[b]",
        )
    )
    assert "nodes.b.call.initial_state" in msg


def test_bidirectional_initial_state_count_refused() -> None:
    msg = _error(
        _spec(
            "{x: {shape: [5, 3]}, s: {shape: [4]}}",
            "a: {type: Dense, units: 4, in: s}\n"
            "b: {type: Bidirectional, layer: {type: LSTM, units: 4}, in: x, call: {initial_state: [a, a]}}\n",
            "[b]",
        )
    )
    assert "nodes.b.call.initial_state" in msg and "takes 4 initial states" in msg


@pytest.mark.parametrize(
    ("layer", "states"),
    [
        ("{type: LSTM, units: 4}", "[a, a]"),
        ("{type: GRU, units: 4}", "a"),
        ("{type: GRU, units: 4}", "[a]"),
        ("{type: SimpleRNN, units: 4}", "[a]"),
        ("{type: Bidirectional, layer: {type: LSTM, units: 4}}", "[a, a, a, a]"),
        ("{type: Bidirectional, layer: {type: GRU, units: 4}}", "[a, a]"),
    ],
)
def test_initial_state_fit_accepted(layer: str, states: str) -> None:
    head, rest = layer[:-1], "}"
    node = f"b: {head}, in: x, call: {{initial_state: {states}}}{rest}\n"
    load_spec(_spec("{x: {shape: [5, 3]}, s: {shape: [4]}}", "a: {type: Dense, units: 4, in: s}\n" + node, "[b]"))


def _mha_mask(mask: str, value: str = "[5, 4]") -> str:
    return _spec(
        f"{{x: {{shape: [5, 4]}}, v: {{shape: {value}}}, m: {{shape: {mask}, dtype: bool}}}}",
        "b: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [x, v], call: {attention_mask: m}}\n",
        "[b]",
    )


@pytest.mark.parametrize(("mask", "value"), [("[3, 7]", "[5, 4]"), ("[6, 5]", "[6, 4]")])
def test_attention_mask_shape_refused(mask: str, value: str) -> None:
    msg = _error(_mha_mask(mask, value))
    assert "nodes.b.call.attention_mask" in msg and "MultiHeadAttention" in msg


@pytest.mark.parametrize(
    ("mask", "value"), [("[5, 5]", "[5, 4]"), ("[1, 5]", "[5, 4]"), ("[5, 1]", "[5, 4]"), ("[5, 6]", "[6, 4]")]
)
def test_attention_mask_shape_accepted(mask: str, value: str) -> None:
    load_spec(_mha_mask(mask, value))


# --- a chain of shares through a nested block use ---------------------------------------------------


def test_chained_block_shares_resolve_to_the_first_use() -> None:
    from netform.spec._load import graph_of

    from tests.builder.test_shares_build_run12 import CHAIN

    spec = load_spec(CHAIN)
    graph = graph_of(spec)
    owners = {n.name: n.owner for n in graph.nodes.values()}
    first = [name for name in owners if name.startswith("a.")]
    assert first and all(owners[name] in first for name in owners)
    assert graph.scopes["c"].shares == "a"


def test_shared_block_use_misfit_is_located_at_the_use() -> None:
    msg = _error(
        "netform: 1\nkind: functional\ninputs: {x: {shape: [8]}, y: {shape: [4]}}\nblocks:\n  blk:\n"
        "    nested: true\n    layers: [{type: Dense, units: 8}]\nnodes:\n  a: {block: blk, in: x}\n"
        "  b: {shares: a, in: y}\noutputs: [a, b]\n"
    )
    assert "m.yaml:10:3: nodes.b: node 'b.dense' shares the layer of 'a.dense'" in msg
