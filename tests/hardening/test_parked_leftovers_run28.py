"""A folder save removes the older copies that killed saves of the same folder left parked.

A SavedModel save killed after its new folder took the name, before the old copy was deleted, left
``model.nf-old-<hex>/`` and its ``.nf-parked`` note; they outlived 11 later saves (the same for an unzipped
``.keras``), a whole model's worth of disk for each kill. The next save now deletes such copies, but only
those whose note proves netform parked them and is over a minute old (a swap of another process may be
under way) and that hold only what such a save holds: a copy a user has put a file into is kept whole, as
is a training backup's parked ``state`` (its own cleanup keeps a user's files), and a user's folder of that
name.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable

import keras
import pytest

import netform as nf
from netform import _files


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    return nf.Model(inputs, keras.layers.Dense(2)(inputs))


def _park(target: Path, token: str, age: float, note: bool = True) -> Path:
    """A copy of ``target`` as a swap killed after its new copy took the name leaves it."""
    parked = target.with_name(f"{target.name}.nf-old-{token}")
    shutil.copytree(target, parked)
    if note:
        path = Path(str(parked) + _files.PARKED_NOTE)
        path.write_bytes(_files._note_text(str(target), str(parked)))
        then = time.time() - age
        os.utime(path, (then, then))
    return parked


def _saver(model: keras.Model, target: Path, unzipped: bool) -> Callable[[], None]:
    """A save of ``model`` to the folder ``target``: a SavedModel, or Keras's unzipped form."""

    def save() -> None:
        if unzipped:
            nf.save(model, target, zipped=False)
        else:
            nf.save(model, target, format="savedmodel")

    return save


@pytest.mark.parametrize("unzipped", [False, True])
def test_old_leftovers_go_with_the_next_save(tmp_path: Path, unzipped: bool) -> None:
    target = tmp_path / ("m_dir" if unzipped else "m")
    save = _saver(_model(), target, unzipped)
    save()
    old = _park(target, "0123456789abcdef", age=3600)
    fresh = _park(target, "fedcba9876543210", age=0)
    users = _park(target, "00112233445566aa", age=3600, note=False)
    save()
    assert not old.exists() and not Path(str(old) + _files.PARKED_NOTE).exists()
    assert fresh.is_dir() and Path(str(fresh) + _files.PARKED_NOTE).exists()  # maybe another save's, under way
    assert users.is_dir()  # no note: not netform's
    assert nf.load(target).count_params() == 10


@pytest.mark.parametrize("unzipped", [False, True])
@pytest.mark.parametrize("where", ["thesis.tex", "variables/notes.txt", "assets/notes.txt"])
def test_a_leftover_holding_a_user_file_is_kept_whole(tmp_path: Path, unzipped: bool, where: str) -> None:
    target = tmp_path / ("m_dir" if unzipped else "m")
    save = _saver(_model(), target, unzipped)
    save()
    old = _park(target, "0123456789abcdef", age=3600)
    (old / where).parent.mkdir(parents=True, exist_ok=True)
    (old / where).write_text("mine")
    save()
    assert (old / where).read_text() == "mine"
    assert Path(str(old) + _files.PARKED_NOTE).exists()


def test_a_training_backup_s_parked_state_keeps_a_user_file(tmp_path: Path) -> None:
    import numpy as np

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.ones((32, 2), "float32")

    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            if batch == 5:
                raise RuntimeError("stopped")

    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    backup = tmp_path / "bk"
    with pytest.raises(RuntimeError):
        model.fit(
            x, y, batch_size=4, epochs=2, verbose=0, callbacks=[nf.TrainingBackup(backup, save_every_steps=1), Stop()]
        )
    parked = _park(backup / "state", "0123456789abcdef", age=3600)
    (parked / "notes.txt").write_text("mine")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[nf.TrainingBackup(backup, save_every_steps=1)])
    assert (parked / "notes.txt").read_text() == "mine"
