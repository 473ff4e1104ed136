"""Specs that validate used to take seconds or pass where Keras fails: each is refused (or answered) at
validate, in bounded time."""

from __future__ import annotations

import difflib
import random
import re
from typing import Any

import pytest

import netform
from netform import errors
from netform.errors import SpecError, did_you_mean
from netform.spec._load import shapes_of
from tests._budget import assert_cpu_under

# -- "did you mean": bounded work ---------------------------------------------------------------------------


def _two_letter_names(count: int, width: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["n" + "".join(rng.choice("ab") for _ in range(width)) for _ in range(count)]


def test_a_long_name_gets_no_suggestion_by_likeness() -> None:
    known = _two_letter_names(5, 1_020, 1)
    bad = known[0][:-1] + ("a" if known[0][-1] == "b" else "b")
    assert did_you_mean(bad, known) == ""
    assert did_you_mean(known[0].upper(), known) == f" (Did you mean '{known[0]}'?)"  # another case: still found


def test_a_suggestion_compares_a_bounded_number_of_names(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = difflib.SequenceMatcher.ratio

    def counted(self: difflib.SequenceMatcher) -> float:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", counted)
    known = _two_letter_names(200, 63, 2)
    did_you_mean(_two_letter_names(1, 63, 3)[0], known)
    assert 0 < len(calls) <= errors._MAX_WORK // (64 * 64) + 1


def test_suggestions_are_kept_for_short_names() -> None:
    assert did_you_mean("Dens", ["Dense", "Conv2D", "LSTM"]) == " (Did you mean 'Dense'?)"
    assert did_you_mean("lstm", ["Dense", "LSTM"]) == " (Did you mean 'LSTM'?)"
    assert (
        did_you_mean("convd", ["Conv1D", "Conv2D", "Conv3D"]) == " (Did you mean one of: 'Conv3D', 'Conv2D', 'Conv1D'?)"
    )
    known = [f"layer_{i}" for i in range(300)]
    assert did_you_mean("layer_2999", known) != ""


def _bad_references(count: int, width: int) -> str:
    names, bad = _two_letter_names(count, width, 3), _two_letter_names(count, width, 4)
    lines = ["netform: 1", "kind: functional", "inputs: {x: {shape: [4]}}", "nodes:"]
    lines += [f"  {n}: {{type: Dense, units: 2, in: {b}}}" for n, b in zip(names, bad)]
    return "\n".join(lines + [f"outputs: [{names[0]}]", ""])


@pytest.mark.parametrize(("count", "width"), [(100, 1_020), (5_000, 40), (5_000, 64)])
def test_many_similar_unknown_names_are_refused_in_time(count: int, width: int) -> None:
    """Nodes of long two-letter names, each naming another that does not exist: difflib is slowest there
    (100 names of 1,020 letters took 20 s)."""
    text = _bad_references(count, width)
    assert len(text) < 1_000_000

    def refuse() -> None:
        with pytest.raises(SpecError, match="unknown node or input"):
            netform.load_spec(text)

    assert_cpu_under(refuse, 2.0, f"{count:,} unknown names of {width:,} letters")


# -- op nodes whose arguments Keras cannot run -------------------------------------------------------------


def _op_spec(node: str, shape: str = "[4, 6]") -> str:
    return f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}}}\nnodes:\n  o: {node}\noutputs: [o]\n"


def _refusal(node: str, shape: str = "[4, 6]") -> str:
    with pytest.raises(SpecError) as info:
        netform.load_spec(_op_spec(node, shape))
    return str(info.value)


