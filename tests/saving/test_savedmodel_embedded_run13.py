"""A netform SavedModel's copy of the model is one of the files its save recorded.

netform reads a SavedModel it saved through its copy of the model (``assets.extra/netform.keras``);
``tf.saved_model.load`` and TF Serving run ``saved_model.pb`` with ``variables/``. The SHA-256 the save
recorded in ``assets.extra/netform.json`` covered only the files TensorFlow computes with, so another model
copied over ``netform.keras`` was shown by ``inspect``, ``summary``, ``export-spec`` and ``render``, loaded
by ``nf.load`` and run by ``predict`` while TensorFlow served the original graph; with the copy named
otherwise, ``inspect`` refused it (a name mismatch) and the others did not; with ``netform.json`` deleted
too, nothing was checked. And ``netform convert other.keras SM/assets.extra/netform.keras`` wrote the copy
inside an existing SavedModel.

Now the save records the copy's SHA-256 too (``sha256_netform``), every safe-mode reader refuses a copy
that differs, a folder holding the copy without ``netform.json``, or a record of the graph's digests
without the copy's, with the same FormatError (exit 5); and a save whose target lies inside a SavedModel
folder is refused with a SaveError before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError, SaveError
from netform.saving._api import check_save_path
from netform.saving._static_reader import read_config, read_model

tf = pytest.importorskip("tensorflow")

SPEC = """netform: 1
name: {name}
kind: sequential
inputs:
  x: {{shape: [4]}}
layers:
  - {{type: Dense, units: 3, activation: relu}}
  - {{type: Dense, units: 2, activation: {last}}}
