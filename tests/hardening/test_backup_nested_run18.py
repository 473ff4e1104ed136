"""A training's backup folder may not lie inside what another training's backup owns.

A second training given ``--backup-dir bk/state`` (the ``state/`` of a training running in ``bk``) was
accepted: it put its lock file into that state folder, and the first training stopped at its next backup
("'netform-backup.lock' is not netform's"). A backup directory inside another backup's ``state/`` (or its
parked or temporary copies, lock or marker) is now refused before anything is written, by ``fit`` and by
the command line's check, whether that training is running or stopped to be resumed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netform.engine._backup_lock import CREATED_NAME, LOCK_NAME, DirectoryLock, backup_above, check_directory
from netform.errors import EngineError

from ._backup_helpers import fit, interrupted_backup, tiny_model

pytestmark = pytest.mark.tf


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(root, n), folder): open(os.path.join(root, n), "rb").read()
        for root, _, files in os.walk(folder)
        for n in files
    }


def test_a_backup_inside_a_running_trainings_state_is_refused(tmp_path: Path) -> None:
    first = interrupted_backup(tmp_path, tiny_model())  # bk/state holds a backup; bk netform's marker
    running = DirectoryLock(first)
    running.acquire()  # the first training runs (holds its lock)
    try:
        before = _tree(first)
        for inner in (first / "state", first / "state" / "deeper", first / "state.nf-old-0123456789abcdef"):
            with pytest.raises(EngineError, match=r"lies inside .*state.*which the training backup in"):
                fit(tiny_model(), inner)
            with pytest.raises(EngineError, match=r"--backup-dir .*lies inside .*give a folder outside it"):
                check_directory(inner, option="--backup-dir")
        assert _tree(first) == before  # nothing of the first training's was touched
        assert not (first / "state" / "deeper").exists()
    finally:
        running.release()


def test_a_backup_inside_a_stopped_trainings_state_is_refused_and_it_resumes(tmp_path: Path) -> None:
    first = interrupted_backup(tmp_path, tiny_model())
    assert (first / CREATED_NAME).is_file()
    with pytest.raises(EngineError, match="lies inside"):
        fit(tiny_model(), first / "state")
    fit(tiny_model(), first)  # the first training resumes from its backup, as it was
    assert not first.exists()  # and cleans up what it made


def test_a_link_into_another_backup_is_seen_through(tmp_path: Path) -> None:
    first = interrupted_backup(tmp_path, tiny_model())
    os.symlink(first / "state", tmp_path / "innocent")
    assert backup_above(tmp_path / "innocent" / "x") == (str(first.resolve()), "state")
    with pytest.raises(EngineError, match="lies inside"):
        fit(tiny_model(), tmp_path / "innocent" / "x")


def test_folders_beside_a_backup_and_ordinary_names_are_accepted(tmp_path: Path) -> None:
    first = interrupted_backup(tmp_path, tiny_model())
    assert backup_above(first) is None  # the backup's own folder: its lock decides
    assert backup_above(first / "logs") is None  # a folder of the user's beside the backup's own names
    assert backup_above(tmp_path / "state" / "x") is None  # a "state" folder not in a backup folder
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / LOCK_NAME).mkdir()  # a folder under the lock's name is not netform's lock file
    assert backup_above(tmp_path / "plain" / "state" / "x") is None
    fit(tiny_model(), first / "logs")  # trains, and cleans up after itself
    assert not (first / "logs").exists()
