"""A TF checkpoint save removes only the old sets it wrote itself.

netform publishes each save as a set ``PREFIX.nf-set-<20 hex digits>`` and
keeps the two newest; an older set is removed only when its name is exactly
one netform makes and its files are a parseable index with exactly the data
shards that index names. A user's files that merely look like a set stay.
"""

from __future__ import annotations

import os
import shutil

import pytest

import netform.saving as nfs


@pytest.fixture(scope="module")
def model():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")


def _saves(model, prefix, n):
    for _ in range(n):
        nfs.save_weights(model, prefix, format="tf_checkpoint")


def test_a_user_file_with_a_full_set_name_is_kept(tmp_path, model) -> None:
    name = "ck.nf-set-" + "0" * 20
    (tmp_path / f"{name}.index").write_text("my notes, not a checkpoint")
    (tmp_path / f"{name}.data-00000-of-00001").write_text("my data")
    _saves(model, tmp_path / "ck", 3)
    assert (tmp_path / f"{name}.index").read_text() == "my notes, not a checkpoint"
    assert (tmp_path / f"{name}.data-00000-of-00001").read_text() == "my data"


def test_a_set_with_an_extra_file_of_the_user_is_kept(tmp_path, model) -> None:
    _saves(model, tmp_path / "ck", 1)
    (first,) = [
        n[: -len(".index")] for n in os.listdir(tmp_path) if n.startswith("ck.nf-set-") and n.endswith(".index")
    ]
    (tmp_path / f"{first}.data-00007-of-00009").write_text("mine")
    _saves(model, tmp_path / "ck", 3)
    assert (tmp_path / f"{first}.data-00007-of-00009").read_text() == "mine"
    assert (tmp_path / f"{first}.index").exists()


def test_old_sets_netform_wrote_are_still_removed(tmp_path, model) -> None:
    _saves(model, tmp_path / "ck", 4)
    sets = [n for n in os.listdir(tmp_path) if n.startswith("ck.nf-set-") and n.endswith(".index")]
    assert len(sets) == 2


def test_a_copied_set_of_another_prefix_is_kept(tmp_path, model) -> None:
    _saves(model, tmp_path / "other", 1)
    (src,) = [
        n[: -len(".index")] for n in os.listdir(tmp_path) if n.startswith("other.nf-set-") and n.endswith(".index")
    ]
    copy = "ck" + src[len("other") :].replace(src[-20:], "1" * 20)
    for n in os.listdir(tmp_path):
        if n.startswith(src):
            shutil.copy(tmp_path / n, tmp_path / (copy + n[len(src) :]))
    _saves(model, tmp_path / "ck", 3)
    # a real set under a set name is netform's to manage: it is the oldest, so it is removed
    assert not (tmp_path / f"{copy}.index").exists()


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even clean-up."""


def _kill_after(monkeypatch, steps):
    """Make the ``steps``-th rename or link the last file-system change (a kill right after it)."""
    from netform.saving import _checkpoint

    real_replace, real_link, real_remove = os.replace, os.link, os.remove
    state = {"n": 0, "killed": False}

    def step(real):
        def wrapped(*args, **kwargs):
            if state["killed"]:
                raise _Killed
            real(*args, **kwargs)
            state["n"] += 1
            if state["n"] == steps:
                state["killed"] = True
                raise _Killed

        return wrapped

    def remove(path, *args, **kwargs):
        if not state["killed"]:
            real_remove(path, *args, **kwargs)

    monkeypatch.setattr(os, "replace", step(real_replace))
    monkeypatch.setattr(os, "link", step(real_link))
    monkeypatch.setattr(os, "remove", remove)
    monkeypatch.setattr(_checkpoint.shutil, "rmtree", lambda *a, **k: None)
    return state


def _values(m):
    return [w.copy() for w in m.get_weights()]


def _same(a, b):
    import numpy as np

    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _fresh():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")


def _plain_tf(prefix):
    import tensorflow as tf

    m = _fresh()
    tf.train.Checkpoint(model=m).read(str(prefix)).assert_existing_objects_matched()
    return _values(m)


def _netform(prefix):
    m = _fresh()
    nfs.load_weights(m, str(prefix))
    return _values(m)


def test_a_save_killed_at_any_step_leaves_the_old_or_the_new_checkpoint_whole(tmp_path, monkeypatch) -> None:
    m = _fresh()
    old = _values(m)
    new = [w + 1 for w in old]
    steps = 1
    while True:
        folder = tmp_path / f"k{steps}"
        folder.mkdir()
        ck = folder / "ck"
        for _ in range(3):  # sets and a plain pair already there, as after earlier saves
            m.set_weights(old)
            nfs.save_weights(m, ck, format="tf_checkpoint")
        m.set_weights(new)
        state = _kill_after(monkeypatch, steps)
        finished = False
        try:
            nfs.save_weights(m, ck, format="tf_checkpoint")
            finished = True
        except _Killed:
            pass
        monkeypatch.undo()
        for read in (_plain_tf, _netform):
            got = read(ck)
            assert _same(got, old) or _same(got, new), (steps, read.__name__)
        if finished or not state["killed"]:
            assert _same(_plain_tf(ck), new) and _same(_netform(ck), new)
            break
        nfs.save_weights(m, ck, format="tf_checkpoint")  # the next save repairs everything
        assert _same(_plain_tf(ck), new) and _same(_netform(ck), new)
        steps += 1
    assert steps >= 4


def test_the_plain_prefix_switches_between_data_file_names(tmp_path, model) -> None:
    from netform.saving._tensor_bundle import read_index

    _saves(model, tmp_path / "ck", 1)  # a first save keeps TensorFlow's single-shard names
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("ck.data-")) == ["ck.data-00000-of-00001"]
    used = []
    for _ in range(3):
        _saves(model, tmp_path / "ck", 1)
        count, entries = read_index(str(tmp_path / "ck.index"))
        assert count == 2
        used.append({e.shard_id for e in entries})
    assert used == [{0}, {1}, {0}]
    # the other shard's name holds the previous save's data, replaced by the next save in one rename
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("ck.data-")) == [
        "ck.data-00000-of-00002",
        "ck.data-00001-of-00002",
    ]
