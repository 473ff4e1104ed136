"""Op nodes in built models: keras.ops calls in a functional graph round-trip through a spec."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import BuildError, SpecError


def _round_trip(model: keras.Model, *inputs: np.ndarray) -> keras.Model:
    """from_keras → to_yaml → load_spec → build, with the same weights: same parameters and predictions."""
    spec = nf.from_keras(model)
    text = spec.to_yaml()
    again = nf.load_spec(text)
    assert again == spec
    rebuilt = nf.build(again)
    assert rebuilt.count_params() == model.count_params()
    assert nf.summary(again).total_params == model.count_params()
    rebuilt.set_weights(model.get_weights())
    want = model.predict(list(inputs) if len(inputs) > 1 else inputs[0], verbose=0)
    got = rebuilt.predict(list(inputs) if len(inputs) > 1 else inputs[0], verbose=0)
    for w, g in zip(want if isinstance(want, list) else [want], got if isinstance(got, list) else [got]):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)
    return rebuilt


@pytest.mark.slow
def test_mobilenet_v3_small_round_trips() -> None:
    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None)
    spec = nf.from_keras(model)
    ops = [n.layer for n in (spec.nodes or {}).values() if n.layer is not None and n.layer.type == "Op"]
    assert {op.op for op in ops} == {"add", "multiply"} and len(ops) == 18  # hard_swish's x + 3 and * (1 / 6)
    _round_trip(model, np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32"))


def _ops_model() -> keras.Model:
    x = keras.Input((4, 6), name="x")
    y = keras.Input((4, 6), name="y")
    a = keras.layers.Dense(6, name="proj")(x)
    h = (a + 3.0) * (1.0 / 6.0)
    h = -h + keras.ops.maximum(a, y) - keras.ops.minimum(a, 0.5) / 2.0
    h = keras.ops.power(keras.ops.abs(h), 2.0) + keras.ops.sqrt(keras.ops.square(y) + 1.0)
    h = keras.ops.exp(keras.ops.log(keras.ops.clip(h, 0.1, 6.0)))
    r = keras.ops.reshape(h, (-1, 24))
    t = keras.ops.transpose(h, (0, 2, 1))
    e = keras.ops.squeeze(keras.ops.expand_dims(h, 1), axis=1)
    c = keras.ops.concatenate([e, y], axis=-1)
    s = keras.ops.stack([h, y], axis=1)
    p1, p2 = keras.ops.split(c, 2, axis=-1)
    g = h[:, 0] + h[:, -1, ::-1] * 2
    m = keras.ops.mean(c, axis=1) + keras.ops.sum(c, axis=1) - keras.ops.max(c, axis=1) + keras.ops.min(c, axis=1)
    mm = keras.ops.matmul(t, h) + keras.ops.einsum("bji,bjk->bik", h, h)
    act = (keras.ops.relu(p1) + keras.ops.sigmoid(p2) + keras.ops.softmax(p1, axis=-1) + keras.ops.gelu(p2)
           + keras.ops.silu(p1) + keras.ops.hard_sigmoid(p2) + keras.ops.hard_swish(p1))
    w = keras.ops.where(keras.ops.greater(act, 0.5), act, keras.ops.cast(p1, "float32"))
    img = keras.ops.image.resize(keras.ops.expand_dims(h, -1), (8, 12))
    mean, var = keras.ops.moments(2.0 - c, axes=[1])  # an op with two outputs, a constant first
    spread = keras.ops.pad(keras.ops.flip(1.0 / (keras.ops.abs(c) + 1.0), axis=1), [[0, 0], [1, 1], [0, 0]])
    m = m + mean + var + keras.ops.sum(spread, axis=1)
    out = keras.layers.Dense(3, name="head")(keras.ops.concatenate([r, g, m, keras.ops.reshape(w, (-1, 24))], -1))
    return keras.Model([x, y], [out, s, mm, img], name="ops_model")


def test_functional_model_with_ops_round_trips() -> None:
    rng = np.random.default_rng(1)
    model = _ops_model()
    _round_trip(model, rng.normal(size=(3, 4, 6)).astype("float32"), rng.normal(size=(3, 4, 6)).astype("float32"))
    nodes = nf.from_keras(model).nodes or {}
    ops = {n.layer.op for n in nodes.values() if n.layer is not None and n.layer.type == "Op"}  # type: ignore[attr-defined]
    assert {"negative", "subtract", "true_divide", "getitem", "split", "moments", "matmul", "where", "image.resize",
            "hard_silu", "cast", "pad", "flip", "einsum"} <= ops
    moments = next(name for name, n in nodes.items() if n.layer is not None and getattr(n.layer, "op", "") == "moments")
    assert {f"{moments}.0", f"{moments}.1"} <= {ref for n in nodes.values() for ref in n.inputs}


SPEC = """\
netform: 1
name: ops
kind: functional
inputs: {x: {shape: [4, 6]}}
nodes:
  proj: {type: Dense, units: 6, in: x}
  plus3: {op: add, in: [proj, 3.0]}
  gate: {op: multiply, in: [plus3, 0.5]}
  pick: {op: getitem, in: gate, index: "[:, 0]"}
  flat: {op: reshape, in: gate, newshape: [-1, 24]}
  both: {op: concatenate, in: [pick, flat], axis: -1}
  head: {type: Dense, units: 2, in: both}
  norm: {op: softmax, in: head}
