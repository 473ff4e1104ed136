"""Spec bombs: tiny specs whose blocks, references or errors would cost far more than their size.

Each file of ``make_yaml_corpus.SPEC_BOMBS`` is loaded in a child process
that reports its CPU time and how far its peak resident memory rose above
the interpreter's (``ru_maxrss``): every one ends in one located
:class:`SpecError` naming the problem, in under 2 s of CPU and 200 MB.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import netform
from netform.errors import SpecError
from tests._budget import assert_cpu_under, assert_seconds_under
from tests.security.make_yaml_corpus import SPEC_BOMBS

CPU_LIMIT_S = 2.0
MEMORY_LIMIT_MB = 200
ROOT = Path(__file__).resolve().parents[2]

EXPANDS = r"the spec expands to more than 10000 {what}; check `repeat:` and blocks that use repeated blocks: it makes {n} {what} \(netform refuses graphs past 10,000\)"
USES_ITSELF = r"block '{b}' uses itself: {cycle}; a block cannot contain itself \(to chain copies of a block, use `repeat:`\)"

# file → (diagnostics, the first diagnostic after the file name)
EXPECTED: dict[str, tuple[int, str]] = {
    "bomb_nested_repeat_sequential.yaml": (1, r"10:16: layers\[0\]\.repeat: " + EXPANDS.format(what="block uses", n="1,001,001,000")),
    "bomb_nested_repeat_functional.yaml": (1, r"10:17: nodes\.y\.repeat: " + EXPANDS.format(what="block uses", n="1,001,001,000")),
    "bomb_nested_repeat_layers.yaml": (1, r"10:16: layers\[0\]\.repeat: " + EXPANDS.format(what="layers", n="1,000,000,000")),
    "bomb_self_use_sequential.yaml": (1, r"6:17: blocks\.a\.layers\[0\]\.block: " + USES_ITSELF.format(b="a", cycle="a → a")),
    "bomb_self_use_functional.yaml": (1, r"6:32: blocks\.a\.nodes\.p\.block: " + USES_ITSELF.format(b="a", cycle="a → a")),
    "bomb_mutual_use_fan_out.yaml": (1, r"7:32: blocks\.b\.nodes\.p\.block: " + USES_ITSELF.format(b="a", cycle="a → b → a")),
    # the block comes from a parameter: only the expansion sees it, and the expansion is capped
    "bomb_self_use_by_parameter.yaml": (3, r"6:48: blocks\.a\.nodes\.p: blocks are nested more than 16 deep "
                                          r"\(does block 'a' use itself\?\)"),
    "bomb_repeat_by_parameter.yaml": (1, r"10:16: layers\[0\]\.repeat: the spec expands to more than 10000 layers"),
    "bomb_fat_block_repeated.yaml": (1, r"8:16: layers\[0\]\.repeat: the spec's blocks expand to 1,000,060,000 values "
                                       r"\(settings and their items, all copies together\); the limit is 300,000: use "
                                       r"fewer copies of large blocks, or move large settings out of repeated blocks$"),
    "bomb_unknown_refs_10000.yaml": (10_000, r"6:20: nodes\.n0\.in: unknown node or input 'missing0'; known names: x, n0, "
                                             r"n1, .*, n18, … \(10,001 in all\)$"),
    "bomb_misspelt_fields_10000.yaml": (10_000, r"6:19: layers\[0\]\.unitz: unknown field 'unitz' \(Did you mean 'units'\?\); "
                                                r"Dense accepts: type, name, "),
    "bomb_misspelt_input_fields_10000.yaml": (20_000, r"6:3: inputs\.a0\.shape: missing required field 'shape'"),
    "bomb_unknown_types_10000.yaml": (10_000, r"6:6: layers\[0\]\.type: unknown layer type 'Dense0' \(Did you mean 'Dense'\?\)"),
    "bomb_bad_activations_10000.yaml": (5_000, r"7:24: layers\[1\]\.activation: unknown activation 'rel0' \(Did you mean "
                                               r"one of: 'relu', 'relu6'\?\)"),
    "bomb_unknown_blocks_10000.yaml": (10_000, r"107:8: nodes\.n0\.block: unknown block 'c0'; define it under `blocks:` "
                                               r"\(defined: b0, b1, .*, b19, … \(100 in all\)\)$"),
    "bomb_unnamed_layers_40000.yaml": (1, r"10006:3: layers\[10000\]: the spec lists 40,000 layers; the limit is 10,000"),
    "bomb_unknown_outputs_12000.yaml": (12_000, r"10006:11: outputs\[0\]: unknown node or input 'n0x' \(Did you mean 'n0'\?\); "
                                                r"known names: n0, n1, .*, n19, … \(10,001 in all\)$"),
    "bomb_unknown_params_10000.yaml": (10_000, r"9:23: blocks\.a\.layers\[0\]\.units: unknown block parameter '\$p0x' "
                                               r"\(Did you mean 'p0'\?\); block 'a' declares: p0, p1, .*, p19, … \(2,000 in all\)$"),
    "bomb_unknown_shares_6000.yaml": (6_000, r"4006:8: nodes\.s0\.shares: `shares: d0x` must name an earlier layer or block "
                                               r"node \(Did you mean 'd0'\?\)$"),
    "bomb_unknown_refs_24000.yaml": (1, r"10006:3: nodes\.n10000: the spec lists 24,000 nodes; the limit is 10,000 \(netform "
                                        r"refuses graphs past that size\)$"),
    "bomb_empty_block_bodies.yaml": (4, r"6:20: blocks\.e\.nodes: block 'e' has no nodes and no `outputs:`; give it "
                                        r"nodes, or `outputs: \[x\]` to pass its input through"),
    "bomb_huge_units.yaml": (1, r"6:19: layers\[0\]\.units: 1,000,000,000,000,000,000,000,000,000,000 is too large; "),
    "bomb_huge_embedding.yaml": (1, r"6:23: layers\[0\]\.input_dim: 1,000,000,000,000 is too large; "),
    # block parameters passed on and repeated: a text or a list multiplied per level, sized before it is built
    "bomb_param_text_chain.yaml": (1, r"29:21: blocks\.b5\.layers\[0\]\.s: block 'b5': the text '\$s\$s\$s\$s\$s\$s\$s\$s' "
                                      r"with parameter 's' \(65,536 characters\) substituted is longer than 100,000 "
                                      r"characters, the limit for a substituted text"),
    "bomb_param_list_chain.yaml": (1, r"43:3: nodes\.k: the spec's blocks expand to more than 300,000 values \(settings "
                                      r"and their items, all copies together; block 'b4' with parameter 's' substituted "
                                      r"holds 299,596 values"),
    "bomb_stack_150000_inputs.yaml": (1, r"6:18: nodes\.c\.in: node 'c' reads 150,000 tensors; a node takes at most 1,024"),
}

# Loads one spec and prints what it cost: CPU seconds and the peak resident memory above the baseline.
CHILD = textwrap.dedent("""\
    import json, resource, sys, time
    import netform
    from netform.errors import SpecError
    netform.load_spec("netform: 1\\nkind: sequential\\ninputs: {x: {shape: [2]}}\\nlayers: [{type: ReLU}]\\n")  # warm up
    try:  # and the error paths' modules (imported on first use): their import is no cost of the bomb
        netform.load_spec("netform: 1\\nkind: functional\\ninputs: {x: {shape: [2]}}\\n"
                          "nodes: {a: {type: ReLU, in: y}, b: {shares: zz, in: a}, c: {block: q, in: b}}\\n"
                          "outputs: [c, d]\\nzzz: 1\\n")
    except SpecError:
        pass
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    try:
        netform.load_spec(sys.argv[1])
        out = {"accepted": True}
    except SpecError as err:
        out = {"diagnostics": len(err.diagnostics), "message": str(err), "first": str(err.diagnostics[0]),
               "located": all(d.line is not None for d in err.diagnostics)}
    except BaseException as err:
        out = {"raw": f"{type(err).__name__}: {str(err)[:300]}"}
    out["cpu_s"] = time.process_time() - start
    out["rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps(out))
""")


def _limits() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (30, 30))  # a regression fails the test instead of taking the machine
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def measure(path: Path) -> dict[str, object]:
    """Load ``path`` in a child process; its result, CPU seconds and peak memory rise in MB."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120,
                          env=env, preexec_fn=_limits)
    assert proc.returncode == 0, f"{path.name}: the child died ({proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bombs")
    for name, make in SPEC_BOMBS.items():
        (directory / name).write_text(make(directory), encoding="utf-8")  # type: ignore[arg-type]
    return directory


