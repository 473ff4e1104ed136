"""A command's ``-o`` never writes a file inside a SavedModel folder, as a save there is refused.

``export-spec``, ``render`` and ``predict`` wrote into a SavedModel folder (``-o SM/saved_model.pb`` replaced
its graph with YAML text, ``-o SM/assets/x.svg`` made it fail its own check), where ``convert`` and
``nf.save`` refuse to: a SavedModel is replaced only whole, at its own path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.cli._main import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "models" / "lenet_digits.yaml"
DATA = ROOT / "data" / "digits.npz"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "lenet.keras"
    nf.save(nf.build(nf.load_spec(SPEC)), path)
    return path


@pytest.mark.parametrize("target", ["saved_model.pb", "assets/out"])
def test_command_outputs_inside_a_savedmodel_are_refused(
    tmp_path: Path, model_file: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sm"
    (folder / "assets").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")  # what makes a folder a SavedModel: its graph file
    out = str(folder / target)
    commands = [
        ["schema", "-o", out],
        ["export-spec", str(model_file), "-o", out],
        ["render", str(SPEC), "-o", out + ".dot" if target.endswith("out") else out, "--format", "dot"],
        ["predict", str(model_file), "--data", str(DATA), "-o", out + ".npy"],
    ]
    for argv in commands:
        assert main(argv) == 5, argv
        assert "SavedModel folder" in capsys.readouterr().err
    assert (folder / "saved_model.pb").read_bytes() == b"\x08\x01"
    assert sorted(p.name for p in folder.rglob("*")) == ["assets", "saved_model.pb"]
