"""Write a corpus of hostile YAML files, each one a way to attack a YAML loader.

    python tests/security/make_yaml_corpus.py DIR

Every file must be refused by ``netform.load_spec`` with a clear
:class:`netform.SpecError`, fast, and without running anything: the files
that try to run a command would ``touch DIR/MARKER``.
"""

from __future__ import annotations

import argparse
import codecs
from pathlib import Path
from typing import Callable

MARKER = "MARKER"
HEAD = "netform: 1\nname: hostile\nkind: sequential\n"


def _billion_laughs(_: Path) -> str:
    lines = ['lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return HEAD + "\n".join(lines) + "\n"  # 9**10 strings once expanded


def _deep_flow(_: Path) -> str:
    return HEAD + "layers: " + "[" * 10_000 + "]" * 10_000 + "\n"


def _deep_block(_: Path) -> str:
    # 10,000 nested block sequences need no indentation in compact form: `- - - … x`
    return HEAD + "layers:\n" + "- " * 10_000 + "x\n"


def _deep_block_indented(_: Path) -> str:
    # nesting by indentation, one space a level: 3,000 levels is ~4.5 MB (10,000 would be 50 MB)
    return HEAD + "layers:\n" + "".join(" " * i + "k:\n" for i in range(1, 3000)) + " " * 3000 + "k: x\n"


def _python_apply(d: Path) -> str:
    return HEAD + f'description: !!python/object/apply:os.system ["touch {d / MARKER}"]\n'


def _python_popen(d: Path) -> str:
    return HEAD + f'description: !!python/object/new:subprocess.Popen [["touch", "{d / MARKER}"]]\n'


def _python_eval(_: Path) -> str:
    return HEAD + 'description: !!python/name:builtins.eval ""\n'


def _python_apply_key(d: Path) -> str:
    # in a key, and as a whole document
    return f'!!python/object/apply:os.system ["touch {d / MARKER}"]: 1\n'


def _recursive_alias(_: Path) -> str:
    return HEAD + "layers: &a [*a]\n"


def _merge_bomb(_: Path) -> str:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for i in range(1, 10):
        refs = ", ".join([f"*m{i - 1}"] * 9)
        lines.append(f"m{i}: &m{i} {{<<: [{refs}], k{i}: {refs}}}")
    return HEAD + "\n".join(lines) + "\n"


def _merge_keys(_: Path) -> str:
    return HEAD + "base: &base {type: Dense, units: 4}\nlayers:\n  - <<: *base\n    activation: relu\n"


def _long_line_10mb(_: Path) -> str:
    return HEAD + "description: " + "x" * 10_000_000 + "\n"


def _long_line_7mb(_: Path) -> str:
    # under the size limit: parsed, then refused by the schema (a name has no `-`)
    return "netform: 1\nkind: sequential\nname: " + "x" * 7_000_000 + "-\n"


def _keys_100k(_: Path) -> str:
    return HEAD + "".join(f"key{i}: {i}\n" for i in range(100_000))


def _large_50mb(_: Path) -> str:
    row = "  - {type: Dense, units: 4}  # " + "padding " * 8 + "\n"
    return HEAD + "inputs: {x: {shape: [4]}}\nlayers:\n" + row * (50_000_000 // len(row) + 1)


def _non_utf8(_: Path) -> bytes:
    return HEAD.encode() + b"description: caf\xe9 \xff\xfe\n"


def _utf16_bom(_: Path) -> bytes:
    return (HEAD + "inputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 4}]\n").encode("utf-16")


def _null_bytes(_: Path) -> str:
    return HEAD + "description: a\x00b\n"


def _undefined_alias(_: Path) -> str:
    return HEAD + "layers: *nowhere\n"


def _many_documents(_: Path) -> str:
    return "---\n" + HEAD + "---\n" + HEAD


# -- spec bombs: small, valid YAML whose blocks, references or errors would cost far more than their size --
SPEC_HEAD = "netform: 1\nname: bomb\ninputs: {x: {shape: [4]}}\n"
_PASS_THROUGH = ("blocks:\n"
                 "  a: {inputs: [x], nodes: {}, outputs: [x]}\n"
                 "  b: {inputs: [x], nodes: {u: {block: a, repeat: 1000, in: x}}, outputs: [u]}\n"
                 "  c: {inputs: [x], nodes: {u: {block: b, repeat: 1000, in: x}}, outputs: [u]}\n")


def _nested_repeat_sequential(_: Path) -> str:
    # three pass-through blocks nested with repeat: 1000 each: 10**9 block uses from a few hundred bytes
    return SPEC_HEAD + "kind: sequential\n" + _PASS_THROUGH + "layers:\n  - {block: c, repeat: 1000}\n"


def _nested_repeat_functional(_: Path) -> str:
    return (SPEC_HEAD + "kind: functional\n" + _PASS_THROUGH
            + "nodes:\n  y: {block: c, repeat: 1000, in: x}\n  z: {type: ReLU, in: y}\noutputs: [z]\n")


def _nested_repeat_layers(_: Path) -> str:
    # the same with real layers: 10**9 Dense layers
    return (SPEC_HEAD + "kind: sequential\nblocks:\n"
            "  a: {layers: [{type: Dense, units: 4}]}\n"
            "  b: {layers: [{block: a, repeat: 1000}]}\n"
            "  c: {layers: [{block: b, repeat: 1000}]}\n"
            "layers:\n  - {block: c, repeat: 1000}\n")


def _self_use_sequential(_: Path) -> str:
    return SPEC_HEAD + "kind: sequential\nblocks:\n  a: {layers: [{block: a}, {block: a}]}\nlayers:\n  - {block: a}\n"


def _self_use_functional(_: Path) -> str:
    return (SPEC_HEAD + "kind: functional\nblocks:\n"
            "  a: {inputs: [x], nodes: {p: {block: a, in: x}, q: {block: a, in: x}, s: {type: Add, in: [p, q]}}, "
            "outputs: [s]}\nnodes:\n  y: {block: a, in: x}\noutputs: [y]\n")


def _mutual_use_fan_out(_: Path) -> str:
    # a uses b twice, b uses a three times: 6**8 uses before a depth limit of 16 would stop it
    return (SPEC_HEAD + "kind: functional\nblocks:\n"
            "  a: {inputs: [x], nodes: {p: {block: b, in: x}, q: {block: b, in: x}, s: {type: Add, in: [p, q]}}, "
            "outputs: [s]}\n"
            "  b: {inputs: [x], nodes: {p: {block: a, in: x}, q: {block: a, in: x}, r: {block: a, in: x}, "
            "s: {type: Add, in: [p, q, r]}}, outputs: [s]}\n"
            "nodes:\n  y: {block: a, in: x}\noutputs: [y]\n")


def _self_use_by_parameter(_: Path) -> str:
    # the block to use is a parameter whose default is harmless: only the expansion sees the self-use
    return (SPEC_HEAD + "kind: sequential\nblocks:\n"
            "  a: {params: {inner: c}, inputs: [x], nodes: {p: {block: $inner, inner: $inner, in: x}, "
            "q: {block: $inner, inner: $inner, in: x}, s: {type: Add, in: [p, q]}}, outputs: [s]}\n"
            "  c: {params: {inner: null}, layers: [{type: ReLU}]}\n"
            "layers:\n  - {block: a, inner: a}\n")


def _repeat_by_parameter(_: Path) -> str:
    # `repeat: $n` with a default of 1: only the expansion sees the 10**9
    return (SPEC_HEAD + "kind: sequential\nblocks:\n"
            "  a: {inputs: [x], nodes: {}, outputs: [x]}\n"
            "  b: {params: {n: 1}, layers: [{block: a, repeat: $n}]}\n"
            "  c: {params: {n: 1}, layers: [{block: b, repeat: $n, n: $n}]}\n"
            "layers:\n  - {block: c, repeat: 1000, n: 1000}\n")


def _fat_block_repeated(_: Path) -> str:
    # one layer of 100,000 values, copied by each of 10,000 repeats: 10**9 values to substitute and check
    values = ", ".join(["0"] * 100_000)
    return (SPEC_HEAD + "kind: sequential\nblocks:\n"
            f"  b: {{layers: [{{type: Dense, units: 2, kernel_initializer: {{type: Constant, value: [{values}]}}}}]}}\n"
            "layers:\n  - {block: b, repeat: 10000}\n")


def _unknown_refs_10000(_: Path) -> str:
    return (SPEC_HEAD + "kind: functional\nnodes:\n"
            + "".join(f"  n{i}: {{type: ReLU, in: missing{i}}}\n" for i in range(10_000)) + "outputs: [n0]\n")


def _misspelt_fields_10000(_: Path) -> str:
    return SPEC_HEAD + "kind: sequential\nlayers:\n" + "  - {type: Dense, unitz: 4}\n" * 10_000


def _misspelt_input_fields_10000(_: Path) -> str:
    # 10,000 different unknown keys and 10,000 missing ones: matching each missing key with every unknown one was quadratic
    return ("netform: 1\nname: bomb\nkind: sequential\nlayers: [{type: ReLU}]\ninputs:\n"
            + "".join(f"  a{i}: {{zz{i}: [4]}}\n" for i in range(10_000)))


def _unknown_types_10000(_: Path) -> str:
    return SPEC_HEAD + "kind: sequential\nlayers:\n" + "".join(f"  - {{type: Dense{i}}}\n" for i in range(10_000))


def _bad_activations_10000(_: Path) -> str:
    return (SPEC_HEAD + "kind: sequential\nlayers:\n"
            + "".join(f"  - {{type: ReLU, name: r{i}}}\n  - {{type: Activation, activation: rel{i}}}\n" for i in range(5_000)))


def _unknown_blocks_10000(_: Path) -> str:
    return (SPEC_HEAD + "kind: functional\nblocks:\n" + "".join(f"  b{i}: {{layers: [{{type: ReLU}}]}}\n" for i in range(100))
            + "nodes:\n" + "".join(f"  n{i}: {{block: c{i}, in: x, p{i}: 1}}\n" for i in range(10_000)) + "outputs: [n0]\n")


def _unknown_outputs_12000(_: Path) -> str:
    # 12,000 outputs each a near miss of a node (of 10,000, the node limit): suggesting for each against every
    # node was quadratic
    return (SPEC_HEAD + "kind: functional\nnodes:\n" + "".join(f"  n{i}: {{type: ReLU, in: x}}\n" for i in range(10_000))
            + "outputs: [" + ", ".join(f"n{i}x" for i in range(12_000)) + "]\n")


def _unknown_params_10000(_: Path) -> str:
    # a block of 2,000 parameters whose 10,000 layers (the node limit) each use a misspelt one
    return (SPEC_HEAD + "kind: sequential\nblocks:\n  a:\n    params: {" + ", ".join(f"p{i}: 1" for i in range(2_000))
            + "}\n    layers:\n" + "".join(f"      - {{type: Dense, units: $p{i}x}}\n" for i in range(10_000))
            + "layers:\n  - {block: a}\n")


def _unknown_shares_6000(_: Path) -> str:
    # 6,000 `shares:` each a near miss of one of 4,000 layers (10,000 nodes, the limit)
    return (SPEC_HEAD + "kind: functional\nnodes:\n" + "".join(f"  d{i}: {{type: Dense, units: 2, in: x}}\n" for i in range(4_000))
            + "".join(f"  s{i}: {{shares: d{i}x, in: x}}\n" for i in range(6_000)) + "outputs: [d0]\n")


def _unknown_refs_24000(_: Path) -> str:
    # just under 1 MB: past the node limit, and every node reads an unknown name (counted before anything is checked)
    return (SPEC_HEAD + "kind: functional\nnodes:\n" + "".join(f"  n{i}: {{type: ReLU, in: q{i}}}\n" for i in range(24_000))
            + "outputs: [n0]\n")


def _unnamed_layers_40000(_: Path) -> str:
    # just under 1 MB: four times the layer limit, every layer unnamed (named dense, dense_1, ... by Keras's rule)
    return SPEC_HEAD + "kind: sequential\nlayers:\n" + "- {type: ReLU}\n" * 40_000


def _empty_block_bodies(_: Path) -> str:
    return (SPEC_HEAD + "kind: functional\nblocks:\n"
            "  e: {inputs: [x], nodes: {}}\n  f: {inputs: [], layers: []}\n  g: {layers: []}\n"
            "nodes:\n  p: {block: e, in: x}\n  q: {block: f, in: x}\n  r: {block: g, in: x}\n"
            "  s: {type: Concatenate, in: [p, q, r]}\noutputs: [s]\n")


def _huge_units(_: Path) -> str:
    return SPEC_HEAD + "kind: sequential\nlayers:\n  - {type: Dense, units: 1000000000000000000000000000000}\n"


def _huge_embedding(_: Path) -> str:
    return ("netform: 1\nname: bomb\ninputs: {x: {shape: [4], dtype: int32}}\nkind: sequential\n"
            "layers:\n  - {type: Embedding, input_dim: 1.0e+12, output_dim: 8}\n")


def _param_text_chain(_: Path) -> str:
    # ten blocks, each passing `s: "$s$s$s$s$s$s$s$s"` on: the innermost activation would be 2 * 8**10 characters
    blocks = "".join(f"  b{i}:\n    params: {{s: null}}\n    layers:\n      - {{block: b{i - 1}, s: \"{'$s' * 8}\"}}\n"
                     for i in range(1, 11))
    return (SPEC_HEAD + "kind: functional\nblocks:\n  b0:\n    params: {s: null}\n    layers:\n"
            "      - {type: Dense, units: 2, activation: \"x$s\"}\n" + blocks + "nodes:\n  k: {block: b10, in: x, s: ab}\n"
            "outputs: [k]\n")


def _param_list_chain(_: Path) -> str:
    # eight blocks, each passing `s: [$s, $s, …]` (8 items) on: 8**9 values, all the same object, shared
    blocks = "".join(f"  b{i}:\n    params: {{s: null}}\n    layers:\n      - {{block: b{i - 1}, s: [{', '.join(['$s'] * 8)}]}}\n"
                     for i in range(1, 9))
    return (SPEC_HEAD + "kind: functional\nblocks:\n  b0:\n    params: {s: null}\n    layers:\n"
            "      - {type: KerasLayer, class_name: Dense, config: {units: 2, name: $s}}\n" + blocks
            + "nodes:\n  k: {block: b8, in: x, s: [1, 2, 3, 4, 5, 6, 7, 8]}\noutputs: [k]\n")


def _stack_150000_inputs(_: Path) -> str:
    # 450 KB: one op node reading the same input 150,000 times (its shape rule costs per input)
    return SPEC_HEAD + "kind: functional\nnodes:\n  c: {op: stack, in: [" + ", ".join(["x"] * 150_000) + "]}\noutputs: [c]\n"


#: spec bombs: file name → how to make it (each refused with one kind of located SpecError, cheaply)
SPEC_BOMBS: dict[str, Callable[[Path], str | bytes]] = {
    "bomb_nested_repeat_sequential.yaml": _nested_repeat_sequential,
    "bomb_nested_repeat_functional.yaml": _nested_repeat_functional,
    "bomb_nested_repeat_layers.yaml": _nested_repeat_layers,
    "bomb_self_use_sequential.yaml": _self_use_sequential,
    "bomb_self_use_functional.yaml": _self_use_functional,
    "bomb_mutual_use_fan_out.yaml": _mutual_use_fan_out,
    "bomb_self_use_by_parameter.yaml": _self_use_by_parameter,
    "bomb_repeat_by_parameter.yaml": _repeat_by_parameter,
    "bomb_fat_block_repeated.yaml": _fat_block_repeated,
    "bomb_unknown_refs_10000.yaml": _unknown_refs_10000,
    "bomb_misspelt_fields_10000.yaml": _misspelt_fields_10000,
    "bomb_misspelt_input_fields_10000.yaml": _misspelt_input_fields_10000,
    "bomb_unknown_types_10000.yaml": _unknown_types_10000,
    "bomb_bad_activations_10000.yaml": _bad_activations_10000,
    "bomb_unknown_blocks_10000.yaml": _unknown_blocks_10000,
    "bomb_unnamed_layers_40000.yaml": _unnamed_layers_40000,
    "bomb_unknown_outputs_12000.yaml": _unknown_outputs_12000,
    "bomb_unknown_params_10000.yaml": _unknown_params_10000,
    "bomb_unknown_shares_6000.yaml": _unknown_shares_6000,
    "bomb_unknown_refs_24000.yaml": _unknown_refs_24000,
    "bomb_empty_block_bodies.yaml": _empty_block_bodies,
    "bomb_huge_units.yaml": _huge_units,
    "bomb_huge_embedding.yaml": _huge_embedding,
    "bomb_param_text_chain.yaml": _param_text_chain,
    "bomb_param_list_chain.yaml": _param_list_chain,
    "bomb_stack_150000_inputs.yaml": _stack_150000_inputs,
}


#: file name → how to make it
CORPUS: dict[str, Callable[[Path], str | bytes]] = {
    "billion_laughs.yaml": _billion_laughs,
    "deep_flow_10000.yaml": _deep_flow,
    "deep_block_10000.yaml": _deep_block,
    "deep_block_indented_3000.yaml": _deep_block_indented,
    "python_object_apply_os_system.yaml": _python_apply,
    "python_object_new_popen.yaml": _python_popen,
    "python_name_eval.yaml": _python_eval,
    "python_object_apply_in_key.yaml": _python_apply_key,
    "recursive_alias.yaml": _recursive_alias,
    "merge_key_bomb.yaml": _merge_bomb,
    "merge_keys.yaml": _merge_keys,
    "long_line_10mb.yaml": _long_line_10mb,
    "long_line_7mb.yaml": _long_line_7mb,
    "keys_100000.yaml": _keys_100k,
    "large_50mb.yaml": _large_50mb,
    "non_utf8.yaml": _non_utf8,
    "utf16_bom.yaml": _utf16_bom,
    "null_bytes.yaml": _null_bytes,
    "undefined_alias.yaml": _undefined_alias,
    "two_documents.yaml": _many_documents,
}


def write_corpus(directory: Path) -> list[Path]:
    """Write every corpus file into ``directory`` (created if needed) and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in {**CORPUS, **SPEC_BOMBS}.items():
        content = make(directory.resolve())
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths.append(path)
    assert (directory / "utf16_bom.yaml").read_bytes().startswith(codecs.BOM_UTF16_LE + b"n")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the hostile YAML corpus into a directory.")
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    for path in write_corpus(args.directory):
        print(f"{path.stat().st_size:>12,}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
