"""A netform SavedModel's copy of the model is trusted only with a complete record of its digests.

With ``saved_model.pb``, ``fingerprint.pb`` and ``variables/`` swapped in from another netform SavedModel,
editing ``assets.extra/netform.json`` to ``"sha256": null``, replacing it by ``{}`` or by ``{"format": ...}``
alone, or removing ``netform_version``/``sha256`` from it switched the digest check off: every reader and
``nf.load`` described and ran the copy (23 parameters) while TensorFlow served the other graph. A folder
holding the copy must now have netform's record of the digests, or every safe-mode reader refuses it with a
FormatError (exit 5), as it refuses a deleted ``netform.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError
from netform.saving._static_reader import read_config, read_model

tf = pytest.importorskip("tensorflow")

SPEC = """netform: 1
name: {name}
kind: sequential
inputs:
  x: {{shape: [4]}}
layers:
{layers}"""
TINY = "  - {type: Dense, units: 3, activation: relu}\n  - {type: Dense, units: 2}\n"
OTHER = "  - {type: Dense, units: 7}\n  - {type: Dense, units: 2}\n"


def _model(name: str, layers: str, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    return nf.build(nf.load_spec(SPEC.format(name=name, layers=layers)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("record")
    base = _model("tiny", TINY, 0)
    nf.save(base, d / "base_savedmodel")
    nf.save(_model("other", OTHER, 1), d / "other_savedmodel")
    np.savez(d / "x.npz", x=np.ones((3, 4), "float32"))
    return {"dir": d, "base": base}


def _swapped(saved: dict[str, Any], tmp_path: Path, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Path:
    """The base SavedModel with the other save's graph and variables, and its netform.json edited."""
    path = tmp_path / "m_savedmodel"
    shutil.copytree(saved["dir"] / "base_savedmodel", path)
    for name in ("saved_model.pb", "fingerprint.pb", "variables"):
        source, target = saved["dir"] / "other_savedmodel" / name, path / name
        if source.is_dir():
            shutil.rmtree(target)
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    meta_path = path / "assets.extra" / "netform.json"
    meta_path.write_text(json.dumps(edit(json.loads(meta_path.read_text()))))
    return path


def _without(*keys: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda meta: {k: v for k, v in meta.items() if k not in keys}


EDITS = {
    "sha256_null": lambda meta: {**meta, "sha256": None},
    "emptied": lambda meta: {},
    "format_only": lambda meta: {"format": meta["format"]},
    "no_sha256": _without("sha256"),
    "no_claim_keys": _without("netform_version", "sha256", "sha256_netform"),
    "no_version_no_sha256": _without("netform_version", "sha256"),
    "sha256_netform_null": lambda meta: {**meta, "sha256_netform": None},
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_record_without_its_digests_is_refused_by_every_reader(
    saved: dict[str, Any], tmp_path: Path, edit: str, capsys
) -> None:
    path = _swapped(saved, tmp_path, EDITS[edit])
    for read in (
        lambda: nf.load(path),
        lambda: nf.load(path, compile=False),
        lambda: nfs.inspect(path),
        lambda: nf.load_weights(saved["base"], path),
        lambda: read_model(str(path), "savedmodel"),
        lambda: read_config(str(path), "savedmodel"),
    ):
        with pytest.raises(FormatError, match="netform.json"):
            read()
    for args in (
        ["inspect", str(path)],
        ["summary", str(path)],
        ["export-spec", str(path)],
        ["render", str(path), "-o", str(tmp_path / "out.dot")],
        ["predict", str(path), "--data", str(saved["dir"] / "x.npz"), "-o", str(tmp_path / "p.npy")],
    ):
        capsys.readouterr()
        assert main(args) == 5, args
        assert "save the model again" in capsys.readouterr().err


def test_the_saved_folder_is_still_read(saved: dict[str, Any]) -> None:
    path = saved["dir"] / "base_savedmodel"
    assert nf.load(path).count_params() == 23
    assert nfs.inspect(path)["parameters"] == 23
