"""The builder's errors: each names what is wrong, where, and what to do."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
from netform.builder import copy_weights  # noqa: E402

BRANCHING = """\
netform: 1
name: branchy
kind: functional
inputs:
  x: {shape: [8]}
nodes:
  a: {type: Dense, units: 4, in: x}
  b: {type: Dense, units: 4, in: x}
  c: {type: Add, in: [a, b]}
outputs: [c]
"""

SUBCLASS = """\
netform: 1
name: rmlp
kind: subclass
inputs: {x: {shape: [5]}}
model: {type: ResidualMLP, hidden: 8, depth: 1, num_classes: 3}
"""


def test_sequential_api_on_a_branching_spec_names_the_node_and_line(tmp_path):
    path = tmp_path / "branchy.yaml"
    path.write_text(BRANCHING)
    # node b (line 8) takes x, not a: the graph branches at x
    with pytest.raises(nf.BuildError, match=r"branchy\.yaml:8:\d+: node 'b': api='sequential' needs a linear graph, "
                                            r"but this node takes x instead of only 'a' \(the graph branches here\); "
                                            r"use api='functional'"):
        nf.build(nf.load_spec(path), api="sequential")


def test_sequential_api_refuses_shared_layers():
    spec = nf.load_spec("""\
netform: 1
name: shared
kind: functional
inputs: {x: {shape: [4]}}
nodes:
  a: {type: Dense, units: 4, in: x}
  b: {shares: a, in: a}
outputs: [b]
""")
    with pytest.raises(nf.BuildError, match=r"<string>:7:\d+: node 'b': api='sequential' cannot share layers"):
        nf.build(spec, api="sequential")


def test_unregistered_custom_type_is_a_spec_error_at_load():
    with pytest.raises(nf.SpecError, match=r"<string>:8:\d+: layers\[1\]\.type: unknown layer type 'MyFancyLayer'; "
                                           r"use a Keras layer class name, or register your own layer with "
                                           r"@netform.register_layer"):
        nf.load_spec("""\
netform: 1
name: t
kind: sequential
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, units: 3}
  # a layer nobody registered
  - {type: MyFancyLayer, units: 3}
""")


@pytest.mark.parametrize("api", ["functional", "sequential"])
def test_subclass_kind_builds_only_with_the_subclass_api(api):
    spec = nf.load_spec(SUBCLASS)
    with pytest.raises(nf.BuildError, match=rf"a kind: subclass spec builds only with api='subclass' .*"
                                            rf"not api='{api}'"):
        nf.build(spec, api=api)
    assert nf.build(spec, api="subclass").count_params() > 0


def test_unknown_api():
    with pytest.raises(nf.BuildError, match=r"unknown api 'graph'; expected 'sequential', 'functional' or 'subclass'"):
        nf.build(nf.load_spec(BRANCHING), api="graph")


def test_keras_refusing_a_connection_names_the_node():
    spec = nf.load_spec(spec_text := """\
netform: 1
name: bad
kind: functional
inputs: {x: {shape: [4]}}
nodes:
  flat: {type: KerasLayer, class_name: CategoryEncoding, config: {num_tokens: 5}, in: x}
  conv: {type: KerasLayer, class_name: Conv2D, config: {filters: 2, kernel_size: 3}, in: flat}
outputs: [conv]
""")
    # CategoryEncoding has no schema in netform: the shapes after it come at build
    with pytest.raises(nf.BuildError, match=r"<string>:7:\d+: node 'conv': Keras refused to connect KerasLayer "
                                            r"to input shape\(s\) \(None, 5\)"):
        nf.build(spec, api="functional")
    # a generic layer with a schema form (Flatten) has static shapes: the same mistake is found at validate
    with pytest.raises(nf.SpecError, match=r"<string>:7:\d+: nodes.conv: Conv2D expects an input of rank 4"):
        nf.load_spec(spec_text.replace("CategoryEncoding, config: {num_tokens: 5}", "Flatten"))


def test_generic_layer_must_be_a_keras_builtin():
    # refused at validate (the build takes keras.layers' classes only), where the class name is written
    with pytest.raises(nf.SpecError, match=r"<string>:6:\d+: layers\[0\]\.class_name: 'NotAKerasLayer' is not a "
                                           r"layer class of keras.layers.*custom layers are registered"):
        nf.load_spec("""\
netform: 1
name: bad
kind: sequential
inputs: {x: {shape: [4]}}
layers:
  - {type: KerasLayer, class_name: NotAKerasLayer}
""")


def test_copy_weights_lists_every_missing_layer():
    x = keras.Input((3,))
    src = keras.Model(x, keras.layers.Dense(2, name="one")(x), name="src")
    y = keras.Input((3,))
    dst = keras.Model(y, keras.layers.Dense(2, name="two")(keras.layers.Dense(3, name="three")(y)), name="dst")
    with pytest.raises(nf.BuildError, match=r"^cannot copy weights: '(two|three)': no layer named") as info:
        copy_weights(src, dst)
    assert "'two': no layer named 'two' in src" in str(info.value)
    assert "'three': no layer named 'three' in src" in str(info.value)


def test_copy_weights_reports_shape_mismatch():
    x = keras.Input((3,))
    src = keras.Model(x, keras.layers.Dense(2, name="d")(x), name="src")
    y = keras.Input((4,))
    dst = keras.Model(y, keras.layers.Dense(2, name="d")(y), name="dst")
    with pytest.raises(nf.BuildError, match=r"'d': shapes \[\(4, 2\), \(2,\)\] vs \[\(3, 2\), \(2,\)\] in src"):
        copy_weights(src, dst)


@pytest.mark.parametrize("api", ["sequential", "functional", "subclass"])
def test_a_layer_keras_cannot_call_on_its_input_is_a_build_error(api):
    """RandomCrop (no schema in netform) on a rank-2 input: Keras fails inside call() with an IndexError."""
    spec = nf.load_spec(
        "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"
        "  - {type: KerasLayer, class_name: RandomCrop, config: {height: 2, width: 2}}\n"
    )
    with pytest.raises(nf.BuildError, match=r"RandomCrop"):
        nf.build(spec, api=api)
