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