outputs: [norm]
"""


def test_written_op_nodes_build_what_keras_builds() -> None:
    spec = nf.load_spec(SPEC)
    model = nf.build(spec)
    x = keras.Input((4, 6))
    proj = keras.layers.Dense(6)(x)
    gate = (proj + 3.0) * 0.5
    both = keras.ops.concatenate([gate[:, 0], keras.ops.reshape(gate, (-1, 24))], axis=-1)
    reference = keras.Model(x, keras.ops.softmax(keras.layers.Dense(2)(both)))
    reference.set_weights(model.get_weights())
    data = np.random.default_rng(2).normal(size=(5, 4, 6)).astype("float32")
    np.testing.assert_allclose(model.predict(data, verbose=0), reference.predict(data, verbose=0), atol=1e-6)
    assert model.count_params() == reference.count_params() == nf.summary(spec).total_params
    rows = {r.name: r for r in nf.summary(spec).rows}
    assert rows["plus3"].trainable == rows["plus3"].non_trainable == 0
    assert rows["flat"].output_shape == (None, 24) and rows["both"].output_shape == (None, 30)
    _round_trip(model, data)  # and what was built exports to a spec again


def test_op_errors_name_the_place_and_the_fix() -> None:
    bad = SPEC.replace("{op: reshape, in: gate, newshape: [-1, 24]}", "{op: reshape, in: gate, shape: [-1, 24]}")
    with pytest.raises(SpecError, match=r"<string>:10:33: nodes\.flat\.shape: op reshape has no argument 'shape' "
                                        r"\(Did you mean 'newshape'\?\); its arguments: x, newshape$"):
        nf.load_spec(bad)
    with pytest.raises(SpecError, match=r"unknown op 'mutliply' \(Did you mean 'multiply'\?\)"):
        nf.load_spec(SPEC.replace("op: multiply", "op: mutliply"))
    with pytest.raises(SpecError, match=r"<string>:9:3: nodes\.pick: op getitem: index 7 is out of range for axis 1 "
                                        r"of size 4 \(input shapes?: \(None, 4, 6\)\)"):
        nf.summary(nf.load_spec(SPEC.replace('"[:, 0]"', '"[:, 7]"')))
    with pytest.raises(SpecError, match="op reshape needs 'newshape'"):
        nf.load_spec(SPEC.replace(", newshape: [-1, 24]", ""))
    with pytest.raises(SpecError, match=r"nodes\.pick\.index: index item 'a' in '\[:, a\]' is not an integer"):
        nf.load_spec(SPEC.replace('"[:, 0]"', '"[:, a]"'))
    with pytest.raises(SpecError, match="op nodes need named inputs: use kind: functional"):
        nf.load_spec("netform: 1\nkind: sequential\ninputs: {x: {shape: [2]}}\nlayers:\n  - {op: relu}\n")


def test_arguments_keras_refuses_are_build_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from netform.spec.layers import ops

    text = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n  c: {op: norm, in: x, ord: bogus, axis: -1}\noutputs: [c]\n"
    # validate refuses it where it is written, as Keras refuses it at build
    with pytest.raises(SpecError, match=r"<string>:5:3: nodes.c: op norm: ord 'bogus' is a matrix norm's"):
        nf.load_spec(text)
    # were a rule to let it through, building it is a BuildError naming the node
    monkeypatch.setitem(ops.OPS, "norm", dataclasses.replace(ops.OPS["norm"], rule=lambda a: (None,)))
    spec = nf.load_spec(text)
    with pytest.raises(BuildError, match=r"<string>:5:3: node 'c': keras.ops.norm refused its arguments \(input "
                                         r"shapes \(None, 4\)\): Invalid `ord` argument"):
        nf.build(spec)
    with pytest.raises(ValueError, match="Invalid `ord` argument"):  # as Keras itself says
        keras.ops.norm(keras.Input((4,)), ord="bogus", axis=-1)
    # an axis out of range is refused before that, where it is written, as Keras refuses it at build
    with pytest.raises(SpecError, match=r"<string>:5:3: nodes.c: op cumsum: axis 5 is out of range"):
        nf.load_spec("netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n"
                     "nodes:\n  c: {op: cumsum, in: x, axis: 5}\noutputs: [c]\n")
    with pytest.raises(ValueError, match="axis 5 is out of bounds"):  # as Keras itself says
        keras.ops.cumsum(keras.Input((4,)), axis=5)
    # a dtype is checked before that, where it is written
    with pytest.raises(SpecError, match=r"<string>:5:24: nodes.c.dtype: op cast: dtype 'not_a_dtype' is not"):
        nf.load_spec("netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n"
                     "nodes:\n  c: {op: cast, in: x, dtype: not_a_dtype}\noutputs: [c]\n")
    with pytest.raises(ValueError, match="Invalid dtype: not_a_dtype"):  # as Keras itself says
        keras.ops.cast(keras.Input((4,)), "not_a_dtype")


def test_ops_build_only_with_the_functional_api() -> None:
    spec = nf.load_spec("netform: 1\nkind: functional\ninputs: {x: {shape: [3]}}\n"
                        "nodes:\n  r: {op: relu, in: x}\n  d: {type: Dense, units: 2, in: r}\noutputs: [d]\n")
    for api in ("sequential", "subclass"):
        with pytest.raises(BuildError, match=rf"node 'r': api='{api}' cannot build a op node \(relu\); use "
                                             "api='functional'"):
            nf.build(spec, api=api)  # type: ignore[arg-type]


def test_ops_in_blocks_take_block_parameters() -> None:
    spec = nf.load_spec("""\
