"""Call tensors against Keras itself: what validate refuses, Keras refuses (at build, at its first batches,
or by returning another shape than the model declares); what validate accepts, netform builds into the
same model as Keras does; the table of call arguments is Keras's call signatures."""

from __future__ import annotations

import inspect
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
from netform.builder import copy_weights
from netform.errors import SpecError
from netform.spec.layers import MODULE_OF
from netform.spec.layers._calls import call_arguments


def _yaml_shape(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("null" if d is None else str(d) for d in shape) + "]"


def _attention_spec(case: dict[str, Any]) -> str:
    inputs = {"x": case["q"], "v": case["v"], **{f"m_{n}": s for n, s in case["masks"].items()}}
    listing = ", ".join(
        f"{n}: {{shape: {_yaml_shape(s)}{', dtype: bool' if n.startswith('m_') else ''}}}" for n, s in inputs.items()
    )
    call = [f"{n}: m_{n}" for n in case["masks"]] + (["use_causal_mask: true"] if case.get("causal") else [])
    settings = ", ".join(f"{k}: {v}" for k, v in case["settings"].items())
    node = f"b: {{type: {case['type']}, {settings}, in: [x, v], call: {{{', '.join(call)}}}}}"
    return f"netform: 1\nkind: functional\ninputs: {{{listing}}}\nnodes:\n  {node}\noutputs: [b]\n"


def _keras_attention(case: dict[str, Any]) -> tuple[keras.Model, list[tuple[int, ...]], list[str]]:
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in case["settings"].items()}
    q, v = keras.Input(case["q"], name="x"), keras.Input(case["v"], name="v")
    masks = {n: keras.Input(s, dtype="bool", name=f"m_{n}") for n, s in case["masks"].items()}
    layer = getattr(keras.layers, case["type"])(**settings, name="b")
    out = layer(q, v, **masks, **({"use_causal_mask": True} if case.get("causal") else {}))
    shapes = [case["q"], case["v"], *case["masks"].values()]
    return keras.Model([q, v, *masks.values()], out), shapes, ["float32"] * 2 + ["bool"] * len(masks)


def _keras_fails(model: keras.Model, shapes: list[tuple[int, ...]], dtypes: list[str]) -> bool:
    """Whether Keras refuses a batch of 2 or of 3, or returns another shape than the model declares."""
    for batch in (2, 3):
        feed = [np.ones((batch, *s), d) for s, d in zip(shapes, dtypes)]
        try:
            y = model.predict(feed, verbose=0)
        except Exception:  # Keras raises ValueError, InvalidArgumentError or IndexError by case
            return True
        if tuple(y.shape[1:]) != tuple(model.output.shape[1:]):
            return True
    return False


def _nchw_convolution_runs() -> bool:
    """Whether this TensorFlow build convolves channels_first (NCHW) tensors on the CPU (oneDNN builds do;
    others raise "The Conv2D op currently only supports the NHWC tensor format on the CPU")."""
    import tensorflow as tf

    try:
        tf.nn.conv2d(tf.ones((1, 2, 4, 4)), tf.ones((3, 3, 2, 1)), 1, "VALID", data_format="NCHW")
    except Exception:  # UnimplementedError, by build
        return False
    return True


def _refused(text: str) -> bool:
    try:
        nf.load_spec(text)
    except SpecError:
        return True
    return False


MHA = {"num_heads": 2, "key_dim": 2}
GQA = {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1}
Q, V = (5, 4), (6, 4)

