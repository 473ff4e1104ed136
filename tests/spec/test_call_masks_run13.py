"""Tensors given to `call:` are checked at validate as Keras uses them: the masks and key of
MultiHeadAttention and GroupQueryAttention, and the initial states of the ConvLSTM layers.

What Keras refuses (at build, or at the first batch it runs) validate refuses, naming the node, the
call argument, the shape expected and the shape found; what Keras runs, validate accepts. The same
cases against Keras itself are in tests/builder/test_call_masks_build_run13.py.
"""

from __future__ import annotations

import pytest

import netform as nf
from netform.errors import SpecError
from netform.spec import load_spec


def _spec(inputs: str, node: str, outputs: str = "[b]") -> str:
    return f"netform: 1\nkind: functional\ninputs: {inputs}\nnodes:\n  {node}\noutputs: {outputs}\n"


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(text, source="m.yaml")
    return str(info.value)


MHA = "type: MultiHeadAttention, num_heads: 2, key_dim: 2"
GQA = "type: GroupQueryAttention, head_dim: 2, num_query_heads: 2, num_key_value_heads: 1"


def _masked(
    masks: dict[str, str], *, layer: str = MHA, query: str = "[5, 4]", value: str = "[6, 4]", extra: str = ""
) -> str:
    """An attention node over query x and value v, each mask an input of its own (m_<name>)."""
    inputs = ", ".join(f"m_{name}: {{shape: {shape}, dtype: bool}}" for name, shape in masks.items())
    call = ", ".join([*(f"{name}: m_{name}" for name in masks), *([extra] if extra else [])])
    return _spec(
        f"{{x: {{shape: {query}}}, v: {{shape: {value}}}, {inputs}}}", f"b: {{{layer}, in: [x, v], call: {{{call}}}}}"
    )


# --- attention_mask ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask",
    [
        "[5, 6]",
        "[1, 6]",
        "[5, 1]",
        "[1, 1]",
        "[2, 5, 6]",
        "[1, 5, 6]",
        "[1, 1, 6]",
        "[2, 1, 1]",
        "[null, 6]",
        "[5, null]",
    ],
)
@pytest.mark.parametrize("layer", [MHA, GQA])
def test_attention_mask_keras_runs_is_accepted(mask: str, layer: str) -> None:
    load_spec(_masked({"attention_mask": mask}, layer=layer))


def test_attention_mask_of_rank_2_is_refused_with_the_batch_reason() -> None:
    # Keras lines a (batch, S) mask up with the scores' last two axes: its batch axis meets the query steps
    msg = _error(_masked({"attention_mask": "[6]"}))
    assert msg == (
        "m.yaml:5:78: nodes.b.call.attention_mask: MultiHeadAttention's attention_mask must have shape "
        "(batch, 5, 6) or (batch, 2, 5, 6) (batch, [2 heads,] query steps, value steps; a size of 1 broadcasts), "
        "but node 'm_attention_mask' gives (None, 6): its batch axis meets the scores' query steps (5), so Keras "
        "runs it only with batches of 1 or 5"
    )


def test_attention_mask_of_rank_2_widens_one_query_step() -> None:
    # with one query step the batch axis widens the scores' query axis: batches of 1 only
    msg = _error(_masked({"attention_mask": "[6]"}, query="[1, 4]"))
    assert msg.endswith("its batch axis meets the scores' query steps (1), so Keras runs it only with batches of 1")


@pytest.mark.parametrize(
    ("mask", "reason"),
    [
        ("[6, 5]", "its axis 1 (6) meets the scores' query steps (5)"),
        ("[5, 7]", "its axis 2 (7) meets the scores' value steps (6)"),
        ("[3, 5, 6]", "its axis 1 (3) meets the scores' heads (2)"),
        ("[2, 6, 5]", "its axis 2 (6) meets the scores' query steps (5)"),
        ("[1, 1, 5, 6]", "it has 5 axes (batch included), more than the 4 of the attention scores"),
        ("[null, 7]", "its axis 2 (7) meets the scores' value steps (6)"),
    ],
)
@pytest.mark.parametrize("layer", [MHA, GQA])
def test_attention_mask_keras_refuses_is_refused(mask: str, reason: str, layer: str) -> None:
    msg = _error(_masked({"attention_mask": mask}, layer=layer))
    kind = layer.split(",")[0].removeprefix("type: ")
    assert f"nodes.b.call.attention_mask: {kind}'s attention_mask must have shape (batch, 5, 6) or" in msg
    assert msg.endswith(reason)


