"""A ``.keras`` whose ``metadata.json`` or ``netform.json`` writes a key twice is not replaced.

Python's JSON reader keeps the last copy of a key, so the first copy could hold a user's text that no check
(nor Keras) sees, and the next save deleted it. Keras and netform write each key once.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import pytest

import netform as nf

TEXT = "MY-THESIS-NOTES " * 64


@pytest.mark.parametrize("member", ["metadata.json", "netform.json"])
def test_a_key_written_twice_keeps_the_archive(tmp_path: Path, member: str) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "m.keras"
    nf.save(model, path)
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in items:
            if info.filename == member:
                data = f'{{"keras_version": "{TEXT}", '.encode() + data.lstrip()[1:]
            archive.writestr(info, data)
    before = path.read_bytes()
    with pytest.raises(nf.SaveError):
        nf.save(model, path)
    assert path.read_bytes() == before
    nf.save(model, tmp_path / "fresh.keras")
    nf.save(model, tmp_path / "fresh.keras")  # an archive netform wrote is replaced
