"""Crafted model files are a FormatError (exit 5) or UnsafeFileError (exit 6) in every command, quickly.

Each case was found by an independent attack on netform (issue 11, "Nothing
lost, nothing run"), on a plain Keras model ``x -> Dense d1 -> Dense d2`` whose
``config.json`` was edited:

- a call's ``keras_history`` naming a layer the model does not hold
  (``['nope', 0, 0]``), or ``layers: []``: ``summary``, ``export-spec`` and
  ``render`` exited 70 with a ``KeyError`` ("a bug in netform");
- Functional models nested 300 deep (a 5 KB file): ``render`` exited 70 with a
  ``RecursionError``, ``nf.render`` raised it raw, ``summary``/``export-spec``
  exited 3 ("does not validate (please report this)");
- ``batch_shape: [null, -5]`` or ``[null, 1e300]``: ``summary``/``export-spec``
  exited 3, ``render`` drew it (exit 0); ``keras_history ['x', 10**18, -5]``:
  ``render`` drew it while the others refused it;
- ``output_layers`` listing ``['d2', 0, 0]`` 1,000,000 times (29 KB, 13 MB
  inflated): 1.7-4.6 s and 286 MB in the commands without TensorFlow, 28.6 s
  and about 1 GB in ``nf.load``;
- a FIFO, or a link to ``/dev/zero``, as ``config.json`` of Keras's unzipped
  ``.keras`` folder: "not a model" (exit 5) instead of ``UnsafeFileError``;
- ``netform summary m.tflite`` / ``m.onnx`` read the model as a YAML spec
  ("not UTF-8 text", exit 1).

All hostile files are generated here with zipfile/json/h5py.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import h5py
import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError, UnsafeFileError
from netform.render import render as nf_render  # nf.render: the name netform exports (the package can shadow it)
from netform.saving._config_bounds import (
    CALL_TENSORS_PER_LAYER,
    CONTAINER_SLACK,
    CONTAINERS_PER_LAYER,
    MAX_CALL_TENSORS,
    MAX_CONFIG_NESTING,
    MAX_JSON_CONTAINERS,
    MAX_MODEL_NESTING,
    MAX_MODEL_REFERENCES,
    check_graph_bounds,
)
from tests._budget import assert_cpu_under, assert_seconds_under

TF_FREE = ("summary", "export-spec", "render")


def _plain(path: Path) -> Path:
    x = keras.Input((4,), name="x")
    a = keras.layers.Dense(3, name="d1")(x)
    b = keras.layers.Dense(2, name="d2")(a)
    keras.Model(x, b, name="fm").save(path)
    return path


def _edit(src: Path, dst: Path, edit: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Path:
    """Copy the archive ``src`` to ``dst`` (deflated), its ``config.json`` passed through ``edit``."""
    with zipfile.ZipFile(src) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    config = json.loads(entries["config.json"])
    config = edit(config) or config
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            out.writestr(name, json.dumps(config).encode() if name == "config.json" else data)
    return dst


def _history(config: dict[str, Any], value: list[Any]) -> None:
    config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = value


def _shape(config: dict[str, Any], value: list[Any]) -> None:
    config["config"]["layers"][0]["config"]["batch_shape"] = value


def _nested(config: dict[str, Any], depth: int) -> dict[str, Any]:
    """The attack's nesting: each level a Functional holding an input and the level below as a layer."""
    source = config["config"]["layers"][0]
    inner = copy.deepcopy(config)
    for k in range(depth):
        tensor = {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "keras_history": ["x", 0, 0]}}
        level = dict(inner, name=f"i{k}", inbound_nodes=[{"args": [tensor], "kwargs": {}}])
        inner = {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": {
                "name": f"o{k}",
                "trainable": True,
                "layers": [copy.deepcopy(source), level],
                "input_layers": ["x", 0, 0],
                "output_layers": [f"i{k}", 0, 0],
            },
            "registered_name": "Functional",
        }
    return inner