def test_every_bomb_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(SPEC_BOMBS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_spec_bomb_is_refused_cheaply(name: str, bombs: Path) -> None:
    path = bombs / name
    result = measure(path)
    assert "raw" not in result, f"{name}: {result['raw']}"
    assert "accepted" not in result, f"{name} was accepted"
    count, first = EXPECTED[name]
    assert result["diagnostics"] == count, result["message"]
    assert result["located"], result["message"]
    assert re.match(f"^{re.escape(str(path))}:{first}", str(result["first"])), result["first"]
    # Measured in the child after its warm-up; over the limit, in a second child, and the lower kept.
    assert_seconds_under(float(result["cpu_s"]), CPU_LIMIT_S, f"{name}: refused",  # type: ignore[arg-type]
                         again=lambda: float(measure(path)["cpu_s"]))  # type: ignore[arg-type]
    assert result["rss_mb"] < MEMORY_LIMIT_MB, f"{name}: {result['rss_mb']:.0f} MB"
    # a few hundred lines at most, whatever the number of errors
    assert len(str(result["message"])) < 100_000


def test_many_errors_are_listed_up_to_a_cap(bombs: Path) -> None:
    with pytest.raises(SpecError) as info:
        netform.load_spec(bombs / "bomb_unknown_refs_10000.yaml")
    lines = str(info.value).splitlines()
    assert len(info.value.diagnostics) == 10_000  # all kept for tools
    assert len(lines) == SpecError.MAX_SHOWN + 2
    assert lines[-2:] == ["… and 9,900 more errors", "10,000 errors found."]
    # the first ones still suggest fixes
    assert "(Did you mean 'n1'?)" in netform_error_for("nodes:\n  n1: {type: ReLU, in: x}\n  n2: {type: ReLU, in: n11}\n")


def netform_error_for(nodes: str) -> str:
    text = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n" + nodes + "outputs: [n2]\n"
    with pytest.raises(SpecError) as info:
        netform.load_spec(text)
    return str(info.value)


def test_suggestions_among_many_names_stay_cheap_and_right() -> None:
    """A near miss among 10,000 names is still found (the pre-selection keeps same-letter, similar-length names)."""
    nodes = "nodes:\n" + "".join(f"  n{i}: {{type: ReLU, in: x}}\n" for i in range(9_999))
    text = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n" + nodes + "  z: {type: Add, in: [n1, n9998x]}\noutputs: [z]\n"
    with pytest.raises(SpecError, match=r"unknown node or input 'n9998x' \(Did you mean 'n9998'\?\)"):
        netform.load_spec(text)


def test_pass_through_and_self_use_blocks_in_a_real_spec() -> None:
    """A pass-through block (outputs its input) is still allowed; a block used inside itself is not."""
    head = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\n"
    spec = netform.load_spec(head + "blocks:\n  id: {inputs: [x], nodes: {}, outputs: [x]}\n"
                             "layers:\n  - {block: id, repeat: 3}\n  - {type: Dense, units: 2}\n")
    assert [r.name for r in netform.summary(spec).rows][-1] == "dense"
    with pytest.raises(SpecError, match=r"blocks\.b\.layers\[1\]\.block: block 'a' uses itself: a → b → a"):
        netform.load_spec(head + "blocks:\n  a: {layers: [{type: ReLU}, {block: b}]}\n"
                                 "  b: {layers: [{type: ReLU}, {block: a}]}\nlayers:\n  - {block: a}\n")


# -- sizes: integers Keras hands to TensorFlow, weights and tensors past what a machine holds -------------------

_FILLERS: tuple[object, ...] = (4, (2,), "relu", {"type": "Dense", "units": 2}, "x", 0.5)


def _minimal(cls: type) -> dict[str, object] | None:
    """A valid config of a layer schema: each required field filled with the first value it accepts."""
    from pydantic import ValidationError

    data: dict[str, object] = {"type": cls.__name__ if "type" not in cls.model_fields else cls.model_fields["type"].default}
    for name, field in cls.model_fields.items():
        if not field.is_required() or name == "type":
            continue
        for value in _FILLERS:
            try:
                cls.model_validate({**data, name: value})
            except ValidationError as err:
                if any(e["loc"][:1] == (name,) for e in err.errors()):
                    continue
            data[name] = value
            break
        else:
            return None
    return data


def _int_fields() -> list[tuple[str, str]]:
    """(layer type, field) for every field of every layer schema that takes an integer."""
    from pydantic import ValidationError

    from netform.spec._layer_base import layer_specs

    cases = []
    for type_name, cls in sorted(layer_specs().items()):
        base = _minimal(cls)
        if base is None:
            continue
        for name in cls.model_fields:
            if name in ("type", "name"):
                continue
            try:
                layer = cls.model_validate({**base, name: 4})
            except ValidationError:
                continue
            value = getattr(layer, name)
            if isinstance(value, int) and not isinstance(value, bool):  # not a float field that took 4 as 4.0
                cases.append((type_name, name))
    return cases


@pytest.mark.parametrize("value", [10**30, 2**40, -(2**40)], ids=["1e30", "2^40", "-2^40"])
def test_every_integer_field_of_every_layer_refuses_huge_values(value: int) -> None:
    """No layer setting past int32 reaches Keras: each is a located SpecError with the number (no raw exception).

    A huge positive value is refused as too large; a negative one as not positive, or by the layer's own check.
    Seeds take 64 bits, as Keras's do (``tests/spec/test_seeds_run24.py``): 2**40 and -2**40 are seeds Keras
    draws with, 10**30 is not.
    """
    from netform.spec._layer_base import layer_specs
    from netform.spec._parse import validate_layer
    from netform.spec._yaml import SourceMap

    cases = _int_fields()
    assert len(cases) > 100  # units, filters, kernel_size, input_dim, seeds, num_heads, …
    failures = []
    for type_name, field in cases:
        cls = layer_specs()[type_name]
        data = {**(_minimal(cls) or {}), field: value}
        diags: list = []
        smap = SourceMap("case.yaml", {("layers", 0): (5, 5)})
        layer = validate_layer(data, ("layers", 0), smap, diags)
        if field == "seed" and abs(value) < 2**63:
            if layer is None:
                failures.append(f"{type_name}.{field}: a 64-bit seed refused: {[str(d) for d in diags]}")
            continue
        if layer is not None:
            failures.append(f"{type_name}.{field}: accepted")
        elif not any(d.path[:2] == ("layers", 0) and (f"{value:,}" in d.message or str(value) in d.message)
                     and d.line is not None for d in diags):
            failures.append(f"{type_name}.{field}: {[str(d) for d in diags]}")
    assert not failures, "\n".join(failures[:20])


def test_huge_units_and_embedding_fail_at_validate_not_in_tensorflow() -> None:
    head = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4], dtype: int32}}\nlayers:\n"
    with pytest.raises(SpecError, match=r"^<string>:5:19: layers\[0\]\.units: 1,099,511,627,776 is too large; Dense "
                                        r"takes integers up to 2,147,483,647 \(TensorFlow holds sizes and settings as "
                                        r"32-bit integers\)$"):
        netform.load_spec(head + f"  - {{type: Dense, units: {2**40}}}\n")
    with pytest.raises(SpecError, match=r"layers\[0\]\.input_dim: 1,000,000,000,000 is too large"):
        netform.load_spec(head + "  - {type: Embedding, input_dim: 1.0e+12, output_dim: 8}\n")