netform: 1
kind: functional
inputs: {x: {shape: [3]}}
blocks:
  scale:
    params: {factor: 2.0}
    nodes:
      s: {op: multiply, in: [x, $factor]}
    outputs: [s]
nodes:
  a: {block: scale, factor: 0.25, in: x}
  b: {block: scale, in: a}
outputs: [b]
""")
    data = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(nf.build(spec).predict(data, verbose=0), data * 0.5)
    linear = nf.load_spec("""\
netform: 1
kind: functional
inputs: {x: {shape: [3]}}
blocks:
  act:
    layers:
      - {op: relu}
      - {op: multiply, x2: 2.0}
nodes:
  a: {block: act, in: x}
outputs: [a]
""")
    assert [r.name for r in nf.summary(linear).rows] == ["x", "a.relu", "a.multiply"]
    np.testing.assert_allclose(nf.build(linear).predict(data - 2, verbose=0), np.maximum(data - 2, 0) * 2)


def test_an_op_without_a_spec_form_is_named() -> None:
    x = keras.Input((3, 4))
    model = keras.Model(x, keras.ops.fft((x, x))[0])
    with pytest.raises(BuildError, match=r"operation 'fft' \(keras.ops.fft\) cannot be written as an op node: "
                                         r"unknown op 'fft'"):
        nf.from_keras(model)


def test_keras_tensor_constants_are_refused_past_a_size() -> None:
    x = keras.Input((5000,))
    model = keras.Model(x, keras.ops.add(x, np.ones(5000, "float32")))
    with pytest.raises(BuildError, match=r"a constant of 5,000 values cannot be written in a spec"):
        nf.from_keras(model)
