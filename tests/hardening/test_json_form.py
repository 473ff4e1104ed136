"""JSON a save would replace must be in the form Keras and netform write it: its spaces can hold someone's bytes.

A sharded index padded with 4,000 spaces loaded as before and was replaced; a run of spaces and tabs is a
place for someone's bytes (one bit a character) that no reader of the JSON sees, as is a name written with
``\\u`` escapes. Keras writes each JSON member with ``json.dumps`` (compact; a sharded index indented by 4).
"""

from __future__ import annotations

import glob
import json
import shutil
import zipfile
from pathlib import Path

import h5py
import keras
import pytest

import netform as nf

HIDDEN = " \t \t\t  \t \t" * 40  # bits in whitespace


def _model() -> keras.Model:
    inputs = keras.Input((16,))
    return keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Dense(64)(inputs)))


def _rezip(source: Path, target: Path, name: str, text: str) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info, text if info.filename == name else old.read(info.filename))


@pytest.mark.parametrize("member", ["config.json", "metadata.json"])
@pytest.mark.parametrize("form", ["spaces", "escapes"])
def test_a_keras_archive_s_json_in_another_form_keeps_it(tmp_path: Path, member: str, form: str) -> None:
    model = _model()
    model.save(tmp_path / "k.keras")  # plain Keras's archive
    with zipfile.ZipFile(tmp_path / "k.keras") as archive:
        value = json.loads(archive.read(member))
    text = json.dumps(value).replace(", ", "," + HIDDEN, 1)
    if form == "escapes":  # the first key's first letter written as an escape: the same JSON
        key = next(iter(value))
        text = json.dumps(value).replace(f'"{key}"', '"\\u%04x%s"' % (ord(key[0]), key[1:]), 1)
    assert json.loads(text) == value and text != json.dumps(value)
    target = tmp_path / "t.keras"
    _rezip(tmp_path / "k.keras", target, member, text)
    keras.saving.load_model(target)  # Keras reads it as before
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=rf"{member.replace('.', '[.]')}"):
        nf.save(model, target)
    assert target.read_bytes() == before


def test_an_hdf5_json_attribute_in_another_form_keeps_the_file(tmp_path: Path) -> None:
    model = _model()
    target = tmp_path / "k.h5"
    model.save(target)  # plain Keras's legacy file (no netform checksums)
    with h5py.File(target, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        f.attrs["model_config"] = json.dumps(config).replace(", ", "," + HIDDEN, 1).encode()
    keras.saving.load_model(target)
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"model_config \(not the JSON Keras writes there"):
        nf.save(model, target)
    assert target.read_bytes() == before


def _big() -> keras.Model:
    inputs = keras.Input((64,))
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Dense(256)(keras.layers.Dense(256)(inputs))))


def _sharded(folder: Path, model: keras.Model) -> list[str]:
    folder.mkdir()
    nf.save_weights(model, folder / "s.weights.json", max_shard_size=0.0003)
    shards = sorted(glob.glob(str(folder / "s_*.weights.h5")))
    assert len(shards) > 1
    return shards


def test_a_sharded_index_padded_with_spaces_keeps_it(tmp_path: Path) -> None:
    model = _big()
    _sharded(tmp_path / "t", model)
    index = tmp_path / "t" / "s.weights.json"
    value = json.loads(index.read_text())
    index.write_text(json.dumps(value, indent=4).replace("\n", "\n" + HIDDEN, 1))
    nf.load_weights(model, index)  # read as before
    before = index.read_bytes()
    with pytest.raises(nf.SaveError, match=r"its JSON text in another form than Keras writes"):
        nf.save_weights(model, index, max_shard_size=0.0003)
    assert index.read_bytes() == before


@pytest.mark.parametrize("indent", [None, 4])
def test_indexes_as_keras_and_netform_write_them_are_replaced(tmp_path: Path, indent: int | None) -> None:
    model = _big()
    shards = _sharded(tmp_path / "t", model)
    index = tmp_path / "t" / "s.weights.json"
    index.write_text(json.dumps(json.loads(index.read_text()), indent=indent))
    nf.save_weights(model, index, max_shard_size=0.0003)
    nf.load_weights(model, index)
    assert all(Path(s).exists() for s in shards)


def test_plain_keras_files_are_still_replaced(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "k.keras")
    model.save(tmp_path / "k.h5")
    nf.save(model, tmp_path / "k.keras")
    nf.save(model, tmp_path / "k.h5")
    shutil.copy(tmp_path / "k.keras", tmp_path / "again.keras")
    nf.save(model, tmp_path / "again.keras")


def test_an_index_keras_wrote_on_windows_is_replaced(tmp_path: Path) -> None:
    """Keras writes a sharded index in text mode: on Windows its line breaks are \\r\\n."""
    model = _big()
    _sharded(tmp_path / "t", model)
    index = tmp_path / "t" / "s.weights.json"
    index.write_bytes(json.dumps(json.loads(index.read_text()), indent=4).replace("\n", "\r\n").encode())
    nf.save_weights(model, index, max_shard_size=0.0003)
    nf.load_weights(model, index)
