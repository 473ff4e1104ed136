"""One output of a multi-output node (``in: enc.1``) and named call arguments (``call: {...}``)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import BuildError, SpecError

from .test_op_nodes import _round_trip

SEQ2SEQ = """\
netform: 1
name: seq2seq
kind: functional
inputs:
  source: {shape: [5, 3]}
  target: {shape: [4, 2]}
nodes:
  enc: {type: LSTM, units: 6, return_state: true, in: source}
  dec: {type: LSTM, units: 6, return_sequences: true, in: target, call: {initial_state: [enc.1, enc.2]}}
  out: {type: Dense, units: 2, in: dec}
outputs: [out]
"""


def _seq2seq_keras() -> keras.Model:
    source = keras.Input((5, 3), name="source")
    target = keras.Input((4, 2), name="target")
    _, h, c = keras.layers.LSTM(6, return_state=True, name="enc")(source)
    dec = keras.layers.LSTM(6, return_sequences=True, name="dec")(target, initial_state=[h, c])
    return keras.Model([source, target], keras.layers.Dense(2, name="out")(dec))


def _data(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 5, 3)).astype("float32"), rng.normal(size=(3, 4, 2)).astype("float32")]


def test_lstm_encoder_decoder_round_trips() -> None:
    model = _seq2seq_keras()
    spec = nf.from_keras(model)
    assert spec.nodes is not None
    assert spec.nodes["dec"].call == {"initial_state": ["enc.1", "enc.2"]}
    _round_trip(model, *_data(0))


def test_written_encoder_decoder_builds_what_keras_builds() -> None:
    spec = nf.load_spec(SEQ2SEQ)
    model = nf.build(spec)
    reference = _seq2seq_keras()
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(_data(1), verbose=0), reference.predict(_data(1), verbose=0), atol=1e-6)
    rows = {r.name: r for r in nf.summary(spec).rows}
    assert rows["enc"].output_shape == [(None, 6), (None, 6), (None, 6)]
    assert rows["enc.1"].output_shape == (None, 6) and rows["dec"].inputs == ("target", "enc.1", "enc.2")
    assert nf.summary(spec).total_params == reference.count_params()
    # without the state the decoder starts from zeros: the call argument really reaches the layer
    plain = nf.build(nf.load_spec(SEQ2SEQ.replace(", call: {initial_state: [enc.1, enc.2]}", "")))
    for name in ("dec", "out"):
        plain.get_layer(name).set_weights(model.get_layer(name).get_weights())
    assert not np.allclose(plain.predict(_data(1), verbose=0), model.predict(_data(1), verbose=0))


ATTENTION = """\
netform: 1
name: causal
kind: functional
inputs: {x: {shape: [4, 8]}}
nodes:
  att:
    type: MultiHeadAttention
    num_heads: 2
    key_dim: 4
    in: [x, x]
    call: {use_causal_mask: true, return_attention_scores: true}
  pooled: {type: GlobalAveragePooling1D, in: att.0}
outputs: [pooled, att.1]
"""


def _attention_keras() -> keras.Model:
    x = keras.Input((4, 8), name="x")
    out, scores = keras.layers.MultiHeadAttention(2, 4, name="att")(x, x, use_causal_mask=True,
                                                                      return_attention_scores=True)
    return keras.Model(x, [keras.layers.GlobalAveragePooling1D(name="pooled")(out), scores])


def test_causal_attention_with_scores_round_trips() -> None:
    model = _attention_keras()
    spec = nf.from_keras(model)
    assert spec.nodes is not None and spec.outputs is not None
    assert spec.nodes["att"].call == {"use_causal_mask": True, "return_attention_scores": True}
    assert spec.outputs[1] == "att.1"
    _round_trip(model, np.random.default_rng(2).normal(size=(2, 4, 8)).astype("float32"))


def test_written_causal_attention_builds_what_keras_builds() -> None:
    spec = nf.load_spec(ATTENTION)
    model = nf.build(spec)
    reference = _attention_keras()
    reference.set_weights(model.get_weights())
    x = np.random.default_rng(3).normal(size=(2, 4, 8)).astype("float32")
    got, want = model.predict(x, verbose=0), reference.predict(x, verbose=0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6)
    assert np.allclose(np.triu(got[1][0, 0], 1), 0), "the causal mask reached the layer"
    assert nf.summary(spec).row("att.1").output_shape == (None, 2, 4, 4) == tuple(reference.outputs[1].shape)


def test_key_and_attention_mask_are_call_arguments() -> None:
    spec = nf.load_spec("""\
netform: 1
kind: functional
inputs: {q: {shape: [3, 4]}, v: {shape: [5, 4]}, k: {shape: [5, 4]}, m: {shape: [3, 5], dtype: bool}}
nodes:
  att: {type: MultiHeadAttention, num_heads: 1, key_dim: 2, in: [q, v], call: {key: k, attention_mask: m}}