def test_attention_mask_may_not_widen_a_query_axis_of_one() -> None:
    # Keras's fused kernel broadcasts the scores to the mask and returns 5 query steps where the model
    # declares 1; with dropout or the scores returned, it refuses: either way the model is not the spec's
    msg = _error(_masked({"attention_mask": "[5, 6]"}, query="[1, 4]"))
    assert msg.endswith("its axis 1 (5) would widen the scores' query steps of size 1")


def test_unknown_steps_pass() -> None:
    load_spec(_masked({"attention_mask": "[5, 6]"}, query="[null, 4]", value="[null, 4]"))
    load_spec(_masked({"value_mask": "[7]"}, value="[null, 4]"))


@pytest.mark.parametrize(
    ("axes", "value", "mask", "accepted"),
    [
        ("[1, 2]", "[3, 4, 5]", "[3, 4, 3, 4]", True),
        ("[1, 2]", "[3, 4, 5]", "[2, 3, 4, 3, 4]", True),
        ("[1, 2]", "[3, 4, 5]", "[3, 4]", False),  # Keras adds axes at -5: a mask needs 4
        ("[1, 2]", "[3, 4, 5]", "[4, 3, 4]", False),
        ("2", "[3, 6, 5]", "[3, 4, 6]", True),  # scores (batch, 3, heads, 4, 6)
        ("2", "[3, 6, 5]", "[4, 6]", True),
        ("2", "[3, 6, 5]", "[2, 4, 6]", False),
        ("1", "[3, 4, 5]", "[3, 4, 3, 4]", False),
    ],
)
def test_attention_axes_shape_the_scores(axes: str, value: str, mask: str, accepted: bool) -> None:
    text = _masked({"attention_mask": mask}, layer=f"{MHA}, attention_axes: {axes}", query="[3, 4, 5]", value=value)
    if accepted:
        load_spec(text)
    else:
        assert (
            "nodes.b.call.attention_mask: MultiHeadAttention's attention_mask must broadcast to the attention "
            "scores" in _error(text)
        )


# --- query_mask, value_mask, key_mask ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["value_mask", "key_mask"])
@pytest.mark.parametrize("mask", ["[6]", "[1]", "[1, 6]", "[1, 1]"])
@pytest.mark.parametrize("layer", [MHA, GQA])
def test_value_and_key_masks_keras_runs_are_accepted(name: str, mask: str, layer: str) -> None:
    load_spec(_masked({name: mask}, layer=layer))


@pytest.mark.parametrize("name", ["value_mask", "key_mask"])
@pytest.mark.parametrize(
    ("mask", "reason"),
    [
        ("[5]", "its axis 1 (5) meets the scores' value steps (6)"),
        ("[7]", "its axis 1 (7) meets the scores' value steps (6)"),
        ("[6, 1]", "its axis 1 (6) meets the scores' heads (2)"),
        ("[5, 6]", "its axis 1 (5) meets the scores' heads (2)"),
        ("[2, 1, 6]", "it has 5 axes as Keras shapes it (batch included), more than the 4 of the attention scores"),
    ],
)
def test_value_and_key_masks_keras_refuses_are_refused(name: str, mask: str, reason: str) -> None:
    msg = _error(_masked({name: mask}))
    assert (
        f"nodes.b.call.{name}: MultiHeadAttention's {name} must have shape (batch, 6) (batch, value steps; a "
        f"size of 1 broadcasts), but node 'm_{name}' gives" in msg
    )
    assert msg.endswith(reason)


@pytest.mark.parametrize("mask", ["[5]", "[7]", "[5, 6]", "[2, 1, 6]"])
def test_multi_head_attention_query_mask_is_accepted_as_keras_ignores_it(mask: str) -> None:
    # MultiHeadAttention.call replaces `query_mask` with the query's own Keras mask: any tensor runs
    load_spec(_masked({"query_mask": mask}))