@pytest.mark.parametrize(
    ("node", "shape", "message"),
    [
        # diff takes its differences one by one: n: 10^9 never ended when the model ran
        (
            "{op: diff, in: x, n: 1000000000, axis: 1}",
            "[4, 6]",
            "n=1000000000: more differences than axis 1 has values \\(4\\)",
        ),
        ("{op: diff, in: x, n: 5, axis: 1}", "[4, 6]", "give n from 0 to 4"),
        ("{op: diff, in: x, n: 100, axis: 1}", "[null, 6]", "n=100: Keras takes differences one by one"),
        ("{op: diff, in: x, n: 33, axis: 1}", "[40, 6]", "netform takes n up to 32"),
        (
            "{op: roll, in: x, shift: 100000000000000000000, axis: 1}",
            "[4, 6]",
            "shift 1e\\+20: TensorFlow takes a shift of int64",
        ),
        (
            "{op: roll, in: x, shift: [1, -9223372036854775809], axis: [1, 2]}",
            "[4, 6]",
            "TensorFlow takes a shift of int64",
        ),
        # negative sizes: Keras fails to build the model
        (
            "{op: one_hot, in: x, num_classes: -3}",
            "[4, 6]",
            "num_classes -3: the number of classes is a whole number ≥ 0",
        ),
        (
            "{op: split, in: x, indices_or_sections: [3, 1], axis: 1}",
            "[4, 6]",
            "split indices 3 then 1: each index is at least",
        ),
        ("{op: split, in: x, indices_or_sections: [3, 2], axis: 1}", "[null, 6]", "split indices 3 then 2"),
        ("{op: split, in: x, indices_or_sections: [-1, 2], axis: 1}", "[null, 6]", "split index -1 is negative"),
        (
            "{op: split, in: x, indices_or_sections: [], axis: 1}",
            "[4, 6]",
            "indices_or_sections \\[\\]: TensorFlow's split",
        ),
        (
            "{op: split, in: x, indices_or_sections: -2, axis: 1}",
            "[4, 6]",
            "indices_or_sections -2: a number of equal parts",
        ),
        ("{op: top_k, in: x, k: -3}", "[4, null]", "give a result of shape \\(None, 4, -3\\), with a negative size"),
        # one output per part: 10^8 parts took 33 s and 5.8 GB before failing
        ("{op: split, in: x, indices_or_sections: 100000000, axis: 1}", "[null, 6]", "split makes 100,000,000 parts"),
        ("{op: split, in: x, indices_or_sections: 20000, axis: 1}", "[20000, 6]", "netform takes at most 10,000"),
        # pooling that Keras builds and that fails on every input, or that Keras cannot build
        ("{op: max_pool, in: x, pool_size: 2}", "[2, 2, 2, 2, 3]", "pooling takes a tensor of rank 3 to 5"),
        ("{op: average_pool, in: x, pool_size: 2}", "[2, 2, 2, 2, 3]", "fails on every input"),
        (
            "{op: average_pool, in: x, pool_size: [2, 2], strides: 0}",
            "[8, 8, 3]",
            "strides 0: Keras takes one whole number ≥ 1",
        ),
        ("{op: max_pool, in: x, pool_size: 2, strides: 0, padding: same}", "[8, 8, 3]", "strides 0"),
        (
            "{op: average_pool, in: x, pool_size: [2, 2, 2]}",
            "[8, 8, 3]",
            "pool_size \\[2, 2, 2\\]: .* a list of 1 or 2",
        ),
        ("{op: average_pool, in: x, pool_size: 2, strides: [1, 1, 1]}", "[8, 8, 3]", "strides \\[1, 1, 1\\]"),
        ("{op: average_pool, in: x, pool_size: -2}", "[8, 8, 3]", "pool_size -2: Keras takes one whole number ≥ 1"),
    ],
)
def test_op_arguments_keras_cannot_run_are_refused(node: str, shape: str, message: str) -> None:
    text = _refusal(node, shape)
    assert re.search(message, text), text
    assert "nodes.o: op " in text


