"""Validate refuses what Keras fails on, and its diagnostics cannot forge output.

* Diagnostics quote names and values from the spec: every character that is not printable (C0 and C1
  controls, DEL, line breaks, bidirectional overrides) is written as its Python escape, in the text and in the
  JSON of ``netform validate``, so a spec cannot print a line of its own or send a terminal escape.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path
from typing import Any

import pytest

from netform.cli._main import main
from netform.errors import Diagnostic, SpecError
from netform.spec import load_spec

SEQ = "netform: 1\nname: m\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"


def _validate(tmp_path: Path, text: str, capsys: Any, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    code = main(["validate", *args, str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _raw_controls(text: str) -> list[str]:
    """The characters of ``text`` that are not printable, line breaks between messages aside."""
    return [c for line in text.split("\n") for c in line if not c.isprintable()]


@pytest.mark.parametrize(
    "layer",
    [
        '  - {type: "Den\\e[2Jse", units: 1}\n',  # an unknown type
        '  - {type: Dense, units: 1, "k\\e[2Jey": 3}\n',  # an unknown field (its path too)
        '  - {type: "Dense\\n1 of 1 spec(s) valid.\\nall good", units: 1}\n',  # a forged summary line
        '  - {type: "Dense\\u202e\\x85\\x7f\\0", units: 1}\n',  # bidi override, C1, DEL, NUL
    ],
)
def test_diagnostics_escape_what_the_spec_quotes(tmp_path: Path, capsys: Any, layer: str) -> None:
    code, out, err = _validate(tmp_path, SEQ + layer, capsys)
    assert code == 1
    assert out == "0 of 1 spec(s) valid.\n"
    assert len(err.splitlines()) == 1, err
    assert _raw_controls(err) == []
    assert "\\x1b[2J" in err or "\\n1 of 1" in err or "\\u202e\\x85\\x7f\\x00" in err
    code, out, _ = _validate(tmp_path, SEQ + layer, capsys, "--format", "json")
    message = json.loads(out)["files"][0]["errors"][0]["message"]
    assert _raw_controls(message) == [], message


@pytest.mark.parametrize("fill", ["\\e", "\\0"])
def test_format_field_fill_is_escaped_in_the_whole_message(tmp_path: Path, capsys: Any, fill: str) -> None:
    text = (
        SEQ + "  - {type: Dense, units: 1}\ntraining:\n  loss: mse\n  callbacks:\n"
        f'    - {{type: ModelCheckpoint, filepath: "m{{epoch:{fill}>5}}.keras"}}\n'
    )
    code, _, err = _validate(tmp_path, text, capsys)
    assert code == 1
    assert _raw_controls(err) == []
    assert "unprintable fill character" in err
    escaped = "\\x1b" if fill == "\\e" else "\\x00"
    assert f"{{epoch:{escaped}>5}}" in err


def test_spec_error_and_diagnostic_text_are_printable() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SEQ + '  - {type: "A\\nB\\e[31m", units: 1}\n')
    assert _raw_controls(str(info.value)) == []
    assert len(str(info.value).splitlines()) == 1
    diag = Diagnostic("bad 'x\ny'", ("nodes", "a\x1bb"), source="f\r.yaml", line=1, column=2)
    assert str(diag) == "f\\r.yaml:1:2: nodes.a\\x1bb: bad 'x\\ny'"
    assert diag.to_dict()["path"] == "nodes.a\\x1bb"
    # printable text of every script is kept as written
    assert Diagnostic("unknown layer type 'Dénse…'").message == "unknown layer type 'Dénse…'"


# -- names a block declares ------------------------------------------------------------------------------------

BLOCK = """netform: 1
kind: functional
inputs:
  x: {{shape: [4]}}
blocks:
  b: {{nested: {nested}, {params}inputs: [{inp}], nodes: {{o: {{type: Dense, units: 2, in: {inp}}}}}, outputs: [o]}}
nodes:
  d: {{block: b, in: x{args}}}
outputs: [d]
"""


@pytest.mark.parametrize("nested", ["false", "true"])
@pytest.mark.parametrize("inp", ['"i\\n"', '"1i"', '"i-j"', '"i j"', '""'])
def test_block_input_names_are_checked_as_names(inp: str, nested: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(BLOCK.format(nested=nested, params="", inp=inp, args=""))
    (diag,) = info.value.diagnostics
    assert diag.path == ("blocks", "b", "inputs", 0)
    assert "block 'b' input name " in diag.message
    assert "is not a valid name (letters, digits and _, not starting with a digit)" in diag.message
    assert diag.line == 6


def test_block_parameter_names_are_checked_as_names() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(BLOCK.format(nested="false", params='params: {"u\\n": 2}, ', inp="i", args=', "u\\n": 3'))
    (diag,) = info.value.diagnostics
    assert diag.path == ("blocks", "b", "params", "u\n")
    assert "block 'b' parameter name 'u\\n' is not a valid name" in diag.message


def test_block_with_valid_names_still_loads() -> None:
    spec = load_spec(BLOCK.format(nested="true", params="params: {u_1: 2}, ", inp="i_0", args=", u_1: 3"))
    assert spec.blocks["b"].inputs == ("i_0",)


# -- op arguments Keras builds with and then fails on every input ----------------------------------------------

OPS = """netform: 1
kind: functional
inputs:
  x: {{shape: [4, 3]}}
  x4: {{shape: [8, 8, 3]}}
