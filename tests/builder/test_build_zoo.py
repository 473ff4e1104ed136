"""Every zoo spec builds in every API it allows, and the forms agree.

For each spec in ``models/``: build it in each API it allows, copy the weights
of the first form into the others with ``copy_weights``, check they predict
the same numbers, and check the static summary (parameter totals, per-node
output shapes) against the built Keras model.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
from netform.builder import copy_weights  # noqa: E402
from netform.spec import graph_of  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "models"
SPEC_FILES = sorted(MODELS.glob("*.yaml"))
BATCH = 2


def _load(path: Path) -> nf.ModelSpec:
    try:
        return nf.load_spec(path)
    except nf.SpecError as err:  # the zoo is being written: a spec that does not validate yet is skipped, loudly
        pytest.skip(f"{path.name} does not validate yet (SpecError): {str(err).splitlines()[0]}")


def _is_linear(spec: nf.ModelSpec) -> bool:
    """Whether the graph is a chain: one input, each node fed by the previous one only, no sharing."""
    graph = graph_of(spec)
    if len(graph.inputs) != 1:
        return False
    previous = next(iter(graph.inputs))
    for node in graph.nodes.values():
        if node.inputs != (previous,) or node.shared:
            return False
        previous = node.name
    return graph.outputs == (previous,)


def allowed_apis(spec: nf.ModelSpec) -> list[str]:
    if spec.kind == "subclass":
        return ["subclass"]
    apis = ["functional", "subclass"]
    if _is_linear(spec):
        apis.append("sequential")
    return apis


def random_inputs(spec: nf.ModelSpec, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for inp in spec.inputs.values():
        shape = (BATCH, *[d or 3 for d in inp.shape])
        if inp.dtype.startswith(("int", "uint")):
            out.append(rng.integers(0, 10, size=shape).astype(inp.dtype))  # every Embedding in the zoo has >10 rows
        elif inp.dtype == "bool":
            out.append(rng.integers(0, 2, size=shape).astype(bool))
        else:
            out.append(rng.normal(size=shape).astype(inp.dtype))
    return out


def predict(model, xs: list[np.ndarray]) -> list[np.ndarray]:
    y = model(xs[0] if len(xs) == 1 else xs, training=False)
    ys = y if isinstance(y, (list, tuple)) else [y]
    return [np.asarray(t) for t in ys]


def _ids(paths):
    return [p.stem for p in paths]


@pytest.fixture(scope="module", params=SPEC_FILES, ids=_ids(SPEC_FILES))
def built(request):
    """(spec, {api: model}) for one zoo file, each form built once per module."""
    spec = _load(request.param)
    return spec, {api: nf.build(spec, api=api) for api in allowed_apis(spec)}


def test_zoo_is_not_empty():
    assert len(SPEC_FILES) >= 10


def test_forms_predict_the_same(built):
    spec, models = built
    apis = list(models)
    first = models[apis[0]]
    xs = random_inputs(spec)
    expected = predict(first, xs)
    assert all(np.all(np.isfinite(e)) for e in expected)
    for api in apis[1:]:
        other = models[api]
        assert other.count_params() == first.count_params(), api
        copied = copy_weights(first, other)
        assert copied, f"{api}: no layer weights copied"
        got = predict(other, xs)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert e.shape == g.shape, api
            np.testing.assert_allclose(g, e, atol=1e-6, rtol=0, err_msg=f"{spec.name}: {apis[0]} vs {api}")


def test_weights_copy_into_a_fresh_build(built):
    """copy_weights is the identity on a model's own architecture (also covers kind: subclass)."""
    spec, models = built
    api = next(iter(models))
    src = models[api]
    dst = nf.build(spec, api=api)
    copy_weights(src, dst)
    xs = random_inputs(spec, seed=1)
    for e, g in zip(predict(src, xs), predict(dst, xs)):
        np.testing.assert_allclose(g, e, atol=1e-6, rtol=0)


def test_summary_total_equals_count_params(built):
    spec, models = built
    summary = nf.summary(spec)
    for api, model in models.items():
        if summary.total_params is None:
            assert spec.kind == "subclass", "only subclass specs (and custom layers) have no static total"
            continue
        assert summary.total_params == model.count_params(), api
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert summary.trainable_params == trainable, api


