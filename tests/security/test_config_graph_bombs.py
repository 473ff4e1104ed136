"""A saved config listing thousands of small layers is refused cheaply, before anything walks or builds it.

The attack: a 7 KB ``.keras`` whose ``config.json`` lists 1,000 extra
``Dense(3)`` layers (12,000 declared weight values against the 23 the file
holds). ``netform summary``, ``render`` and ``export-spec`` exited 70 with an
unexpected ``RecursionError`` (the config walk was recursive, one frame per
layer of depth) and ``netform predict`` ran over 96 s of CPU (Keras's
``Sequential.from_config`` rebuilds the model after each layer it adds). With
15,000 layers (78 KB) predict used over 52 s and 870 MB before it was killed.
Now a config deeper than Keras can build under Python's recursion limit, with
more layers than a spec may hold, or whose built layers declare far more
weights than the file holds is refused with a FormatError naming the numbers.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import netform as nf
from netform.errors import FormatError
from netform.saving._config_bounds import (
    MAX_CONFIG_LAYERS,
    check_graph_bounds,
    declared_weights,
    max_config_depth,
)
from netform.saving._config_walk import model_graph, spec_from_config
from tests._budget import assert_cpu_under, assert_seconds_under

SPEC = (
    "netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"
    "  - {type: Dense, units: 3, activation: relu}\n  - {type: Dense, units: 2, activation: softmax}\n"
)


def _with_extra_layers(config: dict[str, Any], n: int) -> dict[str, Any]:
    """The attack's edit: ``n`` copies of the first Dense, as Dense(3) on 3 inputs, before the last layer."""
    config = copy.deepcopy(config)
    layers = config["config"]["layers"]
    extra = [
        dict(
            copy.deepcopy(layers[1]),
            config=dict(layers[1]["config"], units=3, name=f"dd{i}"),
            build_config={"input_shape": [None, 3]},
        )
        for i in range(n)
    ]
    config["config"]["layers"] = layers[:2] + extra + layers[2:]
    return config


def _keras_bomb(src: Path, dst: Path, n: int) -> Path:
    with zipfile.ZipFile(src) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    config = _with_extra_layers(json.loads(entries["config.json"]), n)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            out.writestr(name, json.dumps(config) if name == "config.json" else data)
    return dst


def _h5_bomb(src: Path, dst: Path, n: int) -> Path:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        key = "netform_model_config" if "netform_model_config" in f.attrs else "model_config"
        raw = f.attrs[key]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        f.attrs[key] = json.dumps(_with_extra_layers(config, n))
        # An attacker drops netform's attribute checksums (files written before them still load); with them,
        # the edit is refused first as a changed attribute.
        f.attrs.pop("netform_attr_checksums", None)
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("graph_bombs")
    (d / "s.yaml").write_text(SPEC)
    model = nf.build(nf.load_spec(d / "s.yaml"))
    nf.save(model, d / "m.keras")
    nf.save(model, d / "m.h5")
    np.savez(d / "x.npz", x=np.zeros((2, 4), "float32"))
    return {
        "dir": d,
        "keras": d / "m.keras",
        "h5": d / "m.h5",
        "x": d / "x.npz",
        "1000": _keras_bomb(d / "m.keras", d / "many.keras", 1_000),
        "15000": _keras_bomb(d / "m.keras", d / "many15k.keras", 15_000),
        "500": _keras_bomb(d / "m.keras", d / "many500.keras", 500),
        "h5_1000": _h5_bomb(d / "m.h5", d / "many.h5", 1_000),
    }


#: CPU seconds of a whole fresh ``netform`` process without TensorFlow (its imports included) refusing a file:
#: 1.0-2.1 s here at a load average of 9 on 2 cores (about half that on a quiet machine).
CLI_CPU_S = 4.0
#: The same for ``predict``, which imports TensorFlow (most of it: 8-9.5 s at that load); the attack took 52-96 s.
PREDICT_CPU_S = 20.0