CASES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "missing": (lambda c: _history(c, ["nope", 0, 0]), r"naming layer 'nope', which the model does not hold"),
    "nolayers": (lambda c: c["config"].update(layers=[]), r"naming layer 'x', which the model does not hold"),
    "negshape": (lambda c: _shape(c, [None, -5]), r"batch_shape \[None, -5\]"),
    "hugeshape": (lambda c: _shape(c, [None, 1e300]), r"batch_shape \[None, 1e\+300\]"),
    "zeroshape": (lambda c: _shape(c, [None, 0]), r"batch_shape \[None, 0\].* each None or a whole number 1 or more"),
    "bignode": (
        lambda c: _history(c, ["x", 10**18, -5]),
        r"\['x', 1000000000000000000, -5\]: layer 'x' has 0 calls in the config",
    ),
    "nested300": (lambda c: _nested(c, 300), rf"is nested {MAX_MODEL_NESTING + 1} models deep; netform's limit is 16"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("run7_models")
    out = {"dir": d, "plain": _plain(d / "plain.keras")}
    for name, (edit, _) in CASES.items():
        out[name] = _edit(out["plain"], d / f"{name}.keras", edit)
    return out


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_command_refuses_a_corrupt_graph_with_exit_5(
    files: dict[str, Path], case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: exit 70 (missing, nolayers, nested300 render), 3 (shapes, nested300) or 0 (render)."""
    path, message = files[case], CASES[case][1]
    for command in (*TF_FREE, "inspect"):
        out = {"render": ["-o", str(files["dir"] / f"{case}.svg")], "export-spec": ["-o", "-"]}.get(command, [])
        code, err = _cli([command, str(path), *out], capsys)
        assert code == 5, (command, err)
        assert "corrupt or hostile" in err, (command, err)
        assert len(err.strip().splitlines()) == 1, err
        assert re.search(message, err), (command, err)
    assert not (files["dir"] / f"{case}.svg").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_library_refuses_them_as_load_does(files: dict[str, Path], case: str) -> None:
    """``nf.load`` refused these already (Keras's own errors); the TF-free readers now refuse them first, and
    ``nf.render`` raises a FormatError where it raised a raw RecursionError (nested300)."""
    with pytest.raises(FormatError, match=CASES[case][1]):
        nf.load(files[case])
    with pytest.raises(FormatError, match=CASES[case][1]):
        nf_render(files[case], files["dir"] / f"{case}.dot", format="dot")
    with pytest.raises(FormatError, match=CASES[case][1]):
        nf.inspect(files[case])


def test_keras_refuses_the_same_files(files: dict[str, Path]) -> None:
    """The files are corrupt for Keras too: refusing them takes no model Keras would load."""
    for case in CASES:
        with pytest.raises(Exception):  # noqa: B017 - Keras raises ValueError, TypeError or RuntimeError
            keras.saving.load_model(files[case], safe_mode=True)


def test_honest_nested_models_up_to_the_limit_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Keras model nested MAX_MODEL_NESTING deep (each level a Functional calling the one below, and a shared
    layer called twice) loads, summarizes and renders; one level more is refused by every reader."""
    x = keras.Input((4,), name="x")
    shared = keras.layers.Dense(4, name="shared")
    model = keras.Model(x, shared(shared(x)), name="m0")
    for k in range(1, MAX_MODEL_NESTING + 2):
        i = keras.Input((4,), name=f"in{k}")
        model = keras.Model(i, model(i), name=f"m{k}")
        if k == MAX_MODEL_NESTING:
            model.save(tmp_path / "ok.keras")
    model.save(tmp_path / "deep.keras")
    loaded = nf.load(tmp_path / "ok.keras")
    assert [w.shape for w in loaded.get_weights()] == [(4, 4), (4,)]
    code, err = _cli(["summary", str(tmp_path / "ok.keras")], capsys)
    assert code == 0, err
    assert _cli(["render", str(tmp_path / "ok.keras"), "-o", str(tmp_path / "ok.svg")], capsys)[0] == 0
    message = f"nested {MAX_MODEL_NESTING + 1} models deep; netform's limit is {MAX_MODEL_NESTING}"
    with pytest.raises(FormatError, match=message):
        nf.load(tmp_path / "deep.keras")
    code, err = _cli(["summary", str(tmp_path / "deep.keras")], capsys)
    assert code == 5 and message in err, err


def _outputs(n: int) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["config"]["output_layers"] = [["d2", 0, 0]] * n

    return edit


def _concat(n: int, layers: int = 1) -> Callable[[dict[str, Any]], None]:
    """``layers`` Concatenate layers, each of ``n`` copies of the input; the last is the model's output."""

    def edit(config: dict[str, Any]) -> None:
        tensor = {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "keras_history": ["x", 0, 0]}}
        for k in range(layers):
            config["config"]["layers"].append(
                {
                    "module": "keras.layers",
                    "class_name": "Concatenate",
                    "name": f"cat{k}",
                    "config": {"name": f"cat{k}", "axis": -1},
                    "inbound_nodes": [{"args": [[tensor] * n], "kwargs": {}}],
                }
            )
        config["config"]["output_layers"] = [[f"cat{layers - 1}", 0, 0]]

    return edit


def _junk(n: int) -> Callable[[dict[str, Any]], None]:
    """``n`` one-element lists each holding an empty object, as an argument of the first Dense."""

    def edit(config: dict[str, Any]) -> None:
        config["config"]["layers"][1]["config"]["junk"] = [[{}] for _ in range(n)]

    return edit


def _child(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """Run the CLI in a fresh interpreter: its result, and the CPU seconds and peak memory (KB) it used."""
    code = (
        "import resource, sys\n"
        "from netform.cli._main import main\n"
        "try:\n"
        f"    code = main({args!r})\n"
        "finally:\n"
        "    use = resource.getrusage(resource.RUSAGE_SELF)\n"
        # VmHWM, not ru_maxrss: Linux carries a forked parent's peak through exec into ru_maxrss.
        "    peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "    print(use.ru_utime + use.ru_stime, peak)\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    cpu, rss = done.stdout.split()[-2:]
    return done, float(cpu), int(rss)


def test_an_output_reference_bomb_is_refused_before_it_is_parsed(files: dict[str, Path]) -> None:
    """Was: inspect 1.7 s and 286 MB, summary 4.6 s, export-spec 18.8 s, nf.load 28.6 s and ~1 GB."""
    bomb = _edit(files["plain"], files["dir"] / "outs1m.keras", _outputs(1_000_000))
    assert bomb.stat().st_size < 40_000
    for command in ("inspect", "summary"):
        done, cpu, rss = _child([command, str(bomb)], files["dir"])
        assert done.returncode == 5, done.stderr[-2000:]
        assert f"more than {MAX_JSON_CONTAINERS:,} JSON lists and objects" in done.stderr
        assert rss < 200_000, (command, rss)
        # The whole fresh process, its imports included: 0.6 s (inspect) and 0.9 s (summary) on a quiet machine,
        # about twice that on a loaded one; the bomb took 1.7 s and 286 MB (inspect, caught by the memory bound
        # above) and 4.6 s (summary).
        assert_seconds_under(
            cpu, 3.0, f"netform {command} of the bomb, in a fresh process",
            again=lambda: _child([command, str(bomb)], files["dir"])[1],
        )

    def load() -> None:
        with pytest.raises(FormatError, match="JSON lists and objects"):
            nf.load(bomb)

    assert_cpu_under(load, 1.0, "nf.load refusing the bomb")  # was 28.6 s


#: Lists and objects the plain model's config may hold: 64 for each of its 3 layers, plus 10,000.
_PLAIN_CONTAINERS = CONTAINERS_PER_LAYER * 3 + CONTAINER_SLACK


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_outputs(MAX_MODEL_REFERENCES + 1), f"holds more than {_PLAIN_CONTAINERS:,} JSON lists and objects"),
        (_concat(MAX_CALL_TENSORS + 1), "layer 'cat0' of model 'fm' in the config is called on more than 1,024"),
        (_junk(100_000), f"holds more than {_PLAIN_CONTAINERS:,} JSON lists and objects"),
    ],
    ids=["outputs", "one-call", "junk"],
)
def test_config_sizes_are_bounded_by_its_layers_in_every_reader(
    files: dict[str, Path], edit: Callable[[dict[str, Any]], None], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under the JSON limit, what a config holds is counted against its layers before anything walks it.
    Was (junk: 200,000 empty lists and objects in a layer's config, a 4 KB file): summary 3.4 s, export-spec
    11 s (exit 0), render 11 s and 790 MB, nf.load 10 s."""
    path = _edit(files["plain"], files["dir"] / "refs.keras", edit)
    assert path.stat().st_size < 100_000

    def load() -> None:
        with pytest.raises(FormatError, match=message):
            nf.load(path)

    # Each reader's CPU time after a first untimed call (the modules it imports on first use, loaded): 0.7-1.1 s
    # each for the junk on a quiet machine, which took 10 s (nf.load), 3.4 s (summary) and 11 s (export-spec).
    assert_cpu_under(load, 3.0, "nf.load refusing the config")
    for command in ("inspect", "summary", "export-spec"):

        def cli() -> None:
            code, err = _cli([command, str(path)], capsys)  # command: this iteration's (called at once)
            assert code == 5 and re.search(message, err), err

        assert_cpu_under(cli, 3.0, f"netform {command} refusing the config")


def _wide(n: int) -> list[dict[str, Any]]:
    """An input ``x`` and ``n`` Dense layers on it, as a Functional config's layers (a few objects each)."""
    tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}
    layers = [{"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 3]}}]
    for i in range(n):
        layers.append({"class_name": "Dense", "name": f"w{i}", "config": {"units": 3}, "inbound_nodes": [[tensor]]})
    return layers


def test_references_are_bounded_in_large_configs() -> None:
    """Where the layers allow the lists and objects, the references themselves are bounded: 20,000 input and
    output references, and 4 tensors passed to calls for each layer (plus 1,024)."""
    layers = _wide(2_000)
    outputs = [["w0", 0, 0]] * MAX_MODEL_REFERENCES
    check_graph_bounds({"class_name": "Functional", "config": {"layers": layers, "output_layers": outputs}}, "ok")
    outputs.append(["w1", 0, 0])
    with pytest.raises(FormatError, match=f"more than {MAX_MODEL_REFERENCES:,} input and output references"):
        check_graph_bounds({"class_name": "Functional", "config": {"layers": layers, "output_layers": outputs}}, "x")
    layers = _wide(300)
    tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}
    layers += [{"class_name": "Concatenate", "name": f"c{i}", "inbound_nodes": [[[tensor] * 1_000]]} for i in range(3)]
    total = CALL_TENSORS_PER_LAYER * 304 + MAX_CALL_TENSORS
    config = {"class_name": "Functional", "config": {"layers": layers, "output_layers": [["c2", 0, 0]]}}
    with pytest.raises(
        FormatError, match=f"passes more than {total:,} tensors to layer calls .* 4 for each of its 304"
    ):
        check_graph_bounds(config, "many.keras")


def test_an_h5_output_reference_bomb_is_refused(files: dict[str, Path], tmp_path: Path) -> None:
    """Was: 7-11 s and 667 MB for 300,000 output references in a legacy .h5 (here 20,001: the same refusal)."""
    model = keras.saving.load_model(files["plain"])
    path = tmp_path / "outs.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        _outputs(MAX_MODEL_REFERENCES + 1)(config)
        f.attrs["model_config"] = json.dumps(config)

    def refuse() -> None:
        with pytest.raises(FormatError, match="JSON lists and objects"):
            nf.load(path)
        with pytest.raises(FormatError, match="JSON lists and objects"):
            nf.inspect(path)

    assert_cpu_under(refuse, 2.0, "nf.load and nf.inspect refusing the .h5 bomb")  # was 7-11 s


def test_configs_nested_deeper_than_keras_writes_are_refused(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: a layer config holding a list nested 400 deep made export-spec and render exit 70 (RecursionError)."""
    deep: Any = 1
    for _ in range(400):
        deep = [deep]
    path = _edit(
        files["plain"], files["dir"] / "deep.keras", lambda c: c["config"]["layers"][1]["config"].update(j=deep)
    )
    message = f"nested more than {MAX_CONFIG_NESTING} levels deep \(at '.config.layers\[1\].config.j\[0\]"
    for command in ("export-spec", "render", "summary"):
        out = ["-o", str(files["dir"] / "deep.svg")] if command == "render" else []
        code, err = _cli([command, str(path), *out], capsys)
        assert code == 5 and re.search(message, err), err
    with pytest.raises(FormatError, match=message):
        nf.load(path)


def test_a_call_with_many_tensors_under_the_limit_still_reads(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A wide Concatenate is a graph, not a bomb: the bounds sit above what models use (no false refusal)."""
    path = _edit(files["plain"], files["dir"] / "cat.keras", _concat(MAX_CALL_TENSORS - 2))
    code, err = _cli(["summary", str(path)], capsys)
    assert code == 0, err


def test_malformed_references_are_refused_with_the_place() -> None:
    def config(outputs: Any) -> dict[str, Any]:
        layer = {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 3]}}
        return {"class_name": "Functional", "config": {"name": "f", "layers": [layer], "output_layers": outputs}}

    check_graph_bounds(config([["x", 0, 0]]), "ok.keras")
    check_graph_bounds(config({"a": ["x", 0, 0]}), "ok.keras")  # outputs named by a dict, as Keras writes them
    for bad, why in [
        (["x", 0, -1], "tensor index"),
        (["x", 1, 0], "0 calls in the config"),
        (["x", "0", 0], "not \\[layer name, call index, tensor index\\]"),
        ([["x", 0, 0], "x"], "output_layers holding 'x'"),
        ([None], "output_layers holding None"),
    ]:
        with pytest.raises(FormatError, match=why):
            check_graph_bounds(config(bad), "bad.keras")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_special_files_in_a_keras_folder_are_unsafe(files: dict[str, Path], kind: str, tmp_path: Path) -> None:
    """Was: "not a model or weights file" (exit 5). Now UnsafeFileError (exit 6), in every command, at once."""
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(files["plain"]) as z:
        z.extractall(folder)
    (folder / "config.json").unlink()
    if kind == "fifo":
        os.mkfifo(folder / "config.json")
    else:
        (folder / "config.json").symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="config.json"):
        nf.load(folder)
    for command in ("inspect", "summary", "export-spec", "render"):
        out = ["-o", str(tmp_path / "x.svg")] if command == "render" else []
        done = subprocess.run(
            [sys.executable, "-m", "netform.cli._main", command, str(folder), *out],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        assert done.returncode == 6, (command, done.stderr[-2000:])
        assert "config.json" in done.stderr


def test_a_folder_named_config_json_is_still_not_a_model(files: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(files["plain"]) as z:
        z.extractall(folder)
    (folder / "config.json").unlink()
    (folder / "config.json").mkdir()
    with pytest.raises(FormatError, match="not a model or weights file") as info:
        nf.load(folder)
    assert not isinstance(info.value, UnsafeFileError)


#: A LiteRT flatbuffer's first bytes (its root offset, then the file identifier) and a whole ONNX ModelProto
#: (ir_version 8, producer_name "netform", one Neg node, opset 17; made with onnx.helper, passes onnx.checker),
#: as detect_format reads them: an ONNX file is walked whole, its first bytes decide nothing.
DEPLOY = {
    "m.tflite": b"\x1c\x00\x00\x00TFL3" + bytes(56),
    "m.onnx": b'\x08\x08\x12\x07netform:2\n\x0b\n\x01x\x12\x01y"\x03Neg\x12\x01gZ\x0f\n\x01x\x12\n\n\x08\x08\x01\x12'
    b"\x04\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\x11",
}


@pytest.mark.parametrize("name", sorted(DEPLOY))
@pytest.mark.parametrize("suffix", ["", ".bin"])
def test_summary_of_a_deployment_file_names_its_format(
    name: str, suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: read as a YAML spec ("not UTF-8 text", exit 1). The file is detected by its content and summary
    says it reads specs and .keras/.h5 models and that inspect describes this file. Exit 5, as for the other
    model files summary cannot read (weights-only files, SavedModels): the README's code for a file whose
    format the command does not take; 2 (usage) is for contradicting options, which this is not."""
    path = tmp_path / (name + suffix)
    path.write_bytes(DEPLOY[name])
    fmt = name.rsplit(".", 1)[1]
    assert nf.detect_format(path) == fmt
    code, err = _cli(["summary", str(path)], capsys)
    assert code == 5, err
    assert f"a {fmt} file" in err and "netform inspect" in err, err
