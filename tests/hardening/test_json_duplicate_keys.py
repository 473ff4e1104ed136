"""A saved model whose JSON writes a key twice is not replaced: a ``.keras``'s ``metadata.json``,
``netform.json`` or ``config.json`` (archive or folder), an ``.h5``'s JSON attributes, a sharded index.

Python's JSON reader keeps the last copy of a key, so the first copy could hold a user's text that no check
(nor Keras) sees, and the next save deleted it. Keras and netform write each key once.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import keras
import pytest

import netform as nf

TEXT = "MY-THESIS-NOTES " * 64


@pytest.mark.parametrize("member", ["metadata.json", "netform.json", "config.json"])
def test_a_key_written_twice_keeps_the_archive(tmp_path: Path, member: str) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "m.keras"
    nf.save(model, path)
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in items:
            if info.filename == member:
                key = "class_name" if member == "config.json" else "keras_version"
                data = f'{{"{key}": "{TEXT}", '.encode() + data.lstrip()[1:]
            archive.writestr(info, data)
    before = path.read_bytes()
    with pytest.raises(nf.SaveError):
        nf.save(model, path)
    assert path.read_bytes() == before
    nf.save(model, tmp_path / "fresh.keras")
    nf.save(model, tmp_path / "fresh.keras")  # an archive netform wrote is replaced


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(3)])


@pytest.mark.parametrize("nested", [False, True])
def test_a_key_written_twice_in_an_unzipped_config_keeps_the_folder(tmp_path: Path, nested: bool) -> None:
    model = _model()
    path = tmp_path / "m_dir"
    nf.save(model, path, zipped=False)
    config = path / "config.json"
    text = config.read_text()
    key = '"trainable": ' if nested else '"class_name": '
    config.write_text(text.replace(key, f'{key}"{TEXT}", {key}', 1))
    with pytest.raises(nf.SaveError):
        nf.save(model, path, zipped=False)
    assert TEXT in config.read_text()


@pytest.mark.parametrize(
    "attribute",
    ["model_config", "training_config", "netform_model_config", "netform_metadata", "netform_compile_config"],
)
def test_a_key_written_twice_in_an_h5_attribute_keeps_the_file(tmp_path: Path, attribute: str) -> None:
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "m.h5"
    nf.save(model, path)
    with h5py.File(path, "r+") as h5:
        text = h5.attrs[attribute]
        text = text.decode() if isinstance(text, bytes) else str(text)
        first = next(iter(json.loads(text)))
        h5.attrs[attribute] = f'{{"{first}": "{TEXT}", ' + text.lstrip()[1:]
    before = path.read_bytes()
    with pytest.raises(nf.SaveError):
        nf.save(model, path)
    assert path.read_bytes() == before
    nf.save(model, tmp_path / "fresh.h5")
    nf.save(model, tmp_path / "fresh.h5")


@pytest.mark.parametrize("edit", ["twice", "nested twice", "extra key", "extra metadata", "not a shard"])
def test_a_sharded_index_holding_more_than_keras_writes_keeps_it(tmp_path: Path, edit: str) -> None:
    model = _model()
    path = tmp_path / "w.weights.json"
    nf.save_weights(model, path, max_shard_size=0.00001)
    raw = path.read_text()
    index = json.loads(raw)
    if edit == "twice":
        raw = raw.replace("{", f'{{"weight_map": "{TEXT}", ', 1)
    elif edit == "nested twice":
        raw = raw.replace('"metadata": {', f'"metadata": {{"total_size": "{TEXT}", ', 1)
    else:
        if edit == "extra key":
            index["notes"] = TEXT
        elif edit == "extra metadata":
            index["metadata"]["notes"] = TEXT
        else:
            index["weight_map"]["notes"] = TEXT
        raw = json.dumps(index)
    path.write_text(raw)
    with pytest.raises(nf.SaveError, match="sharded weights index holding"):
        nf.save_weights(model, path, max_shard_size=0.00001)
    assert path.read_text() == raw
    fresh = tmp_path / "fresh.weights.json"
    nf.save_weights(model, fresh, max_shard_size=0.00001)
    nf.save_weights(model, fresh, max_shard_size=0.00001)  # an index netform wrote is replaced


@pytest.mark.parametrize("member", ["config.json", "metadata.json", "model.weights.h5"])
def test_an_entry_written_twice_is_named(tmp_path: Path, member: str) -> None:
    model = _model()
    path = tmp_path / "m.keras"
    nf.save(model, path)
    with zipfile.ZipFile(path) as archive:
        data = archive.read(member)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr(member, data)
    before = path.read_bytes()
    with pytest.raises(nf.SaveError, match=rf"{member} \(twice\)"):
        nf.save(model, path)
    assert path.read_bytes() == before
