"""A netform SavedModel without its copy of the model, and a user's files where netform keeps its own.

Every netform save writes ``assets.extra/netform.keras`` (the model netform reads back) beside
``assets.extra/netform.json`` (its metadata and the SHA-256 of each file). With the copy deleted, a folder
was read as another tool's SavedModel: ``inspect`` and ``predict`` showed and ran its graph, even one swapped
in from another save whose digests ``netform.json`` contradicted. Now a folder whose ``netform.json`` says
netform saved it (a key only netform writes there) and whose copy is gone is refused by every safe-mode
reader with a FormatError (exit 5) naming the missing file; a foreign SavedModel still loads inference-only.

And saving over a SavedModel replaced a user's files at ``assets.extra/netform.keras`` (a text file) and
``assets.extra/netform.json`` (``{"my": "own notes"}``): the replace check looked at their names only. Now
the copy must be a ``.keras`` archive as the ``.keras`` replace check accepts one, and ``netform.json`` a
JSON object of the keys netform writes there, or the save is refused with a SaveError naming the file.
"""

from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError, SaveError
from netform.saving._static_reader import read_config, read_model

tf = pytest.importorskip("tensorflow")

SPEC = """netform: 1
name: {name}
kind: sequential
inputs:
  x: {{shape: [4]}}
layers:
  - {{type: Dense, units: {units}, activation: relu}}
  - {{type: Dense, units: 2}}
"""
COMMANDS = ["inspect", "summary", "export-spec", "render", "predict", "convert"]
MISSING = "assets.extra/netform.keras is missing (or not a file), but assets.extra/netform.json says netform saved"


