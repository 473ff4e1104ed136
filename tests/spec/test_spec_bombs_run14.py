"""Static shapes of nodes that read many tensors of many dimensions stay cheap.

A merge or op node may read 1,024 tensors, and a tensor may have 254 dimensions: one shape rule then reads
260,096 dimensions, and a repeated block or 1 MB of text held hundreds of such nodes (13 s of CPU for a
2.7 KB spec). Equal nodes share one run of their rule (with a key of a number per input, not the shapes);
the dimensions the rules read, summed over the nodes whose rule runs, are bounded before they run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import netform as nf
from netform.errors import SpecError
from netform.spec import _shapes, shapes_of
from netform.spec.layers import merge
from tests._budget import assert_cpu_under

ROOT = Path(__file__).resolve().parents[2]


def _head(rank: int) -> str:
    # an input of `rank` dimensions with the batch, each of size 1
    return "netform: 1\nkind: functional\ninputs:\n  x: {shape: [%s]}\n" % ",".join(["1"] * (rank - 1))


def block_fan(rank: int = 250, fan: int = 1020, repeat: int = 280) -> str:
    """One block whose Add reads its input ``fan`` times, used with ``repeat``."""
    return (
        _head(rank)
        + "blocks:\n  b:\n    inputs: [x]\n    nodes:\n"
        + f"      a: {{type: Add, in: [{','.join(['x'] * fan)}]}}\n"
        + f"    outputs: [a]\nnodes:\n  n: {{block: b, repeat: {repeat}, in: x}}\noutputs: [n]\n"
    )


def fan_nodes(node: str, count: int = 190, fan: int = 1020, rank: int = 250) -> str:
    """``count`` equal nodes ``node`` (its ``in`` written as IN), each reading x ``fan`` times."""
    refs = ",".join(["x"] * fan)
    lines = [f"  n{i}: {{{node.replace('IN', f'[{refs}]')}}}" for i in range(count)]
    return _head(rank) + "nodes:\n" + "\n".join(lines) + f"\noutputs: [{', '.join(f'n{i}' for i in range(count))}]\n"


def concat_chain(count: int, fan: int = 1020, rank: int = 250) -> str:
    """A concatenate chain whose output grows at every node: no two nodes are alike."""
    refs = ",".join(["x"] * (fan - 1))
    lines = [f"  n{i}: {{op: concatenate, in: [{f'n{i - 1}' if i else 'x'},{refs}], axis: 1}}" for i in range(count)]
    return _head(rank) + "nodes:\n" + "\n".join(lines) + f"\noutputs: [n{count - 1}]\n"


def named_adds(count: int, fan: int = 1020, rank: int = 250) -> str:
    """Add layers of different names: equal but for the name, so each runs its own rule."""
    refs = ",".join(["x"] * fan)
    lines = [f"  n{i}: {{type: Add, name: a{i}, in: [{refs}]}}" for i in range(count)]
    return _head(rank) + "nodes:\n" + "\n".join(lines) + f"\noutputs: [{', '.join(f'n{i}' for i in range(count))}]\n"


def test_repeated_merge_nodes_run_their_shape_rule_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # a key given to `call:` of an attention layer once took the name of the node's key, and no layer
    # node's result was kept: every copy ran its rule again
    calls = []
    rule = merge.Add.output_shape

    def counted(self: merge.Add, input_shape: object) -> object:
        calls.append(1)
        return rule(self, input_shape)

    monkeypatch.setattr(merge.Add, "output_shape", counted)
    spec = nf.load_spec(block_fan(rank=4, fan=20, repeat=30))
    assert len(calls) == 2  # the first copy reads the input, of kind float; the others a node of no known kind
    shapes = shapes_of(spec)
    assert shapes["n.30.a"].output_shape == (None, 1, 1, 1)
    assert len([s for s in shapes.values() if s.output_shape == (None, 1, 1, 1)]) == 31


def test_repeated_attention_nodes_with_a_call_key_keep_their_checks() -> None:
    # the `call.key` of an attention layer (its third input) is still read, for every node
    text = (
        "netform: 1\nkind: functional\ninputs:\n  q: {shape: [4, 8]}\n  k: {shape: [5, 6]}\n  v: {shape: [5, 8]}\n"
        "nodes:\n"
        "  a: {type: MultiHeadAttention, num_heads: 2, key_dim: 4, in: [q, v], call: {key: k}}\n"
        "  b: {type: MultiHeadAttention, num_heads: 2, key_dim: 4, in: [q, v], call: {key: k}}\n"
        "outputs: [a, b]\n"
    )
    shapes = shapes_of(nf.load_spec(text))
    assert shapes["a"].output_shape == shapes["b"].output_shape == (None, 4, 8)
    assert shapes["a"].trainable == shapes["b"].trainable
    assert shapes["a"].trainable == (8 * 8 + 8) + (6 * 8 + 8) + (8 * 8 + 8) + (8 * 8 + 8)
    bad = text.replace("k: {shape: [5, 6]}", "k: {shape: [3, 6]}")
    with pytest.raises(SpecError) as err:
        nf.load_spec(bad)
    assert {d.path[:2] for d in err.value.diagnostics} == {("nodes", "a"), ("nodes", "b")}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(block_fan(), id="block-add-x1020-rank250-repeat280"),
        pytest.param(fan_nodes("type: Add, in: IN"), id="add-layers"),
        pytest.param(fan_nodes("type: Multiply, in: IN"), id="multiply-layers"),
        pytest.param(fan_nodes("type: Concatenate, in: IN"), id="concatenate-layers"),
        pytest.param(fan_nodes("op: concatenate, in: IN, axis: 1"), id="concatenate-ops"),
        pytest.param(fan_nodes("op: stack, in: IN, axis: 1", rank=200), id="stack-ops"),
    ],
)
def test_equal_fan_in_nodes_of_high_rank_are_cheap(text: str) -> None:
    # 7-13 s of CPU before; about 0.3 s now (the parse of up to 400 KB of text included)
    assert_cpu_under(lambda: nf.load_spec(text), 2.0, "load_spec of equal nodes reading 1,020 rank-250 tensors")


@pytest.mark.parametrize(
    ("text", "node"),
    [
        pytest.param(concat_chain(190), "n3", id="concatenate-chain"),
        pytest.param(named_adds(190), "n3", id="add-layers-named-apart"),
    ],
)
def test_shape_reads_past_the_limit_are_refused_before_the_rules_run(text: str, node: str) -> None:
    # 4 nodes of 1,020 tensors of 250 dimensions: 1,020,000 dimensions, over the 1,000,000 (the 5th would not run)
    with pytest.raises(SpecError) as err:
        nf.load_spec(text)
    assert len(err.value.diagnostics) == 1
    diag = err.value.diagnostics[0]
    assert diag.path == ("nodes", node)
    assert re.fullmatch(
        rf"the shape rules would read 1,020,000 input dimensions by node '{node}' \(summed over the nodes: "
        r"inputs × rank; this one reads 1,020 tensors of up to 250 dimensions\); the limit is 1,000,000: give "
        r"nodes fewer inputs \(merge them in steps\) or tensors of fewer dimensions",
        diag.message,
    ), diag.message
    assert_cpu_under(lambda: pytest.raises(SpecError, nf.load_spec, text), 2.0, "refusing 190 fan-in nodes")


def test_specs_just_under_the_shape_read_limit_are_accepted() -> None:
    # 3 nodes of 1,020 tensors of rank 250 (765,000), then 1,000 of 2 tensors of rank 100 (200,000)
    wide = ",".join(["x"] * 1019)
    text = (
        "netform: 1\nkind: functional\ninputs:\n"
        f"  x: {{shape: [{','.join(['1'] * 249)}]}}\n  y: {{shape: [{','.join(['1'] * 99)}]}}\nnodes:\n"
        + "".join(f"  n{i}: {{op: concatenate, in: [{f'n{i - 1}' if i else 'x'},{wide}], axis: 1}}\n" for i in range(3))
        + "".join(f"  m{i}: {{op: concatenate, in: [{f'm{i - 1}' if i else 'y'}, y], axis: 1}}\n" for i in range(1000))
        + "outputs: [n2, m999]\n"
    )
    shapes = shapes_of(nf.load_spec(text))
    assert shapes["n2"].output_shape == (None, 3 * 1019 + 1) + (1,) * 248
    assert shapes["m999"].output_shape == (None, 1001) + (1,) * 98


def test_zoo_specs_read_a_thousandth_of_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # the zoo reads at most 170 dimensions, the keras.applications models at most 2,086 (DenseNet201)
    monkeypatch.setattr(_shapes, "MAX_SHAPE_READS", _shapes.MAX_SHAPE_READS // 1000)
    for path in sorted((ROOT / "models").glob("*.yaml")):
        nf.load_spec(path)


def test_a_tensor_of_more_than_254_dimensions_is_refused() -> None:
    nf.load_spec(_head(254) + "nodes:\n  a: {type: Add, in: [x, x]}\noutputs: [a]\n")
    with pytest.raises(SpecError, match="TensorFlow takes at most 254"):
        nf.load_spec(_head(255) + "nodes:\n  a: {type: Add, in: [x, x]}\noutputs: [a]\n")


def test_validate_json_lists_as_many_errors_as_the_text_with_the_count_of_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 72,000 unknown fields of a 754 KB spec wrote 29 MB of JSON (207 MB of memory)
    import json

    from netform.cli import main

    fields = ", ".join(f"k{j}: 1" for j in range(8))
    layers = "".join(f"  - {{type: Dense, units: 2, {fields}}}\n" for _ in range(40))
    bad = tmp_path / "bad.yaml"
    bad.write_text("netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n" + layers)
    assert main(["validate", "--format", "json", str(bad), str(ROOT / "models" / "mlp.yaml")]) == 1
    report = json.loads(capsys.readouterr().out)
    first, second = report["files"]
    assert len(first["errors"]) == SpecError.MAX_SHOWN == 100
    assert (first["errors_total"], first["errors_not_listed"]) == (320, 220)
    assert first["errors"][0]["path"] == "layers[0].k0" and first["errors"][99]["path"] == "layers[12].k3"
    assert (second["valid"], second["errors"], second["errors_total"], second["errors_not_listed"]) == (True, [], 0, 0)
    assert main(["validate", str(bad)]) == 1
    text = capsys.readouterr().err
    assert text.count("unknown field") == 100 and "… and 220 more errors" in text