@pytest.mark.parametrize(("inputs", "layers", "message"), [
    ("{x: {shape: [65536]}}", "[{type: Dense, units: 65536}]",
     r"5:10: layers\[0\]: Dense has 4,295,032,832 weights; the limit is 2,147,483,647 \(8 GB as float32\)"),
    ("{x: {shape: [4], dtype: int32}}", "[{type: Embedding, input_dim: 2000000000, output_dim: 2000}]",
     r"5:10: layers\[0\]: Embedding has 4,000,000,000,000 weights; the limit is 2,147,483,647"),
    ("{x: {shape: [60000, 60000]}}", "[{type: ReLU}]",
     r"3:14: inputs\.x\.shape: input 'x' holds 3,600,000,000 values per sample; the limit is 2,147,483,647"),
    ("{x: {shape: [6000]}}", "[{type: RepeatVector, n: 600000}]",
     r"5:10: layers\[0\]: RepeatVector outputs 3,600,000,000 values per sample; the limit is 2,147,483,647"),
    ("{x: {shape: [%s]}}" % ", ".join(["1"] * 300), "[{type: ReLU}]",
     r"3:14: inputs\.x\.shape: input 'x' has 301 dimensions with the batch; TensorFlow takes at most 254$"),
    ("{x: {shape: [4]}}", "[{type: Reshape, target_shape: [%s]}]" % ", ".join(["1"] * 299 + ["4"]),
     r"5:10: layers\[0\]: Reshape outputs a tensor of 301 dimensions with the batch; TensorFlow takes at most 254: "
     r"make it smaller$"),
])
def test_weights_and_tensors_past_the_limit_are_refused_at_validate(inputs: str, layers: str, message: str) -> None:
    text = f"netform: 1\nkind: sequential\ninputs: {inputs}\n\nlayers: {layers}\n"
    with pytest.raises(SpecError, match=f"^<string>:{message}") as info:
        netform.load_spec(text)
    assert len(info.value.diagnostics) == 1


