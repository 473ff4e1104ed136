"""from_keras: Keras models written in Keras → spec → YAML → spec → model, same numbers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from collections import Counter  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Layer 'rms_normalization.*mask:UserWarning")
from netform.builder import copy_weights  # noqa: E402
from netform.spec import graph_of  # noqa: E402

from .keras_models import MODELS  # noqa: E402


def _call(model, xs):
    y = model(xs[0] if len(xs) == 1 else xs, training=False)
    return [np.asarray(t) for t in (y if isinstance(y, (list, tuple)) else [y])]


def all_leaf_layers(model) -> list:
    """Every layer that is not a model nor an InputLayer, nested models flattened, each once."""
    out, seen, stack = [], set(), [model]
    while stack:
        current = stack.pop()
        for layer in current.layers:
            if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):
                continue
            seen.add(id(layer))
            (stack.append(layer) if isinstance(layer, keras.Model) else out.append(layer))
    return out


def _trace(model, producers: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Leaf-level edges (src layer name, dst layer name) of a Keras model, nested models flattened."""
    graph = model._functional if isinstance(model, keras.Sequential) else model
    made = {id(t): p for t, p in zip(graph.inputs, producers)}
    nodes = [n for depth in sorted(graph._nodes_by_depth, reverse=True) for n in graph._nodes_by_depth[depth]]
    for node in nodes:
        op = node.operation
        if isinstance(op, keras.layers.InputLayer):
            continue
        srcs = [made[id(t)] for t in node.input_tensors]
        if isinstance(op, keras.Model):
            outs = _trace(op, srcs, edges)
        else:
            edges.extend((s, op.name) for s in srcs)
            outs = [op.name] * len(node.output_tensors)
        for t, p in zip(node.output_tensors, outs):
            made[id(t)] = p
    return [made[id(t)] for t in graph.outputs]


def keras_edges(model) -> Counter:
    edges: list[tuple[str, str]] = []
    _trace(model, [f"input:{i}" for i in range(len(model.inputs))], edges)
    return Counter(edges)


def spec_edges(spec: nf.ModelSpec, keras_names: dict[str, str]) -> Counter:
    """graph_of(spec)'s edges, named by the original Keras layers (each node by its layer's owner)."""
    graph = graph_of(spec)
    index = {name: f"input:{i}" for i, name in enumerate(graph.inputs)}

    def leaf(name: str) -> str:
        if name in index:
            return index[name]
        return keras_names[graph.nodes[name].owner]

    return Counter((leaf(i), leaf(n.name)) for n in graph.nodes.values() for i in n.inputs)


@pytest.mark.parametrize("factory", list(MODELS), ids=list(MODELS))
def test_round_trip(factory):
    m, xs = MODELS[factory]()
    spec = nf.from_keras(m)
    text = spec.to_yaml()
    spec2 = nf.load_spec(text)
    assert spec2 == spec
    m2 = nf.build(spec2)
    names = spec._keras_names

    # same layers, parameters and connections
    assert len(all_leaf_layers(m2)) == len(all_leaf_layers(m))
    assert sorted(type(layer).__name__ for layer in all_leaf_layers(m2)) == sorted(
        type(layer).__name__ for layer in all_leaf_layers(m))
    assert m2.count_params() == m.count_params()
    original = keras_edges(m)
    assert spec_edges(spec2, names) == original
    rebuilt = Counter((names.get(a, a), names.get(b, b)) for a, b in keras_edges(m2).elements())
    assert rebuilt == original

    # same numbers once the weights are copied (the map is spec name → Keras name: dst → src)
    copied = copy_weights(m, m2, name_map=names)
    assert copied == sum(1 for layer in all_leaf_layers(m) if layer.weights)
    for a, b in zip(_call(m, xs), _call(m2, xs)):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)


def test_at_least_15_models():
    assert len(MODELS) >= 15


def test_uncatalogued_layers_use_the_generic_form():
    m, _ = MODELS["uncatalogued_layers"]()
    spec = nf.from_keras(m)
    generic = {n.layer.class_name for n in graph_of(spec).nodes.values() if n.layer.type == "KerasLayer"}
    assert generic == {"RMSNormalization", "Masking"}
    assert "type: KerasLayer" in spec.to_yaml()
    assert "class_name: RMSNormalization" in spec.to_yaml()


