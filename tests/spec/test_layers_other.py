"""Static rules vs Keras for the core, normalization, recurrent, attention, merge and activation layers."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any, Callable

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from netform.spec._layer_base import ShapeError, get_layer_spec

try:  # tests/ as a package, or tests/spec on sys.path
    from tests.spec import _parity
except ImportError:  # pragma: no cover
    import _parity  # type: ignore[no-redef]

check_parity = _parity.check_parity

Case = tuple[dict[str, Any], Any]
STRATEGIES: dict[str, st.SearchStrategy[Case]] = {}

batch = st.sampled_from([None, 2])
time = st.sampled_from([None, 3, 4])
feat = st.integers(1, 8)
rate = st.sampled_from([0.0, 0.1, 0.5])
init = st.sampled_from(["glorot_uniform", "zeros", "he_normal", {"type": "RandomNormal", "stddev": 0.1}])


def strategy(name: str) -> Callable[[Callable[..., Case]], Callable[..., Case]]:
    """Register a composite strategy of valid ``(config, input_shape)`` for layer type ``name``."""

    def wrap(fn: Callable[..., Case]) -> Callable[..., Case]:
        STRATEGIES[name] = st.composite(fn)()
        return fn

    return wrap


def shape(draw: Any, low: int = 2, high: int = 4, known_last: bool = True) -> tuple:
    rank = draw(st.integers(low, high))
    mid = tuple(draw(st.sampled_from([None, 2, 3, 5])) for _ in range(rank - 2))
    last = draw(feat) if known_last else draw(st.sampled_from([None, 1, 3, 4, 6]))
    return (draw(batch), *mid, last)


# --- core -------------------------------------------------------------------


@strategy("EinsumDense")
def _einsum(draw: Any) -> Case:
    n_out, d = draw(feat), draw(feat)
    form = draw(st.sampled_from(["ab", "abc", "heads", "left", "right"]))
    bias = draw(st.booleans())
    cfg: dict[str, Any]
    if form == "ab":
        cfg, shp = {"equation": "ab,bc->ac", "output_shape": n_out}, (draw(batch), d)
        axes = "c"
    elif form == "abc":
        cfg, shp = {"equation": "abc,cd->abd", "output_shape": [None, n_out]}, (draw(batch), draw(time), d)
        axes = "d"
    elif form == "heads":
        t = draw(st.integers(1, 4))
        cfg, shp = {"equation": "abc,cde->abde", "output_shape": [t, 2, n_out]}, (draw(batch), t, d)
        axes = draw(st.sampled_from(["de", "e"]))
    elif form == "left":
        mid = draw(st.sampled_from([(), (3,), (None,), (4, 4)]))
        cfg, shp = {"equation": "...b,bc->...c", "output_shape": n_out}, (draw(batch), *mid, d)
        axes = "c"
    else:
        cfg, shp = {"equation": "abc...,cd->abd...", "output_shape": [None, n_out]}, (draw(batch), 3, d, 2)
        axes = "d"
    if bias:
        cfg["bias_axes"] = axes
    cfg["activation"] = draw(st.sampled_from([None, "relu"]))
    if draw(st.booleans()):
        cfg["lora_rank"] = draw(st.integers(1, 3))
    return cfg, shp


@strategy("Activation")
def _activation(draw: Any) -> Case:
    return {"activation": draw(st.sampled_from(["relu", "tanh", "gelu", None, "softmax"]))}, shape(draw, 2, 4)


@strategy("Identity")
def _identity(draw: Any) -> Case:
    return {"name": draw(st.sampled_from([None, "same", "other"]))}, shape(draw, 2, 5, known_last=False)


@strategy("Embedding")
def _embedding(draw: Any) -> Case:
    cfg = {
        "input_dim": draw(st.integers(1, 50)),
        "output_dim": draw(feat),
        "mask_zero": draw(st.booleans()),
        "embeddings_initializer": draw(st.sampled_from(["uniform", "glorot_uniform", {"type": "RandomNormal"}])),
    }
    if draw(st.booleans()):
        cfg["lora_rank"] = draw(st.integers(1, 3))
    return cfg, (draw(batch), *draw(st.sampled_from([(), (None,), (7,), (3, 2)])))


# --- normalization ----------------------------------------------------------


def _affine(draw: Any) -> dict[str, Any]:
    return {"center": draw(st.booleans()), "scale": draw(st.booleans()), "trainable": draw(st.booleans())}


@strategy("BatchNormalization")
def _batch_norm(draw: Any) -> Case:
    shp = (draw(batch), draw(st.integers(1, 4)), draw(feat))
    cfg = {**_affine(draw), "axis": draw(st.sampled_from([-1, 1, 2])), "momentum": draw(st.sampled_from([0.9, 0.99]))}
    if draw(st.booleans()):
        cfg["renorm"] = True
    return cfg, shp


@strategy("LayerNormalization")
def _layer_norm(draw: Any) -> Case:
    shp = (draw(batch), draw(st.integers(1, 4)), draw(feat))
    axis = draw(st.sampled_from([-1, 1, [1, 2], [-2, -1]]))
    return {**_affine(draw), "axis": axis, "epsilon": draw(st.sampled_from([1e-3, 1e-5]))}, shp


@strategy("GroupNormalization")
def _group_norm(draw: Any) -> Case:
    groups = draw(st.sampled_from([-1, 1, 2, 3]))
    channels = (abs(groups) if groups > 0 else 1) * draw(st.integers(1, 3))
    shp = (draw(batch), draw(time), channels)
    return {**_affine(draw), "groups": groups}, shp


@strategy("UnitNormalization")
def _unit_norm(draw: Any) -> Case:
    shp = (draw(batch), draw(time), draw(feat))
    return {"axis": draw(st.sampled_from([-1, 1, [1, 2]]))}, shp


# --- recurrent --------------------------------------------------------------


def _rnn(draw: Any, kind: str, *, backwards: bool = True) -> tuple[dict[str, Any], tuple]:
    b = draw(batch)
    t = draw(st.sampled_from([None, 2, 3]))
    cfg: dict[str, Any] = {
        "units": draw(st.integers(1, 4)),
        "return_sequences": draw(st.booleans()),
        "return_state": draw(st.booleans()),
        "use_bias": draw(st.booleans()),
        "dropout": draw(rate),
        "recurrent_dropout": draw(rate),
    }
    if backwards:
        cfg["go_backwards"] = draw(st.booleans())
    if b is not None and draw(st.booleans()):
        cfg["stateful"] = True
    if t is not None and draw(st.booleans()):
        cfg["unroll"] = True
    if kind == "GRU":
        cfg["reset_after"] = draw(st.booleans())
    if kind == "LSTM":
        cfg["unit_forget_bias"] = draw(st.booleans())
    if kind != "SimpleRNN":
        cfg["recurrent_activation"] = draw(st.sampled_from(["sigmoid", "hard_sigmoid"]))
    return cfg, (b, t, draw(st.integers(1, 3)))


for _kind in ("SimpleRNN", "LSTM", "GRU"):
    STRATEGIES[_kind] = st.composite(lambda draw, k=_kind: _rnn(draw, k))()


@strategy("Bidirectional")
def _bidirectional(draw: Any) -> Case:
    kind = draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"]))
    inner, shp = _rnn(draw, kind, backwards=False)
    if inner.get("stateful"):
        inner["return_state"] = False  # rejected: Keras 3 fails on it
    cfg: dict[str, Any] = {
        "layer": {"type": kind, **inner, "trainable": draw(st.booleans())},
        "merge_mode": draw(st.sampled_from(["concat", "sum", "mul", "ave", None])),
    }
    if draw(st.booleans()):
        other = {k: v for k, v in inner.items() if k in ("units", "return_sequences", "return_state", "stateful")}
        cfg["backward_layer"] = {"type": kind, **other, "go_backwards": True, "use_bias": draw(st.booleans())}
    return cfg, shp


@strategy("TimeDistributed")
def _time_distributed(draw: Any) -> Case:
    b, t = draw(batch), draw(time)
    inner = draw(st.sampled_from(["Dense", "EinsumDense", "LayerNormalization", "PReLU"]))
    if inner == "Dense":
        layer: dict[str, Any] = {"type": "Dense", "units": draw(feat), "use_bias": draw(st.booleans())}
        rest: tuple = draw(st.sampled_from([(3,), (2, 3)]))
    elif inner == "EinsumDense":
        layer = {"type": "EinsumDense", "equation": "ab,bc->ac", "output_shape": draw(feat), "bias_axes": "c"}
        rest = (draw(feat),)
    elif inner == "LayerNormalization":
        layer = {"type": "LayerNormalization", "scale": draw(st.booleans())}
        rest = (draw(st.sampled_from([None, 2])), draw(feat))
    else:
        layer = {"type": "PReLU", "shared_axes": draw(st.sampled_from([None, 1]))}
        rest = (2, draw(feat))
    return {"layer": layer}, (b, t, *rest)


# --- attention --------------------------------------------------------------


def _qvk(draw: Any, *, rank: int = 3, same_last: bool = False) -> list[tuple]:
    b = draw(batch)
    tq, tv = draw(time), draw(time)
    extra = tuple(draw(st.sampled_from([2, 3])) for _ in range(rank - 3))
    dq = draw(feat)
    dv = dq if same_last else draw(feat)
    dk = dq if same_last else draw(feat)
    shapes = [(b, *extra, tq, dq), (b, *extra, tv, dv)]
    if draw(st.booleans()):
        shapes.append((b, *extra, tv, dk))
    return shapes


@strategy("MultiHeadAttention")
def _mha(draw: Any) -> Case:
    rank = draw(st.sampled_from([3, 4]))
    shapes = _qvk(draw, rank=rank)
    cfg: dict[str, Any] = {
        "num_heads": draw(st.integers(1, 3)),
        "key_dim": draw(st.integers(1, 4)),
        "value_dim": draw(st.sampled_from([None, 2, 5])),
        "use_bias": draw(st.booleans()),
        "dropout": draw(rate),
        "output_shape": draw(st.sampled_from([None, 3, [2, 2]])),
        "use_gate": draw(st.booleans()),
    }
    if rank == 4 and draw(st.booleans()):
        cfg["attention_axes"] = 2
        shapes = [s[:1] + (shapes[0][1],) + s[2:] for s in shapes]  # non-attention axis 1 must agree
    return cfg, shapes


@strategy("GroupQueryAttention")
def _gqa(draw: Any) -> Case:
    kv = draw(st.integers(1, 3))
    cfg = {
        "head_dim": draw(st.integers(1, 4)),
        "num_key_value_heads": kv,
        "num_query_heads": kv * draw(st.integers(1, 3)),
        "use_bias": draw(st.booleans()),
        "use_gate": draw(st.booleans()),
        "dropout": draw(rate),
    }
    return cfg, _qvk(draw, same_last=True)


@strategy("Attention")
def _attention(draw: Any) -> Case:
    shapes = _qvk(draw, same_last=True)
    if len(shapes) == 3:
        shapes[1] = shapes[1][:-1] + (draw(feat),)  # value features are free when key is given
    cfg = {"use_scale": draw(st.booleans()), "score_mode": draw(st.sampled_from(["dot", "concat"])), "dropout": draw(rate)}
    return cfg, shapes


@strategy("AdditiveAttention")
def _additive(draw: Any) -> Case:
    shapes = _qvk(draw, same_last=True)
    if len(shapes) == 3:
        shapes[1] = shapes[1][:-1] + (draw(feat),)
    return {"use_scale": draw(st.booleans()), "dropout": draw(rate)}, shapes


# --- merge ------------------------------------------------------------------


def _elementwise(draw: Any, n_max: int) -> Case:
    base = shape(draw, 2, 4, known_last=False)
    n = draw(st.integers(2, n_max))
    low_rank = len(base) > 2 and draw(st.booleans())
    shapes = []
    for i in range(n):
        s = list(base)
        if low_rank and i == n - 1:
            s = [base[0], base[-1]]  # a lower-rank input aligns on the right
        elif len(s) > 2 and s[1] is not None and draw(st.booleans()):
            s[1] = 1  # a size-1 axis broadcasts
        shapes.append(tuple(s))
    return {}, shapes


for _kind, _n in (("Add", 4), ("Subtract", 2), ("Multiply", 4), ("Average", 3), ("Maximum", 3), ("Minimum", 3)):
    STRATEGIES[_kind] = st.composite(lambda draw, n=_n: _elementwise(draw, n))()


@strategy("Concatenate")
def _concatenate(draw: Any) -> Case:
    base = shape(draw, 2, 4)
    index = draw(st.integers(1, len(base) - 1))
    axis = draw(st.sampled_from([index, index - len(base)]))
    shapes = []
    for _ in range(draw(st.integers(2, 4))):
        s = list(base)
        s[index] = draw(st.sampled_from([None, 1, 2, 4]))
        shapes.append(tuple(s))
    return {"axis": axis}, shapes


@strategy("Dot")
def _dot(draw: Any) -> Case:
    b = draw(batch)
    if draw(st.booleans()):
        d = draw(feat)
        shapes = [(b, d), (b, d)]
        axes: Any = draw(st.sampled_from([1, -1, [1, 1]]))
    else:
        t1, t2, d = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(feat)
        if draw(st.booleans()):
            shapes, axes = [(b, t1, d), (b, t2, d)], draw(st.sampled_from([2, -1, [2, 2]]))
        else:
            shapes, axes = [(b, t1, d), (b, t1, t2)], [1, 1]
    return {"axes": axes, "normalize": draw(st.booleans())}, shapes


# --- activation -------------------------------------------------------------


@strategy("ReLU")
def _relu(draw: Any) -> Case:
    cfg = {
        "max_value": draw(st.sampled_from([None, 6.0, 1.0])),
        "negative_slope": draw(st.sampled_from([0.0, 0.1])),
        "threshold": draw(st.sampled_from([0.0, 0.5])),
    }
    return cfg, shape(draw, 2, 4, known_last=False)


@strategy("LeakyReLU")
def _leaky(draw: Any) -> Case:
    return {"negative_slope": draw(st.sampled_from([0.3, 0.01, 0.0]))}, shape(draw, 2, 4, known_last=False)


@strategy("ELU")
def _elu(draw: Any) -> Case:
    return {"alpha": draw(st.sampled_from([1.0, 0.5, 0.1, 2.0]))}, shape(draw, 2, 4, known_last=False)


@strategy("Softmax")
def _softmax(draw: Any) -> Case:
    shp = shape(draw, 3, 4, known_last=False)
    return {"axis": draw(st.sampled_from([-1, 1, [1, -1]]))}, shp


@strategy("PReLU")
def _prelu(draw: Any) -> Case:
    rank = draw(st.integers(2, 4))
    dims = [draw(st.sampled_from([None, 2, 3])) for _ in range(rank - 1)]
    shared = [i + 1 for i, d in enumerate(dims) if d is None or draw(st.booleans())]
    cfg: dict[str, Any] = {"alpha_initializer": draw(st.sampled_from(["Zeros", "ones", "random_uniform"]))}
    if shared:
        cfg["shared_axes"] = shared[0] if len(shared) == 1 and draw(st.booleans()) else shared
    return cfg, (draw(batch), *dims)


# --- parity -----------------------------------------------------------------


class _Unpacked(keras.layers.Layer):
    """Calls a layer as ``layer(query, value, key)`` on a list input (MultiHeadAttention's convention)."""

    def __init__(self, inner: keras.layers.Layer) -> None:
        super().__init__()
        self.inner = inner

    def call(self, inputs: list[Any]) -> Any:
        return self.inner(*inputs)


def _unpacking(to_keras_layer: Callable[..., Any]) -> Callable[..., Any]:
    def build(spec: Any, name: str | None = None) -> Any:
        layer = to_keras_layer(spec, name)
        return _Unpacked(layer) if getattr(spec, "unpack_inputs", False) else layer

    return build


@pytest.mark.parametrize("layer_type", sorted(STRATEGIES))
def test_static_rule_matches_keras(layer_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parity, "to_keras_layer", _unpacking(_parity.to_keras_layer))
    seen: set[str] = set()

    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(STRATEGIES[layer_type])
    def run(case: Case) -> None:
        config, input_shape = case
        seen.add(repr(case))
        check_parity(layer_type, config, input_shape)

    run()
    assert len(seen) >= 20, f"only {len(seen)} distinct examples for {layer_type}"


def test_every_field_has_a_description() -> None:
    for name in STRATEGIES:
        cls = get_layer_spec(name)
        missing = [f for f, info in cls.model_fields.items() if not info.description]
        assert not missing, f"{name} fields without a description: {missing}"


# --- error messages ---------------------------------------------------------


def spec(layer_type: str, **config: Any) -> Any:
    return get_layer_spec(layer_type).model_validate({"type": layer_type, **config})


def test_merge_shape_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"^Add needs inputs of the same shape, received \(None, 4\) and \(None, 5\)"):
        spec("Add").output_shape([(None, 4), (None, 5)])


