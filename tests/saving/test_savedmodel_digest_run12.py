"""A netform SavedModel is one model: its graph and variables are the files the save wrote.

netform reads such a folder through its copy of the model (``assets.extra/netform.keras``), while
``tf.saved_model.load`` and TF Serving run ``saved_model.pb`` with ``variables/``. A folder whose graph,
fingerprint and variables were replaced by another netform SavedModel's was accepted by ``inspect``,
``nf.load`` and ``predict`` (which showed and ran the copy, 23 parameters) while TensorFlow served the
other graph. The save now records the SHA-256 of each file TensorFlow computes with in
``assets.extra/netform.json``, and every safe-mode reader (load, load_weights, inspect, summary,
export-spec, render, predict) refuses a folder whose files differ, are missing or were added, with a
FormatError (exit 5) naming the file. A folder saved before the digests were recorded loads as before.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError
from netform.saving._static_reader import read_config, read_model

tf = pytest.importorskip("tensorflow")

SPEC = """netform: 1
name: {name}
kind: sequential
inputs:
  x: {{shape: [4]}}
layers:
{layers}"""
TINY = "  - {type: Dense, units: 3, activation: relu}\n  - {type: Dense, units: 2}\n"
OTHER = "  - {type: Dense, units: 7}\n  - {type: Dense, units: 2}\n"
SAID = "so the graph TensorFlow would serve (tf.saved_model.load, TF Serving) is not the model netform saved"
COMMANDS = ["inspect", "summary", "export-spec", "render", "predict"]


def _model(name: str, layers: str, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    return nf.build(nf.load_spec(SPEC.format(name=name, layers=layers)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("digest")
    base, other, twin = _model("tiny", TINY, 0), _model("other", OTHER, 1), _model("tiny", TINY, 2)
    for name, model in (("base", base), ("other", other), ("twin", twin)):
        nf.save(model, d / f"{name}_savedmodel")
    x = np.ones((3, 4), "float32")
    np.savez(d / "x.npz", x=x)
    return {"dir": d, "base": base, "x": x}


def _copy(saved: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "m_savedmodel"
    shutil.copytree(saved["dir"] / "base_savedmodel", path)
    return path


def _swap(saved: dict[str, Any], tmp_path: Path, donor: str, names: tuple[str, ...]) -> Path:
    """The base SavedModel with ``names`` (files or folders) taken from the donor save, as the tester did."""
    path = _copy(saved, tmp_path)
    for name in names:
        source, target = saved["dir"] / f"{donor}_savedmodel" / name, path / name
        if source.is_dir():
            shutil.rmtree(target)
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    return path


def _cli_args(command: str, path: Path, saved: dict[str, Any], tmp_path: Path) -> list[str]:
    if command == "render":
        return [command, str(path), "-o", str(tmp_path / "out.dot")]
    if command == "predict":
        return [command, str(path), "--data", str(saved["dir"] / "x.npz"), "-o", str(tmp_path / "pred.npy")]
    return [command, str(path)]


def _refused_everywhere(path: Path, saved: dict[str, Any], tmp_path: Path, file: str, how: str, capsys) -> None:
    said = f"{path}: {file} {how}"
    for read in (
        lambda: nf.load(path),
        lambda: nf.load(path, compile=False),
        lambda: nfs.inspect(path),
        lambda: nf.load_weights(saved["base"], path),
        lambda: read_model(str(path), "savedmodel"),
        lambda: read_config(str(path), "savedmodel"),
    ):
        with pytest.raises(FormatError) as caught:
            read()
        assert said in str(caught.value) and SAID in str(caught.value), str(caught.value)
    for command in COMMANDS:
        capsys.readouterr()
        code = main(_cli_args(command, path, saved, tmp_path))
        err = capsys.readouterr().err
        assert code == 5, (command, err)
        assert said in err and SAID in err, (command, err)
    assert not (tmp_path / "out.dot").exists() and not (tmp_path / "pred.npy").exists()


def test_the_save_records_the_digest_of_each_file_tensorflow_computes_with(saved: dict[str, Any]) -> None:
    path = saved["dir"] / "base_savedmodel"
    meta = json.loads((path / "assets.extra" / "netform.json").read_text())
    files = ["saved_model.pb", "variables/variables.data-00000-of-00001", "variables/variables.index"]
    assert sorted(meta["sha256"]) == files
    for name in files:
        assert meta["sha256"][name] == hashlib.sha256((path / name).read_bytes()).hexdigest()


def test_a_swapped_graph_is_refused_by_every_reader(saved: dict[str, Any], tmp_path: Path, capsys) -> None:
    path = _swap(saved, tmp_path, "other", ("saved_model.pb", "fingerprint.pb", "variables"))
    served = tf.saved_model.load(str(path)).signatures["serving_default"](tf.constant(saved["x"]))
    assert not np.allclose(next(iter(served.values())).numpy(), saved["base"].predict(saved["x"], verbose=0))
    _refused_everywhere(path, saved, tmp_path, "saved_model.pb", "differs from the one the save wrote", capsys)


def test_swapped_variables_of_the_same_architecture_are_refused(saved: dict[str, Any], tmp_path: Path, capsys):
    path = _swap(saved, tmp_path, "twin", ("variables",))
    file = "variables/variables.data-00000-of-00001"
    _refused_everywhere(path, saved, tmp_path, file, "differs from the one the save wrote", capsys)


def test_a_torn_variables_file_is_refused(saved: dict[str, Any], tmp_path: Path, capsys) -> None:
    path = _copy(saved, tmp_path)
    data = path / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    _refused_everywhere(
        path, saved, tmp_path, "variables/variables.data-00000-of-00001", "differs from the one the save wrote", capsys
    )


def test_a_missing_or_added_file_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    shard = path / "variables" / "variables.data-00000-of-00001"
    moved = shard.with_name("variables.data-00000-of-00002")
    shard.rename(moved)
    with pytest.raises(FormatError, match=r"variables/variables\.data-00000-of-00002 was not written by the save"):
        nf.load(path)
    moved.unlink()
    with pytest.raises(FormatError, match=r"variables/variables\.data-00000-of-00001 is missing"):
        nfs.inspect(path)


def test_a_saved_folder_is_accepted_by_every_reader(saved: dict[str, Any], tmp_path: Path, capsys) -> None:
    path = _copy(saved, tmp_path)
    expected = saved["base"].predict(saved["x"], verbose=0)
    np.testing.assert_allclose(nf.load(path).predict(saved["x"], verbose=0), expected, rtol=1e-6)
    assert nfs.inspect(path)["parameters"] == saved["base"].count_params() == 23
    nf.load_weights(_model("tiny", TINY, 5), path)
    assert read_config(str(path), "savedmodel") is not None
    for command in COMMANDS:
        capsys.readouterr()
        assert main(_cli_args(command, path, saved, tmp_path)) == 0, (command, capsys.readouterr().err)
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), expected, rtol=1e-6)


def test_a_record_without_the_digests_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    """A record without ``sha256`` beside netform's copy: the graph and variables swapped in from another save
    were served by TensorFlow while every reader described the copy. Such a folder is refused (save it again)."""
    path = _swap(saved, tmp_path, "other", ("saved_model.pb", "fingerprint.pb", "variables"))
    meta_path = path / "assets.extra" / "netform.json"
    meta = json.loads(meta_path.read_text())
    del meta["sha256"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(FormatError):
        nf.load(path)
    with pytest.raises(FormatError):
        nfs.inspect(path)
    assert nf.load(path, safe_mode=False).count_params() == 23  # a folder the caller trusts: read through the copy


def test_safe_mode_false_does_not_check_the_digests(saved: dict[str, Any], tmp_path: Path) -> None:
    """As the graph's operation check: a file the caller trusts is read through netform's copy."""
    path = _swap(saved, tmp_path, "other", ("saved_model.pb", "fingerprint.pb", "variables"))
    assert nf.load(path, safe_mode=False).count_params() == 23
    assert nfs.inspect(path, safe_mode=False)["parameters"] == 23


def test_a_recorded_file_beyond_the_graph_and_variables_is_checked_too(saved: dict[str, Any], tmp_path: Path) -> None:
    """A later version may hash more files (``fingerprint.pb``): what is recorded is checked, not called missing."""
    path = _copy(saved, tmp_path)
    meta_path = path / "assets.extra" / "netform.json"
    meta = json.loads(meta_path.read_text())
    meta["sha256"]["fingerprint.pb"] = hashlib.sha256((path / "fingerprint.pb").read_bytes()).hexdigest()
    meta_path.write_text(json.dumps(meta))
    assert nfs.inspect(path)["parameters"] == 23
    shutil.copyfile(saved["dir"] / "other_savedmodel" / "fingerprint.pb", path / "fingerprint.pb")
    with pytest.raises(FormatError, match="fingerprint.pb differs from the one the save wrote"):
        nf.load(path)


@pytest.mark.parametrize(
    "value",
    [["x"], {"saved_model.pb": "zz"}, {"saved_model.pb": 3}, {"../x": "0" * 64}, {"/etc/passwd": "0" * 64}],
)
def test_malformed_digests_are_a_format_error(saved: dict[str, Any], tmp_path: Path, value: Any) -> None:
    path = _copy(saved, tmp_path)
    meta_path = path / "assets.extra" / "netform.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "sha256": value}))
    with pytest.raises(FormatError, match=r"netform\.json: field 'sha256' is not an object of file names inside"):
        nf.load(path)
