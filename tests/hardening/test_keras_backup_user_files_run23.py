"""Keras's BackupAndRestore in netform's ``fit`` never deletes what is not its own.

Keras's ``BackupAndRestore`` deletes its whole folder when training ends
(``delete_checkpoint=True``, its default). Given ``'.'`` or any folder that
held the user's files, plain Keras deleted them all (with ``'.'`` the fit then
ended in ``OSError``); files that came into the folder while it trained (a
netform backup another training started there before Keras's first write)
went too. In netform's ``fit`` only Keras's own backup files go then (and the
folder, once empty, unless it is the working directory); the rest stays and a
``UserWarning`` names it. A folder holding only Keras's files goes whole, and
an interrupted run's backup is resumed from, as in Keras. A file as the folder
is refused before training (Keras fails writing into it after an epoch).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import EngineError


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    model = nf.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((16, 4), "float32"), rng.random((16, 2), "float32")


def _fit(model: keras.Model, folder: str | os.PathLike[str], **kwargs) -> keras.callbacks.History:
    backup = keras.callbacks.BackupAndRestore(os.fspath(folder), **kwargs)
    return model.fit(*_data(), epochs=2, verbose=0, callbacks=[backup])


def test_a_folder_of_user_files_keeps_them(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "thesis.tex").write_text("mine")
    (folder / "runs").mkdir()
    (folder / "runs" / "log.csv").write_text("epoch,loss\n")
    with pytest.warns(UserWarning, match=r"BackupAndRestore.*results.*runs, thesis\.tex"):
        _fit(_model(), folder)
    assert sorted(os.listdir(folder)) == ["runs", "thesis.tex"]  # Keras's own files went
    assert (folder / "thesis.tex").read_text() == "mine"
    assert (folder / "runs" / "log.csv").read_text() == "epoch,loss\n"


def test_the_working_directory_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _fit(_model(), ".")  # plain Keras ends in OSError trying to remove the working directory
    assert work.is_dir() and os.listdir(work) == []
    (work / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning, match=r"notes\.txt"):
        _fit(_model(), ".")
    assert os.listdir(work) == ["notes.txt"]
    with pytest.warns(UserWarning, match=r"work"):
        _fit(_model(), tmp_path)  # a folder holding the working directory
    assert (work / "notes.txt").read_text() == "mine"


def test_a_file_as_the_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    with pytest.raises(EngineError, match=r"BackupAndRestore.*notes\.txt.*not a folder"):
        _fit(_model(), target)
    assert target.read_text() == "mine"


def test_an_on_train_end_of_your_own_is_kept(tmp_path: Path) -> None:
    # as Keras's own test_raise_error_terminate_preserves_backup does
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "checkpoint.txt").write_text("dummy checkpoint")
    backup = keras.callbacks.BackupAndRestore(str(folder))
    calls: list[object] = []
    backup.on_train_end = lambda logs=None: calls.append(logs)
    _model().fit(*_data(), epochs=1, verbose=0, callbacks=[backup])
    assert len(calls) == 1 and (folder / "checkpoint.txt").is_file() and (folder / "latest.weights.h5").is_file()

    class Mine(keras.callbacks.BackupAndRestore):
        def on_train_end(self, logs=None):
            calls.append("mine")

    _model().fit(*_data(), epochs=1, verbose=0, callbacks=[Mine(str(folder))])
    assert calls[-1] == "mine"


def test_a_new_or_empty_folder_is_used_and_removed_as_in_keras(tmp_path: Path) -> None:
    for folder in (tmp_path / "new", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        _fit(_model(), folder)
        assert not folder.exists()  # Keras removes its folder when training ends


def test_an_interrupted_keras_backup_is_resumed(tmp_path: Path) -> None:
    folder = tmp_path / "bk"

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise RuntimeError("interrupted")

    backup = keras.callbacks.BackupAndRestore(str(folder), double_checkpoint=True)
    with pytest.raises(RuntimeError, match="interrupted"):
        _model().fit(*_data(), epochs=2, verbose=0, callbacks=[backup, Interrupt()])
    assert {"latest.weights.h5", "training_metadata.json"} <= set(os.listdir(folder))
    began: list[int] = []
    seen = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: began.append(epoch))
    _model().fit(*_data(), epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(folder)), seen])
    assert began == [1]
    assert not folder.exists()


def test_delete_checkpoint_false_may_share_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "thesis.tex").write_text("mine")
    _fit(_model(), folder, delete_checkpoint=False)
    assert (folder / "thesis.tex").read_text() == "mine"
    assert (folder / "latest.weights.h5").is_file()


def _during_first_epoch(action) -> keras.callbacks.Callback:
    """A callback that runs ``action`` as the first epoch begins, before Keras's BackupAndRestore writes."""
    return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: action() if epoch == 0 else None)


def test_files_put_in_its_folder_during_training_stay(tmp_path: Path) -> None:
    folder = tmp_path / "bk"

    def put() -> None:
        folder.mkdir(exist_ok=True)
        (folder / "notes.txt").write_text("mine")

    backup = keras.callbacks.BackupAndRestore(str(folder))
    with pytest.warns(UserWarning, match=r"bk.*notes\.txt"):
        _model().fit(*_data(), epochs=2, verbose=0, callbacks=[_during_first_epoch(put), backup])
    assert sorted(os.listdir(folder)) == ["notes.txt"]  # Keras's own files went, yours stayed
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_netform_backup_made_in_its_folder_during_training_stays(tmp_path: Path) -> None:
    folder = tmp_path / "K"

    def other_training() -> None:  # another training, started in the folder before Keras wrote there
        _model().fit(*_data(), epochs=1, verbose=0, backup_dir=None,
                     callbacks=[nf.TrainingBackup(folder / "nb", delete_on_finish=False)])  # fmt: skip

    backup = keras.callbacks.BackupAndRestore(str(folder))
    with pytest.warns(UserWarning, match=r"K.*nb"):
        _model().fit(*_data(), epochs=2, verbose=0, callbacks=[_during_first_epoch(other_training), backup])
    assert (folder / "nb" / "state" / "state.json").is_file()
    assert not (folder / "latest.weights.h5").exists()


def test_only_its_own_files_left_the_folder_goes_as_in_keras(tmp_path: Path) -> None:
    folder = tmp_path / "bk"
    backup = keras.callbacks.BackupAndRestore(str(folder), double_checkpoint=True)
    _model().fit(*_data(), epochs=2, verbose=0, callbacks=[backup])
    assert not folder.exists()
    assert "on_train_end" not in vars(backup)  # the guard is the fit's, not left on your callback