@pytest.mark.parametrize("error", ["ResourceExhaustedError", "MemoryError"])
def test_running_out_of_memory_while_building_is_a_build_error(error: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec within the limits that still does not fit the machine ends in BuildError, not a raw TensorFlow error."""
    import tensorflow as tf

    from netform.builder import _build
    from netform.errors import BuildError

    def out_of_memory(*_: object) -> None:
        if error == "MemoryError":
            raise MemoryError()
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[65536,30000]")

    monkeypatch.setattr(_build, "_functional", out_of_memory)
    spec = netform.load_spec("netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\n"
                             "nodes:\n  d: {type: Dense, units: 2, in: x}\noutputs: [d]\n")
    expected = (r"^<string>: TensorFlow could not make the model's weights \(ResourceExhaustedError: OOM when "
                r"allocating tensor with shape\[65536,30000\]\); make the layers smaller"
                if error != "MemoryError" else r"^<string>: not enough memory to build the model's weights")
    with pytest.raises(BuildError, match=expected):
        netform.build(spec, api="functional")


def test_specs_just_under_the_limits_are_accepted() -> None:
    """The limits refuse bombs, not big models: 9,999 unnamed layers, and a large block repeated twice, load."""
    head = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\n"
    specs: list[netform.ModelSpec] = []
    assert_cpu_under(lambda: specs.append(netform.load_spec(head + "layers:\n" + "- {type: ReLU}\n" * 9_999)),
                     CPU_LIMIT_S * 2, "validating 9,999 layers")
    rows = netform.summary(specs[-1]).rows
    assert [r.name for r in rows[-2:]] == ["re_lu_9997", "re_lu_9998"]
    values = ", ".join(["0"] * 50_000)
    # (a Constant value that broadcasts to the kernel (4, 50000), as Keras builds it)
    fat = (head + "blocks:\n  b: {layers: [{type: Dense, units: 50000, kernel_initializer: "
           f"{{type: Constant, value: [{values}]}}}}, {{type: Dense, units: 4}}]}}\n"
           "layers:\n  - {block: b, repeat: 2}\n")
    assert len(netform.summary(netform.load_spec(fat)).rows) == 5


def test_summary_table_stays_small_with_long_names_and_many_inputs() -> None:
    """Every row was padded to the widest cell: 1,024 long input names made a 323 KB spec's summary 433 MB."""
    long = "n" * 100
    text = ("netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n"
            + "".join(f"  {long}{i}: {{type: ReLU, in: x}}\n" for i in range(1024))
            + "".join(f"  m{i}: {{type: ReLU, in: x}}\n" for i in range(3000))
            + "  s: {type: Concatenate, in: [%s]}\noutputs: [s]\n" % ", ".join(f"{long}{i}" for i in range(1024)))
    table = str(netform.summary(netform.load_spec(text)))
    assert len(table) < 2_000_000, len(table)
    last = [line for line in table.splitlines() if line.startswith(" s (Concatenate)")][0]
    assert last.rstrip().endswith("…")
    assert max(len(line) for line in table.splitlines()) < 400


@pytest.mark.parametrize("node, message", [
    ("{op: broadcast_to, in: x, shape: [3000000000, 4]}", r"broadcast_to \[3000000000, 4\] sets the batch axis"),
    ("{op: take, in: [x, [99999999999]], axis: 1}", r"index 99999999999 is out of range for axis 1 of size 4"),
    ("{op: take, in: x, indices: 99999999999999999}", r"index 99999999999999999 is out of range for the flattened"),
    ("{op: slice, in: x, start_indices: [0, 7], shape: [-1, 2]}", r"start 7 and size 2 do not fit size 4"),
    ("{op: slice, in: x, start_indices: [0, -3], shape: [-1, 2]}", r"start -3 and size 2 do not fit size 4"),
    ("{op: top_k, in: x, k: 100}", r"top_k takes k from 0 to the last axis's size 4, received k=100"),
    ("{op: split, in: x, indices_or_sections: [2, 90], axis: 1}", r"split index 90 is outside axis 1 of size 4"),
])
def test_op_nodes_are_bounded_at_validate(node: str, message: str) -> None:
    """A fixed first dimension counts in a tensor's size; constant indices are checked against their axis."""
    text = ("netform: 1\nname: ops\nkind: functional\ninputs:\n  x: {shape: [4]}\nnodes:\n"
            f"  y: {node}\noutputs: [y]\n")
    from netform.errors import SpecError

    with pytest.raises(SpecError, match=message):
        netform.load_spec(text)
