"""Block parameters multiplied from block to block are sized before they are built.

`$s` is substituted inside texts and lists, so a chain of blocks each
passing ``s: "$s$s$s$s$s$s$s$s"`` (or ``[$s, $s, …]``) on grows the value
eightfold per level: a 1 KB spec made a 2 GB string (MemoryError, exit 70)
or 134 million values (minutes of CPU). Each substituted text is limited to
100,000 characters, each bound value and all of them together to the
300,000-value budget (text counted 10 characters a value), worked out
before anything is joined or read; messages quote at most 80 characters of
a substituted value. One node reads at most 1,024 tensors.
"""

from __future__ import annotations

import pytest

import netform
from netform.errors import SpecError
from tests._budget import assert_cpu_under

HEAD = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nblocks:\n"


def _chain(levels: int, inner: str, passed: str, top: str) -> str:
    blocks = "".join(
        f"  b{i}:\n    params: {{s: null}}\n    layers:\n      - {{block: b{i - 1}, s: {passed}}}\n"
        for i in range(1, levels + 1)
    )
    return (
        HEAD
        + f"  b0:\n    params: {{s: null}}\n    layers:\n      - {inner}\n"
        + blocks
        + f"nodes:\n  k: {{block: b{levels}, in: x, s: {top}}}\noutputs: [k]\n"
    )


def _refused(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        netform.load_spec(text)
    return info.value


@pytest.mark.parametrize("levels", [7, 8, 10, 16])
def test_a_text_repeated_from_block_to_block_is_refused_before_it_is_built(levels: int) -> None:
    text = _chain(levels, '{type: Dense, units: 2, activation: "x$s"}', '"$s$s$s$s$s$s$s$s"', "ab")
    err = _refused(text)
    assert len(err.diagnostics) == 1
    first = err.diagnostics[0]
    assert first.line is not None
    assert "with parameter 's' (65,536 characters) substituted is longer than 100,000 characters" in first.message
    assert first.message.startswith(f"block 'b{levels - 5}': the text '$s$s$s$s$s$s$s$s'")
    assert len(str(err)) < 1_000  # the value is never echoed (8 levels echoed 33.5 MB)
    # Timed after the call above (the modules refusing imports on first use, loaded): 8 levels made 2 GB.
    assert_cpu_under(lambda: _refused(text), 1.0, f"refusing a text repeated over {levels} levels", warm=False)


@pytest.mark.parametrize("levels", [6, 8])
def test_a_list_repeated_from_block_to_block_is_refused_before_it_is_read(levels: int) -> None:
    # 6 levels: 8**7 values, accepted after 4.5 s; 8 levels: 8**9, still running after a minute
    text = _chain(
        levels,
        "{type: KerasLayer, class_name: Dense, config: {units: 2, name: $s}}",
        "[$s, $s, $s, $s, $s, $s, $s, $s]",
        "[1, 2, 3, 4, 5, 6, 7, 8]",
    )
    err = _refused(text)
    assert len(err.diagnostics) == 1
    message = err.diagnostics[0].message
    assert "expand to more than 300,000 values" in message
    assert "with parameter 's' substituted holds 299,596 values" in message
    # 8 levels ran for minutes before.
    assert_cpu_under(lambda: _refused(text), 1.0, f"refusing a list repeated over {levels} levels", warm=False)


def test_one_wide_list_of_a_parameter_is_refused_where_it_is_written() -> None:
    wide = "[" + ", ".join(["$s"] * 600) + "]"
    text = _chain(2, "{type: KerasLayer, class_name: Dense, config: {units: 2, name: $s}}", wide, "[" + "1, " * 599 + "1]")
    err = _refused(text)
    assert len(err.diagnostics) == 1
    assert err.diagnostics[0].path == ("blocks", "b2", "layers", 0, "s")
    assert err.diagnostics[0].message.startswith("block 'b2': with parameter 's' substituted, this value holds 360,601 values")
    assert "a substituted value is limited to 300,000 values" in err.diagnostics[0].message


def test_a_long_text_parameter_is_refused_where_it_is_bound() -> None:
    text = (
        HEAD
        + "  b:\n    params: {s: null}\n    layers:\n      - {type: Dense, units: 2, activation: $s}\n"
        + f"nodes:\n  k: {{block: b, in: x, s: {'y' * 150_000}}}\noutputs: [k]\n"
    )
    err = _refused(text)
    assert len(err.diagnostics) == 1
    message = err.diagnostics[0].message
    # (a text written that long is refused where it is written, as every text of a spec past 100,000 characters)
    assert message == "a text of 150,000 characters; a spec's texts are at most 100,000 characters"
    assert err.diagnostics[0].path == ("nodes", "k", "s")


def test_messages_quote_substituted_values_cut_short() -> None:
    """A substituted text within the limit that a layer refuses is quoted with its first 80 characters only."""
    text = (
        HEAD
        + '  b:\n    params: {s: null}\n    layers:\n      - {type: Dense, units: 2, activation: "x$s"}\n'
        + f"nodes:\n  k: {{block: b, in: x, s: {'ab' * 20_000}}}\noutputs: [k]\n"
    )
    err = _refused(text)
    assert "unknown activation 'x" + "ab" * 39 + "a…'" in str(err)
    assert len(str(err)) < 2_000


def test_parameters_of_real_size_still_work() -> None:
    """Names, activations and lists passed through a few blocks, and a text near the limit, load as before."""
    text = _chain(1, "{type: Dense, units: 2, activation: $s}", '"${s}6"', "relu")
    spec = netform.load_spec(text)
    assert spec.blocks["b0"].layers is not None
    assert netform.summary(spec).rows[-1].params == 10
    with pytest.raises(SpecError, match=r"unknown activation 'relu66'"):
        netform.load_spec(_chain(2, "{type: Dense, units: 2, activation: $s}", '"${s}6"', "relu"))
    text = (
        HEAD
        + "  b:\n    params: {s: null, t: null}\n    layers:\n"
        + "      - {type: KerasLayer, class_name: Dense, config: {units: 2, name: $t, bias_initializer: {class_name: Zeros, config: {}}}}\n"
        + f"nodes:\n  k: {{block: b, in: x, s: [{', '.join(['1'] * 5000)}], t: d{'a' * 99_000}}}\noutputs: [k]\n"
    )
    netform.load_spec(text)


def test_a_node_reads_at_most_1024_tensors() -> None:
    nodes = "nodes:\n  c: {op: stack, in: [%s]}\noutputs: [c]\n"
    head = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n"
    assert netform.load_spec(head + nodes % ", ".join(["x"] * 1024))

    def refuse() -> None:
        with pytest.raises(
            SpecError, match=r"5:18: nodes\.c\.in: node 'c' reads 1,025 tensors; a node takes at most 1,024 "
        ):
            netform.load_spec(head + nodes % ", ".join(["x"] * 1025))
        with pytest.raises(SpecError, match=r"node 'c' reads 150,000 tensors"):
            netform.load_spec(head + nodes % ", ".join(["x"] * 150_000))

    assert_cpu_under(refuse, 2.0, "refusing nodes of 1,025 and 150,000 inputs")
