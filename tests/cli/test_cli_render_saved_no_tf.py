"""``netform render model.keras|.h5`` draws the saved config without TensorFlow, as drawing the loaded model does.

The diagram walked over a file's config (:func:`~netform.render._from_keras.diagram_from_config`)
must be, node for node and byte for byte in DOT, the diagram of the model
``netform.load`` returns; a file ``load`` refuses is refused the same way;
what only the live model tells is drawn from it, as before.
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
from netform.render import to_dot_source
from netform.render._dot import DotOptions, to_dot
from netform.render._from_keras import diagram_from_config, diagram_from_keras
from netform.saving._config_walk import NeedsKeras
from netform.saving._static_reader import read_config

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[2]
#: Sequential (mlp), two inputs and two outputs (ticket_router), a nested model (conv_autoencoder),
#: a shared tower (siamese); bilstm_text's Embedding makes a mask, whose ops only the loaded graph holds.
ZOO = ("mlp", "ticket_router", "conv_autoencoder", "siamese", "bilstm_text")


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    out = tmp_path_factory.mktemp("zoo_render")
    files: dict[str, dict[str, Path]] = {}
    for name in ZOO:
        model = nf.build(str(ROOT / "models" / f"{name}.yaml"))
        files[name] = {ext: out / f"{name}.{ext}" for ext in ("keras", "h5")}
        for path in files[name].values():
            nfs.save(model, path)
    return files


def _keras_dot(path: Path) -> str:
    return to_dot(diagram_from_keras(nfs.load(path)), DotOptions("TB", True, True, details=True))


@pytest.mark.parametrize(("name", "ext"), [(name, "keras") for name in ZOO[:4]] + [("ticket_router", "h5"),
                                                                               ("conv_autoencoder", "h5")])
def test_config_diagram_is_the_loaded_model_diagram(zoo_files: dict[str, dict[str, Path]], name: str,
                                                    ext: str) -> None:
    path = zoo_files[name][ext]
    diagram = diagram_from_config(read_config(str(path), ext, compile=True))  # answered from the file alone
    assert to_dot(diagram, DotOptions("TB", True, True, details=True)) == _keras_dot(path)
    assert to_dot_source(path, details=True) == _keras_dot(path)


def test_a_masked_model_is_drawn_from_the_loaded_model(zoo_files: dict[str, dict[str, Path]]) -> None:
    path = zoo_files["bilstm_text"]["keras"]
    with pytest.raises(NeedsKeras, match="mask_zero"):
        diagram_from_config(read_config(str(path), "keras", compile=True))
    drawn = to_dot_source(path, details=True)
    # Drawn from the loaded model: the ops Keras adds for the mask (NotEqual) are in it, and its
    # auto-numbered names (not_equal_12) are the process's own, so the layers are compared.
    assert "NotEqual" in drawn and "Bidirectional" in drawn


def test_hostile_files_are_refused_as_load_refuses_them(tmp_path: Path) -> None:
    from tests.saving import hostile

    marker = tmp_path / "MARKER"
    compared = 0
    for _, path in hostile.build_all(tmp_path / "files", marker).items():
        try:
            fmt = nfs.detect_format(path)
        except Exception:  # noqa: BLE001 - refused before any reader runs, the same for both
            continue
        if fmt not in ("keras", "h5"):
            continue
        with pytest.raises(Exception) as on_load:  # noqa: PT011 - the class is what is compared
            nfs.load(path)
        with pytest.raises(on_load.type):
            to_dot_source(path)
        compared += 1
    assert compared >= 8
    assert not marker.exists()


_CLI = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
print("\\nMODULES " + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))))
sys.exit(code)
"""


def _render(path: Path, out: Path, **env: str) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", _CLI, "render", str(path), "-o", str(out)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_text(), json.loads(done.stdout.rpartition("\nMODULES ")[2])


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_cli_render_imports_neither_tensorflow_nor_keras(zoo_files: dict[str, dict[str, Path]], ext: str,
                                                         tmp_path: Path) -> None:
    path = zoo_files["ticket_router"][ext]
    free, modules = _render(path, tmp_path / "free.dot")
    assert modules == []
    loaded, modules = _render(path, tmp_path / "keras.dot", NETFORM_RENDER_WITH_KERAS="1")
    assert "keras" in modules and free == loaded
