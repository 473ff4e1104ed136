"""A TF checkpoint save killed as it wrote its mark leaves a folder the next save removes.

The save makes its temporary folder, then its mark file (``.nf-checkpoint-save``), then writes the mark's text.
Killed between the mark's making and its text, it left a folder holding one empty file that no later save took
for netform's: a loop of kills left 1,002 of them, and each later save listed them all. A folder holding only a
mark whose text is the start of netform's own (nothing, or part of it) now goes; a user's file beside such a
mark, or a mark of other text, keeps the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import pytest

import netform.saving as nfs

MARK = ".nf-checkpoint-save"


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


@pytest.mark.parametrize("text", ["", "netform chec", "netform checkpoint save"])
def test_a_folder_of_a_mark_cut_short_goes(tmp_path: Path, text: str) -> None:
    prefix = tmp_path / "w.ckpt"
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    killed = tmp_path / ".0123456789abcdef.nf-tmp-w.ckpt"
    killed.mkdir()
    (killed / MARK).write_text(text)
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    assert not killed.exists()


@pytest.mark.parametrize(
    "text, user_file",
    [("", "notes.txt"), ("hello", None), ("netform checkpoint savex", None), ("netform", "w.ckpt.index")],
)
def test_a_folder_with_more_than_a_mark_cut_short_stays(tmp_path: Path, text: str, user_file: str | None) -> None:
    prefix = tmp_path / "w.ckpt"
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    kept = tmp_path / ".0123456789abcdef.nf-tmp-w.ckpt"
    kept.mkdir()
    (kept / MARK).write_text(text)
    if user_file is not None:
        (kept / user_file).write_text("mine")
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    assert (kept / MARK).read_text() == text
    if user_file is not None:
        assert (kept / user_file).read_text() == "mine"
    assert sorted(os.listdir(kept)) == sorted([MARK] + ([user_file] if user_file else []))


@pytest.mark.parametrize(
    "line",
    [
        "set: w.ckpt.nf-set-00000000000000000000\n",  # as an earlier netform wrote it: no inodes
        "set: w.ckpt.nf-set-00000000000000000000 inodes: 1,2\n",  # inodes of other files
    ],
)
def test_a_forged_mark_naming_a_set_deletes_no_file_of_that_name(tmp_path: Path, line: str) -> None:
    # a marked folder naming a set whose data file is a user's (no index beside it): the file was deleted
    prefix = tmp_path / "w.ckpt"
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    forged = tmp_path / ".0123456789abcdef.nf-tmp-w.ckpt"
    forged.mkdir()
    (forged / MARK).write_text("netform checkpoint save\n" + line)
    users = tmp_path / "w.ckpt.nf-set-00000000000000000000.data-00000-of-00002"
    users.write_text("mine")
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    assert users.read_text() == "mine"


def test_a_user_s_text_under_the_index_name_keeps_the_folder(tmp_path: Path) -> None:
    prefix = tmp_path / "w.ckpt"
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    planted = tmp_path / ".0123456789abcdef.nf-tmp-w.ckpt"
    planted.mkdir()
    (planted / MARK).write_text("netform checkpoint save\n")
    (planted / "w.ckpt.index").write_text("user notes")
    nfs.save_weights(_model(), prefix, format="tf_checkpoint")
    assert (planted / "w.ckpt.index").read_text() == "user notes"
