"""A netform SavedModel's variables data shard longer than its index declares is refused before it is hashed.

TensorFlow writes each variable's bytes one after another into its data shard, and the index records each
one's offset and size, so a shard TensorFlow wrote ends where its last entry does. A shard made a 20 GB
sparse file took ``inspect`` and ``export-spec`` about 21 s of CPU to hash before its digest was found to
differ; the size is now compared with the index first, and the shard refused (FormatError, exit 5) at once.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError

tf = pytest.importorskip("tensorflow")

SPEC = """netform: 1
name: tiny
kind: sequential
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 3, activation: relu}
  - {type: Dense, units: 2}
"""
SHARD = "variables/variables.data-00000-of-00001"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shard") / "base_savedmodel"
    nf.save(nf.build(nf.load_spec(SPEC)), path)
    return path


def test_a_shard_longer_than_its_index_declares_is_refused_unhashed(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    path = tmp_path / "m_savedmodel"
    shutil.copytree(saved, path)
    size = os.path.getsize(path / SHARD)
    os.truncate(path / SHARD, 4 * 2**30)  # sparse: no disk used
    import netform.saving._savedmodel as sm

    hashed: list[str] = []
    real = sm._sha256
    monkeypatch.setattr(sm, "_sha256", lambda file: hashed.append(file) or real(file))
    said = f"{SHARD} is {4 * 2**30:,} bytes, more than the {size:,} its variables.index declares"
    for read in (lambda: nf.load(path), lambda: nfs.inspect(path)):
        with pytest.raises(FormatError, match=said):
            read()
    assert not [file for file in hashed if file.endswith(SHARD)]
    for args in (["inspect", str(path)], ["export-spec", str(path)]):
        capsys.readouterr()
        assert main(args) == 5
        assert said in capsys.readouterr().err


def test_a_saved_folder_is_read(saved: Path) -> None:
    assert nfs.inspect(saved)["parameters"] == 23