def test_merge_batch_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"Multiply needs inputs with the same batch size, received \[\(2, 4\), \(3, 4\)\]"):
        spec("Multiply").output_shape([(2, 4), (3, 4)])


def test_subtract_takes_two_inputs() -> None:
    with pytest.raises(ShapeError, match=r"^Subtract takes 2 inputs, received 3: \[\(None, 4\), \(None, 4\), \(None, 4\)\]$"):
        spec("Subtract").output_shape([(None, 4)] * 3)


def test_merge_needs_a_list() -> None:
    with pytest.raises(ShapeError, match=r"^Add takes a list of inputs, received one input of shape \(None, 4\)$"):
        spec("Add").output_shape((None, 4))


def test_concatenate_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"Concatenate needs inputs that match except on axis -1, received \(None, 2, 3\) and \(None, 4, 3\) \(they differ on axis 1\)"):
        spec("Concatenate").output_shape([(None, 2, 3), (None, 4, 3)])


def test_dot_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"Dot needs equal sizes on the summed axes, received 3 \(axis 1 of \(None, 3\)\) and 4"):
        spec("Dot", axes=1).output_shape([(None, 3), (None, 4)])


def test_bidirectional_unknown_type_suggests() -> None:
    with pytest.raises(ValidationError) as info:
        spec("Bidirectional", layer={"type": "LSMT", "units": 4})
    (error,) = info.value.errors()
    assert error["loc"] == ("layer",)
    assert error["msg"].startswith("Value error, unknown layer type 'LSMT' (Did you mean 'LSTM'?)")