def test_group_query_attention_query_mask_is_checked() -> None:
    load_spec(_masked({"query_mask": "[5]"}, layer=GQA))
    load_spec(_masked({"query_mask": "[1]"}, layer=GQA))
    msg = _error(_masked({"query_mask": "[6]"}, layer=GQA))
    assert (
        "nodes.b.call.query_mask: GroupQueryAttention's query_mask must have shape (batch, 5) (batch, query "
        "steps; a size of 1 broadcasts), but node 'm_query_mask' gives (None, 6): " in msg
    )


# --- masks together ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("masks", "extra"),
    [
        ({"attention_mask": "[5, 6]", "value_mask": "[6]"}, ""),
        ({"value_mask": "[6]", "key_mask": "[1]"}, ""),
        ({"attention_mask": "[2, 5, 6]"}, "use_causal_mask: true"),
        ({"attention_mask": "[1, 6]", "value_mask": "[6]"}, "use_causal_mask: true"),
    ],
)
def test_masks_that_combine_are_accepted(masks: dict[str, str], extra: str) -> None:
    load_spec(_masked(masks, extra=extra))


def test_a_mask_with_heads_does_not_combine_with_a_value_mask() -> None:
    # Keras ANDs value_mask as (batch, 1, S) with the attention_mask from the last axis: batch meets heads
    msg = _error(_masked({"attention_mask": "[2, 5, 6]", "value_mask": "[6]"}))
    assert msg == (
        "m.yaml:5:78: nodes.b.call.attention_mask: MultiHeadAttention combines its masks by broadcasting from "
        "the last axis, but value_mask (as (batch, 1, 6)) and attention_mask (as (batch, 2, 5, 6)) do not "
        "broadcast: give them shapes that do, e.g. an attention_mask of shape (batch, 5, 6)"
    )


def test_combined_masks_that_miss_the_scores_are_refused() -> None:
    msg = _error(_masked({"attention_mask": "[1, 5, 6]", "key_mask": "[6]"}))
    assert (
        "nodes.b.call.attention_mask: MultiHeadAttention's masks combine (from the last axis) to "
        "(batch, batch, 5, 6), which does not fit the attention scores (batch, 2, 5, 6): its batch axis "
        "meets the scores' heads (2)" in msg
    )


def test_sliding_window_mask_combines_too() -> None:
    layer = f"{MHA}, sliding_window: 2"
    load_spec(_masked({"attention_mask": "[5, 6]"}, layer=layer))
    assert "the sliding-window mask" in _error(
        _masked({"attention_mask": "[2, 5, 6]", "value_mask": "[6]"}, layer=layer)
    )


# --- key -----------------------------------------------------------------------------------------------


def _keyed(key: str, *, listed: bool = False) -> str:
    inputs = f"{{x: {{shape: [5, 4]}}, v: {{shape: [6, 4]}}, k: {{shape: {key}}}}}"
    return _spec(inputs, f"b: {{{MHA}, in: [x, v{', k' if listed else ''}], call: {{key: k}}}}")


def test_key_in_call_is_the_third_input() -> None:
    # the key's own width sizes its projection: 3 * 2 * 2 + 2 * 2 = 16 weights, not the value's 20
    summary = nf.summary(load_spec(_keyed("[6, 3]")))
    assert summary.total_params == 20 + 16 + 20 + 20  # query, key, value and output projections
    msg = _error(_keyed("[7, 4]"))
    assert (
        "nodes.b: MultiHeadAttention needs value and key to match in all but the last axis, received value "
        "(None, 6, 4) and key (None, 7, 4)" in msg
    )


def test_key_given_twice_is_refused() -> None:
    msg = _error(_keyed("[6, 4]", listed=True))
    assert (
        "nodes.b.call.key: MultiHeadAttention takes its key once: as the third tensor in `in` or as "
        "`call.key`, but the node gives both; remove one of them" in msg
    )


# --- ConvLSTM initial_state --------------------------------------------------------------------------