def _keras_output_shapes(spec: nf.ModelSpec, model) -> dict[str, tuple]:
    """Output shape of each node's tensor in the functional model, by node name."""
    graph = graph_of(spec)
    out: dict[str, tuple] = {}
    uses: dict[str, int] = {}
    top_level = {layer.name: layer for layer in model.layers}
    for node in graph.nodes.values():
        nested = [s for s in node.scope if graph.scopes[s].nested]
        if nested:
            continue  # inside a nested model: checked through the nested model's outputs below
        layer = top_level[node.owner]
        k = uses.get(node.owner, 0)
        uses[node.owner] = k + 1
        out[node.name] = tuple(layer._inbound_nodes[k].output_tensors[0].shape)
    for scope in graph.scopes.values():
        if not scope.nested or any(graph.scopes[p].nested for p in scope.parent):
            continue
        owner = scope.shares or scope.name
        sub = top_level[owner]
        k = uses.get(owner, 0)
        uses[owner] = k + 1
        tensors = sub._inbound_nodes[k].output_tensors
        for name, tensor in zip(scope.outputs, tensors):
            out[name] = tuple(tensor.shape)
    return out


def test_static_shapes_equal_keras_shapes(built):
    spec, models = built
    if "functional" not in models:
        pytest.skip("kind: subclass has no static per-node shapes")
    model = models["functional"]
    summary = nf.summary(spec)
    keras_shapes = _keras_output_shapes(spec, model)
    assert keras_shapes, "no node checked"
    for name, shape in keras_shapes.items():
        row = summary.row(name)
        assert tuple(row.output_shape) == shape, f"{name}: static {row.output_shape} vs Keras {shape}"
    outputs = model.outputs
    for name, tensor in zip(graph_of(spec).outputs, outputs):
        assert tuple(summary.row(name).output_shape) == tuple(tensor.shape)


def test_functional_layers_are_named_after_nodes(built):
    spec, models = built
    if "functional" not in models:
        pytest.skip("kind: subclass")
    from netform.builder._weights import leaf_layers

    graph = graph_of(spec)
    with_weights = {n.owner for n in graph.nodes.values() if nf.summary(spec).row(n.owner).params}
    assert with_weights <= set(leaf_layers(models["functional"]))


# -- the sequential API on branching graphs ------------------------------------------------------

BRANCHING = [p for p in SPEC_FILES if p.stem in ("resnet_small", "transformer_text", "unet_small")]


@pytest.mark.parametrize("path", BRANCHING, ids=_ids(BRANCHING))
def test_sequential_refuses_a_branching_spec(path):
    spec = _load(path)
    assert not _is_linear(spec)
    graph = graph_of(spec)
    # the first node that does not take only the previous node's output
    previous = next(iter(graph.inputs))
    for node in graph.nodes.values():
        if node.inputs != (previous,):
            break
        previous = node.name
    line, _ = spec.locate(node.path)
    with pytest.raises(nf.BuildError, match=rf"{path.name}:{line}:\d+: node '{node.name}'.*linear graph.*"
                                            r"branches here.*api='functional'"):
        nf.build(spec, api="sequential")


def test_sequential_refuses_several_inputs():
    spec = _load(MODELS / "wide_deep.yaml")
    with pytest.raises(nf.BuildError, match=r"wide_deep\.yaml: api='sequential' needs exactly one input.*has 3"):
        nf.build(spec, api="sequential")


def test_every_linear_zoo_spec_builds_sequential():
    """The zoo's chains build as a keras.Sequential whose layers are the graph's nodes, in order, and
    predicts what plain Keras predicts with a Sequential made from the same layer configs and weights."""
    import keras

    def leaves(model: keras.Model) -> list[str]:
        return [n for layer in model.layers for n in (leaves(layer) if isinstance(layer, keras.Model) else [layer.name])]

    for path in [MODELS / f"{name}.yaml" for name in ("mlp", "lenet_digits", "conv_autoencoder")]:
        spec = _load(path)
        assert _is_linear(spec) and "sequential" in allowed_apis(spec), path.stem
        model = nf.build(spec, api="sequential")
        assert isinstance(model, keras.Sequential), path.stem
        assert leaves(model) == [n.owner for n in graph_of(spec).nodes.values()]  # nested blocks included
        assert model.count_params() == nf.summary(spec).total_params
        (inp,) = spec.inputs.values()
        plain = keras.Sequential([keras.Input(inp.shape, dtype=inp.dtype)]
                                 + [type(layer).from_config(layer.get_config()) for layer in model.layers])
        plain.set_weights(model.get_weights())
        xs = random_inputs(spec)
        np.testing.assert_allclose(predict(model, xs)[0], predict(plain, xs)[0], atol=1e-6, rtol=0,
                                   err_msg=path.stem)
