"""A backup folder's lock and marker names never cost a user's file."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.engine._backup_lock import CREATED_NAME, LOCK_NAME
from netform.errors import EngineError


def _fit(backup: Path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = nf.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0, backup_dir=str(backup))


def test_a_link_named_as_the_lock_is_never_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("precious user data")
    backup = tmp_path / "bk"
    backup.mkdir()
    (backup / LOCK_NAME).symlink_to(precious)
    with pytest.raises(EngineError, match=r"is a symbolic link; netform's lock file is never a link"):
        _fit(backup)
    assert precious.read_text() == "precious user data"
    assert (backup / LOCK_NAME).is_symlink()


def test_a_user_file_named_as_the_lock_is_kept(tmp_path: Path) -> None:
    backup = tmp_path / "bk"
    backup.mkdir()
    (backup / LOCK_NAME).write_text("user lock content")
    with pytest.raises(EngineError, match=r"not netform.s lock file; it is left as it is"):
        _fit(backup)
    assert (backup / LOCK_NAME).read_text() == "user lock content"


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_user_file_named_as_the_marker_does_not_make_the_folder_netforms(tmp_path: Path, kind: str) -> None:
    backup = tmp_path / "bk"
    backup.mkdir()
    if kind == "file":
        (backup / CREATED_NAME).write_text("user data")
    else:
        (tmp_path / "target.txt").write_text("user data")
        (backup / CREATED_NAME).symlink_to(tmp_path / "target.txt")
    _fit(backup)
    assert backup.is_dir()
    assert (backup / CREATED_NAME).read_text() == "user data"


def test_a_folder_netform_created_is_still_removed(tmp_path: Path) -> None:
    backup = tmp_path / "bk"
    _fit(backup)
    assert not backup.exists()


@pytest.mark.parametrize("content", ["31337\n", "", "12345\n"])
def test_a_hard_link_or_a_users_pid_file_named_as_the_lock_is_kept(tmp_path: Path, content: str) -> None:
    """A hard link shares its data with a file elsewhere; a user's file holding a number is still theirs."""
    backup = tmp_path / "bk"
    backup.mkdir()
    pin = tmp_path / "pin.txt"
    pin.write_text(content)
    os.link(pin, backup / LOCK_NAME)
    with pytest.raises(EngineError, match=r"has 2 names \(a hard link to another file\)"):
        _fit(backup)
    assert pin.read_text() == content
    os.unlink(backup / LOCK_NAME)
    if content:
        (backup / LOCK_NAME).write_text(content)
        with pytest.raises(EngineError, match=r"bytes of something else"):
            _fit(backup)
        assert (backup / LOCK_NAME).read_text() == content
