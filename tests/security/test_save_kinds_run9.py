"""A save replaces only an earlier save of the same format, also where formats share a container.

A full model in HDF5 (``h5``), weights in Keras 3's layout (``weights_h5``)
and weights in the legacy layout (``legacy_h5_weights``) are all HDF5
files; a SavedModel keeps its variables as a TF checkpoint; a SavedModel
netform saved and one Keras exported are both SavedModel folders. Each case
writes one kind, saves another kind over it, and checks that the save is
refused with a SaveError saying what is there, that every byte of it is
still there, and that an earlier save of the same kind is still replaced.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import SaveError

SPEC = textwrap.dedent("""\
    netform: 1
    name: tiny
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3}
      - {type: Dense, units: 2, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      batch_size: 4
      epochs: 1
    """)

#: The HDF5 formats, and the name each is saved under (the path alone names only the first two).
H5_KINDS = {"h5": "m.h5", "weights_h5": "m.weights.h5", "legacy_h5_weights": "m.h5"}
#: What the refusal says is there, by the kind that is there.
FOUND = {
    "h5": r"holds a full model",
    "weights_h5": r"holds weights only, in Keras 3's layout",
    "legacy_h5_weights": r"holds weights only, in the legacy Keras HDF5 layout",
}


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("spec") / "s.yaml"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture(scope="module")
def model(spec_path: str):
    return nf.build(nf.load_spec(spec_path))


def _save(model, path: Path, fmt: str) -> str:
    """``nf.save`` in ``fmt`` (``save_weights`` for the legacy layout, which only it writes)."""
    if fmt == "legacy_h5_weights":
        return nf.save_weights(model, str(path), format=fmt)
    return nf.save(model, str(path), format=fmt)


def _tree(path: Path) -> dict[str, bytes]:
    """Every file below ``path`` (or ``path`` itself), by relative name, with its bytes."""
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("there", sorted(H5_KINDS))
@pytest.mark.parametrize("written", sorted(H5_KINDS))
def test_an_hdf5_save_replaces_only_the_same_kind(tmp_path: Path, model, there: str, written: str) -> None:
    name = "m.weights.h5" if "weights_h5" in (there, written) else "m.h5"
    target = tmp_path / name
    _save(model, target, there)
    assert nf.detect_format(str(target)) == there
    before = target.read_bytes()
    if there == written:  # an earlier save of the same kind is replaced
        assert _save(model, target, written) == written
        assert nf.detect_format(str(target)) == written
        return
    with pytest.raises(SaveError, match=rf"{FOUND[there]}.*same format.*another path.*delete the file yourself"):
        _save(model, target, written)
    assert target.read_bytes() == before
    if written != "h5":  # the weights savers refuse it the same way
        with pytest.raises(SaveError, match=FOUND[there]):
            nf.save_weights(model, str(target), format=written)
        assert target.read_bytes() == before


def test_the_attacks_case_a_full_model_keeps_loading(tmp_path: Path, model) -> None:
    target = tmp_path / "full.h5"
    nf.save(model, str(target))
    with pytest.raises(SaveError, match=r"full\.h5: holds a full model .*format='h5'"):
        nf.save(model, str(target), format="weights_h5")
    loaded = nf.load(str(target))
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_files_keras_wrote_are_told_apart_too(tmp_path: Path, model) -> None:
    """``nf.Model.save``/``save_weights`` (Keras's writers, as ModelCheckpoint calls them) keep to the rule."""
    target = tmp_path / "best.weights.h5"
    model.save_weights(str(target))  # Keras 3 weights
    model.save_weights(str(target))  # the same kind again: replaced
    before = target.read_bytes()
    with pytest.raises(SaveError, match=FOUND["weights_h5"]):
        model.save(str(target))  # a full model in Keras's legacy HDF5, over the weights
    assert target.read_bytes() == before
    nf.save_weights(model, str(target))  # netform's writer replaces Keras's weights file of the same kind
    full = tmp_path / "full.h5"
    model.save(str(full))
    model.save(str(full))
    before = full.read_bytes()
    with pytest.raises(SaveError, match=FOUND["h5"]):
        nf.save(model, str(full), format="weights_h5")
    assert full.read_bytes() == before
    nf.save(model, str(full))  # netform's full-model writer replaces Keras's


def test_a_model_checkpoint_that_flips_save_weights_only_is_refused(tmp_path: Path, spec_path: str) -> None:
    model = nf.build(nf.load_spec(spec_path))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.integers(0, 2, 8)
    target = tmp_path / "ckpt.weights.h5"

    def fit(weights_only: bool) -> None:
        callback = keras.callbacks.ModelCheckpoint(str(target), save_weights_only=weights_only)
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[callback])

    fit(True)
    fit(True)  # a second run of the same kind replaces the file
    before = target.read_bytes()
    with pytest.raises(SaveError, match=FOUND["weights_h5"]):
        fit(False)
    assert target.read_bytes() == before
    target.unlink()
    fit(False)
    fit(False)
    before = target.read_bytes()
    with pytest.raises(SaveError, match=FOUND["h5"]):
        fit(True)
    assert target.read_bytes() == before


def test_the_cli_keeps_to_the_rule(tmp_path: Path, spec_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "m.weights.h5"
    assert main(["build", spec_path, "-o", str(full), "--format", "h5"]) == 0
    assert main(["build", spec_path, "-o", str(full), "--format", "h5"]) == 0  # the same kind: replaced
    before = full.read_bytes()
    capsys.readouterr()
    assert main(["build", spec_path, "-o", str(full)]) != 0  # .weights.h5: weights only
    assert "holds a full model" in capsys.readouterr().err
    assert full.read_bytes() == before
    source = tmp_path / "src.keras"
    assert main(["build", spec_path, "-o", str(source)]) == 0
    assert main(["convert", str(source), str(full), "--format", "h5"]) == 0  # the same kind: replaced
    before = full.read_bytes()
    weights = tmp_path / "w.weights.h5"
    assert main(["build", spec_path, "-o", str(weights)]) == 0
    assert main(["build", spec_path, "-o", str(weights)]) == 0
    kept = weights.read_bytes()
    capsys.readouterr()
    assert main(["convert", str(source), str(weights), "--format", "h5"]) != 0
    assert "holds weights only" in capsys.readouterr().err
    assert weights.read_bytes() == kept
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.normal(size=(8, 4)).astype("float32"), y=rng.integers(0, 2, 8))
    capsys.readouterr()
    assert main(["train", spec_path, "--data", str(data), "--y", "y", "-o", str(full)]) != 0
    assert "holds a full model" in capsys.readouterr().err
    assert full.read_bytes() == before


def test_a_checkpoint_is_not_written_over_a_savedmodels_variables(tmp_path: Path, model) -> None:
    sm = tmp_path / "sm"
    nf.save(model, str(sm), format="savedmodel")
    before = _tree(sm)
    for prefix in ("variables/variables", "variables/variables.index"):
        with pytest.raises(SaveError, match=r"variables checkpoint of the SavedModel .*format='savedmodel'"):
            nf.save_weights(model, str(sm / prefix), format="tf_checkpoint")
        assert _tree(sm) == before
    nf.save(model, str(sm), format="savedmodel")  # the SavedModel is intact: replaced as an earlier save
    assert nf.detect_format(str(sm)) == "savedmodel"
    # A checkpoint of the model is still replaced, under its own prefix, beside the SavedModel too.
    nf.save_weights(model, str(tmp_path / "variables"), format="tf_checkpoint")
    nf.save_weights(model, str(tmp_path / "variables"), format="tf_checkpoint")
    assert nf.detect_format(str(tmp_path / "variables")) == "tf_checkpoint"


def test_a_savedmodel_is_not_written_over_a_checkpoint_folder(tmp_path: Path, model) -> None:
    folder = tmp_path / "w"
    nf.save_weights(model, str(folder / "ckpt"), format="tf_checkpoint")
    nf.save_weights(model, str(folder / "ckpt"), format="tf_checkpoint")
    before = _tree(folder)
    with pytest.raises(SaveError, match=r"holding files a SavedModel does not: .*ckpt"):
        nf.save(model, str(folder), format="savedmodel")
    assert _tree(folder) == before


def test_keras_export_is_not_written_over_a_savedmodel_netform_saved(tmp_path: Path, model, spec_path: str) -> None:
    """Keras's export would leave netform's copy of the old model behind: nf.load would give the old model."""
    sm = tmp_path / "sm"
    nf.save(model, str(sm), format="savedmodel")
    nf.save(model, str(sm), format="savedmodel")  # the same kind: replaced
    before = _tree(sm)
    other = nf.build(nf.load_spec(spec_path))
    with pytest.raises(SaveError, match=r"holds a SavedModel netform saved .*format='savedmodel'"):
        other.export(str(sm), verbose=False)
    assert _tree(sm) == before
    exported = tmp_path / "exported"
    other.export(str(exported), verbose=False)  # anywhere else Keras's export runs as in Keras
    other.export(str(exported), verbose=False)
    assert nf.detect_format(str(exported)) == "savedmodel"
    assert not os.path.lexists(exported / "assets.extra")