def test_catalogued_layers_use_their_schema():
    m, _ = MODELS["cnn_batchnorm"]()
    types = {n.layer.type for n in graph_of(nf.from_keras(m)).nodes.values()}
    assert "KerasLayer" not in types
    assert {"Conv2D", "BatchNormalization", "ReLU", "Dense"} <= types


def test_sequential_exports_as_sequential():
    m, _ = MODELS["mlp_sequential"]()
    spec = nf.from_keras(m)
    assert spec.kind == "sequential"
    assert isinstance(nf.build(spec), keras.Sequential)


def test_shared_nested_model_becomes_a_shares_node():
    m, _ = MODELS["nested_shared_functional"]()
    spec = nf.from_keras(m)
    kinds = Counter(node.kind for node in spec.nodes.values())
    assert kinds["block"] == 1 and kinds["shared"] == 1
    scopes = graph_of(spec).scopes
    assert any(s.shares for s in scopes.values())


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="my_subclassed")
        self.d = keras.layers.Dense(2)

    def call(self, x):
        return self.d(x)


def test_subclassed_model_is_refused():
    m = _Subclassed()
    m(np.zeros((1, 3), "float32"))
    with pytest.raises(nf.BuildError, match=r"'my_subclassed' \(_Subclassed\) is a subclassed model.*"
                                            r"Functional API.*register_model"):
        nf.from_keras(m)


class _Unregistered(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_unregistered_custom_layer_is_refused():
    x = keras.Input((3,))
    m = keras.Model(x, keras.layers.Dense(2)(_Unregistered(name="doubler")(x)))
    with pytest.raises(nf.BuildError, match=r"layer 'doubler' is a .*_Unregistered, which is neither a Keras "
                                            r"built-in layer nor registered with @netform.register_layer"):
        nf.from_keras(m)


def test_lambda_layer_is_refused():
    x = keras.Input((3,))
    m = keras.Model(x, keras.layers.Lambda(lambda t: t + 1.0, name="plus_one")(x))
    with pytest.raises(nf.BuildError, match=r"'plus_one' is a Lambda layer.*registered custom layer"):
        nf.from_keras(m)


def test_unbuilt_sequential_is_refused():
    m = keras.Sequential([keras.layers.Dense(2)], name="unbuilt")
    with pytest.raises(nf.BuildError, match=r"'unbuilt' is not built.*keras.Input"):
        nf.from_keras(m)


def test_from_keras_of_spec_model_returns_its_spec():
    from pathlib import Path

    spec = nf.load_spec(Path(__file__).resolve().parents[2] / "models" / "mlp.yaml")
    model = nf.build(spec, api="subclass")
    assert type(model).__name__ == "SpecModel"
    assert nf.from_keras(model) is spec


def test_from_keras_of_registered_subclass_returns_its_spec():
    spec = nf.load_spec("""
netform: 1
name: rmlp
kind: subclass
inputs: {x: {shape: [5]}}
model: {type: ResidualMLP, hidden: 8, depth: 1, num_classes: 3}
""")
    model = nf.build(spec)
    assert nf.from_keras(model) is spec


def test_functional_build_round_trips_to_an_equal_spec():
    """A spec that netform built functionally comes back as a spec that builds the same graph."""
    from pathlib import Path

    spec = nf.load_spec(Path(__file__).resolve().parents[2] / "models" / "wide_deep.yaml")
    m = nf.build(spec, api="functional")
    back = nf.from_keras(m)
    m2 = nf.build(nf.load_spec(back.to_yaml()))
    assert m2.count_params() == m.count_params()
    copy_weights(m, m2, name_map=back._keras_names)
    xs = [np.random.default_rng(0).normal(size=(2, 200)).astype("float32"),
          np.random.default_rng(1).integers(0, 10, size=(2, 4)).astype("int32"),
          np.random.default_rng(2).normal(size=(2, 8)).astype("float32")]
    for a, b in zip(_call(m, xs), _call(m2, xs)):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
