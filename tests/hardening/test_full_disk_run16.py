"""A sharded weights save on a file system without room for it is refused before HDF5 writes a byte.

Keras's sharded writer opens its HDF5 shards on disk, and HDF5 meeting a full disk (ENOSPC, not a file-size
limit) while it writes a shard crashed the process (SIGSEGV, 5 of 5 tries on a 200 KB tmpfs). The save now
asks the folder's file system for the room first. The file system's answer is given here (``os.statvfs``),
as a test cannot make a small file system; a save that fits still writes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import netform as nf
from netform.errors import SaveError
from netform.saving import _weights

pytestmark = pytest.mark.tf

SPEC = (
    "netform: 1\nname: big\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"
    "  - {type: Dense, units: 6000}\n  - {type: Dense, units: 1}\n"
)


class _Room:
    """``os.statvfs``'s answer with ``free`` bytes available."""

    def __init__(self, free: int) -> None:
        self.f_bavail, self.f_frsize = free // 4096, 4096


@pytest.fixture(scope="module")
def model() -> Any:
    return nf.build(nf.load_spec(SPEC))


def test_weights_bytes_counts_every_weight(model: Any) -> None:
    assert _weights.weights_bytes(model) == (4 * 6000 + 6000 + 6000 + 1) * 4


def test_a_sharded_save_without_room_is_refused_before_writing(
    model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = str(tmp_path / "s.weights.json")
    monkeypatch.setattr(_weights.os, "statvfs", lambda folder: _Room(150_000))
    with pytest.raises(SaveError, match=r"need about [\d,]+ bytes of free space.*144,004 bytes of weights.*has 147,456"):
        nf.save_weights(model, target, max_shard_size=0.0001)
    assert os.listdir(tmp_path) == []  # no shard, no staging folder


def test_a_sharded_save_with_room_is_written(model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    target = str(tmp_path / "s.weights.json")
    monkeypatch.setattr(_weights.os, "statvfs", lambda folder: _Room(400_000))
    nf.save_weights(model, target, max_shard_size=0.0001)
    assert sorted(os.listdir(tmp_path)) == ["s.weights.json", "s_00000.weights.h5", "s_00001.weights.h5"]
    total = sum(os.path.getsize(tmp_path / n) for n in os.listdir(tmp_path))
    assert total < 200_000  # what it asked for covers what it wrote (about 170 KB)


def test_a_sharded_save_makes_missing_folders(model: Any, tmp_path: Any) -> None:
    """As every other save does (it failed with a SaveError before)."""
    nf.save_weights(model, str(tmp_path / "a" / "b" / "s.weights.json"), max_shard_size=0.0001)
    assert sorted(os.listdir(tmp_path / "a" / "b")) == ["s.weights.json", "s_00000.weights.h5", "s_00001.weights.h5"]


def test_a_refused_sharded_save_removes_the_folders_it_made(
    model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_weights.os, "statvfs", lambda folder: _Room(10_000))
    with pytest.raises(SaveError, match="free space"):
        nf.save_weights(model, str(tmp_path / "a" / "b" / "s.weights.json"), max_shard_size=0.0001)
    assert os.listdir(tmp_path) == []


def test_the_room_asked_for_covers_layers_without_weights(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each layer is a group of the shard and an entry of the index even with no weight (~2 KB each): a model
    of 300 activations asked for 33 KB and HDF5 then met the full disk while writing 600 KB."""
    import re

    layers = "".join(["  - {type: Dense, units: 8}\n", "  - {type: Activation, activation: relu}\n" * 300])
    spec = f"netform: 1\nname: many\nkind: sequential\ninputs:\n  x: {{shape: [4]}}\nlayers:\n{layers}"
    many = nf.build(nf.load_spec(spec + "  - {type: Dense, units: 1}\n"))
    nf.save_weights(many, str(tmp_path / "w" / "s.weights.json"), max_shard_size=0.00001)
    written = sum(os.path.getsize(tmp_path / "w" / n) for n in os.listdir(tmp_path / "w"))
    assert written > 500_000
    monkeypatch.setattr(_weights.os, "statvfs", lambda folder: _Room(0))
    with pytest.raises(SaveError, match="free space") as err:
        nf.save_weights(many, str(tmp_path / "v" / "s.weights.json"), max_shard_size=0.00001)
    needed = int(re.search(r"need about ([\d,]+) bytes", str(err.value)).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert written <= needed <= 4 * written
