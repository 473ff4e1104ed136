"""A ``.keras`` archive or folder whose ``assets/`` names hold someone's text keeps it.

Keras writes no folder entry into a ``.keras`` zip, and names each layer's asset folder after its place in the
model (``assets/layers/string_lookup/``). Folder entries named with a user's notes (``assets/note 1: .../``, 30
of them held 3.6 KB), a vocabulary under a folder of another name, or an empty folder in an unzipped
``.keras`` loaded as before everywhere, and the next save replaced them.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf

NOTE = "note to self - the validation split leaked, rerun before the deadline"


def _lookup() -> keras.layers.StringLookup:
    layer = keras.layers.StringLookup()
    layer.adapt(np.array([["a"], ["b"], ["c"]]))
    return layer


def _model() -> keras.Model:
    words = keras.Input((1,), dtype="string")
    return keras.Model(words, _lookup()(words))


def _rewritten(src: Path, dst: Path, extra: dict[str, bytes | None]) -> None:
    """``src`` written again by Python's zipfile (as Keras writes it), ``extra`` added (None: a folder entry)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            new.writestr(zipfile.ZipInfo(info.filename, info.date_time), old.read(info))
        for name, data in extra.items():
            info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10
            new.writestr(info, data or b"")


def _refused(path: Path, model: keras.Model, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(nf.SaveError, match=match):
        nf.save(model, path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "folders",
    [
        [f"assets/{NOTE} {i}/" for i in range(30)],
        ["assets/"],
        ["assets/layers/string_lookup/secret/"],
        [f"assets/{'x' * 300}/"],
    ],
    ids=["notes", "assets-itself", "inside-a-layer-folder", "too-long-for-keras"],
)
def test_folder_entries_in_a_keras_archive_keep_it(tmp_path: Path, folders: list[str]) -> None:
    model = _model()
    plain = tmp_path / "plain.keras"
    model.save(plain)
    target = tmp_path / "m.keras"
    _rewritten(plain, target, dict.fromkeys(folders))
    if len(folders) > 1:
        keras.saving.load_model(target)  # Keras reads it as before
        nf.load(target)
    _refused(target, model, r"is a zip archive holding files a \.keras archive does not")


def test_a_vocabulary_under_a_folder_keras_does_not_name_keeps_the_archive(tmp_path: Path) -> None:
    model = _model()
    plain = tmp_path / "plain.keras"
    model.save(plain)
    target = tmp_path / "m.keras"
    hidden = f"assets/layers/{NOTE.replace(' ', '_').replace('-', '')}/string_lookup/vocabulary.txt"
    with zipfile.ZipFile(plain) as archive:
        vocabulary = archive.read("assets/layers/string_lookup/vocabulary.txt")
    _rewritten(plain, target, {hidden: vocabulary})  # a second copy, under a folder named with a note
    nf.load(target)
    _refused(target, model, r"string_lookup/vocabulary\.txt")


def test_an_empty_folder_in_an_unzipped_keras_model_keeps_it(tmp_path: Path) -> None:
    model = _model()
    folder = tmp_path / "unzipped"
    model.save(folder, zipped=False)
    (folder / "assets" / NOTE).mkdir(parents=True)
    with pytest.raises(nf.SaveError, match=r"assets/note to self"):
        nf.save(model, folder, format="keras", zipped=False)
    assert (folder / "assets" / NOTE).is_dir()


def test_archives_keras_and_netform_write_with_vocabularies_are_replaced(tmp_path: Path) -> None:
    words = keras.Input((1,), dtype="string")
    inner = keras.Sequential([keras.Input((1,), dtype="string"), _lookup()])
    vectorize = keras.layers.TextVectorization()
    vectorize.adapt(np.array(["x y", "y z"]))
    outputs = [inner(words), _lookup()(words), _lookup()(words), vectorize(words[:, 0])]
    model = keras.Model(words, outputs)
    path = tmp_path / "nested.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {  # Keras's names: nested models, numbered lookups, a vectorizer's own lookup
        "assets/layers/sequential/layers/string_lookup/vocabulary.txt",
        "assets/layers/string_lookup_1/vocabulary.txt",
        "assets/layers/text_vectorization/_lookup_layer/vocabulary.txt",
    } <= names, names
    nf.save(model, path)  # replaced
    nf.save(model, path)  # netform's own, replaced again
    shutil.rmtree(tmp_path / "unzipped", ignore_errors=True)
    model.save(tmp_path / "unzipped", zipped=False)
    nf.save(model, tmp_path / "unzipped", format="keras", zipped=False)


@pytest.mark.parametrize("adapted", [False, True])
def test_a_vocabulary_no_layer_of_the_model_writes_keeps_the_archive(tmp_path: Path, adapted: bool) -> None:
    """A vocabulary for a lookup whose vocabulary is in its config, or for a layer the model does not have
    (``string_lookup_7``), is never read: notes written there loaded as before and went with the next save."""
    words = keras.Input((1,), dtype="string")
    lookup = _lookup() if adapted else keras.layers.StringLookup(vocabulary=["a", "b"])
    model = keras.Model(words, lookup(words))
    plain = tmp_path / "plain.keras"
    model.save(plain)
    planted = {"assets/layers/string_lookup_7/vocabulary.txt": b"more notes"}
    if not adapted:
        planted["assets/layers/string_lookup/vocabulary.txt"] = b"my secret notes"
    target = tmp_path / "m.keras"
    _rewritten(plain, target, planted)
    nf.load(target)
    _refused(target, model, r"string_lookup_7/vocabulary\.txt")


def test_a_lookup_inside_a_wrapper_is_replaced(tmp_path: Path) -> None:
    words = keras.Input((3, 1), dtype="string")
    model = keras.Model(words, keras.layers.TimeDistributed(_lookup())(words))
    path = tmp_path / "wrapped.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert "assets/layers/time_distributed/layer/vocabulary.txt" in archive.namelist()
    nf.save(model, path)
