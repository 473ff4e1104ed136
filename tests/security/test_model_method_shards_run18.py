"""``Model.save_weights(..., max_shard_size=...)`` refuses what ``nf.save_weights`` refuses.

netform's model method handed sharded saves to Keras, which opens the index and every shard name for
writing as they are: a link planted at a shard name was followed (the file it named became HDF5), a user's
file at a shard or index name was overwritten, a FIFO index blocked for good and a FIFO or a link to a
folder at a shard name gave raw ``OSError``s. The method now writes through netform's sharded writer, in
Keras's layout and names, and keeps Keras's own behaviour otherwise (the ``.weights.h5`` name it renames,
its ``FileNotFoundError`` for a missing folder, its overwrite prompt).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SaveError

pytestmark = pytest.mark.tf

SPEC = "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: [64]}\nlayers:\n  - {type: Dense, units: 512}\n  - {type: Dense, units: 64}\n"
THESIS = b"my thesis\n"
SHARD = 0.00015  # GB: two shards of this model (each kernel is 128 KiB)


@pytest.fixture(scope="module")
def model() -> Any:
    return nf.build(nf.load_spec(SPEC))


def _plant_link(folder: Path, victim: Path) -> Path:
    os.symlink(victim, folder / "w_00000.weights.h5")
    return victim


def _plant_file(folder: Path, victim: Path) -> Path:
    (folder / "w_00000.weights.h5").write_bytes(THESIS)
    return folder / "w_00000.weights.h5"


def _plant_hard_link(folder: Path, victim: Path) -> Path:
    os.link(victim, folder / "w_00000.weights.h5")
    return victim


def _plant_index(folder: Path, victim: Path) -> Path:
    (folder / "w.weights.json").write_bytes(THESIS)
    return folder / "w.weights.json"


def _plant_json_index(folder: Path, victim: Path) -> Path:
    (folder / "w.weights.json").write_text('{"my": "json"}')
    return folder / "w.weights.json"


PLANTS: dict[str, Callable[[Path, Path], Path]] = {
    "link at a shard": _plant_link,
    "user file at a shard": _plant_file,
    "hard link at a shard": _plant_hard_link,
    "user text at the index": _plant_index,
    "user JSON at the index": _plant_json_index,
}


@pytest.mark.parametrize("how", sorted(PLANTS))
def test_the_model_method_never_writes_over_what_is_not_an_earlier_save(model: Any, tmp_path: Path, how: str) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(THESIS)
    kept = PLANTS[how](folder, victim)
    before = kept.read_bytes()
    names = sorted(os.listdir(folder))
    with pytest.raises(SaveError):
        model.save_weights(str(folder / "w.weights.json"), max_shard_size=SHARD)
    assert kept.read_bytes() == before
    assert victim.read_bytes() == THESIS
    assert sorted(os.listdir(folder)) == names  # nothing written beside it, nothing left


def _alarm(seconds: int) -> Any:
    def fail(*_: Any) -> None:
        raise TimeoutError("blocked")

    return signal.signal(signal.SIGALRM, fail)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("where", ["index", "shard", "folder link at a shard"])
def test_a_fifo_or_a_folder_at_a_name_is_refused_at_once(model: Any, tmp_path: Path, where: str) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    if where == "index":
        os.mkfifo(folder / "w.weights.json")
    elif where == "shard":
        os.mkfifo(folder / "w_00000.weights.h5")
    else:
        (tmp_path / "target").mkdir()
        os.symlink(tmp_path / "target", folder / "w_00000.weights.h5")
    names = sorted(os.listdir(folder))
    old = _alarm(20)
    signal.alarm(20)
    try:
        with pytest.raises(SaveError):
            model.save_weights(str(folder / "w.weights.json"), max_shard_size=SHARD)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert sorted(os.listdir(folder)) == names
    assert os.listdir(tmp_path / "target") == [] if where.startswith("folder") else True


def test_the_method_writes_keras_layout_that_plain_keras_reads(model: Any, tmp_path: Path) -> None:
    keras_model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512), keras.layers.Dense(64)])
    keras_model.set_weights(model.get_weights())
    (tmp_path / "k").mkdir()
    (tmp_path / "n").mkdir()
    keras_model.save_weights(str(tmp_path / "k" / "w.weights.json"), max_shard_size=SHARD)
    assert model.save_weights(str(tmp_path / "n" / "w.weights.json"), max_shard_size=SHARD) is None
    assert sorted(os.listdir(tmp_path / "n")) == sorted(os.listdir(tmp_path / "k"))
    assert len(os.listdir(tmp_path / "n")) > 2
    index = json.loads((tmp_path / "n" / "w.weights.json").read_text())
    assert index["weight_map"] == json.loads((tmp_path / "k" / "w.weights.json").read_text())["weight_map"]
    fresh = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512), keras.layers.Dense(64)])
    fresh.load_weights(str(tmp_path / "n" / "w.weights.json"))
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.save_weights(str(tmp_path / "n" / "w.weights.json"), max_shard_size=SHARD)  # its earlier save: replaced


def test_the_method_keeps_keras_names_warnings_and_errors(model: Any, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"requires `\*\.json` as the extension"):
        model.save_weights(str(tmp_path / "w.weights.h5"), max_shard_size=SHARD)  # as Keras: saved as .json
    assert (tmp_path / "w.weights.json").is_file() and not (tmp_path / "w.weights.h5").exists()
    with pytest.raises(ValueError, match=r"must end in `\.weights\.json`"):
        model.save_weights(str(tmp_path / "w.bin"), max_shard_size=SHARD)
    with pytest.raises(FileNotFoundError):  # Keras makes no folder for weights files
        model.save_weights(str(tmp_path / "missing" / "w.weights.json"), max_shard_size=SHARD)
    assert not (tmp_path / "missing").exists()
    for size in (0, -1, float("nan"), "one"):
        with pytest.raises(SaveError, match="max_shard_size must be a number of GB over 0"):
            model.save_weights(str(tmp_path / "w.weights.json"), max_shard_size=size)


def test_overwrite_false_asks_as_keras_asks(model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model.save_weights(str(tmp_path / "w.weights.json"), max_shard_size=SHARD)
    before = (tmp_path / "w.weights.json").read_bytes()
    answers = iter(["n"])
    monkeypatch.setattr("builtins.input", lambda *_: next(answers))
    model.save_weights(str(tmp_path / "w.weights.json"), overwrite=False, max_shard_size=SHARD * 2)
    assert (tmp_path / "w.weights.json").read_bytes() == before  # declined: left as it was