ATTENTION = {
    "attention_mask_rank_2": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (6,)}),
    "attention_mask_rank_3": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (5, 6)}),
    "attention_mask_swapped": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (6, 5)}),
    "attention_mask_heads": dict(
        type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (2, 1, 6)}
    ),
    "attention_mask_wrong_heads": dict(
        type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (3, 5, 6)}
    ),
    "attention_mask_rank_5": dict(
        type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (1, 1, 5, 6)}
    ),
    "attention_mask_dropout": dict(
        type="MultiHeadAttention", settings={**MHA, "dropout": 0.1}, q=Q, v=V, masks={"attention_mask": (1, 5, 6)}
    ),
    "attention_mask_widens": dict(
        type="MultiHeadAttention", settings=MHA, q=(1, 4), v=V, masks={"attention_mask": (5, 6)}
    ),
    "value_mask": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"value_mask": (6,)}),
    "value_mask_short": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"value_mask": (5,)}),
    "value_mask_rank_3": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"value_mask": (1, 6)}),
    "value_mask_swapped": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"value_mask": (6, 1)}),
    "key_mask_long": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"key_mask": (7,)}),
    "key_mask_one": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"key_mask": (1,)}),
    "mha_query_mask_ignored": dict(type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"query_mask": (7,)}),
    "gqa_query_mask": dict(type="GroupQueryAttention", settings=GQA, q=Q, v=V, masks={"query_mask": (5,)}),
    "gqa_query_mask_long": dict(type="GroupQueryAttention", settings=GQA, q=Q, v=V, masks={"query_mask": (6,)}),
    "gqa_attention_mask_rank_2": dict(
        type="GroupQueryAttention", settings=GQA, q=Q, v=V, masks={"attention_mask": (6,)}
    ),
    "masks_combine": dict(
        type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (5, 6), "value_mask": (6,)}
    ),
    "masks_do_not_combine": dict(
        type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (2, 5, 6), "value_mask": (6,)}
    ),
    "masks_miss_heads": dict(
        type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (1, 5, 6), "key_mask": (6,)}
    ),
    "causal_with_heads": dict(
        type="MultiHeadAttention", settings=MHA, q=Q, v=V, masks={"attention_mask": (2, 5, 6)}, causal=True
    ),
    "axes_two": dict(
        type="MultiHeadAttention",
        settings={**MHA, "attention_axes": [1, 2]},
        q=(3, 4, 5),
        v=(3, 4, 5),
        masks={"attention_mask": (3, 4, 3, 4)},
    ),
    "axes_two_short": dict(
        type="MultiHeadAttention",
        settings={**MHA, "attention_axes": [1, 2]},
        q=(3, 4, 5),
        v=(3, 4, 5),
        masks={"attention_mask": (3, 4)},
    ),
    "axes_inner": dict(
        type="MultiHeadAttention",
        settings={**MHA, "attention_axes": [2]},
        q=(3, 4, 5),
        v=(3, 6, 5),
        masks={"attention_mask": (4, 6)},
    ),
    "axes_inner_wrong": dict(
        type="MultiHeadAttention",
        settings={**MHA, "attention_axes": [2]},
        q=(3, 4, 5),
        v=(3, 6, 5),
        masks={"attention_mask": (2, 4, 6)},
    ),
}


@pytest.mark.parametrize("case", sorted(ATTENTION))
def test_attention_masks_validate_as_keras_runs_them(case: str) -> None:
    spec = ATTENTION[case]
    assert _refused(_attention_spec(spec)) == _keras_fails(*_keras_attention(spec))


CONV_STATES = {
    "two": ((4, 8, 8, 2), [(6, 6, 3)] * 2, {}),
    "one": ((4, 8, 8, 2), [(6, 6, 3)], {}),
    "three": ((4, 8, 8, 2), [(6, 6, 3)] * 3, {}),
    "filters": ((4, 8, 8, 2), [(6, 6, 3), (6, 6, 4)], {}),
    "size": ((4, 8, 8, 2), [(8, 8, 3)] * 2, {}),
    "same": ((4, 8, 8, 2), [(8, 8, 3)] * 2, {"padding": "same"}),
    "broadcast": ((4, 8, 8, 2), [(1, 1, 3)] * 2, {}),
    "channels_first": ((4, 2, 8, 8), [(3, 6, 6)] * 2, {"data_format": "channels_first"}),
    "channels_first_wrong": ((4, 2, 8, 8), [(6, 6, 3)] * 2, {"data_format": "channels_first"}),
}


