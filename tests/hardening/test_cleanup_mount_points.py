"""A clean-up never deletes on another file system, nor another user's file in a killed save's folder.

A folder mounted at a parked copy ``NAME.nf-old-<hex>`` (or at its ``variables/``), or inside a killed
SavedModel save's temporary folder, held a user's own TensorFlow export on another mount: the next save deleted
its files along with netform's leftovers. The clean-ups now list and delete only what is on the file system of
the folder holding the leftover, and a killed save's folder holding a file of another user is kept.

Mounting needs privileges: the mount tests run where ``mount --bind`` works (as root) and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import keras
import pytest

import netform as nf
from netform import _files

MARK = ".nf-savedmodel-save"


def _tiny() -> keras.Model:
    inputs = keras.Input((4,))
    return nf.Model(inputs, keras.layers.Dense(2)(inputs))


@contextlib.contextmanager
def _bind(source: Path, at: Path) -> Iterator[None]:
    try:
        done = subprocess.run(["mount", "--bind", str(source), str(at)], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("mount is not available here")
    if done.returncode != 0:
        pytest.skip(f"bind mounts need privileges: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(at)], capture_output=True, timeout=30)


def _users_export(tmp_path: Path) -> tuple[Path, list[str]]:
    """A user's own SavedModel folder elsewhere (its files listed, to check after)."""
    mine = tmp_path / "mine" / "export"
    nf.save(_tiny(), mine, format="savedmodel")
    return mine, sorted(str(p.relative_to(mine)) for p in mine.rglob("*"))


def _files_of(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("where", ["", "variables"])
def test_a_folder_mounted_in_a_parked_copy_is_not_deleted(tmp_path: Path, where: str) -> None:
    mine, before = _users_export(tmp_path)
    work = tmp_path / "work"
    target = work / "sm"
    nf.save(_tiny(), target, format="savedmodel")
    parked = work / "sm.nf-old-0123456789abcdef"
    shutil.copytree(target, parked)
    note = Path(str(parked) + _files.PARKED_NOTE)
    note.write_bytes(_files._note_text(str(target), str(parked)))
    then = time.time() - 600
    os.utime(note, (then, then))
    at = parked / where if where else parked
    with _bind(mine / where if where else mine, at):
        nf.save(_tiny(), target, format="savedmodel")
        assert _files_of(mine) == before
    assert _files_of(mine) == before
    assert nf.load(mine).count_params() == 10


def test_a_folder_mounted_in_a_killed_save_s_folder_is_not_deleted(tmp_path: Path) -> None:
    mine, before = _users_export(tmp_path)
    work = tmp_path / "work"
    target = work / "sm"
    nf.save(_tiny(), target, format="savedmodel")
    killed = work / ".0123456789abcdef.nf-tmp-sm"
    shutil.copytree(target, killed)
    (killed / MARK).write_text("netform SavedModel save\n")
    with _bind(mine / "variables", killed / "variables"):
        nf.save(_tiny(), target, format="savedmodel")
        assert _files_of(mine) == before
        assert (killed / MARK).exists()  # kept whole, with its mark
    assert _files_of(mine) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another user needs root")
def test_another_user_s_file_keeps_a_killed_save_s_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    target = work / "sm"
    nf.save(_tiny(), target, format="savedmodel")
    killed = work / ".0123456789abcdef.nf-tmp-sm"
    shutil.copytree(target, killed)
    (killed / MARK).write_text("netform SavedModel save\n")
    os.chown(killed / "saved_model.pb", 65534, 65534)
    nf.save(_tiny(), target, format="savedmodel")
    assert (killed / "saved_model.pb").exists()
    os.chown(killed / "saved_model.pb", 0, 0)
    nf.save(_tiny(), target, format="savedmodel")  # the same folder, all the saving user's: removed
    assert not killed.exists()


def _mount_after_the_check(monkeypatch: pytest.MonkeyPatch, source: Path, at: Path, mounted: list[bool]) -> None:
    """A bind mount of ``source`` at ``at`` that the clean-up's read of the mount table did not see (made in the
    instant between that read and the delete): the mount is made now and the read is told there is none."""
    done = subprocess.run(["mount", "--bind", str(source), str(at)], capture_output=True, timeout=30)
    if done.returncode != 0:
        pytest.skip("bind mounts need privileges")
    mounted.append(True)
    monkeypatch.setattr(_files, "holds_mount", lambda folder: False)


@pytest.mark.parametrize("where", ["", "variables", "assets.extra"])
def test_a_mount_made_after_the_check_of_a_parked_copy_is_not_deleted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    mine, before = _users_export(tmp_path)
    work = tmp_path / "work"
    target = work / "sm"
    nf.save(_tiny(), target, format="savedmodel")
    parked = work / "sm.nf-old-0123456789abcdef"
    shutil.copytree(target, parked)
    note = Path(str(parked) + _files.PARKED_NOTE)
    note.write_bytes(_files._note_text(str(target), str(parked)))
    then = time.time() - 600
    os.utime(note, (then, then))
    mounted: list[bool] = []
    at = parked / where if where else parked
    _mount_after_the_check(monkeypatch, mine / where if where else mine, at, mounted)
    try:
        nf.save(_tiny(), target, format="savedmodel")
        assert _files_of(mine) == before
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(at)], capture_output=True, timeout=30)
    assert _files_of(mine) == before
    assert nf.load(target).count_params() == 10


@pytest.mark.parametrize("where", ["", "variables", "assets.extra"])
def test_a_mount_made_after_the_check_of_a_killed_save_s_folder_is_not_deleted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    mine, before = _users_export(tmp_path)
    work = tmp_path / "work"
    target = work / "sm"
    nf.save(_tiny(), target, format="savedmodel")
    killed = work / ".0123456789abcdef.nf-tmp-sm"
    shutil.copytree(target, killed)
    (killed / MARK).write_text("netform SavedModel save\n")
    mounted: list[bool] = []
    at = killed / where if where else killed
    _mount_after_the_check(monkeypatch, mine / where if where else mine, at, mounted)
    try:
        nf.save(_tiny(), target, format="savedmodel")
        assert _files_of(mine) == before
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(at)], capture_output=True, timeout=30)
    assert _files_of(mine) == before


def test_without_folder_handles_leftovers_still_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # where os.unlink and os.rmdir take no dir_fd (Windows) the clean-up goes by path, checking file systems
    monkeypatch.setattr(os, "supports_dir_fd", set())
    work = tmp_path / "work"
    target = work / "sm"
    nf.save(_tiny(), target, format="savedmodel")
    nf.save(_tiny(), target, format="savedmodel")  # a re-save deletes the parked old copy
    killed = work / ".0123456789abcdef.nf-tmp-sm"
    shutil.copytree(target, killed)
    (killed / MARK).write_text("netform SavedModel save\n")
    nf.save(_tiny(), target, format="savedmodel")
    assert sorted(os.listdir(work)) == ["sm"]
    assert nf.load(target).count_params() == 10