CONV = "type: ConvLSTM2D, filters: 3, kernel_size: 3"


def _conv(states: list[str], *, layer: str = CONV, x: str = "[4, 8, 8, 2]", bidirectional: bool = False) -> str:
    inputs = ", ".join([f"x: {{shape: {x}}}", *(f"s{i}: {{shape: {s}}}" for i, s in enumerate(states))])
    given = ", ".join(f"s{i}" for i in range(len(states)))
    head = f"type: Bidirectional, layer: {{{layer}}}" if bidirectional else layer
    return _spec(f"{{{inputs}}}", f"b: {{{head}, in: x, call: {{initial_state: [{given}]}}}}")


@pytest.mark.parametrize(
    ("layer", "x", "state"),
    [
        (CONV, "[4, 8, 8, 2]", "[6, 6, 3]"),
        (f"{CONV}, padding: same", "[4, 8, 8, 2]", "[8, 8, 3]"),
        (f"{CONV}, strides: 2", "[4, 8, 8, 2]", "[3, 3, 3]"),
        (f"{CONV}, data_format: channels_first", "[4, 2, 8, 8]", "[3, 6, 6]"),
        ("type: ConvLSTM1D, filters: 3, kernel_size: 3", "[4, 8, 2]", "[6, 3]"),
        ("type: ConvLSTM3D, filters: 3, kernel_size: 3", "[2, 5, 5, 5, 1]", "[3, 3, 3, 3]"),
        (CONV, "[4, null, null, 2]", "[null, null, 3]"),
        (CONV, "[4, 8, 8, 2]", "[null, 6, 3]"),
    ],
)
def test_conv_lstm_initial_state_keras_runs_is_accepted(layer: str, x: str, state: str) -> None:
    load_spec(_conv([state, state], layer=layer, x=x))


def test_conv_lstm_takes_initial_state_in_call() -> None:
    spec = load_spec(_conv(["[6, 6, 3]", "[6, 6, 3]"]))
    assert spec.nodes["b"].call == {"initial_state": ["s0", "s1"]}


@pytest.mark.parametrize("count", [1, 3])
def test_conv_lstm_initial_state_count_is_refused(count: int) -> None:
    msg = _error(_conv(["[6, 6, 3]"] * count))
    assert msg.endswith(
        f"nodes.b.call.initial_state: ConvLSTM2D takes 2 initial states (h and c), but `call.initial_state` "
        f"gives {count}: list one (batch, 6, 6, 3) tensor per state"
    )


@pytest.mark.parametrize("bad", ["[6, 6, 4]", "[8, 6, 3]", "[1, 1, 3]", "[6, 6, 1]", "[6, 3]", "[1, 6, 6, 3]"])
def test_conv_lstm_initial_state_shape_is_refused(bad: str) -> None:
    msg = _error(_conv(["[6, 6, 3]", bad]))
    shown = "(None, " + bad[1:-1] + ")"
    assert msg.endswith(
        "nodes.b.call.initial_state[1]: ConvLSTM2D initial state 1 must have shape (batch, 6, 6, 3) (one step "
        f"of its output: the same sizes and 3 filters; no axis broadcasts), but node 's1' gives {shown}"
    )


def test_conv_lstm_channels_first_state_is_channels_first() -> None:
    msg = _error(_conv(["[6, 6, 3]", "[6, 6, 3]"], layer=f"{CONV}, data_format: channels_first", x="[4, 2, 8, 8]"))
    assert "must have shape (batch, 3, 6, 6)" in msg


def test_bidirectional_conv_lstm_takes_both_directions_states() -> None:
    load_spec(_conv(["[6, 6, 3]"] * 4, bidirectional=True))
    msg = _error(_conv(["[6, 6, 3]"] * 2, bidirectional=True))
    assert (
        "nodes.b.call.initial_state: Bidirectional takes 4 initial states (h and c of each direction), but "
        "`call.initial_state` gives 2" in msg
    )
    msg = _error(_conv(["[6, 6, 3]"] * 3 + ["[6, 6, 4]"], bidirectional=True))
    assert "nodes.b.call.initial_state[3]: ConvLSTM2D initial state 3 must have shape (batch, 6, 6, 3)" in msg


