"""Shared layers and call-argument tensors against Keras: what validate accepts builds and runs, what it
refuses fails in Keras too; a chain of shares through a nested block use builds; netform's own failures
in build are not reported as Keras's."""

from __future__ import annotations

import textwrap
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import BuildError

CHAIN = textwrap.dedent(
    """\
    netform: 1
    kind: functional
    inputs: {x: {shape: [8]}}
    blocks:
      blk:
        nested: true
        layers: [{type: Dense, units: 8}]
    nodes:
      a: {block: blk, in: x}
      b: {shares: a, in: a}
      c: {shares: b, in: b}
    outputs: [c]
    """
)


def test_chained_shares_of_a_nested_block_build_with_one_set_of_weights() -> None:
    model = nf.build(CHAIN)
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    out = model.predict(x, verbose=0)
    assert out.shape == (3, 8)
    assert model.count_params() == 8 * 8 + 8
    dense = next(w for w in model.weights if w.name == "kernel")
    kernel, bias = dense.numpy(), next(w for w in model.weights if w.name == "bias").numpy()
    expected = x
    for _ in range(3):
        expected = expected @ kernel + bias
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_netform_failure_in_build_is_not_reported_as_keras_refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    import netform.builder._build as build_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("b")

    monkeypatch.setattr(build_module, "_emit", broken)
    with pytest.raises(KeyError) as info:
        nf.build(
            "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n  d: {type: Dense, units: 2, in: x}\n"
            "outputs: [d]\n"
        )
    assert not isinstance(info.value, BuildError)


def _spec(inputs: str, nodes: str, outputs: str) -> str:
    body = "".join(f"  {line}\n" for line in nodes.splitlines() if line)
    return f"netform: 1\nkind: functional\ninputs: {inputs}\nnodes:\n{body}outputs: {outputs}\n"


def _feed(model: keras.Model) -> list[np.ndarray]:
    return [np.ones((2, *t.shape[1:]), t.dtype) for t in model.inputs]


FITS = [
    ("{x: {shape: [4, 3]}, y: {shape: [7, 3]}}", "a: {type: LSTM, units: 2, in: x}\nb: {shares: a, in: y}"),
    (
        "{x: {shape: [4, 3]}, y: {shape: [7, 3]}}",
        "a: {type: Bidirectional, layer: {type: LSTM, units: 2}, in: x}\nb: {shares: a, in: y}",
    ),
    (
        "{x: {shape: [8, 8, 3]}, y: {shape: [6, 9, 3]}}",
        "a: {type: Conv2D, filters: 2, kernel_size: 3, in: x}\nb: {shares: a, in: y}",
    ),
    ("{x: {shape: [3]}, y: {shape: [4, 3]}}", "a: {type: Dense, units: 2, in: x}\nb: {shares: a, in: y}"),
    ("{x: {shape: [3]}, y: {shape: [4, 3]}}", "a: {type: LayerNormalization, in: x}\nb: {shares: a, in: y}"),
    (
        "{x: {shape: [4, 3]}, v: {shape: [6, 5]}, y: {shape: [7, 3]}, w: {shape: [2, 5]}}",
        "a: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [x, v]}\nb: {shares: a, in: [y, w]}",
    ),
    (
        "{x: {shape: [5, 3]}, s: {shape: [4]}}",
        "a: {type: Dense, units: 4, in: s}\n"
        "b: {type: Bidirectional, layer: {type: LSTM, units: 4}, in: x, call: {initial_state: [a, a, a, a]}}",
    ),
    (
        "{x: {shape: [5, 3]}, s: {shape: [4]}}",
        "a: {type: Dense, units: 4, in: s}\nb: {type: GRU, units: 4, in: x, call: {initial_state: a}}",
    ),
    (
        "{x: {shape: [5, 4]}, v: {shape: [6, 4]}, m: {shape: [1, 6], dtype: bool}}",
        "b: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [x, v], call: {attention_mask: m}}",
    ),
]


@pytest.mark.parametrize("case", range(len(FITS)))
def test_accepted_cases_build_and_run(case: int) -> None:
    inputs, nodes = FITS[case]
    model = nf.build(_spec(inputs, nodes, "[b]"))
    model.predict(_feed(model), verbose=0)


def _run(build: Any, shapes: list[tuple[int, ...]], dtypes: list[str] | None = None) -> None:
    tensors = [keras.Input(s, dtype=(dtypes or ["float32"] * len(shapes))[i]) for i, s in enumerate(shapes)]
    model = keras.Model(tensors, build(*tensors))
    model.predict([np.ones((2, *s), t.dtype) for s, t in zip(shapes, tensors)], verbose=0)


def _shared(layer: Any, n: int = 1) -> Any:
    def build(*t: Any) -> Any:
        a = layer(*t[:n]) if n > 1 else layer(t[0])
        b = layer(*t[n:]) if n > 1 else layer(t[n])
        return [a, b]

    return build


REFUSED = {
    "lstm": (lambda: _shared(keras.layers.LSTM(2)), [(5, 3), (5, 6)]),
    "prelu_same_count": (lambda: _shared(keras.layers.PReLU()), [(2, 3), (3, 2)]),
    "prelu_rank": (lambda: _shared(keras.layers.PReLU()), [(3,), (4, 3)]),
    "batch_norm_rank": (lambda: _shared(keras.layers.BatchNormalization()), [(3,), (4, 3)]),
    "layer_norm": (lambda: _shared(keras.layers.LayerNormalization()), [(3,), (5,)]),
    "mha_rank": (lambda: _shared(keras.layers.MultiHeadAttention(1, 2), 2), [(4, 3), (4, 3), (2, 4, 3), (2, 4, 3)]),
    "mha_swapped": (lambda: _shared(keras.layers.MultiHeadAttention(1, 2), 2), [(4, 3), (4, 5), (4, 5), (4, 3)]),
    "bidirectional": (lambda: _shared(keras.layers.Bidirectional(keras.layers.LSTM(2))), [(4, 3), (4, 5)]),
    "lstm_one_state": (lambda: lambda x, s: keras.layers.LSTM(4)(x, initial_state=[s]), [(5, 3), (4,)]),
    "lstm_state_width": (lambda: lambda x, s: keras.layers.LSTM(4)(x, initial_state=[s, s]), [(5, 3), (7,)]),
    "lstm_state_rank": (lambda: lambda x, s: keras.layers.LSTM(4)(x, initial_state=[s, s]), [(5, 3), (2, 4)]),
    "bidirectional_two_states": (
        lambda: lambda x, s: keras.layers.Bidirectional(keras.layers.LSTM(4))(x, initial_state=[s, s]),
        [(5, 3), (4,)],
    ),
    "attention_mask": (
        lambda: lambda x, m: keras.layers.MultiHeadAttention(1, 2)(x, x, attention_mask=m),
        [(5, 4), (3, 7)],
    ),
    "attention_mask_swapped": (
        lambda: lambda x, v, m: keras.layers.MultiHeadAttention(1, 2)(x, v, attention_mask=m),
        [(5, 4), (6, 4), (6, 5)],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_cases_fail_in_keras(case: str) -> None:
    make, shapes = REFUSED[case]
    dtypes = ["float32"] * (len(shapes) - 1) + ["bool"] if case.startswith("attention") else None
    with pytest.raises(Exception):  # Keras fails with ValueError or IndexError by case
        _run(make(), shapes, dtypes)
