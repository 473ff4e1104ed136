"""`netform validate` on a 200-node spec, as a whole process (goal: under 0.5 s), and on the
largest specs a file may hold (goal: under 2 s of CPU over the import).

The limit here is the Python interpreter itself: we also time `python -c pass`
and report netform's time over it. The large specs are each at most 1 MB, and
at most 9,990 nodes (the node limit is 10,000), of the shapes that cost validate
the most per byte: a chain of op nodes, the same with an input of unknown sizes,
getitem, reshape and concatenate nodes, Dense/Add layer nodes, long node names,
a block used with `repeat:` that expands to 9,900 op nodes; and the specs built
so that no two nodes are alike (equal nodes share their shape and argument
checks, these defeat the sharing): op nodes each adding a different number, a
concatenate chain whose output grows at every node, Dense and Conv1D layers of
different sizes, 2,000 generic KerasLayer Conv2D nodes (as many as a spec may hold) then Conv2D
nodes, Add layers each reading 1,000 earlier nodes; and two specs past a limit, which must be refused
as fast: 9,990 generic KerasLayer nodes, and a 1 MB spec of 24,000 op nodes. Their figure is
CPU time (user + system) of the whole `netform validate` process, the least of the
runs, beside the CPU time of the same command on a 2-node op spec (the interpreter, the imports and
the schemas an op spec builds: what every validate pays, whatever the size).

    python bench/bench_validate.py [--json PATH] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def make_spec(n: int = 200) -> str:
    """A functional spec of ``n`` Dense/merge nodes with skip connections."""
    lines = ["netform: 1", "name: wide_graph", "kind: functional", "inputs:", "  x: {shape: [32]}", "nodes:"]
    prev = "x"
    for i in range(n):
        if i % 10 == 9:
            lines.append(f"  n{i}: {{type: Add, in: [{prev}, n{i - 5}]}}")
        else:
            lines.append(f"  n{i}: {{type: Dense, units: 32, activation: relu, in: {prev}}}")
        prev = f"n{i}"
    lines.append(f"outputs: [{prev}]")
    return "\n".join(lines) + "\n"


#: a spec file's size in the large-spec figures: just under 1 MB
SCALE_BYTES = 1_000_000
#: the most nodes a spec may list (netform.spec._graph.MAX_GRAPH_NODES), less a margin
SCALE_NODES = 9_990


def _fill(head: list[str], node: Any, limit: int = SCALE_BYTES, most: int = SCALE_NODES) -> tuple[str, int]:
    """``head``, then nodes ``node(i, previous)`` -> (line, name) while the text stays under ``limit`` bytes."""
    size = sum(len(line) + 1 for line in head) + 40  # and the outputs line
    lines = list(head)
    prev = "x"
    count = 0
    for i in range(most):
        line, name = node(i, prev)
        if size + len(line) + 1 > limit:
            break
        size += len(line) + 1
        lines.append(line)
        prev = name
        count += 1
    lines.append(f"outputs: [{prev}]")
    return "\n".join(lines) + "\n", count


def _head(shape: str = "[8]", blocks: tuple[str, ...] = ()) -> list[str]:
    return ["netform: 1", "name: large", "kind: functional", "inputs:", f"  x: {{shape: {shape}}}", *blocks, "nodes:"]


def _op_chain(i: int, prev: str) -> tuple[str, str]:
    op = ("add", "multiply", "subtract")[i % 3]
    other = ("x", "0.5", prev)[i % 3]
    return f"  n{i}: {{op: {op}, in: [{prev}, {other}]}}", f"n{i}"


def _op_mixed(i: int, prev: str) -> tuple[str, str]:
    line = (
        f"{{op: reshape, in: {prev}, newshape: [-1, 2, 4]}}",
        f'{{op: getitem, in: {prev}, index: "[:, :, 0:4]"}}',
        f"{{op: concatenate, in: [{prev}, {prev}], axis: 1}}",
        f'{{op: getitem, in: {prev}, index: "[:, 0:2]"}}',
    )[i % 4]
    return f"  n{i}: {line}", f"n{i}"


def _layers(i: int, prev: str) -> tuple[str, str]:
    if i % 2:
        return f"  n{i}: {{type: Dense, units: 8, activation: relu, in: {prev}}}", f"n{i}"
    return f"  n{i}: {{type: Add, in: [{prev}, x]}}", f"n{i}"


def _long_names(i: int, prev: str) -> tuple[str, str]:
    name = f"n{i:06d}_" + "a" * 40
    return f"  {name}: {{op: add, in: [{prev}, x]}}", name


_BLOCK = (
    "blocks:",
    "  res:",
    "    inputs: [x]",
    "    nodes:",
    "      d: {op: multiply, in: [x, 0.5]}",
    "      r: {op: add, in: [d, x]}",
    "      s: {op: subtract, in: [r, d]}",
    "    outputs: [s]",
)


# -- nodes no two alike: each node's static checks and shape rule run anew ---------------------------------


def _op_distinct(i: int, prev: str) -> tuple[str, str]:
    # a number in `in` is checked by its type, but its value is the node's own: no node's key equals another's
    return f"  n{i}: {{op: add, in: [{prev}, {i}]}}", f"n{i}"


def _concat_growing(i: int, prev: str) -> tuple[str, str]:
    # the output grows by 8 values at every node: each node's input shape is new
    return f"  n{i}: {{op: concatenate, in: [{prev}, x], axis: -1}}", f"n{i}"


def _dense_sizes(i: int, prev: str) -> tuple[str, str]:
    # units i and 1 in turn: every layer (its settings and its input size) differs, the weights stay small
    return f"  n{i}: {{type: Dense, units: {i + 1 if i % 2 else 1}, in: {prev}}}", f"n{i}"


def _conv_sizes(i: int, prev: str) -> tuple[str, str]:
    return f"  n{i}: {{type: Conv1D, filters: {i + 1 if i % 2 else 1}, kernel_size: 1, in: {prev}}}", f"n{i}"


def _generic_conv(i: int, prev: str) -> tuple[str, str]:
    # generic KerasLayer nodes, each its own config, each reading the input: every node validates its config
    # against Keras's rules and makes its schema form anew
    line = f"  n{i}: {{type: KerasLayer, class_name: Conv2D, config: {{filters: {i + 1}, kernel_size: 1}}, in: x}}"
    return line, f"n{i}"


def _generic_mix(i: int, prev: str) -> tuple[str, str]:
    # as many generic layers as a spec may hold (netform.spec._parse.MAX_GENERIC_LAYERS), then the same layers
    # with netform's own type: a spec of generic layers costs what one of schema layers costs
    if i < 2_000:
        return _generic_conv(i, prev)
    return f"  n{i}: {{type: Conv2D, filters: {i + 1}, kernel_size: 1, in: x}}", f"n{i}"


#: tensors each fan-in node reads (a node may read 1,024)
FAN_IN = 1_000


def _fan_in(i: int, prev: str) -> tuple[str, str]:
    # an Add of the 1,000 nodes before it (the input where there are fewer): 190 such nodes are 190,000 values,
    # near the 200,000 a document may hold
    names = ", ".join(f"n{j}" if j >= 0 else "x" for j in range(i - 1, i - 1 - FAN_IN, -1))
    return f"  n{i}: {{type: Add, in: [{names}]}}", f"n{i}"


def _past_limit(i: int, prev: str) -> tuple[str, str]:
    return f"  n{i}: {{op: add, in: [{prev}, x]}}", f"n{i}"


def scale_specs() -> list[tuple[str, str, int, bool]]:
    """The large specs: (what, YAML text, nodes after block expansion, whether validate accepts it)."""
    out = []
    for what, head, node in (
        ("op-node chain (add, multiply, subtract)", _head(), _op_chain),
        ("op-node chain, input of unknown sizes [null, 8]", _head("[null, 8]"), _op_chain),
        ("getitem, reshape and concatenate op nodes", _head("[2, 4]"), _op_mixed),
        ("Dense and Add layer nodes", _head(), _layers),
        ("op nodes with 48-character names", _head(), _long_names),
        ("no two alike: op nodes each adding a different number", _head(), _op_distinct),
        ("no two alike: concatenate chain, the output growing at every node", _head(), _concat_growing),
        ("no two alike: Dense layers of different units", _head(), _dense_sizes),
        ("no two alike: Conv1D layers of different filters", _head("[4, 8]"), _conv_sizes),
        ("no two alike: 2,000 generic KerasLayer Conv2D nodes, then Conv2D nodes", _head("[8, 8, 3]"), _generic_mix),
    ):
        text, count = _fill(head, node)
        out.append((what, text, count, True))
    text, count = _fill(_head(), _fan_in, most=190)
    out.append((f"Add layers each reading {FAN_IN:,} earlier nodes", text, count, True))
    uses = 33  # each a 3-node block repeated 100 times: 9,900 nodes from a 2 KB file
    text, count = _fill(
        _head(blocks=_BLOCK), lambda i, prev: (f"  b{i}: {{block: res, repeat: 100, in: {prev}}}", f"b{i}"), most=uses
    )
    out.append((f"block of 3 op nodes used with repeat: 100, {uses} times", text, count * 300, True))
    text, count = _fill(_head("[8, 8, 3]"), _generic_conv)
    out.append(("past the generic layer limit: generic KerasLayer Conv2D nodes (refused)", text, count, False))
    text, count = _fill(_head(), _past_limit, most=30_000)  # as many as 1 MB holds
    out.append(("past the node limit: op nodes (refused)", text, count, False))
    return out


#: the children's environment: Python writes its bytecode (into a folder of the run, see main) as it does
#: for an installed package, rather than compiling netform's sources in every process
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu(cmd: list[str], repeat: int) -> float:
    """The least CPU time (user + system, seconds) of ``repeat`` runs of ``cmd`` as a child process
    (after one untimed run, which writes the bytecode)."""
    subprocess.run(cmd, check=False, capture_output=True, env=ENV)
    runs = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=False, capture_output=True, env=ENV)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(runs)


def _time(cmd: list[str], repeat: int) -> float:
    subprocess.run(cmd, check=True, capture_output=True, env=ENV)  # untimed: writes the bytecode
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the rows as JSON here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        ENV["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        path = Path(tmp) / "spec200.yaml"
        path.write_text(make_spec(200))
        netform_s = _time([sys.executable, "-m", "netform.cli._main", "validate", str(path)], repeat)
        python_s = _time([sys.executable, "-c", "pass"], repeat)
    rows = [{"figure": "`netform validate` 200-node spec, whole process (s); comparison: bare `python -c pass`", "netform": round(netform_s, 3),
             "reference": round(python_s, 3), "reference_name": "python -c pass (start-up)", "ratio": round(netform_s / python_s, 2),
             "goal": "< 0.5 s", "met": netform_s < 0.5}]
    print("| figure | netform | python start-up | ratio | goal |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['netform']} | {r['reference']} | {r['ratio']}× | {r['goal']} |")
    rows += _scale_rows(2 if args.quick else 3)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return rows


def _scale_rows(repeat: int) -> list[dict[str, object]]:
    """validate's CPU time on the large specs, beside the same command on a 2-node op spec (its fixed cost)."""
    rows: list[dict[str, object]] = []
    cli = [
        sys.executable,
        "-c",
        "import sys; from netform.cli._main import _entry; sys.argv[0] = 'netform'; sys.exit(_entry())",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        ENV["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        small = Path(tmp) / "small.yaml"
        small.write_text(_fill(_head(), _op_chain, most=2)[0])
        fixed_s = _cpu([*cli, "validate", str(small)], repeat)
        print(f"\nlarge specs (CPU s, least of {repeat}; validate of a 2-node op spec: {fixed_s:.2f} s)")
        print("| spec | bytes | nodes | validate CPU s | over the 2-node spec | goal |\n|---|---|---|---|---|---|")
        for i, (what, text, nodes, valid) in enumerate(scale_specs()):
            path = Path(tmp) / f"large{i}.yaml"
            path.write_text(text)
            check = subprocess.run([*cli, "validate", str(path)], capture_output=True, text=True, env=ENV)
            if (check.returncode == 0) != valid or check.returncode not in (0, 1):
                raise SystemExit(f"{what}: validate exited {check.returncode}:\n{check.stdout}{check.stderr}")
            cpu = _cpu([*cli, "validate", str(path)], repeat)
            over = cpu - fixed_s
            print(f"| {what} | {len(text.encode()):,} | {nodes:,} | {cpu:.2f} | {over:.2f} | < 2 s |")
            rows.append(
                {
                    "figure": f"`netform validate`, {len(text.encode()):,}-byte spec: {what} ({nodes:,} nodes), "
                    "CPU s of the whole process; comparison: the same on a 2-node op spec (start-up and imports)",
                    "netform": round(cpu, 2),
                    "reference": round(fixed_s, 2),
                    "reference_name": "validate of a 2-node op spec (CPU s)",
                    "ratio": round(cpu / fixed_s, 2),
                    "goal": "< 2 s CPU over the 2-node spec",
                    "met": over < 2.0,
                }
            )
    return rows


if __name__ == "__main__":
    main()
