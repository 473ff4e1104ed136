"""A killed sharded-weights save's leftovers are removed only when they hold what a save writes there.

The next sharded save of an index removed a staging folder ``.nf-shards-<ended pid>-<host>-<token>`` and the
token-named shards beside the index by their names alone: a user's text at ``.interim-x.weights.json`` in such a
folder, or at ``x_00001.<token>.weights.h5`` beside the index, was deleted without a word. Each file there must
now be what a save writes (a shard an HDF5 file, an index a sharded index, or nothing yet); else it stays.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import netform as nf

SMALL = 0.0003
TOKEN = "0123456789abcdef"


def _model() -> keras.Model:
    inputs = keras.Input((64,))
    hidden = inputs
    for _ in range(4):
        hidden = keras.layers.Dense(64)(hidden)
    return keras.Model(inputs, keras.layers.Dense(4)(hidden))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _staging(folder: Path) -> Path:
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    return folder / f".nf-shards-{_dead_pid()}-{host}-{TOKEN}"


@pytest.mark.parametrize("name", [".interim-x.weights.json", "x.weights.json", "x_00000.weights.h5"])
def test_a_user_s_text_in_a_staging_folder_keeps_it(tmp_path: Path, name: str) -> None:
    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    staging = _staging(tmp_path)
    staging.mkdir()
    (staging / name).write_text("my thesis, chapter 1")
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    assert (staging / name).read_text() == "my thesis, chapter 1"


def test_a_user_s_text_at_a_token_shard_name_stays(tmp_path: Path) -> None:
    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    _staging(tmp_path).mkdir()
    notes = tmp_path / f"x_00001.{TOKEN}.weights.h5"
    notes.write_text("my notes")
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    assert notes.read_text() == "my notes"


def test_what_a_killed_save_wrote_still_goes(tmp_path: Path) -> None:
    # a staging folder holding a copy of a real shard and index, and a token shard that is a real shard
    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    staging = _staging(tmp_path)
    staging.mkdir()
    (staging / ".interim-x.weights.json").write_bytes((tmp_path / "x.weights.json").read_bytes())
    (staging / "x_00000.weights.h5").write_bytes((tmp_path / "x_00000.weights.h5").read_bytes())
    (tmp_path / f"x_00003.{TOKEN}.weights.h5").write_bytes((tmp_path / "x_00000.weights.h5").read_bytes())
    (staging / "x_00001.weights.h5").write_bytes(b"")  # killed as it made it
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    assert not staging.exists()
    assert not (tmp_path / f"x_00003.{TOKEN}.weights.h5").exists()
    fresh = _model()
    nf.load_weights(fresh, tmp_path / "x.weights.json")
    assert all((a == b).all() for a, b in zip(fresh.get_weights(), model.get_weights()))


def _users_hdf5(path: Path) -> None:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f["data"] = np.arange(100.0)


@pytest.mark.parametrize("where", ["staging", "token"])
def test_a_user_s_hdf5_data_at_a_killed_save_s_name_stays(tmp_path: Path, where: str) -> None:
    # an HDF5 file is not yet a weights shard: a user's data file there was deleted (the check stopped at the
    # HDF5 signature)
    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    staging = _staging(tmp_path)
    staging.mkdir()
    data = staging / "x_00000.weights.h5" if where == "staging" else tmp_path / f"x_00003.{TOKEN}.weights.h5"
    _users_hdf5(data)
    before = data.read_bytes()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    assert data.read_bytes() == before


def test_an_index_with_more_than_keras_writes_stays(tmp_path: Path) -> None:
    import json

    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    staging = _staging(tmp_path)
    staging.mkdir()
    index = json.loads((tmp_path / "x.weights.json").read_text())
    index["mine"] = "my notes"
    (staging / ".previous-x.weights.json").write_text(json.dumps(index))
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    assert "my notes" in (staging / ".previous-x.weights.json").read_text()


@pytest.mark.parametrize("added", ["dataset", "attribute", "inside"])
def test_an_old_shard_holding_a_user_s_data_stays_when_a_save_needs_fewer(tmp_path: Path, added: str) -> None:
    # a save needing fewer shards removed the earlier save's extra shard although a user had added data to it
    # (a save needing as many refused to replace it)
    import h5py
    import numpy as np

    path = tmp_path / "x.weights.json"
    nf.save_weights(_model(), path, max_shard_size=0.00002)  # several shards
    last = sorted(tmp_path.glob("x_0000*.weights.h5"))[-1]
    assert last.name != "x_00000.weights.h5"
    with h5py.File(last, "a") as f:
        if added == "dataset":
            f["my_results"] = np.arange(1000.0)
        elif added == "attribute":
            f.attrs["note"] = "my run"
        else:
            group = next(iter(f["layers"].values()))["vars"]
            group["extra"] = np.arange(1000.0)
    before = last.read_bytes()
    nf.save_weights(_model(), path, max_shard_size=1.0)  # one shard now
    assert last.read_bytes() == before


def test_a_shard_cut_short_goes_with_its_staging_folder(tmp_path: Path) -> None:
    # a save killed while HDF5 wrote a shard left a half-written shard beside its index copy: the folder stayed
    # for good (4 of 9 kills in a loop)
    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    staging = _staging(tmp_path)
    staging.mkdir()
    (staging / ".previous-x.weights.json").write_bytes((tmp_path / "x.weights.json").read_bytes())
    whole = (tmp_path / "x_00000.weights.h5").read_bytes()
    (staging / "x_00000.weights.h5").write_bytes(whole[: len(whole) // 3])
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    assert not staging.exists()
    lone = _staging(tmp_path)  # without an index the save wrote there, a cut HDF5 file is not taken for a shard
    lone.mkdir()
    (lone / "x_00000.weights.h5").write_bytes(whole[: len(whole) // 3])
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=SMALL)
    assert (lone / "x_00000.weights.h5").exists()


def _added_by_hand(shard: Path, kind: str, other: Path) -> None:
    """What a user may add to a shard with h5py that Keras never writes (each was deleted with the shard)."""
    import h5py
    import numpy as np

    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with h5py.File(shard, "a") as f:
        group = next(iter(f["layers"].values()))["vars"]
        if kind == "soft link":
            f["mine"] = h5py.SoftLink("/layers")
        elif kind == "external link":
            group["7"] = h5py.ExternalLink(str(other), "/x")
        elif kind == "second name":
            group["7"] = group["0"]
        elif kind == "named type":
            f["my_type"] = np.dtype("f8")
        else:
            f.create_group("my_results")


KINDS = ["soft link", "external link", "second name", "named type", "empty group"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_old_shard_holding_links_or_types_a_user_added_stays(tmp_path: Path, kind: str) -> None:
    # soft and external links, a second name of a variable, a named data type and an empty group are not seen
    # by h5py's visititems: a shard holding them was deleted when a later save needed fewer shards
    path = tmp_path / "x.weights.json"
    nf.save_weights(_model(), path, max_shard_size=0.00002)
    last = sorted(tmp_path.glob("x_0000*.weights.h5"))[-1]
    _added_by_hand(last, kind, tmp_path / "other.h5")
    before = last.read_bytes()
    nf.save_weights(_model(), path, max_shard_size=1.0)  # one shard now
    assert last.read_bytes() == before
    first = tmp_path / "x_00000.weights.h5"
    _added_by_hand(first, kind, tmp_path / "other.h5")
    before = first.read_bytes()
    with pytest.raises(nf.SaveError, match="holding data Keras never writes"):
        nf.save_weights(_model(), path, max_shard_size=1.0)  # one shard, at this name
    assert first.read_bytes() == before


@pytest.mark.parametrize("where", ["last", "first"])
def test_a_dataset_added_where_keras_puts_variables_keeps_the_shards(tmp_path: Path, where: str) -> None:
    # ``vars/2`` beside a Dense's two variables looks like a variable in the shard alone; the index's total of
    # the values tells it. The save was made and the shard deleted (fewer shards) or replaced (the same name).
    import h5py
    import numpy as np

    path = tmp_path / "x.weights.json"
    nf.save_weights(_model(), path, max_shard_size=0.00002)
    shards = sorted(tmp_path.glob("x_0000*.weights.h5"))
    shard = shards[-1] if where == "last" else shards[0]
    with h5py.File(shard, "a") as f:
        group = next(g["vars"] for g in f["layers"].values() if len(g["vars"]))
        group[str(len(group))] = np.arange(10.0, dtype="float32")
    before = {p.name: p.read_bytes() for p in shards}
    with pytest.raises(nf.SaveError, match="data was added to them"):
        nf.save_weights(_model(), path, max_shard_size=1.0)
    assert {p.name: p.read_bytes() for p in shards} == before


def test_a_save_over_shards_whose_values_were_changed_replaces_them(tmp_path: Path) -> None:
    # values a user changed in place are still the earlier save's weights: the next save replaces them
    import h5py

    path = tmp_path / "x.weights.json"
    nf.save_weights(_model(), path, max_shard_size=0.00002)
    last = sorted(tmp_path.glob("x_0000*.weights.h5"))[-1]
    with h5py.File(last, "a") as f:
        group = next(g["vars"] for g in f["layers"].values() if len(g["vars"]))
        group["0"][...] = 7.0
    nf.save_weights(_model(), path, max_shard_size=1.0)
    assert not last.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.weights.json", "x_00000.weights.h5"]


def test_a_one_shard_save_killed_as_it_wrote_leaves_nothing_for_good(tmp_path: Path) -> None:
    # Keras writes the index last: a one-shard save killed while HDF5 wrote its shard left a folder holding that
    # cut shard alone, which no later save removed (1 of 25 kills). A save's folder now holds its mark first.
    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=1.0)
    whole = (tmp_path / "x_00000.weights.h5").read_bytes()
    staging = _staging(tmp_path)
    staging.mkdir()
    (staging / ".staging-x.weights.json").write_text(f"{TOKEN}\n")
    (staging / "x_00000.weights.h5").write_bytes(whole[: len(whole) // 3])
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=1.0)
    assert not staging.exists()
    forged = _staging(tmp_path)  # a mark of another token is not this folder's: the cut file stays
    forged.mkdir()
    (forged / ".staging-x.weights.json").write_text("fedcba9876543210\n")
    (forged / "x_00000.weights.h5").write_bytes(whole[: len(whole) // 3])
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=1.0)
    assert (forged / "x_00000.weights.h5").exists()


def test_a_bool_added_to_a_shard_is_named_to_the_bit(tmp_path: Path) -> None:
    # the refusal said "hold 3,024 bytes of values where it records 3,024" (Keras counts a bool as one bit)
    import h5py
    import numpy as np

    path = tmp_path / "x.weights.json"
    nf.save_weights(_model(), path, max_shard_size=0.00002)
    with h5py.File(tmp_path / "x_00000.weights.h5", "a") as f:
        group = next(g["vars"] for g in f["layers"].values() if len(g["vars"]))
        group[str(len(group))] = np.ones(1, dtype=bool)
    with pytest.raises(nf.SaveError, match=r"hold [\d,]+\.125 bytes of values where it records [\d,]+:"):
        nf.save_weights(_model(), path, max_shard_size=1.0)


@pytest.mark.parametrize("mark", ["", TOKEN[:5]])
def test_a_save_killed_as_it_wrote_its_mark_leaves_nothing(tmp_path: Path, mark: str) -> None:
    model = _model()
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=1.0)
    staging = _staging(tmp_path)
    staging.mkdir()
    (staging / ".staging-x.weights.json").write_text(mark)
    nf.save_weights(model, tmp_path / "x.weights.json", max_shard_size=1.0)
    assert not staging.exists()