def test_bidirectional_needs_a_recurrent_layer() -> None:
    with pytest.raises(ValidationError, match=r"Bidirectional wraps a recurrent layer \(SimpleRNN, LSTM, GRU, …\), received Dense"):
        spec("Bidirectional", layer={"type": "Dense", "units": 4})


def test_bidirectional_nested_field_error() -> None:
    with pytest.raises(ValidationError, match=r"units\n\s+Input should be greater than 0"):
        spec("Bidirectional", layer={"type": "LSTM", "units": 0})


def test_bidirectional_backward_layer_must_go_backwards() -> None:
    with pytest.raises(ValidationError, match=r"different go_backwards, received go_backwards=False for both"):
        spec("Bidirectional", layer={"type": "GRU", "units": 2}, backward_layer={"type": "GRU", "units": 2})


def test_bidirectional_backward_units_must_match() -> None:
    layer = spec(
        "Bidirectional", layer={"type": "GRU", "units": 2}, backward_layer={"type": "GRU", "units": 3, "go_backwards": True}
    )
    with pytest.raises(ShapeError, match=r"backward layer to output the same shape as the forward layer, received \(None, 2\) and \(None, 3\)"):
        layer.output_shape((None, 5, 4))


def test_bidirectional_dump_keeps_nested_type() -> None:
    layer = spec("Bidirectional", layer={"type": "LSTM", "units": 3}, merge_mode=None)
    assert layer.to_dict() == {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 3}, "merge_mode": None}
    assert layer.model_dump(exclude_defaults=True)["layer"] == {"type": "LSTM", "units": 3}