@pytest.mark.parametrize(
    ("node", "shape", "out"),
    [
        ("{op: diff, in: x, n: 4, axis: 1}", "[4, 6]", (None, 0, 6)),
        ("{op: diff, in: x, n: 32, axis: 1}", "[null, 6]", (None, None, 6)),
        ("{op: roll, in: x, shift: 9223372036854775807, axis: 1}", "[4, 6]", (None, 4, 6)),
        ("{op: one_hot, in: x, num_classes: 0}", "[4, 6]", (None, 4, 6, 0)),
        (
            "{op: split, in: x, indices_or_sections: [2, 2], axis: 1}",
            "[4, 6]",
            [(None, 2, 6), (None, 0, 6), (None, 2, 6)],
        ),
        (
            "{op: split, in: x, indices_or_sections: [0, 4], axis: 1}",
            "[4, 6]",
            [(None, 0, 6), (None, 4, 6), (None, 0, 6)],
        ),
        ("{op: average_pool, in: x, pool_size: [2]}", "[8, 8, 3]", (None, 4, 4, 3)),
        ("{op: max_pool, in: x, pool_size: 2, strides: 3}", "[8, 8, 3]", (None, 3, 3, 3)),
        ("{op: max_pool, in: x, pool_size: 2, strides: [1]}", "[8, 8, 3]", (None, 7, 7, 3)),
    ],
)
def test_op_arguments_keras_runs_are_kept(node: str, shape: str, out: Any) -> None:
    """The same ops with the arguments Keras builds and runs: the static shapes are Keras's."""
    got = shapes_of(netform.load_spec(_op_spec(node, shape)))["o"].output_shape
    assert (list(map(tuple, got)) if isinstance(got, list) else tuple(got)) == out


# -- call arguments that fail on every input ----------------------------------------------------------------

_MHA = "{type: MultiHeadAttention, num_heads: 2, key_dim: 4, in: [x, x], call: CALL}"


def _call_spec(call: str, inputs: str = "x: {shape: [4, 8]}", layer: str = _MHA) -> str:
    node = layer.replace("CALL", call)
    return f"netform: 1\nkind: functional\ninputs: {{{inputs}}}\nnodes:\n  att: {node}\noutputs: [att]\n"


@pytest.mark.parametrize(
    ("call", "inputs", "layer", "message"),
    [
        # Keras tests these with `if`: a tensor fails at build (return_attention_scores) or on every input
        (
            "{use_causal_mask: x}",
            "x: {shape: [4, 8]}",
            _MHA,
            r"nodes\.att\.call\.use_causal_mask: call argument 'use_causal_mask' is a setting, true or false; "
            r"received 'x'",
        ),
        ("{return_attention_scores: x}", "x: {shape: [4, 8]}", _MHA, r"call\.return_attention_scores: .* a setting"),
        ("{use_causal_mask: 1}", "x: {shape: [4, 8]}", _MHA, "'use_causal_mask' is a setting, true or false"),
        # masks Keras casts to bool: text fails on every input
        (
            "{attention_mask: m}",
            "x: {shape: [4, 8]}, m: {shape: [4, 4], dtype: string}",
            _MHA,
            r"nodes\.att: MultiHeadAttention's call\.attention_mask is input 'm' \(dtype string\), which holds text",
        ),
        ("{query_mask: m}", "x: {shape: [4, 8]}, m: {shape: [4], dtype: string}", _MHA, "call.query_mask is input 'm'"),
        (
            "{mask: m}",
            "x: {shape: [4, 8]}, m: {shape: [4], dtype: string}",
            "{type: LSTM, units: 3, in: x, call: CALL}",
            "LSTM's call.mask is input 'm'",
        ),
        (
            "{mask: m}",
            "x: {shape: [4, 8]}, m: {shape: [4, 8], dtype: string}",
            "{type: Softmax, in: x, call: CALL}",
            "Softmax's call.mask is input 'm' .*holds text",
        ),
    ],
)
def test_call_arguments_keras_cannot_run_are_refused(call: str, inputs: str, layer: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        netform.load_spec(_call_spec(call, inputs, layer))
    assert re.search(message, str(info.value)), str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        "{use_causal_mask: true}",
        "{use_causal_mask: false, return_attention_scores: false}",
        "{attention_mask: m}",
        "{training: t}",
    ],
)
def test_call_arguments_keras_runs_are_kept(call: str) -> None:
    inputs = "x: {shape: [4, 8]}, m: {shape: [4, 4], dtype: float32}, t: {shape: [], dtype: bool}"
    netform.load_spec(_call_spec(call, inputs).replace("outputs: [att]", "outputs: [att]"))


