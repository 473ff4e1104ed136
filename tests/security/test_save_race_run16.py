"""A file put into a folder while a save replaces it is never deleted with the old copy.

A directory save (a SavedModel, Keras's unzipped form) checks what the folder holds before it writes,
and replaces the folder when the new copy is written. A file put into the folder in between (a user's,
another program's) used to be deleted with the old copy, the save reporting success. Each case plants the
file while the save writes (deterministically, from inside the writer) and checks that the save is
refused with a SaveError naming it, the folder is as it was (the old save and the new file), and nothing
of the attempt is left beside it. A save that meets nothing new still replaces the folder.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import netform as nf
from netform.errors import SaveError
from netform.saving import _keras_zip, _savedmodel

pytestmark = pytest.mark.tf

SPEC = "netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n  - {type: Dense, units: 2}\n"
NOTE = "irreplaceable text: my thesis notes"


@pytest.fixture(scope="module")
def model() -> Any:
    return nf.build(nf.load_spec(SPEC))


def _tree(path: str) -> dict[str, bytes]:
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = fh.read()
    return out


CASES = [
    ("savedmodel", _savedmodel, "_export", {"format": "savedmodel"}),
    ("keras_dir", _keras_zip, "write_keras_dir", {"format": "keras", "zipped": False}),
]


@pytest.mark.parametrize("kind,module,writer,options", CASES, ids=[c[0] for c in CASES])
def test_a_file_put_into_the_folder_during_the_save_is_kept(
    model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kind: str, module: Any, writer: str, options: Any
) -> None:
    target = str(tmp_path / "results")
    nf.save(model, target, **options)
    before = _tree(target)
    original = getattr(module, writer)

    def planting(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        with open(os.path.join(target, "thesis.tex"), "w") as fh:  # after the save's own check
            fh.write(NOTE)
        return result

    monkeypatch.setattr(module, writer, planting)
    with pytest.raises(SaveError, match=r"changed while the save was written.*thesis\.tex"):
        nf.save(model, target, **options)
    after = _tree(target)
    assert after.pop("thesis.tex") == NOTE.encode()
    assert after == before  # the earlier save, as it was
    assert sorted(os.listdir(tmp_path)) == ["results"]  # no temporary copy, no parked folder, no note left

    monkeypatch.setattr(module, writer, original)
    os.remove(os.path.join(target, "thesis.tex"))
    nf.save(model, target, **options)  # nothing new in the folder: replaced as before
    assert sorted(os.listdir(tmp_path)) == ["results"]
    assert sorted(_tree(target)) == sorted(before)


@pytest.mark.parametrize("kind,module,writer,options", CASES, ids=[c[0] for c in CASES])
def test_a_file_put_deeper_in_the_folder_during_the_save_is_kept(
    model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kind: str, module: Any, writer: str, options: Any
) -> None:
    target = str(tmp_path / "results")
    nf.save(model, target, **options)
    sub = "variables" if kind == "savedmodel" else "assets"
    os.makedirs(os.path.join(target, sub), exist_ok=True)
    original = getattr(module, writer)

    def planting(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        with open(os.path.join(target, sub, "notes.txt"), "w") as fh:
            fh.write(NOTE)
        return result

    monkeypatch.setattr(module, writer, planting)
    with pytest.raises(SaveError, match=r"changed while the save was written.*notes\.txt"):
        nf.save(model, target, **options)
    with open(os.path.join(target, sub, "notes.txt")) as fh:
        assert fh.read() == NOTE
    assert sorted(os.listdir(tmp_path)) == ["results"]


@pytest.mark.parametrize("kind,module,writer,options", CASES, ids=[c[0] for c in CASES])
def test_a_file_written_into_the_parked_folder_by_its_handle_is_kept(
    model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kind: str, module: Any, writer: str, options: Any
) -> None:
    """A program holding the folder open (its working directory, a directory descriptor) writes into the old
    copy after the check: only what the check saw is deleted; the old folder stays with the new file, named."""
    import glob

    from netform import _files

    target = str(tmp_path / "results")
    nf.save(model, target, **options)
    original = _files.fsync_dir
    planted: list[str] = []

    def planting(directory: str) -> None:  # called between the swap and the removal of the old copy
        for parked in glob.glob(target + ".nf-old-*"):
            if os.path.isdir(parked) and not planted:
                with open(os.path.join(parked, "late.txt"), "w") as fh:
                    fh.write(NOTE)
                planted.append(parked)
        original(directory)

    monkeypatch.setattr(_files, "fsync_dir", planting)
    with pytest.warns(UserWarning, match=r"'late\.txt'.*kept with them as"):
        nf.save(model, target, **options)
    assert planted
    with open(os.path.join(planted[0], "late.txt")) as fh:
        assert fh.read() == NOTE
    assert os.listdir(planted[0]) == ["late.txt"]  # the old save's own files went


@pytest.mark.parametrize("kind,module,writer,options", CASES, ids=[c[0] for c in CASES])
def test_a_file_written_into_the_parked_folder_just_after_its_check_is_kept(
    model: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kind: str, module: Any, writer: str, options: Any
) -> None:
    """The file lands after the parked folder's check passed and before the old copy is deleted (a program
    writing by a directory descriptor it holds): the check never saw it, so it is kept, and named."""
    from netform.saving import _target

    target = str(tmp_path / "results")
    nf.save(model, target, **options)
    original = _target.check_parked
    planted: list[str] = []

    def check_then_plant(parked: str, *args: Any, **kwargs: Any) -> None:
        original(parked, *args, **kwargs)
        with open(os.path.join(parked, "just-after.txt"), "w") as fh:
            fh.write(NOTE)
        planted.append(parked)

    monkeypatch.setattr(_target, "check_parked", check_then_plant)
    with pytest.warns(UserWarning, match=r"'just-after\.txt'.*kept with them as"):
        nf.save(model, target, **options)
    assert planted
    with open(os.path.join(planted[0], "just-after.txt")) as fh:
        assert fh.read() == NOTE
    assert os.listdir(planted[0]) == ["just-after.txt"]  # the old save's own files went
    assert nf.load(target) is not None  # the new save is in place
