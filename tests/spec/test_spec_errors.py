"""Every kind of spec error, pinned with its place: file:line:column: spec.path: message."""

from __future__ import annotations

import textwrap

import pytest

from netform.errors import SpecError
from netform.spec import load_spec


def _errors(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(textwrap.dedent(text), source="m.yaml")
    return str(info.value)


HEAD = """\
netform: 1
kind: functional
inputs:
  x: {shape: [32]}
  y: {shape: [16]}
"""


def test_unknown_layer_type_suggests() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dens, units: 3, in: x}\noutputs: [d]\n")
    assert "m.yaml:7:7: nodes.d.type: unknown layer type 'Dens' (Did you mean 'Dense'?)" in msg


def test_misspelt_field_suggests() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, unit: 3, in: x}\noutputs: [d]\n")
    assert "m.yaml:7:20: nodes.d.unit: unknown field 'unit' (Did you mean 'units'?); Dense accepts:" in msg


def test_constraint_violation() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 0, in: x}\noutputs: [d]\n")
    assert "m.yaml:7:20: nodes.d.units: input should be greater than 0; received 0" in msg


def test_missing_required_field() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, in: x}\noutputs: [d]\n")
    assert "m.yaml:7:3: nodes.d.units: missing required field 'units' (Dimensionality of the output space)" in msg


def test_unknown_activation() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 2, activation: rellu, in: x}\noutputs: [d]\n")
    assert "m.yaml:7:30: nodes.d.activation: unknown activation 'rellu' (Did you mean 'relu'?)" in msg


def test_unknown_reference() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 2, in: xx}\noutputs: [d]\n")
    assert "m.yaml:7:30: nodes.d.in: unknown node or input 'xx' (Did you mean 'x'?); known names: x, y, d" in msg


def test_cycle() -> None:
    msg = _errors(HEAD + textwrap.dedent("""\
        nodes:
          a: {type: Dense, units: 2, in: c}
          b: {type: Dense, units: 2, in: a}
          c: {type: Dense, units: 2, in: b}
        outputs: [c]
        """))
    assert "m.yaml:7:30: nodes.a.in: the graph has a cycle: a -> c -> b -> a" in msg


def test_duplicate_node_name() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 2, in: x}\n  d: {type: Dense, units: 3, in: x}\noutputs: [d]\n")
    assert "m.yaml:8:3: nodes.d: duplicate key 'd' (the first one is at line 7)" in msg


def test_node_named_like_an_input() -> None:
    msg = _errors(HEAD + "nodes:\n  x: {type: Dense, units: 2, in: y}\noutputs: [x]\n")
    assert "m.yaml:7:3: nodes.x: node 'x' has the name of an input; names must be unique" in msg


def test_missing_outputs() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 2, in: x}\n")
    assert "m.yaml:2:1: kind: a functional spec needs `outputs:`" in msg


def test_unknown_output() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 2, in: x}\noutputs: [e]\n")
    assert "m.yaml:8:11: outputs[0]: unknown node or input 'e'" in msg


def test_incompatible_shapes_at_merge() -> None:
    msg = _errors(HEAD + "nodes:\n  a: {type: Add, in: [x, y]}\noutputs: [a]\n")
    assert "m.yaml:7:3: nodes.a: " in msg
    assert "(None, 32)" in msg and "(None, 16)" in msg


def test_incompatible_shapes_rank() -> None:
    msg = _errors(HEAD + "nodes:\n  c: {type: Conv2D, filters: 2, kernel_size: 3, in: x}\noutputs: [c]\n")
    assert "m.yaml:7:3: nodes.c: " in msg and "(input shape: (None, 32))" in msg


def test_one_input_layer_given_two() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 2, in: [x, y]}\noutputs: [d]\n")
    assert "m.yaml:7:30: nodes.d.in: Dense takes one input, but `in` lists 2; combine them first" in msg


def test_all_errors_at_once() -> None:
    msg = _errors(HEAD + textwrap.dedent("""\
        nodes:
          a: {type: Dens, units: 2, in: x}
          b: {type: Dense, units: 2, in: zz}
        outputs: [a, q]
        """))
    assert msg.count("m.yaml:") == 3
    assert msg.endswith("3 errors found.")


def test_block_parameter_unset_and_unknown() -> None:
    msg = _errors(HEAD + textwrap.dedent("""\
        blocks:
          mlp:
            params: {units: null}
            layers:
              - {type: Dense, units: $units}
        nodes:
          a: {block: mlp, in: x}
          b: {block: mlp, unitz: 3, units: 2, in: x}
          c: {block: mpl, in: x}
        outputs: [a, b, c]
        """))
    assert "nodes.a: block parameter 'units' is left unset; block 'mlp' needs it" in msg
    assert "nodes.b.unitz: block 'mlp' has no parameter 'unitz' (Did you mean 'units'?)" in msg
    assert "nodes.c.block: unknown block 'mpl' (Did you mean 'mlp'?)" in msg


