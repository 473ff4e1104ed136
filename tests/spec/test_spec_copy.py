"""Copies of a spec compute their own graph, shapes and summary; nothing cached travels with them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import netform as nf
from netform.spec._load import graph_of, shapes_of

MLP = Path(__file__).resolve().parents[2] / "models" / "mlp.yaml"
FULL = ["rescaling", "hidden.dense", "hidden.dropout", "hidden_1.dense", "hidden_1.dropout", "dense"]


@pytest.fixture()
def spec() -> nf.ModelSpec:
    loaded = nf.load_spec(MLP)
    assert list(graph_of(loaded).nodes) == FULL  # the cache of the original is filled
    return loaded


def _without_head(spec: nf.ModelSpec) -> list[nf.ModelSpec]:
    layers = spec.layers[:-1]
    return [
        spec.model_copy(update={"layers": layers}),
        spec.model_copy(update={"layers": layers}, deep=True),
        nf.ModelSpec.model_validate({**spec.model_dump(), "layers": [n.model_dump() for n in layers]}),
    ]


def test_a_copy_with_fewer_layers_has_its_own_graph_shapes_and_summary(spec):
    for copied in _without_head(spec):
        assert list(graph_of(copied).nodes) == FULL[:-1]
        assert list(shapes_of(copied))[-1] == "hidden_1.dropout"
        assert nf.summary(copied).total_params == 8320 + 8256
        # the original still answers for itself
        assert list(graph_of(spec).nodes) == FULL
        assert nf.summary(spec).total_params == 8320 + 8256 + 650


def test_a_copy_with_fewer_layers_builds_without_the_head(spec):
    model = nf.build(spec.model_copy(update={"layers": spec.layers[:-1]}))
    assert [layer.name for layer in model.layers][-1] == "hidden_1.dropout"
    assert model.output_shape == (None, 64)
    assert nf.build(spec).output_shape == (None, 10)


@pytest.mark.parametrize("how", ["model_copy", "model_copy_deep", "copy", "deepcopy", "validate_dump"])
def test_every_kind_of_copy_starts_with_an_empty_cache(spec, how):
    copied = {
        "model_copy": lambda: spec.model_copy(),
        "model_copy_deep": lambda: spec.model_copy(deep=True),
        "copy": lambda: copy.copy(spec),
        "deepcopy": lambda: copy.deepcopy(spec),
        "validate_dump": lambda: nf.ModelSpec.model_validate(spec.model_dump()),
    }[how]()
    assert copied == spec
    assert copied._cache == {} and copied._cache is not spec._cache
    assert list(graph_of(copied).nodes) == FULL
    assert graph_of(copied) is not graph_of(spec)
    assert "shapes" not in spec._cache or spec._cache["shapes"] is not shapes_of(copied)


def test_copies_keep_the_source_name_and_drop_line_numbers_only_when_changed(spec):
    assert spec.locate(("layers", 3))[0] is not None
    assert copy.deepcopy(spec).locate(("layers", 3)) == spec.locate(("layers", 3))
    changed = spec.model_copy(update={"layers": spec.layers[1:]})
    assert changed.source == spec.source
    assert changed.locate(("layers", 3)) == (None, None)  # the old line would point at another layer


def test_keras_layer_names_are_not_in_the_cache_and_are_dropped_by_a_changed_copy():
    keras = pytest.importorskip("keras")
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, name="first")(x)
    m = keras.Model(x, keras.layers.Dense(2, name="second")(h))
    spec = nf.from_keras(m)
    assert "keras_names" not in spec._cache
    names = spec._keras_names
    assert set(names.values()) == {"first", "second"}
    assert copy.deepcopy(spec)._keras_names == names
    assert spec.model_copy()._keras_names == names
    assert spec.model_copy(update={"name": "renamed"})._keras_names is None
