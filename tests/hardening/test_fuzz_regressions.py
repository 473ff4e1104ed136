"""Minimized cases the spec fuzzer found, each once a crash, a hang or an unlocated error.

Each must now end in a located :class:`netform.SpecError` with a message that
says what is wrong (pinned here), or, for the size cases, finish quickly.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import netform
from netform.errors import SpecError
from netform.spec._graph import MAX_GRAPH_NODES
from tests._budget import assert_cpu_under

GRAPH_HEAD = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n"


def _error(text: str, match: str) -> SpecError:
    """The SpecError ``text`` raises, checked against ``match`` and for located diagnostics."""
    with pytest.raises(SpecError, match=match) as info:
        netform.load_spec(text, source="case.yaml")
    for d in info.value.diagnostics:
        assert d.source == "case.yaml" and d.line is not None, d
    return info.value


@pytest.mark.parametrize(
    ("text", "match"),
    [
        # PyYAML's constructors raised ValueError / KeyError / IndexError on these
        ("netform: 1\nname: !!int abc\n", r"case\.yaml:2:7: name: 'abc' cannot be read as a YAML int; write a valid int"),
        ("netform: 1\nname: !!int ''\n", r"2:7: name: '' cannot be read as a YAML int"),
        ("netform: 1\nname: !!float padding\n", r"2:7: name: 'padding' cannot be read as a YAML float"),
        ("netform: 1\nname: !!bool maybe\n", r"2:7: name: 'maybe' cannot be read as a YAML bool"),
        ("netform: 1\nname: 0x_\n", r"2:7: name: '0x_' cannot be read as a YAML int; .* quote the value"),
        ("netform: 1\n!!int abc: 1\n", r"2:1: 'abc' cannot be read as a YAML int"),
        # a collection tag on a scalar (and back) raised KeyError
        ("netform: 1\nname: !!seq x\n", r"2:7: name: the YAML tag '!!seq' is for a list, but it is on a plain value"),
        ("netform: 1\nname: !!str [1]\n", r"2:7: name: the YAML tag '!!str' is for a plain value, but it is on a list"),
        ("netform: 1\n!!map k: 1\n", r"2:1: mapping keys must be plain scalars"),
    ],
)
def test_bad_scalars_and_tags_are_located_errors(text: str, match: str) -> None:
    _error(text, match)


def test_control_character_is_located() -> None:
    """A NUL byte was reported as 'position 17' with no line."""
    _error("netform: 1\nkind: sequential\nname: a\x00b\n",
           r"case\.yaml:3:8: invalid YAML: the control character U\+0000 is not allowed in YAML text; remove it")


@pytest.mark.parametrize("key", ["block", "shares"])
def test_null_block_or_shares_is_an_error_not_an_assertion(key: str) -> None:
    """`block: null` left a node with no layer: AssertionError in the resolver."""
    text = GRAPH_HEAD + f"nodes:\n  a: {{type: Dense, units: 2, in: x}}\n  b: {{{key}: null, in: a}}\noutputs: [b]\n"
    err = _error(text, "must name")
    assert [str(d) for d in err.diagnostics] == [
        f"case.yaml:6:7: nodes.b.{key}: `{key}` must name "
        + ("a block defined under `blocks:`" if key == "block" else "an earlier node whose layer to reuse")
        + "; received None"
    ]


def test_nested_layer_type_that_is_not_a_string() -> None:
    """`Bidirectional: {layer: {type: {...}}}` raised TypeError (unhashable dict) in the registry."""
    text = "netform: 1\nkind: sequential\ninputs: {x: {shape: [3, 4]}}\nlayers:\n" \
           "  - type: Bidirectional\n    layer: {type: {a: 1}, units: 3}\n"
    _error(text, r"6:5: layers\[0\]\.layer: a layer `type` is a class name such as 'Dense'; received \{'a': 1\}")


def test_huge_repeat_is_refused_at_once() -> None:
    """`repeat: 10**20` looped (almost) forever expanding the block."""
    text = GRAPH_HEAD + "blocks:\n  b: {layers: [{type: ReLU}]}\nnodes:\n  a: {block: b, repeat: 100000000000000000000, in: x}\noutputs: [a]\n"
    assert_cpu_under(
        lambda: _error(text, rf"7:17: nodes\.a\.repeat: `repeat: 100000000000000000000` is more than the "
                             f"{MAX_GRAPH_NODES} layers a spec may expand to"),
        1.0, "refusing `repeat: 10**20`",
    )


def test_blocks_of_repeated_blocks_are_capped() -> None:
    """Repeats multiply through nested blocks (here 200**3 layers): refused once the graph passes the cap."""
    text = GRAPH_HEAD + textwrap.dedent("""\
        blocks:
          b1: {layers: [{type: ReLU}]}
          b2: {layers: [{block: b1, repeat: 200}]}
          b3: {layers: [{block: b2, repeat: 200}]}
        nodes:
          a: {block: b3, repeat: 200, in: x}
        outputs: [a]
        """)
    assert_cpu_under(  # ~1 s: the cap, not the 8,000,000 layers, bounds the work
        lambda: _error(text, rf"9:18: nodes\.a\.repeat: the spec expands to more than {MAX_GRAPH_NODES} layers; "
                             "check `repeat:`"),
        5.0, "refusing 200**3 repeated layers",
    )


def test_long_chain_written_consumers_first() -> None:
    """The recursive topological sort hit RecursionError on a 3,000-node chain written in reverse."""
    n = 3000
    lines = [f"  n{i}: {{type: ReLU, in: {'x' if i == 0 else f'n{i - 1}'}}}" for i in reversed(range(n))]
    spec = netform.load_spec(GRAPH_HEAD + "nodes:\n" + "\n".join(lines) + f"\noutputs: [n{n - 1}]\n")
    assert [r.name for r in netform.summary(spec).rows] == ["x"] + [f"n{i}" for i in range(n)]


def test_cycle_is_still_reported_with_its_path() -> None:
    text = GRAPH_HEAD + "nodes:\n  a: {type: ReLU, in: c}\n  b: {type: ReLU, in: a}\n  c: {type: ReLU, in: b}\noutputs: [c]\n"
    _error(text, r"5:19: nodes\.a\.in: the graph has a cycle: a -> c -> b -> a; a node cannot depend on its own output")


def test_repeat_expansion_is_linear() -> None:
    """Each block use copied the whole node table (`set(graph.nodes)`): quadratic in the repeat count."""
    def seconds(repeat: int) -> float:
        text = GRAPH_HEAD + f"blocks:\n  b: {{layers: [{{type: ReLU}}]}}\nnodes:\n  a: {{block: b, repeat: {repeat}, in: x}}\noutputs: [a]\n"
        start = time.process_time()
        netform.load_spec(text)
        return time.process_time() - start

    seconds(200)  # warm up
    small, large = min(seconds(1000) for _ in range(2)), min(seconds(8000) for _ in range(2))
    assert large < small * 8 * 3, f"1,000 repeats: {small:.3f} s, 8,000 repeats: {large:.3f} s"


@pytest.mark.parametrize("prefix", ["- ", "? ", "-\t"])
def test_compact_block_nesting_does_not_crash_the_process(prefix: str) -> None:
    """`- - - … x` 100,000 deep passed the indentation pre-scan and overflowed libyaml's C stack (SIGSEGV).

    Run in a child process, so that a regression fails this test instead of killing pytest.
    """
    code = textwrap.dedent(f"""\
        import netform
        try:
            netform.load_spec({prefix!r} * 100_000 + "x")
        except netform.SpecError as err:
            print(err)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"exit status {proc.returncode}: {proc.stderr[-2000:]}"
    assert "<string>:1:" in proc.stdout and "the document is nested more than 64 levels deep" in proc.stdout