outputs: [att]
""")
    model = nf.build(spec)
    q, v, k = (keras.Input(s) for s in ((3, 4), (5, 4), (5, 4)))
    m = keras.Input((3, 5), dtype="bool")
    reference = keras.Model([q, v, k, m], keras.layers.MultiHeadAttention(1, 2)(q, v, key=k, attention_mask=m))
    reference.set_weights(model.get_weights())
    rng = np.random.default_rng(4)
    data = [rng.normal(size=(2, *s)).astype("float32") for s in ((3, 4), (5, 4), (5, 4))]
    data.append(rng.uniform(size=(2, 3, 5)) > 0.3)
    np.testing.assert_allclose(model.predict(data, verbose=0), reference.predict(data, verbose=0), atol=1e-6)
    _round_trip(reference, *data)


def test_bad_output_names_and_call_arguments_are_located_errors() -> None:
    with pytest.raises(SpecError, match=r"<string>:9:\d+: nodes\.dec\.call\.initial_state\[1\]: 'enc' has 3 outputs \(enc\.0, enc\.1, enc\.2\); "
                                        r"'enc\.3' is not one of them"):
        nf.summary(nf.load_spec(SEQ2SEQ.replace("enc.2]", "enc.3]")))
    with pytest.raises(SpecError, match=r"'out' has one output, so 'out\.1' names nothing; write 'out'"):
        nf.summary(nf.load_spec(SEQ2SEQ.replace("outputs: [out]", "outputs: [out.1]")))
    with pytest.raises(SpecError, match=r"<string>:9:\d+: nodes\.dec\.call\.initial_states: LSTM has no call argument "
                                        r"'initial_states' \(Did you mean 'initial_state'\?\); its call arguments: "
                                        r"initial_state, mask, training"):
        nf.load_spec(SEQ2SEQ.replace("{initial_state:", "{initial_states:"))
    with pytest.raises(SpecError, match=r"Dense has no call argument 'mask'; its call arguments: training"):
        nf.load_spec(SEQ2SEQ.replace("in: dec}", "in: dec, call: {mask: dec}}"))
    with pytest.raises(SpecError, match=r"nodes\.dec\.call\.initial_state\[1\]: unknown node or input 'enc2'"):
        nf.load_spec(SEQ2SEQ.replace("enc.2]", "enc2]"))
    with_block = ("blocks:\n  two:\n    nodes:\n      a: {type: Dense, units: 2, in: x}\n"
                  "      b: {type: Dense, units: 3, in: x}\n    outputs: [a, b]\nnodes:")
    text = SEQ2SEQ.replace("nodes:", with_block).replace("  out: {type: Dense, units: 2, in: dec}",
                                                         "  pair: {block: two, in: dec}\n  out: {type: Add, in: [pair.a, pair.c]}")
    with pytest.raises(SpecError, match=r"nodes\.out\.in\[1\]: 'pair\.c' names an output that 'pair' does not have; "
                                        r"its outputs: pair\.a, pair\.b \(or pair\.0 to pair\.1\)"):
        nf.load_spec(text)
    spec = nf.load_spec(text.replace("pair.c]", "pair.1]").replace("units: 3", "units: 2"))
    assert nf.summary(spec).row("out").inputs == ("pair.a", "pair.b")  # pair.1 is the block's second output


def test_call_arguments_need_the_functional_api() -> None:
    with pytest.raises(BuildError, match=r"api='subclass' cannot build a (pick of one output|node with call "
                                         r"arguments)"):
        nf.build(nf.load_spec(SEQ2SEQ), api="subclass")


@pytest.mark.parametrize(("shape", "axes"), [((4, 8), None), ((4, 8), [1]), ((3, 4, 8), None), ((3, 4, 8), [2]),
                                             ((3, 4, 8), [1, 2])])
def test_attention_scores_shape_equals_keras(shape: tuple[int, ...], axes: list[int] | None) -> None:
    text = ATTENTION.replace("[4, 8]", str(list(shape))).replace("key_dim: 4", f"key_dim: 4\n    attention_axes: {json.dumps(axes)}")
    text = text.replace("use_causal_mask: true, ", "").replace("  pooled: {type: GlobalAveragePooling1D, in: att.0}\n",
                                                               "").replace("[pooled, att.1]", "[att.0, att.1]")
    x = keras.Input(shape)
    out, scores = keras.layers.MultiHeadAttention(2, 4, attention_axes=axes)(x, x, return_attention_scores=True)
    summary = nf.summary(nf.load_spec(text))
    assert summary.row("att.1").output_shape == tuple(scores.shape)
    assert summary.row("att.0").output_shape == tuple(out.shape)


def test_a_propagated_mask_round_trips() -> None:
    """Keras records Embedding's mask as the LSTM's `mask` argument; the spec leaves it to Keras to propagate again."""
    ids = keras.Input((6,), dtype="int32", name="ids")
    emb = keras.layers.Embedding(10, 4, mask_zero=True, name="emb")(ids)
    model = keras.Model(ids, keras.layers.LSTM(3, name="rnn")(emb))
    spec = nf.from_keras(model)
    assert spec.kind == "functional" and spec.nodes is not None and list(spec.nodes) == ["emb", "rnn"]
    assert not spec.nodes["rnn"].call  # Keras propagates the mask again when the spec is built
    sequential = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(10, 4, mask_zero=True),
                                   keras.layers.LSTM(3)])
    assert nf.from_keras(sequential).kind == "sequential"
    data = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 0, 0, 0, 0]], "int32")
    rebuilt = _round_trip(model, data)
    # an explicit mask is written as a call argument
    explicit = keras.Model(ids, keras.layers.LSTM(3)(emb, mask=keras.ops.greater(ids, 1)))
    explicit_spec = nf.from_keras(explicit)
    assert [n.layer.op for n in (explicit_spec.nodes or {}).values() if n.layer and n.layer.type == "Op"] == ["greater"]
    _round_trip(explicit, data)
    # the mask is in effect: without it the padded steps change the result
    unmasked = keras.Model(ids, keras.layers.LSTM(3)(keras.layers.Embedding(10, 4)(ids)))
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(unmasked.predict(data, verbose=0), rebuilt.predict(data, verbose=0), atol=1e-4)
