"""A folder save removes the older copies that killed saves of the same folder left parked.

A SavedModel save killed after its new folder took the name, before the old copy was deleted, left
``model.nf-old-<hex>/`` and its ``.nf-parked`` note; they outlived 11 later saves (the same for an unzipped
``.keras``), a whole model's worth of disk for each kill. The next save now deletes such copies, but only
those whose note proves netform parked them and is over a minute old (a swap of another process may be
under way), and never a user's folder of that name.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

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


@pytest.mark.parametrize("unzipped", [False, True])
def test_old_leftovers_go_with_the_next_save(tmp_path: Path, unzipped: bool) -> None:
    model = _model()
    target = tmp_path / ("m_dir" if unzipped else "m")

    def save() -> None:
        if unzipped:
            nf.save(model, target, zipped=False)
        else:
            nf.save(model, target, format="savedmodel")

    save()
    old = _park(target, "0123456789abcdef", age=3600)
    fresh = _park(target, "fedcba9876543210", age=0)
    users = _park(target, "00112233445566aa", age=3600, note=False)
    save()
    assert not old.exists() and not Path(str(old) + _files.PARKED_NOTE).exists()
    assert fresh.is_dir() and Path(str(fresh) + _files.PARKED_NOTE).exists()  # maybe another save's, under way
    assert users.is_dir()  # no note: not netform's
    assert nf.load(target).count_params() == 10