# -- names ending in a newline ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'netform: 1\nkind: functional\ninputs: {"x\\n": {shape: [8]}}\nnodes:\n  d: {type: Dense, units: 3, in: "x\\n"}\n'
            "outputs: [d]\n",
            r"input name 'x\\n' is not a valid name",
        ),
        (
            'netform: 1\nkind: functional\ninputs: {x: {shape: [8]}}\nnodes:\n  "d\\n": {type: Dense, units: 3, in: x}\n'
            'outputs: ["d\\n"]\n',
            r"node name 'd\\n' is not a valid name",
        ),
        (
            'netform: 1\nkind: sequential\ninputs: {x: {shape: [8]}}\nblocks:\n  "b\\n": {layers: [{type: Dense, units: 3}]}\n'
            'layers:\n  - {block: "b\\n"}\n',
            r"block name 'b\\n' is not a valid name",
        ),
        (
            'netform: 1\nkind: sequential\ninputs: {x: {shape: [8]}}\nblocks:\n  "b c": {layers: [{type: Dense, units: 3}]}\n'
            'layers:\n  - {block: "b c"}\n',
            r"blocks\.b c: block name 'b c' is not a valid name",
        ),
    ],
)
def test_names_are_matched_whole(text: str, message: str) -> None:
    """A name pattern ending in `$` also matched before a final newline: 'd\\n' passed as a node name."""
    with pytest.raises(SpecError) as info:
        netform.load_spec(text)
    assert re.search(message, str(info.value)), str(info.value)


# -- the YAML nesting limit counts collections, not brackets in strings and comments ------------------------

_SEQUENTIAL = (
    "netform: 1\nkind: sequential\n{extra}inputs: {{x: {{shape: [8]}}}}\nlayers:\n  - {{type: Dense, units: 3}}\n"
)


@pytest.mark.parametrize(
    "extra",
    [
        'description: "' + "[" * 70 + '"\n',
        "description: '" + "{" * 70 + "''" + "[" * 70 + "'\n",
        'description: "\\"' + "[" * 70 + "\n  " + "{" * 70 + '"\n',
        "# " + "{" * 70 + "\n",
        "description: x  # " + "[" * 70 + "\n",
    ],
)
def test_brackets_in_strings_and_comments_are_not_nesting(extra: str) -> None:
    netform.load_spec(_SEQUENTIAL.format(extra=extra))


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("description: " + "[" * 70 + "]" * 70 + "\n", "3:78"),
        ('description: "' + "[" * 70 + '"\nx: ' + "[" * 65 + "]" * 65 + "\n", "4:68"),
        # a quote the pre-scan takes for a string's start (YAML reads `-"` as plain text): the parser's events
        # are counted before the document is composed
        ('description: -"\nx: ' + "[" * 70 + "]" * 70 + "\n", "4:68"),
    ],
)
def test_deep_nesting_is_still_refused(extra: str, where: str) -> None:
    with pytest.raises(SpecError, match=rf"^<string>:{where}: the document is nested more than 64 levels deep"):
        netform.load_spec(_SEQUENTIAL.format(extra=extra))


def test_many_unknown_op_names_are_refused_in_time() -> None:
    """9,000 op nodes of different unknown ops: each suggestion compares the name with every op's (7 s of CPU);
    past the messages shown, none is worked out."""
    rng = random.Random(5)
    names = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(8)) for _ in range(9_000)]
    lines = ["netform: 1", "kind: functional", "inputs: {x: {shape: [4]}}", "nodes:", "  first: {op: rleu, in: x}"]
    lines += [f"  n{i}: {{op: {name}, in: x}}" for i, name in enumerate(names)]
    text = "\n".join([*lines, "outputs: [first]", ""])

    def refuse() -> None:
        with pytest.raises(
            SpecError, match=r"nodes\.first\.op: unknown op 'rleu' \(Did you mean one of: 'relu', 'relu6'\?\)"
        ):
            netform.load_spec(text)

    assert_cpu_under(refuse, 2.0, "9,000 unknown op names")