def _model(name: str, units: int, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    return nf.build(nf.load_spec(SPEC.format(name=name, units=units)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("copy")
    base, other = _model("small", 3, 0), _model("other", 7, 1)
    nf.save(base, d / "base_savedmodel")
    nf.save(other, d / "other_savedmodel")
    base.export(str(d / "foreign_savedmodel"), format="tf_saved_model", verbose=False)  # Keras's, no assets.extra
    nf.save(base, d / "m.keras")
    x = np.ones((3, 4), "float32")
    np.savez(d / "x.npz", x=x)
    return {"dir": d, "base": base, "other": other, "x": x}


def _copy(saved: dict[str, Any], tmp_path: Path, name: str = "base") -> Path:
    path = tmp_path / "m_savedmodel"
    shutil.copytree(saved["dir"] / f"{name}_savedmodel", path)
    return path


def _without_copy(saved: dict[str, Any], tmp_path: Path, *, swap: bool = False) -> Path:
    """The base save with its copy deleted (and, with ``swap``, the other save's graph and variables)."""
    path = _copy(saved, tmp_path)
    (path / "assets.extra" / "netform.keras").unlink()
    if swap:
        donor = saved["dir"] / "other_savedmodel"
        for name in ("saved_model.pb", "fingerprint.pb"):
            shutil.copyfile(donor / name, path / name)
        shutil.rmtree(path / "variables")
        shutil.copytree(donor / "variables", path / "variables")
    return path


def _cli_args(command: str, path: Path, saved: dict[str, Any], tmp_path: Path) -> list[str]:
    if command == "render":
        return [command, str(path), "-o", str(tmp_path / "out.dot")]
    if command == "predict":
        return [command, str(path), "--data", str(saved["dir"] / "x.npz"), "-o", str(tmp_path / "pred.npy")]
    if command == "export-spec":
        return [command, str(path), "-o", str(tmp_path / "out.yaml")]
    if command == "convert":
        return [command, str(path), str(tmp_path / "out.keras")]
    return [command, str(path)]


def _readers(path: Path) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("nf.load", lambda: nf.load(path)),
        ("nf.load(compile=False)", lambda: nf.load(path, compile=False)),
        ("inspect", lambda: nfs.inspect(path)),
        ("load_weights", lambda: nf.load_weights(_model("small", 3, 5), path)),
        ("read_model", lambda: read_model(str(path), "savedmodel")),
        ("read_config", lambda: read_config(str(path), "savedmodel")),
    ]


def _refused_everywhere(path: Path, saved: dict[str, Any], tmp_path: Path, said: list[str], capsys) -> None:
    """Every reader, and every command, refuses ``path`` with a FormatError (exit 5) saying each of ``said``."""
    for name, read in _readers(path):
        with pytest.raises(FormatError) as caught:
            read()
        assert type(caught.value) is FormatError, (name, caught.value)
        assert all(s in str(caught.value) for s in said), (name, str(caught.value))
    for command in COMMANDS:
        capsys.readouterr()
        code = main(_cli_args(command, path, saved, tmp_path))
        err = capsys.readouterr().err
        assert code == 5, (command, err)
        assert all(s in err for s in said), (command, err)
    for out in ("out.dot", "out.yaml", "pred.npy", "out.keras"):
        assert not (tmp_path / out).exists(), out


def test_a_save_without_its_copy_is_refused_by_every_reader(saved: dict[str, Any], tmp_path: Path, capsys) -> None:
    path = _without_copy(saved, tmp_path)
    said = [f"{path}: {MISSING}", "save the model again"]
    _refused_everywhere(path, saved, tmp_path, said, capsys)


def test_another_saves_graph_without_the_copy_is_refused_and_named(
    saved: dict[str, Any], tmp_path: Path, capsys
) -> None:
    """The tester's folder: graph and variables of another save, the copy deleted, netform.json untouched."""
    path = _without_copy(saved, tmp_path, swap=True)
    said = [f"{path}: {MISSING}", "saved_model.pb differs from the one the save wrote too", "save the model again"]
    _refused_everywhere(path, saved, tmp_path, said, capsys)


@pytest.mark.parametrize("keep", ["netform_version", "sha256", "sha256_netform"])
def test_any_record_only_netform_writes_claims_the_copy(saved: dict[str, Any], tmp_path: Path, keep: str) -> None:
    """A record of an older version (no digests) or one with keys deleted still says netform saved the folder."""
    path = _without_copy(saved, tmp_path)
    meta_path = path / "assets.extra" / "netform.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({keep: meta[keep]}))
    with pytest.raises(FormatError, match="netform.keras is missing"):
        nf.load(path)
    with pytest.raises(FormatError, match="netform.keras is missing"):
        nfs.inspect(path)


def test_a_folder_where_the_copy_should_be_is_refused(saved: dict[str, Any], tmp_path: Path) -> None:
    path = _without_copy(saved, tmp_path)
    (path / "assets.extra" / "netform.keras").mkdir()
    with pytest.raises(FormatError, match="netform.keras is missing \\(or not a file\\)"):
        nf.load(path)


def test_safe_mode_false_reads_the_graph_as_before(saved: dict[str, Any], tmp_path: Path) -> None:
    """As for the digests: a caller who trusts the folder may still run its graph, inference-only."""
    path = _without_copy(saved, tmp_path)
    with pytest.warns(UserWarning, match="inference-only"):
        model = nf.load(path, safe_mode=False)
    np.testing.assert_allclose(model.predict(saved["x"]), saved["base"].predict(saved["x"], verbose=0), rtol=1e-5)
    assert nfs.inspect(path, safe_mode=False)["inference_only"] is True


@pytest.mark.parametrize("note", [None, '{"my": "own notes"}', "not json", "[1, 2]"])
def test_a_foreign_savedmodel_still_loads_inference_only(saved: dict[str, Any], tmp_path: Path, note: Any) -> None:
    """Keras's own export (no assets.extra), also with a user's netform.json that is no record of netform's."""
    path = _copy(saved, tmp_path, "foreign")
    if note is not None:
        (path / "assets.extra").mkdir()
        (path / "assets.extra" / "netform.json").write_text(note)
    with pytest.warns(UserWarning, match="inference-only"):
        model = nf.load(path)
    np.testing.assert_allclose(model.predict(saved["x"]), saved["base"].predict(saved["x"], verbose=0), rtol=1e-5)
    assert nfs.inspect(path)["inference_only"] is True


def test_an_untouched_save_is_read_by_every_reader(saved: dict[str, Any], tmp_path: Path, capsys) -> None:
    path = _copy(saved, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        np.testing.assert_allclose(
            nf.load(path).predict(saved["x"], verbose=0), saved["base"].predict(saved["x"], verbose=0), rtol=1e-6
        )
    for name, read in _readers(path):
        read()
    for command in COMMANDS:
        capsys.readouterr()
        assert main(_cli_args(command, path, saved, tmp_path)) == 0, (command, capsys.readouterr().err)


# --- 2. a user's file under netform's names in assets.extra is not replaced -------------------------------------


def _user_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "my notes")


USER_FILES = {
    "text as the copy": ("netform.keras", lambda p: p.write_text("MY THESIS NOTES - not a model\n")),
    "a zip of notes as the copy": ("netform.keras", _user_zip),
    "an empty copy": ("netform.keras", lambda p: p.write_bytes(b"")),
    "notes as netform.json": ("netform.json", lambda p: p.write_text('{"my": "own notes"}')),
    "netform's keys and a note": (
        "netform.json",
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "note": "mine"})),
    ),
    "text as netform.json": ("netform.json", lambda p: p.write_text("my notes")),
    "an empty object": ("netform.json", lambda p: p.write_text("{}")),
}


