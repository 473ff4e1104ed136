"""A save that replaces an earlier one keeps its permission bits, as Keras's save into the existing file does.
Was: a 0600 .keras became 0644, a 0700 SavedModel folder 0755, a read-only 0444 file 0644."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import keras
import pytest

import netform as nf
from netform._files import write_bytes


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])


@pytest.mark.parametrize(("name", "mode"), [("m.keras", 0o600), ("m.h5", 0o640), ("m.weights.h5", 0o444)])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, model: keras.Model, name: str, mode: int) -> None:
    path = tmp_path / name
    save = nf.save_weights if name.endswith(".weights.h5") else nf.save
    save(model, path)
    os.chmod(path, mode)
    save(model, path)
    assert _mode(path) == mode


def test_a_replaced_savedmodel_folder_keeps_its_mode(tmp_path: Path, model: keras.Model) -> None:
    path = tmp_path / "sm"
    nf.save(model, path, format="savedmodel")
    os.chmod(path, 0o700)
    nf.save(model, path, format="savedmodel")
    assert _mode(path) == 0o700
    assert nf.load(path) is not None


def test_a_new_file_gets_the_default_mode_and_a_link_is_replaced_not_followed(tmp_path: Path) -> None:
    write_bytes(tmp_path / "new.txt", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(tmp_path / "new.txt") == 0o666 & ~umask
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep")
    os.chmod(victim, 0o600)
    (tmp_path / "out.txt").symlink_to(victim)
    write_bytes(tmp_path / "out.txt", b"new")
    assert victim.read_bytes() == b"keep" and _mode(victim) == 0o600
    assert not os.path.islink(tmp_path / "out.txt") and _mode(tmp_path / "out.txt") == 0o666 & ~umask