def _cli(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", "from netform.cli._main import _entry; _entry()", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_the_attack_files_are_small(files: dict[str, Path]) -> None:
    assert files["1000"].stat().st_size < 10_000
    assert files["15000"].stat().st_size < 100_000


@pytest.mark.parametrize("n", ["1000", "15000"])
@pytest.mark.parametrize("command", ["summary", "render", "export-spec"])
def test_cli_without_tensorflow_refuses_deep_configs(files: dict[str, Path], command: str, n: str) -> None:
    """Was: exit 70, unexpected RecursionError. Now exit 5 naming the depth and the limit, in a few s of CPU."""
    out = {"summary": [], "render": ["-o", f"r{n}.svg"], "export-spec": ["-o", f"e{n}.yaml"]}[command]
    done, cpu = _cli([command, str(files[n]), *out], files["dir"])
    assert done.returncode == 5, done.stderr[-2000:]
    depth = f"{int(n) + 3:,} layers deep"
    assert depth in done.stderr and f"the limit is {max_config_depth():,}" in done.stderr, done.stderr
    assert "RecursionError" not in done.stderr
    assert_seconds_under(
        cpu, CLI_CPU_S, f"netform {command} refusing {n} layers, in a fresh process",
        again=lambda: _cli([command, str(files[n]), *out], files["dir"])[1],
    )


@pytest.mark.slow
@pytest.mark.parametrize("n", ["1000", "15000"])
def test_cli_predict_refuses_deep_configs_before_keras_builds_them(files: dict[str, Path], n: str) -> None:
    """Was: over 96 s of CPU (1,000 layers), over 52 s and 870 MB (15,000) before being killed."""
    done, cpu = _cli(["predict", str(files[n]), "--data", str(files["x"]), "-o", "p.npz"], files["dir"])
    assert done.returncode == 5, done.stderr[-2000:]
    assert f"{int(n) + 3:,} layers deep" in done.stderr
    assert_seconds_under(
        cpu, PREDICT_CPU_S, f"netform predict refusing {n} layers, in a fresh process",
        again=lambda: _cli(["predict", str(files[n]), "--data", str(files["x"]), "-o", "p.npz"], files["dir"])[1],
    )


@pytest.mark.parametrize("key", ["1000", "15000", "h5_1000"])
def test_load_refuses_deep_configs(files: dict[str, Path], key: str) -> None:
    def refuse() -> None:
        with pytest.raises(FormatError, match=r"layers deep; the limit is"):
            nf.load(files[key])

    assert_cpu_under(refuse, 2.0, f"nf.load refusing the deep config {key}")


def test_a_shallower_config_declaring_far_more_than_the_file_holds_is_refused(files: dict[str, Path]) -> None:
    """500 extra layers pass the depth limit but declare 6,023 values against 23 stored: not this file's model."""
    with zipfile.ZipFile(files["500"]) as z:
        assert declared_weights(json.loads(z.read("config.json")))[0] == 6_023

    def refuse() -> None:
        with pytest.raises(FormatError, match=r"declare 6,023 weight values, more than 2 times the 23 the file holds"):
            nf.load(files["500"])

    assert_cpu_under(refuse, 2.0, "nf.load refusing 500 extra layers")
    done, cpu = _cli(["summary", str(files["500"])], files["dir"])
    assert done.returncode == 5 and "6,023" in done.stderr, done.stderr[-2000:]
    assert_seconds_under(
        cpu, CLI_CPU_S, "netform summary refusing 500 extra layers, in a fresh process",
        again=lambda: _cli(["summary", str(files["500"])], files["dir"])[1],
    )


def test_honest_files_still_load(files: dict[str, Path]) -> None:
    x = np.ones((2, 4), "float32")
    assert np.allclose(nf.load(files["keras"]).predict(x, verbose=0), nf.load(files["h5"]).predict(x, verbose=0))


def _chain(n: int) -> dict[str, Any]:
    """A Sequential config of ``n`` Dense(3) layers on 3 inputs, as Keras saves a built one."""
    dense = {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "build_config": {"input_shape": [None, 3]},
    }
    layers = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "x"},
        }
    ]
    layers += [{**dense, "config": {"name": f"d{i}", "units": 3, "activation": "linear"}} for i in range(n)]
    return {"class_name": "Sequential", "config": {"name": "chain", "layers": layers}}


def test_the_config_walk_is_iterative() -> None:
    """A chain three times Python's recursion limit is walked (it was recursive: one frame a layer)."""
    n = 3 * sys.getrecursionlimit()
    config = _chain(n)
    assert len(model_graph(config).ordered) == n + 1
    spec = spec_from_config(config)
    assert len(spec.layers) == n
    with pytest.raises(FormatError, match=f"chains {n + 1:,} layers deep; the limit is {max_config_depth():,}"):
        check_graph_bounds(config, "chain.keras")


def test_depth_limit_follows_the_recursion_limit() -> None:
    config = _chain(max_config_depth() - 1)
    check_graph_bounds(config, "chain.keras")  # at the limit: accepted
    config["config"]["layers"].append(copy.deepcopy(config["config"]["layers"][-1]))
    with pytest.raises(FormatError, match="layers deep"):
        check_graph_bounds(config, "chain.keras")


def test_functional_depth_is_counted_per_call_and_wide_graphs_pass() -> None:
    """A Functional config: depth is the longest chain of calls; 2,000 parallel layers are shallow."""

    def tensor(name: str) -> dict[str, Any]:
        return {"class_name": "__keras_tensor__", "config": {"shape": [None, 3], "keras_history": [name, 0, 0]}}

    def dense(name: str, parent: str) -> dict[str, Any]:
        return {
            "module": "keras.layers",
            "class_name": "Dense",
            "name": name,
            "config": {"name": name, "units": 3},
            "inbound_nodes": [{"args": [tensor(parent)], "kwargs": {}}],
        }

    inp = {
        "class_name": "InputLayer",
        "name": "x",
        "config": {"name": "x", "batch_shape": [None, 3]},
        "inbound_nodes": [],
    }
    wide = [inp] + [dense(f"w{i}", "x") for i in range(2_000)]
    config = {"class_name": "Functional", "config": {"name": "f", "layers": wide, "output_layers": [["w0", 0, 0]]}}
    check_graph_bounds(config, "wide.keras")
    n = max_config_depth()
    deep = [inp] + [dense(f"c{i}", f"c{i - 1}" if i else "x") for i in range(n)]
    config = {
        "class_name": "Functional",
        "config": {"name": "f", "layers": deep, "output_layers": [[f"c{n - 1}", 0, 0]]},
    }
    with pytest.raises(FormatError, match=f"chains {n + 1:,} layers deep"):
        check_graph_bounds(config, "deep.keras")
    too_many = [inp] + [dense(f"w{i}", "x") for i in range(MAX_CONFIG_LAYERS)]
    config = {"class_name": "Functional", "config": {"name": "f", "layers": too_many, "output_layers": [["w0", 0, 0]]}}
    with pytest.raises(FormatError, match=f"more than {MAX_CONFIG_LAYERS:,} layers"):
        check_graph_bounds(config, "many.keras")