nodes:
  n: {node}
outputs: [n]
"""


def _op_error(node: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(OPS.format(node=node))
    (diag,) = info.value.diagnostics
    assert diag.path[:2] == ("nodes", "n")
    return diag.message


@pytest.mark.parametrize(
    "shift, axis",
    [
        (".nan", "1"),
        (".inf", "1"),
        ("-.inf", "1"),
        ("1.0", "1"),
        ("1.5", "1"),
        ("true", "1"),
        ('"1"', "1"),
        ("[1, .nan]", "[1, 2]"),
        ("2.0", "null"),
    ],
)
def test_roll_shift_must_be_a_whole_number(shift: str, axis: str) -> None:
    message = _op_error(f"{{op: roll, in: x, shift: {shift}, axis: {axis}}}")
    assert message.startswith("op roll: shift ")
    assert "is not a whole number" in message and "write the shift as an integer" in message


@pytest.mark.parametrize("shift, axis", [("1", "1"), ("-2", "null"), ("[1, -1]", "[1, 2]")])
def test_roll_whole_shifts_still_validate(shift: str, axis: str) -> None:
    load_spec(OPS.format(node=f"{{op: roll, in: x, shift: {shift}, axis: {axis}}}"))


@pytest.mark.parametrize("op", ["average_pool", "max_pool"])
@pytest.mark.parametrize(
    "args, what",
    [
        ("in: x, pool_size: 3, strides: 1000000000000", "strides 1,000,000,000,000"),
        ("in: x, pool_size: 3, strides: 2147483648", "strides 2,147,483,648"),
        ("in: x, pool_size: 2147483648, strides: 1, padding: same", "pool_size 2,147,483,648"),
        ("in: x4, pool_size: 2, strides: [1, 3000000000]", "strides 3,000,000,000"),
    ],
)
def test_pool_op_windows_are_bounded_as_tensorflow_does(op: str, args: str, what: str) -> None:
    message = _op_error(f"{{op: {op}, {args}}}")
    assert f"op {op}: {what} is too large; pooling takes whole numbers up to 2,147,483,647" in message


@pytest.mark.parametrize("op", ["average_pool", "max_pool"])
def test_pool_op_largest_int32_stride_still_validates(op: str) -> None:
    spec = load_spec(OPS.format(node=f"{{op: {op}, in: x, pool_size: 3, strides: 2147483647}}"))
    assert spec.nodes is not None


def test_keras_refuses_what_validate_refuses() -> None:
    """Keras builds these and fails on the first input; validate's bounds are Keras's."""
    keras = pytest.importorskip("keras")
    import numpy as np

    def runs(fn: Any, shape: tuple[int, ...]) -> bool:
        inp = keras.Input(shape)
        model = keras.Model(inp, fn(inp))
        try:
            model.predict(np.zeros((1, *shape), "float32"), verbose=0)
        except (TypeError, ValueError):
            return False
        return True

    assert runs(lambda t: keras.ops.roll(t, 1, axis=1), (4, 3))
    assert not runs(lambda t: keras.ops.roll(t, float("nan"), axis=1), (4, 3))
    assert not runs(lambda t: keras.ops.roll(t, 1.0, axis=1), (4, 3))
    assert runs(lambda t: keras.ops.average_pool(t, 3, strides=2**31 - 1), (4, 3))
    assert not runs(lambda t: keras.ops.average_pool(t, 3, strides=2**31), (4, 3))
    assert not runs(lambda t: keras.ops.max_pool(t, 3, strides=10**12), (4, 3))


# -- the mask of a recurrent layer -----------------------------------------------------------------------------

RNN = """netform: 1
kind: functional
inputs:
  q: {{shape: [4, 8]}}
  v: {{shape: [4, 6, 3]}}
  m: {{shape: {mask}, dtype: bool}}
nodes:
  n: {{{layer}, in: {x}, call: {{mask: m}}}}
