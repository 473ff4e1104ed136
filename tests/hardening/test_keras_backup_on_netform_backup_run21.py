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