def test_error_inside_block_names_the_use() -> None:
    msg = _errors(HEAD + textwrap.dedent("""\
        blocks:
          mlp:
            params: {units: 3}
            layers:
              - {type: Dense, units: $units, activation: relux}
        nodes:
          a: {block: mlp, in: x}
        outputs: [a]
        """))
    assert "m.yaml:10:38: blocks.mlp.layers[0].activation: unknown activation 'relux'" in msg
    assert "(in block 'mlp' used at nodes.a)" in msg


def test_unknown_block_param_reference() -> None:
    msg = _errors(HEAD + textwrap.dedent("""\
        blocks:
          mlp:
            params: {units: 3}
            layers:
              - {type: Dense, units: $unit}
        nodes:
          a: {block: mlp, in: x}
        outputs: [a]
        """))
    assert "unknown block parameter '$unit' (Did you mean 'units'?)" in msg


def test_wrong_version_and_kind() -> None:
    msg = _errors("netform: 2\nkind: graph\n")
    assert "m.yaml:1:1: netform: unsupported spec format version 2; this netform reads version 1" in msg
    assert "m.yaml:2:1: kind: input should be 'sequential', 'functional' or 'subclass'; received 'graph'" in msg


def test_sections_of_another_kind() -> None:
    msg = _errors("netform: 1\nkind: sequential\ninputs: {x: {shape: [3]}}\nnodes: {}\nlayers: []\n")
    assert "m.yaml:4:1: nodes: `nodes:` is for functional specs, not kind: sequential" in msg


def test_sequential_needs_one_input() -> None:
    msg = _errors("netform: 1\nkind: sequential\ninputs: {a: {shape: [3]}, b: {shape: [3]}}\nlayers: [{type: Dense, units: 1}]\n")
    assert "inputs: a sequential spec takes exactly one input, found 2" in msg


def test_sequential_in_is_refused() -> None:
    msg = _errors("netform: 1\nkind: sequential\ninputs: {a: {shape: [3]}}\nlayers: [{type: Dense, units: 1, in: a}]\n")
    assert "layers[0].in: `in` is for functional nodes" in msg


def test_shares_with_extra_fields() -> None:
    msg = _errors(HEAD + "nodes:\n  a: {type: Dense, units: 2, in: x}\n  b: {shares: a, units: 3, in: x}\noutputs: [b]\n")
    assert "m.yaml:8:18: nodes.b.units: a node that shares a layer takes only `shares` and `in`" in msg


def test_shares_unknown() -> None:
    msg = _errors(HEAD + "nodes:\n  a: {type: Dense, units: 2, in: x}\n  b: {shares: aa, in: x}\noutputs: [b]\n")
    assert "nodes.b.shares: `shares: aa` must name an earlier layer or block node (Did you mean 'a'?)" in msg


def test_not_a_mapping() -> None:
    with pytest.raises(SpecError, match=r"a spec is a mapping that starts with `netform: 1`; received list"):
        load_spec("- 1\n- 2\n")


def test_diagnostics_are_structured() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(HEAD + "nodes:\n  d: {type: Dense, units: -1, in: x}\noutputs: [d]\n", source="m.yaml")
    (d,) = info.value.diagnostics
    assert d.to_dict() == {
        "source": "m.yaml", "line": 7, "column": 20, "path": "nodes.d.units",
        "message": "input should be greater than 0; received -1",
    }
    assert info.value.code == "NF-SPEC"


def test_misspelt_required_field_is_one_error() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, unit: 3, in: x}\noutputs: [d]\n")
    assert "missing required field" not in msg
    assert msg.count("m.yaml:") == 1


def test_unknown_optimizer_and_callback_arguments() -> None:
    msg = _errors("netform: 1\nkind: sequential\ninputs: {x: {shape: [3]}}\nlayers: [{type: Dense, units: 1}]\n"
                  "training:\n  optimizer: {type: Adam, learning_rat: 0.1}\n"
                  "  callbacks: [{type: EarlyStopping, patiense: 2}]\n")
    assert "training.optimizer: Adam takes no argument 'learning_rat' (Did you mean 'learning_rate'?)" in msg
    assert "training.callbacks[0]: EarlyStopping takes no argument 'patiense' (Did you mean 'patience'?)" in msg


def test_unknown_initializer_argument() -> None:
    msg = _errors(HEAD + "nodes:\n  d: {type: Dense, units: 2, kernel_initializer: {type: HeNormal, sed: 1}, in: x}\n"
                         "outputs: [d]\n")
    assert "nodes.d.kernel_initializer: HeNormal takes no argument 'sed' (Did you mean 'seed'?)" in msg
