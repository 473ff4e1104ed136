"""netform's own subclassed models in a file are counted before Keras builds them.

A 1.6 KB ``.keras`` of a ``SpecModel`` whose embedded spec was edited to two ``Dense(20000)`` made ``inspect``
run 38 s at 8.7 GB before the weights were found not to fit, and a ``ResidualMLP`` with ``hidden: 16000``
67 s at 9.9 GB: the size check counted only the largest size argument of a config whose layers it cannot see.
The spec is now counted by the static rules, and the ResidualMLP from its sizes.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError

ROOT = Path(__file__).resolve().parents[2]
BASE = (
    "netform: 1\nname: tiny\nkind: sequential\ninputs: {x: {shape: [4]}}\n"
    "layers: [{type: Dense, units: 3, activation: relu}, {type: Dense, units: 2, activation: softmax}]\n"
)


def _edited(src: Path, dst: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        config = json.loads(zin.read("config.json"))
        change(config)
        for info in zin.infolist():
            data = json.dumps(config).encode() if info.filename == "config.json" else zin.read(info)
            zout.writestr(info.filename, data)
    return dst


def _big_spec(config: dict[str, Any]) -> None:
    config["config"]["spec"] = {
        "netform": 1,
        "name": "tiny",
        "kind": "sequential",
        "inputs": {"x": {"shape": [4]}},
        "layers": [{"type": "Dense", "units": 20000}, {"type": "Dense", "units": 20000}, {"type": "Dense", "units": 2}],
    }


@pytest.fixture(scope="module")
def spec_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec_model") / "sm.keras"
    nf.save(nf.build(nf.load_spec(BASE), api="subclass"), path)
    return path


@pytest.fixture(scope="module")
def residual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("residual") / "rm.keras"
    nf.save(nf.build(ROOT / "models" / "residual_mlp.yaml"), path)
    return path


def test_an_edited_spec_model_is_refused_before_keras_builds_it(spec_model: Path, tmp_path: Path) -> None:
    bomb = _edited(spec_model, tmp_path / "big.keras", _big_spec)
    for read in (nf.load, nf.inspect):
        with pytest.raises(FormatError, match=r"declares 400,160,002 weight values, more than the 23"):
            read(bomb)
    assert main(["inspect", str(bomb)]) == 5


def test_an_edited_residual_mlp_is_refused(residual: Path, tmp_path: Path) -> None:
    bomb = _edited(residual, tmp_path / "rm.keras", lambda c: c["config"].update(hidden=16000))
    with pytest.raises(FormatError, match=r"declares 1,536,592,004 weight values"):
        nf.load(bomb)
    assert main(["summary", str(bomb)]) == 5


def test_the_files_as_saved_still_load(spec_model: Path, residual: Path) -> None:
    assert nf.load(spec_model).count_params() == 23
    assert nf.load(residual).count_params() == 26_948


def test_the_counts_are_the_built_models(residual: Path, spec_model: Path) -> None:
    from netform.saving._config_bounds import declared_weights

    for path in (residual, spec_model):
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
        assert declared_weights(config)[0] == nf.load(path).count_params()


def test_an_invalid_carried_spec_is_a_format_error_naming_the_file(spec_model: Path, tmp_path: Path) -> None:
    def vocabulary(config: dict[str, Any]) -> None:
        config["config"]["spec"] = {
            "netform": 1,
            "kind": "functional",
            "inputs": {"x": {"shape": [1], "dtype": "string"}},
            "nodes": {"n": {"type": "StringLookup", "vocabulary": str(tmp_path / "secret.txt"), "in": "x"}},
            "outputs": ["n"],
        }

    bad = _edited(spec_model, tmp_path / "voc.keras", vocabulary)
    with pytest.raises(FormatError, match=r"voc\.keras: the spec this netform model carries .* config\.spec\.nodes\.n"):
        nf.load(bad)
    assert main(["inspect", str(bad)]) == 5  # it was exit 1 ("invalid spec"), naming no file