@pytest.mark.parametrize("case", sorted(USER_FILES))
def test_a_users_file_under_netforms_names_is_not_replaced(saved: dict[str, Any], tmp_path: Path, case: str) -> None:
    """The tester's sm_user_file_lost.py: the save is refused, naming the file, which stays as it was."""
    name, write = USER_FILES[case]
    path = _copy(saved, tmp_path)
    target = path / "assets.extra" / name
    write(target)
    before = target.read_bytes()
    with pytest.raises(SaveError, match=f"assets.extra/{name} \\(") as caught:
        nf.save(saved["other"], path)
    assert "netform never deletes files it did not write" in str(caught.value)
    assert target.read_bytes() == before
    with pytest.raises(SaveError, match=f"assets.extra/{name}"):
        nf.save(saved["other"], path, format="savedmodel")


def test_netforms_own_files_are_still_replaced(saved: dict[str, Any], tmp_path: Path) -> None:
    """A save over a SavedModel netform wrote, as written, with a record of an older version, or another copy."""
    path = _copy(saved, tmp_path)
    nf.save(saved["other"], path)
    assert nfs.inspect(path)["model_name"] == "other"
    meta_path = path / "assets.extra" / "netform.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k not in ("sha256", "sha256_netform")}))
    shutil.copyfile(saved["dir"] / "m.keras", path / "assets.extra" / "netform.keras")  # a netform .keras
    nf.save(saved["base"], path)
    assert nfs.inspect(path)["model_name"] == "small"


@pytest.mark.parametrize("field, value", [("model_class", "os.system"), ("model_name", "another")])
def test_a_record_naming_another_model_is_refused_by_load_as_by_inspect(
    saved: dict[str, Any], tmp_path: Path, field: str, value: str
) -> None:
    """``netform.json`` naming the class ``os.system`` (or another model name) beside a Sequential copy: inspect
    refused it, ``load`` loaded the copy; both refuse it now."""
    path = _copy(saved, tmp_path)
    record = path / "assets.extra" / "netform.json"
    meta = json.loads(record.read_text())
    meta[field] = value
    record.write_text(json.dumps(meta))
    with pytest.raises(FormatError, match=f"names the model {'class ' if field == 'model_class' else ''}'{value}'"):
        nf.load(path)
    with pytest.raises(FormatError, match=f"'{value}'"):
        nf.inspect(path)
