"""`netform train --backup-dir DIR`: a folder the training backup would refuse is refused before the model is built.

Each refusal is one line, an EngineError (exit 4) that names `--backup-dir` and the fix, never `fit()`'s
argument (a `state` folder that is not netform's backup: fit's FormatError, exit 5); nothing is created or
changed. A file named as the folder stays a usage error (exit 2), as for
`--out-dir` (tests/cli/test_cli_resume.py).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform.builder
from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: reg
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 1}
    training:
      loss: mse
      batch_size: 8
      epochs: 1
    """)


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "reg.yaml").write_text(SPEC)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=x.sum(axis=1, keepdims=True))
    monkeypatch.chdir(tmp_path)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although --backup-dir is refused")

    monkeypatch.setattr(netform.builder, "build", never)
    return tmp_path


def _refused(backup_dir: str, capsys: pytest.CaptureFixture[str], code: int = 4) -> str:
    rc = main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "--backup-dir", backup_dir])
    err = capsys.readouterr().err
    assert rc == code, err
    assert err.count("\n") == 1 and err.startswith("error: --backup-dir "), err
    assert "fit()" not in err and "`backup_dir`" not in err, err
    assert "--backup-dir" in err.split(":", 2)[-1], err  # the fix names the option again
    return err


def test_a_folder_another_training_holds_is_refused_before_the_model_is_built(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from netform.engine._backup_lock import DirectoryLock

    lock = DirectoryLock(work / "held")
    lock.acquire()
    try:
        err = _refused("held", capsys)
    finally:
        lock.release(remove_file=True)
    assert f"in use by another training (process {os.getpid()} holds netform-backup.lock)" in err


def test_a_lock_file_that_is_a_link_or_not_netforms_is_refused_and_kept(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "linked").mkdir()
    (work / "target.txt").write_text("mine")
    os.symlink(work / "target.txt", work / "linked" / "netform-backup.lock")
    assert "netform-backup.lock is a symbolic link" in _refused("linked", capsys)
    (work / "foreign").mkdir()
    (work / "foreign" / "netform-backup.lock").write_text("my notes")
    err = _refused("foreign", capsys)
    assert "holds 8 bytes of something else, not netform's lock file" in err
    assert (work / "foreign" / "netform-backup.lock").read_text() == "my notes"
    assert (work / "target.txt").read_text() == "mine"


def test_a_state_folder_that_is_not_netforms_backup_is_refused_as_fit_refuses_it(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fit`'s FormatError (exit 5, a file format error), before the model is built, naming the option."""
    (work / "b1").mkdir()
    (work / "b1" / "state").write_text("mine")
    assert "b1/state is not a netform training backup" in _refused("b1", capsys, code=5)
    (work / "b2" / "state").mkdir(parents=True)
    (work / "b2" / "state" / "state.json").write_text("{}")
    (work / "b2" / "state" / "notes.txt").write_text("mine")
    assert "'notes.txt' in b2/state is not netform's" in _refused("b2", capsys, code=5)
    assert (work / "b1" / "state").read_text() == (work / "b2" / "state" / "notes.txt").read_text() == "mine"


def test_a_folder_that_cannot_be_made_is_refused_and_nothing_is_created(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "afile").write_text("x")
    assert "cannot be made: afile is not a folder" in _refused("afile/sub/backup", capsys)
    os.symlink("nowhere/at/all", work / "dangling")
    assert "is a symbolic link to nowhere/at/all, which does not exist" in _refused("dangling", capsys)
    assert not (work / "nowhere").exists()
    # a usage error before anything runs, as for every output path
    assert main(["train", "reg.yaml", "--data", "d.npz", "--backup-dir", "x" * 300]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --backup-dir ") and "is 300 bytes long" in err and "at most 255 bytes" in err
    before = sorted(os.listdir(work))
    err = _refused("a\nb", capsys)
    assert "'a\\nb'" in err and "control or formatting character" in err
    assert sorted(os.listdir(work)) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes in any folder")
def test_a_folder_that_cannot_be_written_is_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "ro").mkdir()
    (work / "ro" / "backup").mkdir()
    os.chmod(work / "ro" / "backup", 0o555)
    os.chmod(work / "ro", 0o555)
    try:
        assert "not writable" in _refused("ro/backup", capsys)
        assert "cannot be made: the folder ro is not writable" in _refused("ro/new", capsys)
    finally:
        os.chmod(work / "ro", 0o755)
        os.chmod(work / "ro" / "backup", 0o755)


def test_a_folder_that_cannot_be_written_is_refused_also_as_root(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refusals where the permission bits cannot be tested (root): os.access says no for `ro`."""
    (work / "ro" / "backup").mkdir(parents=True)
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: os.path.basename(p) != "ro" and access(p, mode, **kw))
    assert "cannot be made: the folder ro is not writable (permission denied)" in _refused("ro/new", capsys)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: os.path.basename(p) != "backup" and access(p, mode, **kw))
    assert "the folder is not writable (permission denied)" in _refused("ro/backup", capsys)


def test_a_folder_of_the_users_files_and_the_working_directory_are_accepted(work: Path) -> None:
    from netform.engine._backup_lock import check_directory

    (work / "mine").mkdir()
    (work / "mine" / "notes.txt").write_text("x")
    for folder in ("mine", ".", "new/deeper"):
        check_directory(Path(folder), option="--backup-dir")
    assert sorted(os.listdir(work / "mine")) == ["notes.txt"]
    assert not (work / "new").exists() and not (work / "netform-backup.lock").exists()


def test_the_library_refuses_a_nul_in_the_folder_name_with_an_engine_error() -> None:
    from netform.engine import TrainingBackup
    from netform.errors import EngineError

    with pytest.raises(EngineError, match=r"NUL character.*directory"):
        TrainingBackup("a\0b")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_the_system_cannot_make_is_reported_as_such(tmp_path: Path) -> None:
    from netform.engine._backup_lock import DirectoryLock
    from netform.errors import EngineError

    with pytest.raises(EngineError, match=r"cannot use /proc/netform-no-such-folder as the training backup"):
        DirectoryLock(Path("/proc/netform-no-such-folder")).acquire()


def test_a_spec_training_backup_folder_is_checked_as_early_naming_its_argument(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from netform.engine._backup_lock import DirectoryLock

    (work / "cb.yaml").write_text(SPEC + "  callbacks: [{type: TrainingBackup, backup_dir: held}]\n")
    lock = DirectoryLock(work / "held")
    lock.acquire()
    try:
        assert main(["train", "cb.yaml", "--data", "d.npz", "--verbose", "0"]) == 4
    finally:
        lock.release(remove_file=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: TrainingBackup.backup_dir "), err
    assert f"{work / 'held'}: the folder is in use by another training" in err
    assert err.rstrip().endswith("or give another TrainingBackup.backup_dir"), err