# --- Attention and AdditiveAttention: mask: [query_mask, value_mask] ------------------------------------


def _dot(masks: list[str], *, layer: str = "Attention", extra: str = "") -> str:
    inputs = ", ".join(
        [
            "x: {shape: [5, 4]}",
            "v: {shape: [6, 4]}",
            *(f"m{i}: {{shape: {s}, dtype: bool}}" for i, s in enumerate(masks)),
        ]
    )
    given = "m0" if len(masks) == 1 else "[" + ", ".join(f"m{i}" for i in range(len(masks))) + "]"
    return _spec(f"{{{inputs}}}", f"b: {{type: {layer}, in: [x, v], call: {{mask: {given}{extra}}}}}")


@pytest.mark.parametrize("layer", ["Attention", "AdditiveAttention"])
@pytest.mark.parametrize(
    "masks", [["[5]", "[6]"], ["[1]", "[1]"], ["[5]", "[1, 6]"], ["[5]", "[5, 6]"], ["[5]", "[6]", "[6]"]]
)
def test_dot_attention_masks_keras_runs_are_accepted(layer: str, masks: list[str]) -> None:
    load_spec(_dot(masks, layer=layer))


@pytest.mark.parametrize(
    ("masks", "place", "reason"),
    [
        (["[5]", "[7]"], "mask[1]", "its axis 1 (7) meets the scores' value steps (6)"),
        (["[6]", "[6]"], "mask[0]", "its axis 1 (6) meets the output's query steps (5)"),
        (
            ["[5, 1]", "[6]"],
            "mask[0]",
            "it has 4 axes as Keras shapes it (batch included), more than the 3 of the output",
        ),
        (["[5]", "[6, 6]"], "mask[1]", "its axis 1 (6) meets the scores' query steps (5)"),
    ],
)
def test_dot_attention_masks_keras_refuses_are_refused(masks: list[str], place: str, reason: str) -> None:
    msg = _error(_dot(masks))
    assert f"nodes.b.call.{place}: Attention's " in msg
    assert msg.endswith(reason)


def test_dot_attention_value_mask_meets_the_causal_mask() -> None:
    # with use_causal_mask Keras adds the value mask's middle axis whatever its rank
    load_spec(_dot(["[5]", "[6]"], extra=", use_causal_mask: true"))
    assert _error(_dot(["[5]", "[5, 6]"], extra=", use_causal_mask: true")).endswith(
        "it has 4 axes as Keras shapes it (batch included), more than the 3 of the scores"
    )


def test_dot_attention_mask_is_a_list() -> None:
    msg = _error(_dot(["[5]"]))
    assert msg.endswith(
        "nodes.b.call.mask: Attention takes `call.mask` as a list [query_mask, value_mask] (a third tensor is "
        "ignored), but the node gives one tensor: list the query's mask, then the value's"
    )


# --- Softmax and GlobalAveragePooling1D: mask -------------------------------------------------------------


def _plain(layer: str, x: str, mask: str) -> str:
    inputs = f"{{x: {{shape: {x}}}, m: {{shape: {mask}, dtype: bool}}}}"
    return _spec(inputs, f"b: {{type: {layer}, in: x, call: {{mask: m}}}}")


@pytest.mark.parametrize(
    ("layer", "x", "mask"),
    [
        ("Softmax", "[5, 3]", "[5, 3]"),
        ("Softmax", "[5, 3]", "[5, 1]"),
        ("Softmax", "[5, 3]", "[1, 3]"),
        ("Softmax", "[4, 5, 3]", "[4, 1, 3]"),
        ("GlobalAveragePooling1D", "[5, 3]", "[5]"),
        ("GlobalAveragePooling1D", "[5, 3]", "[1]"),
        ("GlobalAveragePooling1D, data_format: channels_first", "[3, 5]", "[5]"),
        ("GlobalAveragePooling1D", "[null, 3]", "[7]"),
    ],
)
def test_input_masks_keras_runs_are_accepted(layer: str, x: str, mask: str) -> None:
    load_spec(_plain(layer, x, mask))


