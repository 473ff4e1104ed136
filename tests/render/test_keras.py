"""Diagrams of Keras models and saved files, and their agreement with the spec's diagram."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netform.render import diagram_of, render, to_dot_source
from netform.spec import load_spec

from ._dotparse import parse
from ._specs import FLAT_BLOCKS, MULTI_IO, NESTED_TWICE, SEQUENTIAL, SHARED

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf

SPECS = {"sequential": SEQUENTIAL, "multi_io": MULTI_IO, "nested_twice": NESTED_TWICE, "shared": SHARED,
         "flat_blocks": FLAT_BLOCKS}


def _build() -> object:
    try:
        from netform.builder import build
    except ImportError:  # pragma: no cover - only while the builder is being written
        pytest.skip("netform.builder.build is not available yet")
    return build


def _facts(d: object) -> dict[str, tuple[object, ...]]:
    """Everything a picture shows of each node, apart from the source-specific type of a collapsed box."""
    return {n.id: (n.name, n.type, n.family, n.shape, n.params, n.cluster, n.role, n.output, n.uses)
            for n in d.nodes.values()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_model_and_saved_file_draw_the_same_graph(name: str, tmp_path: Path) -> None:
    import netform.saving

    spec = load_spec(SPECS[name])
    model = _build()(spec)
    from_spec, from_model = diagram_of(spec), diagram_of(model)
    path = tmp_path / f"{name}.keras"
    netform.saving.save(model, path)
    from_file = diagram_of(path)
    assert from_model.structure() == from_spec.structure()
    assert from_file.structure() == from_spec.structure()
    assert _facts(from_model) == _facts(from_spec) == _facts(from_file)
    assert set(from_model.clusters) == set(from_spec.clusters) == set(from_file.clusters)
    assert from_model.kind == from_spec.kind
    collapsed = [diagram_of(x, expand_nested=False).structure()[1] for x in (spec, model, path)]
    assert collapsed[0] == collapsed[1] == collapsed[2]


def _siamese() -> object:
    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    enc = keras.layers.Dense(4, name="enc")
    inner_in = keras.Input((4,), name="inner_in")
    head = keras.Model(inner_in, keras.layers.Dense(2, name="proj")(inner_in), name="head")
    a, b = head(enc(left)), head(enc(right))
    out = keras.layers.Dense(1, name="score")(keras.layers.Subtract(name="diff")([a, b]))
    return keras.Model([left, right], out, name="siamese")


def test_keras_shared_layer_and_shared_nested_model() -> None:
    dot = parse(to_dot_source(_siamese()))
    assert dot.layer_nodes() == {"left", "right", "enc", "head.proj", "diff", "score"}
    assert "shared, 2 uses" in dot.nodes["enc"] and "shared, 2 uses" in dot.nodes["head.proj"]
    uses = [(a, attrs) for a, b, attrs in dot.edges if b == "enc"]
    assert uses == [("left", 'label="use 1"'), ("right", 'label="use 2", style="dashed"')]  # in call order
    assert dot.edge_set() == {("left", "enc"): 1, ("right", "enc"): 1, ("enc", "head.proj"): 2,
                              ("head.proj", "diff"): 2, ("diff", "score"): 1}
    (label, members), = [v for k, v in dot.clusters.items() if k != "cluster_legend"]
    assert (label, members) == ("head (nested model)", ["head.proj"])


def test_subclassed_model_is_a_chain_with_a_note() -> None:
    class Tower(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="tower")
            self.first = keras.layers.Dense(3, name="first")
            self.second = keras.layers.Dense(2, name="second")

        def call(self, x: object) -> object:
            return self.second(self.first(x))

    model = Tower()
    model(keras.ops.zeros((1, 4)))
    d = diagram_of(model)
    assert d.kind == "subclass" and list(d.nodes) == ["first", "second"]
    assert [(e.src, e.dst) for e in d.edges] == [("first", "second")]
    assert d.nodes["first"].params == 15 and d.nodes["second"].output
    dot = parse(to_dot_source(model))
    assert "attribute" in dot.nodes["__note_0"]


@pytest.mark.parametrize("suffix", [".h5", "_savedmodel"])
def test_other_saved_formats_draw_the_same_graph(suffix: str, tmp_path: Path) -> None:
    import netform.saving

    spec = load_spec(NESTED_TWICE)
    path = tmp_path / f"m{suffix}"
    netform.saving.save(_build()(spec), path)
    assert diagram_of(path).structure() == diagram_of(spec).structure()


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_render_a_model_to_svg(tmp_path: Path) -> None:
    out = render(_siamese(), tmp_path / "s.svg", expand_nested=False)
    assert out.read_text().lstrip().startswith("<?xml")