def test_rnn_on_rank_2_input() -> None:
    with pytest.raises(ShapeError, match=r"^LSTM expects an input of rank 3 \(batch included\), received shape \(None, 8\)$"):
        spec("LSTM", units=4).output_shape((None, 8))


def test_rnn_stateful_needs_batch() -> None:
    with pytest.raises(ShapeError, match=r"GRU with stateful: true needs a known batch size, received shape \(None, 3, 2\)"):
        spec("GRU", units=4, stateful=True).output_shape((None, 3, 2))


def test_time_distributed_rank() -> None:
    with pytest.raises(ShapeError, match=r"TimeDistributed expects an input of rank 3 or more \(batch, time, \.\.\.\), received shape \(None, 8\)"):
        spec("TimeDistributed", layer={"type": "Dense", "units": 2}).output_shape((None, 8))


def test_einsum_bad_equation() -> None:
    with pytest.raises(ValidationError, match=r"invalid einsum equation 'ab,bc-ac'; expected the form 'ab,bc->ac'"):
        spec("EinsumDense", equation="ab,bc-ac", output_shape=4)


def test_einsum_rank_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"EinsumDense equation 'abc,cd->abd' names 3 input axes, received an input of rank 2 \(None, 4\)"):
        spec("EinsumDense", equation="abc,cd->abd", output_shape=[None, 2]).output_shape((None, 4))


