"""A TF checkpoint save that fails while it publishes leaves the prefix as it was.

A save publishes its files as a set, points the plain ``PREFIX.index`` /
``PREFIX.data-*`` names at it, then switches the ``checkpoint`` state file.
When that last write fails (a full disk, no inodes left), the save is a
``SaveError`` and nothing of it stays: a first save leaves no file at the
plain names, a later save leaves the plain names on the earlier checkpoint.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

import netform.saving as nfs
import netform.saving._checkpoint as ckpt
from netform.errors import SaveError


@pytest.fixture()
def model():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")


def _fail_state_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ckpt.write_bytes

    def write_bytes(path, data, *args, **kwargs):
        if os.path.basename(str(path)) == "checkpoint":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, *args, **kwargs)

    monkeypatch.setattr(ckpt, "write_bytes", write_bytes)


def test_a_failed_first_save_leaves_no_file(tmp_path, model, monkeypatch) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    _fail_state_writes(monkeypatch)
    with pytest.raises(SaveError):
        nfs.save_weights(model, tmp_path / "w", format="tf_checkpoint")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_failed_later_save_leaves_the_earlier_checkpoint(tmp_path, model, monkeypatch) -> None:
    import tensorflow as tf

    before = [np.array(w) for w in model.get_weights()]
    nfs.save_weights(model, tmp_path / "w", format="tf_checkpoint")
    names = sorted(os.listdir(tmp_path))
    state = (tmp_path / "checkpoint").read_bytes()
    model.set_weights([w + 1.0 for w in before])
    _fail_state_writes(monkeypatch)
    with pytest.raises(SaveError):
        nfs.save_weights(model, tmp_path / "w", format="tf_checkpoint")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == names
    assert (tmp_path / "checkpoint").read_bytes() == state
    # netform's reader and plain TensorFlow reading the prefix itself both get the earlier weights
    nfs.load_weights(model, tmp_path / "w")
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    model.set_weights([w + 2.0 for w in before])
    tf.train.Checkpoint(model=model).read(str(tmp_path / "w")).expect_partial()
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "inside",
    [
        "w_temp/part-00000-of-00001.data-00000-of-00001.tempstate8303821442174395732",
        "w_temp/part-00000-of-00001.index.tempstate17",
        "w.index.tempstate42",
        "w_temp/",
    ],
)
def test_a_killed_saves_folder_with_tensorflow_s_temporary_files_goes_at_the_next_save(
    tmp_path, model, inside: str
) -> None:
    # TensorFlow writes each file under `<name>.tempstate<digits>` first; a save killed then left it in its folder
    nfs.save_weights(model, tmp_path / "w", format="tf_checkpoint")
    killed = tmp_path / ".ada3a651dfba462f.nf-tmp-w"
    killed.mkdir()
    (killed / ".nf-checkpoint-save").write_text("netform checkpoint save\n")
    path = killed / inside
    if inside.endswith("/"):
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 64)
    nfs.save_weights(model, tmp_path / "w", format="tf_checkpoint")
    assert not killed.exists()


def test_a_folder_with_a_file_tensorflow_does_not_write_stays(tmp_path, model) -> None:
    nfs.save_weights(model, tmp_path / "w", format="tf_checkpoint")
    killed = tmp_path / ".ada3a651dfba462f.nf-tmp-w"
    (killed / "w_temp").mkdir(parents=True)
    (killed / ".nf-checkpoint-save").write_text("netform checkpoint save\n")
    (killed / "w_temp" / "notes.tempstate1").write_text("mine")
    nfs.save_weights(model, tmp_path / "w", format="tf_checkpoint")
    assert (killed / "w_temp" / "notes.tempstate1").read_text() == "mine"
