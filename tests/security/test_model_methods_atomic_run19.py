"""netform's model methods write as ``nf.save`` writes: beside the target, then renamed into place.

``nf.Model.save``/``save_weights`` (which Keras's ``ModelCheckpoint`` calls) handed the write to Keras, which
opens the target itself with ``O_TRUNC``: a kill or a full disk (here a file-size limit, as ``ulimit -f``)
left the earlier good save truncated, the error was a raw ``OSError`` and HDF5 could crash the process.
``model.export()`` wrote into a folder of the user's files. Sharded saves under a file-size limit crashed
the process. Each case below failed before; Keras's own arguments, warnings and files are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
from pathlib import Path
from typing import Any, Iterator

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SaveError

pytestmark = pytest.mark.tf

SPEC = (
    "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: [64]}\nlayers:\n"
    "  - {type: Dense, units: 256}\n  - {type: Dense, units: 2}\n"
)


@pytest.fixture(scope="module")
def model() -> Any:
    m = nf.build(nf.load_spec(SPEC))
    m.compile(optimizer="adam", loss="mse")
    m.fit(np.ones((8, 64), "float32"), np.ones((8, 2), "float32"), verbose=0)
    return m


@contextlib.contextmanager
def _file_size_limit(size: int) -> Iterator[None]:
    """This process's ``RLIMIT_FSIZE`` (Python ignores SIGXFSZ: a write past it fails with EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "w.weights.h5"])
def test_a_failed_method_save_keeps_the_earlier_save(model: Any, tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    save = model.save_weights if name.endswith(".weights.h5") else model.save
    save(str(target))
    before = _digest(target)
    with _file_size_limit(20_000), pytest.raises(SaveError):
        save(str(target))
    assert _digest(target) == before
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left beside it
    if name.endswith(".weights.h5"):
        nf.load_weights(model, target)
    else:
        assert keras.saving.load_model(str(target)).count_params() == model.count_params()


def test_method_saves_replace_the_file_by_a_rename(model: Any, tmp_path: Path) -> None:
    """The new file is another inode renamed over the old one (Keras truncated and rewrote the old one)."""
    for name, save in (("m.keras", model.save), ("w.weights.h5", model.save_weights)):
        target = tmp_path / name
        save(str(target))
        with open(target, "rb") as held:  # a reader that opened the earlier save keeps reading it whole
            first = os.fstat(held.fileno()).st_ino
            save(str(target))
            assert os.stat(target).st_ino != first
            assert held.read(4) == (b"PK\x03\x04" if name.endswith(".keras") else b"\x89HDF")


def test_modelcheckpoint_saves_through_the_atomic_writer(model: Any, tmp_path: Path) -> None:
    target = tmp_path / "best.keras"
    x, y = np.ones((8, 64), "float32"), np.ones((8, 2), "float32")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(str(target))])
    before = _digest(target)
    with _file_size_limit(20_000), pytest.raises(SaveError):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(str(target))])
    assert _digest(target) == before