@pytest.mark.parametrize("case", sorted(CONV_STATES))
def test_conv_lstm_states_validate_as_keras_runs_them(case: str) -> None:
    x_shape, states, settings = CONV_STATES[case]
    if case == "channels_first" and not _nchw_convolution_runs():
        pytest.skip("this TensorFlow runs no channels_first (NCHW) convolution on the CPU: Keras fails for any state")
    listing = ", ".join(
        [f"x: {{shape: {_yaml_shape(x_shape)}}}", *(f"s{i}: {{shape: {_yaml_shape(s)}}}" for i, s in enumerate(states))]
    )
    extra = "".join(f", {k}: {v}" for k, v in settings.items())
    given = ", ".join(f"s{i}" for i in range(len(states)))
    text = (
        f"netform: 1\nkind: functional\ninputs: {{{listing}}}\nnodes:\n  b: {{type: ConvLSTM2D, filters: 3, "
        f"kernel_size: 3{extra}, in: x, call: {{initial_state: [{given}]}}}}\noutputs: [b]\n"
    )
    x = keras.Input(x_shape)
    tensors = [keras.Input(s) for s in states]
    model = keras.Model([x, *tensors], keras.layers.ConvLSTM2D(3, 3, **settings)(x, initial_state=tensors))
    assert _refused(text) == _keras_fails(model, [x_shape, *states], ["float32"] * (1 + len(states)))


DOT_MASKS = {
    "both": ([(5,), (6,)], False),
    "ones": ([(1,), (1,)], False),
    "value_long": ([(5,), (7,)], False),
    "query_long": ([(6,), (6,)], False),
    "query_rank_3": ([(5, 1), (6,)], False),
    "value_rank_3": ([(5,), (1, 6)], False),
    "value_rank_3_causal": ([(5,), (5, 6)], True),
    "one_tensor": ([(5,)], False),
}


@pytest.mark.parametrize("layer", ["Attention", "AdditiveAttention"])
@pytest.mark.parametrize("case", sorted(DOT_MASKS))
def test_dot_attention_masks_validate_as_keras_runs_them(layer: str, case: str) -> None:
    shapes, causal = DOT_MASKS[case]
    listing = ", ".join(
        ["x: {shape: [5, 4]}", "v: {shape: [6, 4]}"]
        + [f"m{i}: {{shape: {_yaml_shape(s)}, dtype: bool}}" for i, s in enumerate(shapes)]
    )
    given = "m0" if len(shapes) == 1 else "[" + ", ".join(f"m{i}" for i in range(len(shapes))) + "]"
    extra = ", use_causal_mask: true" if causal else ""
    text = (
        f"netform: 1\nkind: functional\ninputs: {{{listing}}}\nnodes:\n  b: {{type: {layer}, in: [x, v], "
        f"call: {{mask: {given}{extra}}}}}\noutputs: [b]\n"
    )
    x, v = keras.Input((5, 4)), keras.Input((6, 4))
    masks = [keras.Input(s, dtype="bool") for s in shapes]
    try:
        out = getattr(keras.layers, layer)()([x, v], mask=masks if len(masks) > 1 else masks[0], use_causal_mask=causal)
        model = keras.Model([x, v, *masks], out)
    except ValueError:  # Keras refuses a mask that is not a list when it connects the layer
        assert _refused(text)
        return
    dtypes = ["float32"] * 2 + ["bool"] * len(shapes)
    assert _refused(text) == _keras_fails(model, [(5, 4), (6, 4), *shapes], dtypes)


INPUT_MASKS = {
    "softmax": ("Softmax", (5, 3), (5, 1), {}),
    "softmax_rank_2": ("Softmax", (5, 3), (3,), {}),
    "softmax_wrong": ("Softmax", (5, 3), (4, 3), {}),
    "pooling": ("GlobalAveragePooling1D", (5, 3), (5,), {}),
    "pooling_short": ("GlobalAveragePooling1D", (5, 3), (4,), {}),
    "pooling_rank_3": ("GlobalAveragePooling1D", (5, 3), (5, 1), {}),
    "pooling_channels_first": ("GlobalAveragePooling1D", (3, 5), (5,), {"data_format": "channels_first"}),
}