@pytest.mark.parametrize(
    ("layer", "x", "mask", "end"),
    [
        (
            "Softmax",
            "[5, 3]",
            "[3]",
            "its batch axis meets the input's axis 1 (5), so Keras runs it only with batches of 1 or 5",
        ),
        ("Softmax", "[5, 3]", "[4, 3]", "its axis 1 (4) meets the input's axis 1 (5)"),
        ("Softmax", "[5, 3]", "[2, 5, 3]", "it has 4 axes (batch included), more than the 3 of the input"),
        ("GlobalAveragePooling1D", "[5, 3]", "[4]", "its axis 1 (4) meets the input's axis 1 (5)"),
        (
            "GlobalAveragePooling1D",
            "[5, 3]",
            "[5, 1]",
            "it has 4 axes as Keras shapes it (batch included), more than the 3 of the input",
        ),
        ("GlobalAveragePooling1D", "[5, 3]", "[]", "it has 1 axis (batch included); Keras adds one at position 2"),
        (
            "GlobalAveragePooling1D, data_format: channels_first",
            "[3, 5]",
            "[3]",
            "its axis 1 (3) meets the input's axis 2 (5)",
        ),
    ],
)
def test_input_masks_keras_refuses_are_refused(layer: str, x: str, mask: str, end: str) -> None:
    msg = _error(_plain(layer, x, mask))
    assert f"nodes.b.call.mask: {layer.split(',')[0]}'s mask must " in msg
    assert msg.endswith(end)


# --- BatchNormalization and TimeDistributed: mask -------------------------------------------------------

TD_DENSE = "TimeDistributed, layer: {type: Dense, units: 2}"
TD_NORM = "TimeDistributed, layer: {type: BatchNormalization}"


@pytest.mark.parametrize(
    ("layer", "x", "mask"),
    [
        ("BatchNormalization", "[5, 3]", "[5]"),
        ("BatchNormalization", "[5, 3]", "[1]"),
        ("BatchNormalization", "[4, 5, 3]", "[1, 5]"),
        ("BatchNormalization, axis: 1", "[3, 4, 5]", "[3, 1]"),
        (TD_DENSE, "[5, 3]", "[5]"),
        (TD_DENSE, "[5, 3]", "[5, 1]"),  # Dense takes no mask: Keras passes none on
        (TD_NORM, "[5, 3]", "[5]"),
        (TD_DENSE, "[null, 3]", "[5]"),
    ],
)
def test_layer_masks_keras_runs_are_accepted(layer: str, x: str, mask: str) -> None:
    load_spec(_plain(layer, x, mask))


@pytest.mark.parametrize(
    ("layer", "x", "mask", "end"),
    [
        (
            "BatchNormalization",
            "[5, 3]",
            "[4]",
            "its axis 1 (4) meets the input's axis 1 (5) (Keras refuses it when training)",
        ),
        ("BatchNormalization", "[5, 3]", "[5, 3]", "it has 3 axes (batch included), the input 3"),
        (TD_DENSE, "[5, 3]", "[1]", "its axis 1 (1) is not the input's time steps (5)"),
        (TD_DENSE, "[5, 3]", "[]", "it has 1 axis (batch included); Keras needs the batch and the time steps"),
    ],
)
def test_layer_masks_keras_refuses_are_refused(layer: str, x: str, mask: str, end: str) -> None:
    msg = _error(_plain(layer, x, mask))
    assert f"nodes.b.call.mask: {layer.split(',')[0]}'s mask must " in msg
    assert msg.endswith(end)


def test_time_distributed_gives_each_step_of_its_mask_to_its_layer() -> None:
    msg = _error(_plain(TD_NORM, "[5, 3]", "[5, 3]"))
    assert msg.endswith(
        "nodes.b.call.mask: TimeDistributed gives each time step of its mask to its BatchNormalization: "
        "BatchNormalization's mask "
        "must have shape (batch,) (the input's shape without its last axis; a size of 1 broadcasts), but node 'm' "
        "gives (None, 3): it has 2 axes (batch included), the input 2"
    )
