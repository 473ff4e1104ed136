"""``Model.export`` on a disk with no inodes left is a ``SaveError``, and the earlier export stays.

Making the folder the new SavedModel is written into failed with a raw ``OSError: [Errno 28] No space
left on device`` (3 of 3 tries on a tmpfs out of inodes), while ``nf.save`` and ``netform convert`` on
the same disk gave a ``SaveError``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import keras
import pytest

import netform as nf
from netform.errors import SaveError


def test_export_with_no_inode_for_its_folder_is_a_save_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = keras.Input((4,))
    model = nf.Model(inputs, keras.layers.Dense(2)(inputs))
    target = tmp_path / "ex"
    model.export(str(target))
    before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    real = os.mkdir

    def mkdir(path, *args, **kwargs):
        if ".nf-tmp-" in os.fspath(path):
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    with pytest.raises(SaveError, match=r"could not export the SavedModel.*No space left"):
        model.export(str(target))
    monkeypatch.undo()
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before
    assert sorted(os.listdir(tmp_path)) == ["ex"]