@pytest.mark.parametrize("case", sorted(INPUT_MASKS))
def test_input_masks_validate_as_keras_runs_them(case: str) -> None:
    layer, x_shape, mask, settings = INPUT_MASKS[case]
    extra = "".join(f", {k}: {v}" for k, v in settings.items())
    text = (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {_yaml_shape(x_shape)}}}, m: {{shape: "
        f"{_yaml_shape(mask)}, dtype: bool}}}}\nnodes:\n  b: {{type: {layer}{extra}, in: x, call: {{mask: m}}}}\n"
        "outputs: [b]\n"
    )
    x, m = keras.Input(x_shape), keras.Input(mask, dtype="bool")
    model = keras.Model([x, m], getattr(keras.layers, layer)(**settings)(x, mask=m))
    assert _refused(text) == _keras_fails(model, [x_shape, mask], ["float32", "bool"])


LAYER_MASKS = {
    "norm": ("BatchNormalization", "", lambda: keras.layers.BatchNormalization(), (5, 3), (5,)),
    "norm_short": ("BatchNormalization", "", lambda: keras.layers.BatchNormalization(), (5, 3), (4,)),
    "norm_rank": ("BatchNormalization", "", lambda: keras.layers.BatchNormalization(), (5, 3), (5, 3)),
    "norm_axis_1": (
        "BatchNormalization",
        ", axis: 1",
        lambda: keras.layers.BatchNormalization(axis=1),
        (3, 4, 5),
        (3, 1),
    ),
    "steps": (
        "TimeDistributed",
        ", layer: {type: Dense, units: 2}",
        lambda: keras.layers.TimeDistributed(keras.layers.Dense(2)),
        (5, 3),
        (5,),
    ),
    "steps_one": (
        "TimeDistributed",
        ", layer: {type: Dense, units: 2}",
        lambda: keras.layers.TimeDistributed(keras.layers.Dense(2)),
        (5, 3),
        (1,),
    ),
    "steps_inner": (
        "TimeDistributed",
        ", layer: {type: BatchNormalization}",
        lambda: keras.layers.TimeDistributed(keras.layers.BatchNormalization()),
        (5, 3),
        (5, 1),
    ),
}


@pytest.mark.filterwarnings("ignore:Layer 'flatten.*does not support masking")
@pytest.mark.parametrize("case", sorted(LAYER_MASKS))
def test_layer_masks_validate_as_keras_trains_them(case: str) -> None:
    layer, settings, make, x_shape, mask = LAYER_MASKS[case]
    text = (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {_yaml_shape(x_shape)}}}, m: {{shape: "
        f"{_yaml_shape(mask)}, dtype: bool}}}}\nnodes:\n  b: {{type: {layer}{settings}, in: x, call: {{mask: m}}}}\n"
        "outputs: [b]\n"
    )
    x, m = keras.Input(x_shape), keras.Input(mask, dtype="bool")
    # Flatten drops the output's Keras mask, which the loss would otherwise apply: only the layer's use is compared
    model = keras.Model([x, m], keras.layers.Flatten()(make()(x, mask=m)))
    model.compile("sgd", "mse")
    fails = _keras_fails(model, [x_shape, mask], ["float32", "bool"])
    if not fails:  # BatchNormalization reads its mask only when training
        feed = [np.ones((2, *x_shape), "float32"), np.ones((2, *mask), bool)]
        try:
            model.fit(feed, np.ones((2, *model.output.shape[1:])), verbose=0)
        except ValueError:
            fails = True
    assert _refused(text) == fails


# --- accepted cases: netform's build is Keras's model ------------------------------------------------

SAME = {
    "attention_mask_heads": (
        "{x: {shape: [5, 4]}, v: {shape: [6, 4]}, m: {shape: [2, 1, 6], dtype: bool}}",
        "b: {type: MultiHeadAttention, num_heads: 2, key_dim: 2, in: [x, v], call: {attention_mask: m}}",
        lambda: (
            lambda x, v, m: keras.layers.MultiHeadAttention(2, 2, name="b")(x, v, attention_mask=m),
            [(5, 4), (6, 4), (2, 1, 6)],
        ),
    ),
    "value_and_key_masks": (
        "{x: {shape: [5, 4]}, v: {shape: [6, 4]}, k: {shape: [6, 3]}, m: {shape: [6], dtype: bool}, "
        "n: {shape: [1], dtype: bool}}",
        "b: {type: MultiHeadAttention, num_heads: 2, key_dim: 2, in: [x, v], call: {key: k, value_mask: m, "
        "key_mask: n}}",
        lambda: (
            lambda x, v, k, m, n: keras.layers.MultiHeadAttention(2, 2, name="b")(
                x, v, key=k, value_mask=m, key_mask=n
            ),
            [(5, 4), (6, 4), (6, 3), (6,), (1,)],
        ),
    ),
    "gqa_query_mask": (
        "{x: {shape: [5, 4]}, v: {shape: [6, 4]}, m: {shape: [5], dtype: bool}}",
        "b: {type: GroupQueryAttention, head_dim: 2, num_query_heads: 2, num_key_value_heads: 1, in: [x, v], "
        "call: {query_mask: m, use_causal_mask: true}}",
        lambda: (
            lambda x, v, m: keras.layers.GroupQueryAttention(2, 2, 1, name="b")(
                x, v, query_mask=m, use_causal_mask=True
            ),
            [(5, 4), (6, 4), (5,)],
        ),
    ),
    "conv_lstm_states": (
        "{x: {shape: [4, 8, 8, 2]}, h: {shape: [6, 6, 3]}, c: {shape: [6, 6, 3]}}",
        "b: {type: ConvLSTM2D, filters: 3, kernel_size: 3, in: x, call: {initial_state: [h, c]}}",
        lambda: (
            lambda x, h, c: keras.layers.ConvLSTM2D(3, 3, name="b")(x, initial_state=[h, c]),
            [(4, 8, 8, 2), (6, 6, 3), (6, 6, 3)],
        ),
    ),
    "attention_masks": (
        "{x: {shape: [5, 4]}, v: {shape: [6, 4]}, m: {shape: [5], dtype: bool}, n: {shape: [6], dtype: bool}}",
        "b: {type: AdditiveAttention, in: [x, v], call: {mask: [m, n]}}",
        lambda: (
            lambda x, v, m, n: keras.layers.AdditiveAttention(name="b")([x, v], mask=[m, n]),
            [(5, 4), (6, 4), (5,), (6,)],
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(SAME))
def test_accepted_call_tensors_build_the_keras_model(case: str) -> None:
    inputs, node, make = SAME[case]
    text = f"netform: 1\nkind: functional\ninputs: {inputs}\nnodes:\n  {node}\noutputs: [b]\n"
    spec = nf.load_spec(text)
    built = nf.build(spec)
    connect, shapes = make()
    names = [name.split(":")[0].strip(" {") for name in inputs.split("}, ")]
    dtypes = ["bool" if "bool" in part else "float32" for part in inputs.split("}, ")]
    tensors = [keras.Input(s, dtype=d, name=n) for s, d, n in zip(shapes, dtypes, names)]
    reference = keras.Model(tensors, connect(*tensors))
    assert built.count_params() == reference.count_params() == nf.summary(spec).total_params
    copy_weights(reference, built)
    rng = np.random.default_rng(0)
    feed = [
        rng.random((3, *s)) > 0.3 if d == "bool" else rng.normal(size=(3, *s)).astype("float32")
        for s, d in zip(shapes, dtypes)
    ]
    np.testing.assert_allclose(
        np.asarray(built(feed, training=False)), np.asarray(reference(feed, training=False)), atol=1e-5, rtol=0
    )


def test_call_argument_table_is_keras_call_signatures() -> None:
    for name in sorted(MODULE_OF):
        cls = getattr(keras.layers, name, None)
        if cls is None:  # netform's own layers and the TensorFlow Hub wrapper
            continue
        params = [p for p in list(inspect.signature(cls.call).parameters)[2:] if p not in ("args", "kwargs")]
        if name in ("MultiHeadAttention", "GroupQueryAttention"):
            params.remove("value")  # taken in `in`, with the query
        assert tuple(params) == call_arguments(name), name
