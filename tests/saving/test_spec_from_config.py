"""A saved model's spec read from its config without Keras equals ``from_keras`` of the loaded model.

``export-spec`` walks the config of a ``.keras`` or ``.h5`` file
(:mod:`netform.saving._config_walk`); the answer must be the YAML that
loading the model with Keras and calling ``from_keras`` gives, for zoo
models of every shape (Sequential, multi-input / multi-output, nested
blocks, shared layers), and a file ``load`` refuses must be refused the same
way. What the walk cannot tell for certain goes back to Keras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import netform as nf
import netform.saving as nfs
from netform.saving._config_walk import NeedsKeras, spec_from_config, spec_from_file
from netform.saving._static_reader import read_config

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[2]
#: Sequential (mlp, bilstm_text: Bidirectional in the generic form), two inputs and two outputs
#: (ticket_router), nested blocks (conv_autoencoder), a shared tower (siamese).
ZOO = ("mlp", "bilstm_text", "ticket_router", "conv_autoencoder", "siamese")


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    out = tmp_path_factory.mktemp("zoo_specs")
    files: dict[str, dict[str, Path]] = {}
    for name in ZOO:
        model = nf.build(str(ROOT / "models" / f"{name}.yaml"))
        files[name] = {}
        for ext in ("keras", "h5"):
            files[name][ext] = out / f"{name}.{ext}"
            nfs.save(model, files[name][ext])
    return files


def _keras_path(path: Path) -> str:
    return nf.from_keras(nfs.load(path)).to_yaml()


@pytest.mark.parametrize(("name", "ext"), [(name, "keras") for name in ZOO] + [("ticket_router", "h5"),
                                                                           ("conv_autoencoder", "h5")])
def test_config_walk_writes_what_from_keras_writes(zoo_files: dict[str, dict[str, Path]], name: str,
                                                   ext: str) -> None:
    path = zoo_files[name][ext]
    spec = spec_from_file(path)
    assert spec is not None  # answered from the file alone
    assert spec.to_yaml() == _keras_path(path)


def test_a_model_keras_wrote_itself_is_walked_too(tmp_path: Path) -> None:
    x = keras.Input((6,), name="x")
    y = keras.Input((3,), name="y")
    shared = keras.layers.Dense(4, name="shared")
    h = keras.layers.Concatenate(name="cat")([shared(x), keras.layers.Dense(4)(y)])
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5), keras.layers.BatchNormalization()],
                             name="inner")
    model = keras.Model([x, y], [inner(h), keras.layers.Dense(2, name="b")(h)], name="two_by_two")
    path = tmp_path / "kw.keras"
    model.save(path)  # Keras's own writer
    spec = spec_from_file(path)
    assert spec is not None
    assert spec.to_yaml() == _keras_path(path) == nf.from_keras(model).to_yaml()


def test_loaded_sequential_layers_keep_their_names(zoo_files: dict[str, dict[str, Path]]) -> None:
    """A loaded Sequential's layers also hold the calls Keras made while adding them; names stay plain."""
    built = nf.from_keras(nf.build(str(ROOT / "models" / "mlp.yaml"))).to_dict()["layers"]
    loaded = nf.from_keras(nfs.load(zoo_files["mlp"]["keras"])).to_dict()["layers"]
    assert [layer["name"] for layer in loaded] == [layer["name"] for layer in built]
    assert not any("_call" in layer["name"] for layer in loaded)


@pytest.mark.slow
def test_keras_ops_go_back_to_keras(tmp_path: Path) -> None:
    x = keras.Input((5,), name="x")
    model = keras.Model(x, keras.ops.add(keras.layers.Dense(5, name="d")(x), 1.0), name="with_op")
    path = tmp_path / "op.keras"
    nfs.save(model, path)
    with pytest.raises(NeedsKeras):
        spec_from_config(read_config(str(path), "keras"))
    assert spec_from_file(path) is None  # the caller loads the model with Keras
    text, modules = _run_cli("export-spec", str(path))
    assert "keras" in modules and text == _keras_path(path)


def test_hostile_files_are_refused_as_load_refuses_them(tmp_path: Path) -> None:
    from tests.saving import hostile

    marker = tmp_path / "MARKER"
    compared = 0
    for name, path in hostile.build_all(tmp_path / "files", marker).items():
        try:
            fmt = nfs.detect_format(path)
        except Exception:  # noqa: BLE001 - refused before any reader runs, the same for both
            continue
        if fmt not in ("keras", "h5"):
            continue
        with pytest.raises(Exception) as on_load:  # noqa: PT011 - the class is what is compared
            nfs.load(path, compile=False)
        with pytest.raises(on_load.type):
            spec_from_file(path)
        compared += 1
    assert compared >= 8
    assert not marker.exists()


_NO_TF = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print("\\nMODULES " + json.dumps(loaded))
sys.exit(code)
"""


def _run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    done = subprocess.run([sys.executable, "-c", _NO_TF, *args], capture_output=True, text=True, env=full,
                          timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    text, _, modules = done.stdout.rpartition("\nMODULES ")
    return text, json.loads(modules)


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_cli_export_spec_imports_neither_tensorflow_nor_keras(zoo_files: dict[str, dict[str, Path]],
                                                             ext: str) -> None:
    path = zoo_files["ticket_router"][ext]
    text, modules = _run_cli("export-spec", str(path))
    assert modules == []
    assert text == _keras_path(path)


def test_a_nested_model_with_an_output_nobody_uses(tmp_path: Path) -> None:
    """A nested model's outputs are numbered (``inner.0``) even where the outer graph takes only one."""
    from netform.render._dot import DotOptions, to_dot
    from netform.render._from_keras import diagram_from_config, diagram_from_keras

    i = keras.Input((4,), name="i")
    inner = keras.Model(i, [keras.layers.Dense(2, name="p")(i), keras.layers.Dense(3, name="q")(i)], name="inner")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, name="head")(inner(x)[0]), name="outer")
    path = tmp_path / "unused_output.keras"
    nfs.save(model, path)
    spec = spec_from_file(path)
    assert spec is not None and spec.to_yaml() == _keras_path(path)
    assert "in: inner.0" in spec.to_yaml()
    options = DotOptions("TB", True, True, details=True)
    assert to_dot(diagram_from_config(read_config(str(path), "keras", compile=True)), options) == to_dot(
        diagram_from_keras(nfs.load(path)), options)