outputs: [n]
"""
LAYERS = [
    ("type: LSTM, units: 2", "q"),
    ("type: GRU, units: 2, return_sequences: true", "q"),
    ("type: SimpleRNN, units: 2", "q"),
    ("type: Bidirectional, layer: {type: LSTM, units: 2}", "q"),
    ("type: ConvLSTM1D, filters: 2, kernel_size: 3, padding: same", "v"),
    ("type: Bidirectional, layer: {type: ConvLSTM1D, filters: 2, kernel_size: 3}", "v"),
]


@pytest.mark.parametrize("layer, x", LAYERS)
@pytest.mark.parametrize(
    "mask, why",
    [
        ("[4, 6]", "it has 3 axes"),
        ("[2]", "its axis 1 (2) is not the input's time steps (4)"),
        ("[4, 1]", "it has 3 axes"),
        ("[]", "it has 1 axis"),
    ],
)
def test_recurrent_mask_must_be_batch_and_time_steps(layer: str, x: str, mask: str, why: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(RNN.format(layer=layer, x=x, mask=mask))
    (diag,) = info.value.diagnostics
    assert diag.path == ("nodes", "n", "call", "mask")
    kind = layer.split(",")[0].split()[-1]
    assert diag.message.startswith(f"{kind}'s mask must have shape (batch, 4) (batch, the time steps of its input")
    assert f"but node 'm' gives (None, {mask[1:-1]}".rstrip(" ") in diag.message
    assert why in diag.message


@pytest.mark.parametrize("layer, x", LAYERS)
def test_recurrent_mask_of_batch_and_time_steps_validates(layer: str, x: str) -> None:
    load_spec(RNN.format(layer=layer, x=x, mask="[4]"))


def test_keras_fails_on_the_refused_recurrent_masks() -> None:
    keras = pytest.importorskip("keras")
    import numpy as np

    def runs(mask_shape: tuple[int, ...]) -> bool:
        x, m = keras.Input((4, 8)), keras.Input(mask_shape, dtype="bool")
        model = keras.Model([x, m], keras.layers.LSTM(2)(x, mask=m))
        try:
            model.predict([np.zeros((2, 4, 8), "float32"), np.ones((2, *mask_shape), bool)], verbose=0)
        except Exception:  # TensorFlow's InvalidArgumentError at the first batch, or ValueError while built
            return False
        return True

    assert runs((4,))
    assert not runs((4, 6))
    assert not runs((2,))


# -- MultiHeadAttention's causal mask and its attention axes ---------------------------------------------------

MHA = """netform: 1
kind: functional
inputs:
  q: {{shape: {q}}}
  v: {{shape: {v}}}
nodes:
  n: {{type: MultiHeadAttention, num_heads: 2, key_dim: 4{axes}, in: [q, v], call: {{use_causal_mask: true}}}}
outputs: [n]
"""
# (query, value, attention_axes, whether Keras runs it: checked against Keras below)
CAUSAL = [
    ([4, 8, 3], [4, 8, 3], [1, 2], False),
    ([4, 8, 3], [4, 8, 3], None, False),
    ([4, 8, 3], [4, 8, 3], [2, 1], False),
    ([4, 8, 3], [4, 8, 3], [2], False),
    ([4, 8, 3], [4, 8, 3], [1], True),
    ([4, 8, 3], [4, 8, 3], [-3], True),
    ([4, 4, 3], [4, 4, 3], [2], True),
    ([4, 8, 3], [6, 8, 3], [1], True),
    ([4, 3], [6, 3], None, True),
]


def _mha(q: list[int], v: list[int], axes: list[int] | None) -> str:
    return MHA.format(q=q, v=v, axes="" if axes is None else f", attention_axes: {axes}")


@pytest.mark.parametrize("q, v, axes, runs", CAUSAL)
def test_causal_mask_is_checked_against_the_attention_axes(
    q: list[int], v: list[int], axes: list[int] | None, runs: bool
) -> None:
    if runs:
        load_spec(_mha(q, v, axes))
        return
    with pytest.raises(SpecError) as info:
        load_spec(_mha(q, v, axes))
    (diag,) = info.value.diagnostics
    assert diag.path == ("nodes", "n", "call", "use_causal_mask")
    assert diag.message.startswith("MultiHeadAttention's causal mask (use_causal_mask: true) has shape (1, 4, 4)")
    assert "set attention_axes: [1]" in diag.message


def test_keras_runs_the_causal_masks_validate_accepts() -> None:
    keras = pytest.importorskip("keras")
    import numpy as np

    for q, v, axes, expected in CAUSAL:
        qi, vi = keras.Input(tuple(q)), keras.Input(tuple(v))
        try:
            out = keras.layers.MultiHeadAttention(2, 4, attention_axes=axes)(qi, vi, use_causal_mask=True)
            keras.Model([qi, vi], out).predict([np.zeros((2, *q), "float32"), np.zeros((2, *v), "float32")], verbose=0)
        except ValueError:
            runs = False
        else:
            runs = True
        assert runs == expected, (q, v, axes)