def test_einsum_left_ellipsis_keras_bug() -> None:
    with pytest.raises(ShapeError, match=r"Keras 3 computes a wrong symbolic shape .* \(6, 2\); write those axes out"):
        spec("EinsumDense", equation="...b,bc->...c", output_shape=4).output_shape((None, 6, 2, 3))


def test_group_normalization_groups() -> None:
    with pytest.raises(ShapeError, match=r"GroupNormalization splits 6 channels into 4 groups"):
        spec("GroupNormalization", groups=4).output_shape((None, 3, 6))


def test_mha_value_key_mismatch() -> None:
    with pytest.raises(ShapeError, match=r"MultiHeadAttention needs value and key to match in all but the last axis, received value \(None, 5, 4\) and key \(None, 6, 4\)"):
        spec("MultiHeadAttention", num_heads=2, key_dim=2).output_shape([(None, 3, 4), (None, 5, 4), (None, 6, 4)])


def test_gqa_heads_must_divide() -> None:
    with pytest.raises(ValidationError, match=r"num_query_heads \(3\) must be a multiple of num_key_value_heads \(2\)"):
        spec("GroupQueryAttention", head_dim=2, num_query_heads=3, num_key_value_heads=2)


def test_prelu_unknown_axis() -> None:
    with pytest.raises(ShapeError, match=r"PReLU needs known sizes on the axes it does not share, received shape \(None, None, 3\)"):
        spec("PReLU").param_counts((None, None, 3))


def test_rate_out_of_range() -> None:
    with pytest.raises(ValidationError, match=r"dropout\n\s+Input should be less than 1"):
        spec("GRU", units=2, dropout=1.0)
