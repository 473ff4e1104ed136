"""Keras's BackupAndRestore given a folder that a netform training backup owns is refused by ``fit``.

Keras's ``BackupAndRestore`` deletes its whole folder when training ends. Given, from Python, the
``--backup-dir`` of a netform training that was running, it removed that training's lock, marker and
backup, ended with a raw ``OSError: [Errno 39] Directory not empty``, and a third training was then
accepted on the folder while the first still ran. A spec's BackupAndRestore on such a folder was already
refused at validate; ``fit`` now refuses it too, with an ``EngineError``, before anything runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.engine._backup_lock import DirectoryLock
from netform.errors import EngineError


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    model = nf.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="adam", loss="mse")
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((16, 4), "float32"), rng.random((16, 2), "float32")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_running_trainings_backup_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "bk"
    lock = DirectoryLock(folder)
    lock.acquire()  # a training on it, running (in this process or another: the OS lock is the same)
    try:
        (folder / "state").mkdir()
        (folder / "state" / "state.json").write_text("{}")
        before = _files(folder)
        with pytest.raises(EngineError, match=r"BackupAndRestore.*bk.*netform-backup\.lock.*folder of its own"):
            _model().fit(*_data(), epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(folder))])
        assert _files(folder) == before
    finally:
        lock.release()


def test_a_kept_netform_backup_is_refused_too(tmp_path: Path) -> None:
    folder = tmp_path / "bk"
    model = _model()
    model.fit(*_data(), epochs=1, verbose=0, callbacks=[nf.TrainingBackup(folder, delete_on_finish=False)])
    before = _files(folder)
    assert "state/state.json" in before
    with pytest.raises(EngineError, match=r"BackupAndRestore"):
        _model().fit(*_data(), epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(folder))])
    assert _files(folder) == before


@pytest.mark.parametrize("where", ["inside", "same"])
def test_backup_and_restore_beside_the_fits_own_backup_is_refused(tmp_path: Path, where: str) -> None:
    folder = tmp_path / "bk"
    theirs = folder / "keras" if where == "inside" else folder
    with pytest.raises(EngineError, match=r"BackupAndRestore"):
        _model().fit(
            *_data(),
            epochs=1,
            verbose=0,
            backup_dir=folder,
            callbacks=[keras.callbacks.BackupAndRestore(str(theirs))],
        )
    assert not os.path.exists(theirs) or not any(theirs.iterdir())


def test_a_folder_of_its_own_still_trains_and_resumes_as_keras_does(tmp_path: Path) -> None:
    folder = tmp_path / "keras-backup"
    model = _model()
    history = model.fit(*_data(), epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(folder))])
    assert len(history.history["loss"]) == 2
    assert not folder.exists()  # Keras removes its folder when training ends
    # with delete_checkpoint=False it keeps it, netform's lock on another folder notwithstanding
    other = tmp_path / "bk"
    model.fit(
        *_data(),
        epochs=1,
        verbose=0,
        backup_dir=other,
        callbacks=[keras.callbacks.BackupAndRestore(str(folder), delete_checkpoint=False)],
    )
    assert (folder / "training_metadata.json").exists()


# A folder holding a netform backup at any depth: Keras's removal would take it with it.


def _kept_backup(folder: Path) -> dict[str, bytes]:
    _model().fit(*_data(), epochs=1, verbose=0, callbacks=[nf.TrainingBackup(folder, delete_on_finish=False)])
    return _files(folder)


@pytest.mark.parametrize("given", ["P", "P/", ".", "P/bk/..", "P/bk/../../P"])
def test_a_folder_holding_a_kept_netform_backup_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.chdir(tmp_path)
    before = _kept_backup(tmp_path / "P" / "bk")
    with pytest.raises(EngineError, match=r"BackupAndRestore.*holds .*bk, the folder of a netform training backup"):
        _model().fit(*_data(), epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(given)])
    assert _files(tmp_path / "P" / "bk") == before


def test_a_folder_holding_a_running_trainings_backup_deep_down_is_refused(tmp_path: Path) -> None:
    lock = DirectoryLock(tmp_path / "a" / "b" / "c" / "bk")
    lock.acquire()
    try:
        with pytest.raises(EngineError, match=r"holds .*a/b/c/bk"):
            _model().fit(
                *_data(), epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "a"))]
            )
        assert (tmp_path / "a" / "b" / "c" / "bk" / "netform-backup.lock").exists()
    finally:
        lock.release()


def test_a_link_to_a_folder_holding_a_backup_and_a_plain_link_are_refused(tmp_path: Path) -> None:
    before = _kept_backup(tmp_path / "P" / "bk")
    (tmp_path / "to-P").symlink_to(tmp_path / "P")
    with pytest.raises(EngineError, match=r"holds .*bk"):
        _model().fit(
            *_data(), epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "to-P"))]
        )
    assert _files(tmp_path / "P" / "bk") == before
    # a link to a plain folder: Keras's rmtree refuses it after the last epoch (a raw OSError); refused before
    (tmp_path / "mine").mkdir()
    (tmp_path / "to-mine").symlink_to(tmp_path / "mine")
    with pytest.raises(EngineError, match=r"symbolic link"):
        _model().fit(
            *_data(), epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "to-mine"))]
        )
    with pytest.raises(OSError, match="symbolic link"):  # what plain Keras does with it
        keras_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        keras_model.compile(optimizer="adam", loss="mse")
        keras_model.fit(
            *_data(), epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "to-mine"))]
        )


def test_keeping_its_folder_keras_may_write_beside_a_backup_below(tmp_path: Path) -> None:
    before = _kept_backup(tmp_path / "P" / "bk")
    _model().fit(
        *_data(),
        epochs=1,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "P"), delete_checkpoint=False)],
    )
    assert _files(tmp_path / "P" / "bk") == before and (tmp_path / "P" / "training_metadata.json").exists()


def test_a_netform_backup_inside_a_keras_backup_folder_is_refused(tmp_path: Path) -> None:
    # a Keras BackupAndRestore in P (its files there, as while its training runs): Keras deletes P whole
    # when that training ends, so a netform backup started inside P afterwards would go with it
    keras_folder = tmp_path / "P"
    _model().fit(
        *_data(),
        epochs=1,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(str(keras_folder), delete_checkpoint=False)],
    )
    before = _files(keras_folder)
    with pytest.raises(EngineError, match=r"lies inside .*P, the folder of a Keras BackupAndRestore"):
        _model().fit(*_data(), epochs=1, verbose=0, backup_dir=keras_folder / "bk")
    from netform.engine._backup_lock import check_directory

    with pytest.raises(EngineError, match=r"--backup-dir .*Keras BackupAndRestore"):
        check_directory(keras_folder / "a" / "bk", option="--backup-dir")
    assert _files(keras_folder) == before