def test_keras_arguments_and_words_are_kept(model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model.save(str(tmp_path / "lean.h5"), include_optimizer=False)
    lean = keras.saving.load_model(str(tmp_path / "lean.h5"))
    assert getattr(lean, "optimizer", None) is None and not lean.compiled
    assert not getattr(nf.load(tmp_path / "lean.h5"), "compiled", False)
    model.save(str(tmp_path / "full.h5"))
    assert keras.saving.load_model(str(tmp_path / "full.h5")).compiled
    model.save(str(tmp_path / "unzipped"), zipped=False)
    assert keras.saving.load_model(str(tmp_path / "unzipped")).count_params() == model.count_params()
    with pytest.raises(ValueError, match="Invalid filepath extension"):
        model.save(str(tmp_path / "m.tf"))
    with pytest.raises(ValueError, match="not supported"):
        model.save(str(tmp_path / "m.keras"), foo=1)
    with pytest.raises(FileNotFoundError):  # Keras makes no folder for a .keras file
        model.save(str(tmp_path / "missing" / "m.keras"))
    with pytest.raises(ValueError, match=r"When using `zipped=False`, the `filepath` argument should not end in"):
        model.save(str(tmp_path / "uz.keras"), zipped=False)
    model.save(str(tmp_path / "made" / "m.h5"))  # Keras's HDF5 writer makes it
    before = _digest(tmp_path / "full.h5")
    monkeypatch.setattr("builtins.input", lambda *_: "n")
    model.save(str(tmp_path / "full.h5"), overwrite=False)  # declined
    assert _digest(tmp_path / "full.h5") == before
    unbuilt = nf.Sequential([keras.layers.Dense(2)])
    with pytest.warns(UserWarning, match="has not yet been built"):
        unbuilt.save(str(tmp_path / "unbuilt.keras"))


def test_export_refuses_a_folder_of_user_files_and_replaces_its_own(
    model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tensorflow as tf

    users = tmp_path / "results"
    (users / "variables").mkdir(parents=True)
    (users / "saved_model.pb").write_text("my notes")
    (users / "variables" / "variables.index").write_text("data")
    with pytest.raises(SaveError, match="saved_model.pb"):
        model.export(str(users))
    assert (users / "saved_model.pb").read_text() == "my notes"
    assert (users / "variables" / "variables.index").read_text() == "data"
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.symlink(other, tmp_path / "link")
    with pytest.raises(SaveError, match="symbolic link"):
        model.export(str(tmp_path / "link"))
    assert os.listdir(other) == []

    exported = tmp_path / "served"
    model.export(str(exported))
    assert f"Saved artifact at '{exported}'" in capsys.readouterr().out  # the target, not a temporary name
    model.export(str(exported), verbose=False)  # its own earlier export: replaced whole
    assert sorted(os.listdir(tmp_path)) == ["elsewhere", "link", "results", "served"]
    loaded = tf.saved_model.load(str(exported))
    out = loaded.serve(tf.ones((1, 64)))
    np.testing.assert_allclose(out.numpy(), model.predict(np.ones((1, 64), "float32"), verbose=0), atol=1e-5)
    nf.save(model, tmp_path / "whole", format="savedmodel")  # netform's own SavedModel save still exports
    assert nf.load(tmp_path / "whole").count_params() == model.count_params()


@pytest.mark.parametrize("entry", ["nf.save_weights", "method"])
def test_a_sharded_save_past_the_file_size_limit_is_refused_before_writing(
    model: Any, tmp_path: Path, entry: str
) -> None:
    index = str(tmp_path / "w.weights.json")
    with _file_size_limit(65_536), pytest.raises(SaveError, match=r"file-size limit of 65,536 bytes"):
        if entry == "method":
            model.save_weights(index, max_shard_size=0.00015)
        else:
            nf.save_weights(model, index, max_shard_size=0.00015)
    assert os.listdir(tmp_path) == []
    with _file_size_limit(400_000):  # room for the largest shard: written
        nf.save_weights(model, index, max_shard_size=0.00015)
    assert "w_00000.weights.h5" in os.listdir(tmp_path)


def test_an_export_past_the_file_size_limit_is_a_save_error_and_keeps_the_earlier(model: Any, tmp_path: Path) -> None:
    target = tmp_path / "served"
    model.export(str(target), verbose=False)
    before = {n: _digest(target / n) for n in ("saved_model.pb", "variables/variables.index")}
    big = nf.build(nf.load_spec(SPEC.replace("units: 256", "units: 20000")))
    with _file_size_limit(65_536), pytest.raises(SaveError, match=r"served: could not export the SavedModel"):
        big.export(str(target), verbose=False)
    assert {n: _digest(target / n) for n in before} == before
    assert sorted(os.listdir(tmp_path)) == ["served"]
