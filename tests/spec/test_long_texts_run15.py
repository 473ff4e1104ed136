"""Long texts in a spec are bounded before any message quotes them.

One 500 KB string under a YAML anchor, given 3,000 times (as an input name, an activation, a layer type, a
callback's monitor, or as a key), was quoted whole by each of 3,000 errors: 7-9 s of CPU, up to 3.3 GB and 50-100
MB of output, exit 70 past 1 MB. A spec's texts are now at most 100,000 characters and its keys at most 1,024
(refused where they are written, each use located), and a diagnostic keeps at most 2,000 characters of its
message and 1,024 of each key of its path.
"""

from __future__ import annotations

import pytest

import netform as nf
from netform.errors import MAX_MESSAGE, Diagnostic, SpecError
from netform.spec._yaml import MAX_KEY, MAX_TEXT
from tests._budget import assert_cpu_under

HEAD = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n"


def _aliased(size: int, use: str, count: int = 3000) -> str:
    nodes = "".join(f"  n{i}: {{{use}}}\n" for i in range(count))
    return f'netform: 1\nkind: functional\ndescription: &b "{"Q" * size}"\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n{nodes}outputs: [n0]\n'


@pytest.mark.parametrize(
    "use",
    [
        "type: Dense, units: 2, in: *b",
        "type: Dense, units: 2, in: x, activation: *b",
        "type: *b, in: x",
        "type: Dense, units: 2, in: x, *b: 1",
        "type: Dense, units: 2, in: x, dtype: *b",
    ],
    ids=["in", "activation", "type", "key", "dtype"],
)
def test_a_long_anchored_text_used_3000_times_is_refused_quickly(use: str) -> None:
    text = _aliased(500_000, use)
    with pytest.raises(SpecError) as raised:
        nf.load_spec(text)
    message = str(raised.value)
    assert "a text of 500,000 characters" in message or "a key of 500,000 characters" in message
    assert len(message) < 50_000
    assert_cpu_under(lambda: pytest.raises(SpecError, nf.load_spec, text), 1.5, "a 500 KB text given 3,000 times")


def test_texts_and_keys_at_their_limits_are_read() -> None:
    spec = nf.load_spec(
        HEAD + f'description: "{"d" * MAX_TEXT}"\nnodes:\n  n: {{type: Dense, units: 2, in: x}}\noutputs: [n]\n'
    )
    assert len(spec.description or "") == MAX_TEXT
    with pytest.raises(SpecError, match=f"a text of {MAX_TEXT + 1:,} characters"):
        nf.load_spec(HEAD + f'description: "{"d" * (MAX_TEXT + 1)}"\nnodes:\n  n: {{type: Dense, units: 2, in: x}}\n')
    with pytest.raises(SpecError, match=f"a key of {MAX_KEY + 1:,} characters"):
        # (an explicit key: YAML takes a plain key of at most 1,024 characters)
        nf.load_spec(HEAD + f"nodes:\n  ? {'k' * (MAX_KEY + 1)}\n  : {{type: Dense, units: 2, in: x}}\n")


def test_just_under_the_limit_used_3000_times_stays_under_2_s() -> None:
    text = _aliased(99_000, "type: Dense, units: 2, in: x, activation: *b")
    with pytest.raises(SpecError) as raised:
        nf.load_spec(text)
    assert len(str(raised.value)) < 500_000
    assert_cpu_under(lambda: pytest.raises(SpecError, nf.load_spec, text), 2.0, "a 99 KB text given 3,000 times")


def test_a_diagnostic_keeps_the_ends_of_a_long_message_and_key() -> None:
    d = Diagnostic("a" * 10 + "x" * 100_000 + "z" * 10, path=("nodes", "k" * 5000, 3))
    assert len(d.message) < MAX_MESSAGE + 100 and d.message.startswith("a" * 10) and d.message.endswith("z" * 10)
    assert "characters left out" in d.message
    assert d.path[0] == "nodes" and d.path[2] == 3 and d.path[1].endswith("(5,000 characters)")
    assert Diagnostic("short", path=("a",)).message == "short"


def test_a_bare_int8_layer_dtype_is_refused_as_keras_refuses_it() -> None:
    """Keras reads ``dtype: int8`` as a quantization mode without its source ("Cannot convert `policy` into a
    valid pair"), for every layer; ``int8_from_float32`` is the quantized policy."""
    body = "layers:\n  - {type: ReLU, dtype: %s}\n"
    with pytest.raises(SpecError, match="dtype 'int8' is not a dtype policy"):
        nf.load_spec(HEAD.replace("functional", "sequential") + body % "int8")
    with pytest.raises(SpecError, match="Keras has no int8 call for a ReLU layer"):  # (Keras fails when it runs)
        nf.load_spec(HEAD.replace("functional", "sequential") + body % "int8_from_float32")
    nf.load_spec(HEAD.replace("functional", "sequential") + body % "int32")