"""
COMMANDS = ["inspect", "summary", "export-spec", "render", "predict"]
SAID = "so the graph TensorFlow would serve (tf.saved_model.load, TF Serving) is not the model netform saved"


def _model(name: str, last: str, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    return nf.build(nf.load_spec(SPEC.format(name=name, last=last)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("embedded")
    base = _model("small", "linear", 0)
    nf.save(base, d / "base_savedmodel")
    nf.save(_model("small", "sigmoid", 1), d / "same_name.keras")  # the same name and shape, another model
    nf.save(_model("evil", "sigmoid", 1), d / "other_name.keras")
    x = np.ones((3, 4), "float32")
    np.savez(d / "x.npz", x=x)
    return {"dir": d, "base": base, "x": x}


def _copy(saved: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "m_savedmodel"
    shutil.copytree(saved["dir"] / "base_savedmodel", path)
    return path


def _cli_args(command: str, path: Path, saved: dict[str, Any], tmp_path: Path) -> list[str]:
    if command == "render":
        return [command, str(path), "-o", str(tmp_path / "out.dot")]
    if command == "predict":
        return [command, str(path), "--data", str(saved["dir"] / "x.npz"), "-o", str(tmp_path / "pred.npy")]
    if command == "export-spec":
        return [command, str(path), "-o", str(tmp_path / "out.yaml")]
    return [command, str(path)]


def _readers(path: Path, saved: dict[str, Any]) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("nf.load", lambda: nf.load(path)),
        ("nf.load(compile=False)", lambda: nf.load(path, compile=False)),
        ("inspect", lambda: nfs.inspect(path)),
        ("load_weights", lambda: nf.load_weights(_model("small", "linear", 5), path)),
        ("read_model", lambda: read_model(str(path), "savedmodel")),
        ("read_config", lambda: read_config(str(path), "savedmodel")),
    ]


def _refused_everywhere(path: Path, saved: dict[str, Any], tmp_path: Path, said: str, capsys) -> None:
    """Every reader, and every command, refuses ``path`` with the same FormatError (exit 5) saying ``said``."""
    for name, read in _readers(path, saved):
        with pytest.raises(FormatError) as caught:
            read()
        assert type(caught.value) is FormatError and said in str(caught.value), (name, str(caught.value))
    for command in COMMANDS:
        capsys.readouterr()
        code = main(_cli_args(command, path, saved, tmp_path))
        err = capsys.readouterr().err
        assert code == 5, (command, err)
        assert said in err, (command, err)
    for out in ("out.dot", "out.yaml", "pred.npy"):
        assert not (tmp_path / out).exists(), out


def test_the_save_records_the_digest_of_its_copy_of_the_model(saved: dict[str, Any]) -> None:
    path = saved["dir"] / "base_savedmodel"
    meta = json.loads((path / "assets.extra" / "netform.json").read_text())
    archive = (path / "assets.extra" / "netform.keras").read_bytes()
    assert meta["sha256_netform"] == {"assets.extra/netform.keras": hashlib.sha256(archive).hexdigest()}


@pytest.mark.parametrize("donor", ["same_name.keras", "other_name.keras"])
def test_a_swapped_copy_is_refused_by_every_reader_alike(
    saved: dict[str, Any], tmp_path: Path, capsys, donor: str
) -> None:
    path = _copy(saved, tmp_path)
    shutil.copyfile(saved["dir"] / donor, path / "assets.extra" / "netform.keras")
    # TensorFlow still serves the saved graph; the copy is another model
    served = tf.saved_model.load(str(path)).signatures["serving_default"](tf.constant(saved["x"]))
    np.testing.assert_allclose(
        next(iter(served.values())).numpy(), saved["base"].predict(saved["x"], verbose=0), rtol=1e-5
    )
    said = f"{path}: assets.extra/netform.keras differs from the one the save wrote"
    _refused_everywhere(path, saved, tmp_path, said, capsys)
    assert SAID in str(pytest.raises(FormatError, nf.load, path).value)


@pytest.mark.parametrize("swap", [False, True])
def test_a_copy_without_netform_json_is_refused_by_every_reader(
    saved: dict[str, Any], tmp_path: Path, capsys, swap: bool
) -> None:
    path = _copy(saved, tmp_path)
    (path / "assets.extra" / "netform.json").unlink()
    if swap:
        shutil.copyfile(saved["dir"] / "same_name.keras", path / "assets.extra" / "netform.keras")
    said = f"{path}: holds netform's copy of the model (assets.extra/netform.keras) but not assets.extra/netform.json"
    _refused_everywhere(path, saved, tmp_path, said, capsys)


def test_a_record_of_the_graph_without_the_copy_is_refused(saved: dict[str, Any], tmp_path: Path, capsys) -> None:
    """A folder whose netform.json records the graph's digests but not the copy's cannot vouch for the copy."""
    path = _copy(saved, tmp_path)
    meta_path = path / "assets.extra" / "netform.json"
    meta = json.loads(meta_path.read_text())
    del meta["sha256_netform"]
    meta_path.write_text(json.dumps(meta))
    said = "records the SHA-256 of the graph and variables but not of assets.extra/netform.keras"
    _refused_everywhere(path, saved, tmp_path, said, capsys)


def test_an_untouched_folder_is_accepted_and_safe_mode_false_skips_the_check(
    saved: dict[str, Any], tmp_path: Path, capsys
) -> None:
    path = _copy(saved, tmp_path)
    expected = saved["base"].predict(saved["x"], verbose=0)
    np.testing.assert_allclose(nf.load(path).predict(saved["x"], verbose=0), expected, rtol=1e-6)
    for command in COMMANDS:
        capsys.readouterr()
        assert main(_cli_args(command, path, saved, tmp_path)) == 0, (command, capsys.readouterr().err)
    shutil.copyfile(saved["dir"] / "same_name.keras", path / "assets.extra" / "netform.keras")
    assert nf.load(path, safe_mode=False).name == "small"  # a caller who trusts the folder reads the copy


@pytest.mark.parametrize(
    "inside", ["assets.extra/netform.keras", "assets.extra/other.keras", "variables/w.weights.h5", "x.h5"]
)
def test_a_save_inside_a_savedmodel_folder_is_refused(saved: dict[str, Any], tmp_path: Path, inside: str) -> None:
    path = _copy(saved, tmp_path)
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    model = _model("small", "sigmoid", 3)
    said = f"is inside {path}, a SavedModel folder"
    with pytest.raises(SaveError, match=said):
        nf.save(model, path / inside)
    with pytest.raises(SaveError, match=said):
        check_save_path(path / inside)
    if inside.endswith(".weights.h5"):
        with pytest.raises(SaveError, match=said):
            nf.save_weights(model, path / inside)
    after = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert after == before
    assert nfs.inspect(path)["model_name"] == "small"


def test_convert_into_a_savedmodel_folder_is_refused(saved: dict[str, Any], tmp_path: Path, capsys) -> None:
    path = _copy(saved, tmp_path)
    archive = path / "assets.extra" / "netform.keras"
    before = archive.read_bytes()
    capsys.readouterr()
    code = main(["convert", str(saved["dir"] / "same_name.keras"), str(archive)])
    err = capsys.readouterr().err
    assert code != 0 and f"is inside {path}, a SavedModel folder" in err, err
    assert archive.read_bytes() == before
    nf.load(path)  # still the model its save wrote


def test_a_link_into_a_savedmodel_folder_is_no_way_around(saved: dict[str, Any], tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    (tmp_path / "extra").symlink_to(path / "assets.extra")
    with pytest.raises(SaveError, match=f"is inside {path}, a SavedModel folder"):
        nf.save(_model("small", "sigmoid", 3), tmp_path / "extra" / "netform.keras")


def test_replacing_the_savedmodel_itself_and_saving_beside_it_still_work(saved: dict[str, Any], tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    nf.save(_model("small", "sigmoid", 4), path)  # the folder itself, whole
    assert nf.load(path).name == "small"
    nf.save(_model("small", "sigmoid", 4), tmp_path / "beside.keras")
    assert nf.load(tmp_path / "beside.keras").name == "small"
