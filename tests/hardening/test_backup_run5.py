"""A training backup folder holding something netform did not write: nothing of the user's is lost, nothing
outside the folder is read, a damaged state.json is a FormatError naming the field, nothing hangs."""

from __future__ import annotations

import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import shutil
import signal
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from netform.engine._backup import _write_variables
from netform.engine._backup_lock import CREATED_NAME, LOCK_NAME, remove_own_state
from netform.errors import FormatError, SaveError

from ._backup_helpers import fit, interrupted_backup, tiny_model


def _callbacks() -> list[keras.callbacks.Callback]:
    return [keras.callbacks.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)]


def _fit(model: keras.Model, backup: Path, extra: list[keras.callbacks.Callback] | None = None) -> None:
    fit(model, backup, _callbacks() + list(extra or []))


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup folder netform created (its marker inside) left by a training interrupted in epoch 1."""
    backup = interrupted_backup(tmp_path_factory.mktemp("orig"), tiny_model(), _callbacks())
    assert sorted(os.listdir(backup / "state")) == ["state.json", "variables.npz"]
    assert (backup / CREATED_NAME).is_file()
    return backup


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return tiny_model()


@pytest.fixture
def bk(tmp_path: Path, interrupted: Path) -> Path:
    backup = tmp_path / "bk"
    shutil.copytree(interrupted, backup)
    return backup


# --------------------------------------------------------------- F4a: a user's file inside state/
def test_a_user_file_in_the_state_folder_is_refused_at_start_and_kept(bk: Path, model: keras.Model) -> None:
    (bk / "state" / "mine.txt").write_text("USER")
    (bk / "notes.txt").write_text("NOTES")
    with pytest.raises(FormatError, match=r"mine\.txt.*not netform's") as err:
        _fit(model, bk)
    assert str(bk / "state") in str(err.value)
    assert (bk / "state" / "mine.txt").read_text() == "USER"
    assert (bk / "notes.txt").read_text() == "NOTES"
    assert sorted(os.listdir(bk / "state")) == ["mine.txt", "state.json", "variables.npz"]
    assert not (bk / LOCK_NAME).exists()
    # Once the user's file is moved away the training resumes and finishes; the folder is netform's again.
    (bk / "state" / "mine.txt").unlink()
    (bk / "notes.txt").unlink()
    _fit(model, bk)
    assert not bk.exists()


def test_a_user_file_put_in_the_state_folder_during_training_is_kept(bk: Path, model: keras.Model) -> None:
    class Drop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 0:  # after the resume, before the epoch's backup replaces the state folder
                (bk / "state" / "mine.txt").write_text("USER")

    with pytest.raises(SaveError, match=r"mine\.txt"):
        _fit(model, bk, [Drop()])
    assert (bk / "state" / "mine.txt").read_text() == "USER"
    assert json.loads((bk / "state" / "state.json").read_text())["epoch"] == 1  # the previous backup stays
    assert not (bk / LOCK_NAME).exists()


def test_clean_up_removes_netforms_files_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    # (what a backup writes under its names: a user's text under them is kept, see
    # tests/hardening/test_backup_temporaries_content.py)
    (state / "state.json").write_text('{"format": "netform-training-backup", "version": 1}')
    np.savez(state / "variables.npz", a=np.zeros(2))
    (state / "mine.txt").write_text("mine.txt")
    parked = tmp_path / "state.nf-old"
    parked.mkdir()
    (parked / "state.json").write_text('{"format": "netform-training-backup"}')
    (parked / "keep.txt").write_text("keep")
    remove_own_state(tmp_path, state)
    assert sorted(os.listdir(state)) == ["mine.txt"]
    assert sorted(os.listdir(parked)) == ["keep.txt"]
    (state / "mine.txt").unlink()
    (parked / "keep.txt").unlink()
    remove_own_state(tmp_path, state)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------- F4b: a damaged state.json
def _meta(bk: Path) -> dict[str, Any]:
    return json.loads((bk / "state" / "state.json").read_text())


@pytest.mark.parametrize("text", ["null", "[]", '"x"', "3", "{", "[" * 100_000, '{"format": 1e999999}'])
def test_a_state_json_that_is_not_an_object_is_a_format_error(bk: Path, model: keras.Model, text: str) -> None:
    (bk / "state" / "state.json").write_text(text)
    with pytest.raises(FormatError, match=r"state\.json.*remove .*state"):
        _fit(model, bk)
    assert not (bk / LOCK_NAME).exists()


BAD = [None, [], "x", {}, 10**30, -1, 1.5, True]


def _set(meta: dict[str, Any], field: str, value: Any) -> None:
    where: Any = meta
    *parents, last = field.split(".")
    for key in parents:
        where = where[int(key)] if isinstance(where, list) else where[key]
    where[int(last) if isinstance(where, list) else last] = value


def _display(field: str) -> str:
    """How an error names a field: ``callbacks.0.wait`` is ``callbacks[0].wait``."""
    return re.sub(r"\.(\d+)", r"[\1]", field)


def _fields(meta: dict[str, Any]) -> list[str]:
    fields = [k for k in meta if k != "counts" and k != "callbacks"]
    fields += ["counts", *(f"counts.{k}" for k in meta["counts"]), "callbacks", "callbacks.0"]
    fields += [f"callbacks.0.{k}" for k in meta["callbacks"][0]]
    return fields


# Values a field may hold (everything else in BAD must be refused).
_VALID: dict[str, list[Any]] = {
    "epoch_lr": [None, 10**30, 1.5],
    "callbacks": [[]],
    "callbacks.0.best": [None, 10**30, -1, 1.5],
    "callbacks.0.min_delta": [10**30, -1, 1.5],
    "callbacks.0.direction": [None],
    "callbacks.0.class": ["x"],  # another class there: that callback starts afresh, with a warning
}


def test_every_field_of_state_json_is_type_checked(bk: Path, interrupted: Path, model: keras.Model) -> None:
    original = _meta(interrupted)
    fields = _fields(original)
    assert {"format", "version", "epoch", "step", "seed", "counts.model", "callbacks.0.index",
            "callbacks.0.class", "callbacks.0.wait", "callbacks.0.best_weights", "callbacks.0.direction"} <= set(fields)
    refused = 0
    for field in fields:
        for value in BAD:
            shutil.rmtree(bk, ignore_errors=True)  # a resumed training that finished removed it
            shutil.copytree(interrupted, bk)
            meta = json.loads(json.dumps(original))
            _set(meta, field, value)
            (bk / "state" / "state.json").write_text(json.dumps(meta))
            if any(value == v and type(value) is type(v) for v in _VALID.get(field, [])):
                _fit(model, bk)  # a value the field may hold: the training resumes
                continue
            try:
                _fit(model, bk)
            except FormatError as err:
                message = str(err)
            else:
                pytest.fail(f"state.json with {_display(field)} = {value!r} was accepted")
            # The field, or (an empty object in its place) the first of its fields.
            named = re.search(rf"state\.json: field `{re.escape(_display(field))}([.\[][^`]*)?` is ", message)
            assert named, (field, value, message)
            assert "remove" in message and str(bk / "state") in message, message
            assert not (bk / LOCK_NAME).exists()
            refused += 1
    assert refused == len(fields) * len(BAD) - sum(len(v) for v in _VALID.values())


def test_missing_fields_and_arrays_are_format_errors(bk: Path, interrupted: Path, model: keras.Model) -> None:
    for field in ("epoch", "step", "seed", "counts", "counts.optimizer", "callbacks.0.index", "callbacks.0.class"):
        shutil.rmtree(bk)
        shutil.copytree(interrupted, bk)
        meta = _meta(bk)
        *parents, last = field.split(".")
        where: Any = meta
        for key in parents:
            where = where[int(key)] if isinstance(where, list) else where[key]
        del where[last]
        (bk / "state" / "state.json").write_text(json.dumps(meta))
        with pytest.raises(FormatError, match=rf"state\.json: field `{re.escape(_display(field))}` is missing"):
            _fit(model, bk)
    # An array named in state.json missing from variables.npz, or not numbers.
    for change in ("drop", "text"):
        shutil.rmtree(bk)
        shutil.copytree(interrupted, bk)
        with np.load(bk / "state" / "variables.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        if change == "drop":
            del arrays["callback0_0"]
        else:
            arrays["model_0"] = np.full(arrays["model_0"].shape, "a")
        np.savez(bk / "state" / "variables.npz", **arrays)
        with pytest.raises(FormatError, match=r"variables\.npz.*(callback0_0|model_0)"):
            _fit(model, bk)
        assert not (bk / LOCK_NAME).exists()


# ------------------------------------------------------------ F4c, F4d: a FIFO or a link in state/
def _alarm(seconds: int) -> Any:
    def fail(*_: Any) -> None:
        raise TimeoutError("fit blocked")

    return signal.signal(signal.SIGALRM, fail), signal.alarm(seconds)


@pytest.mark.parametrize("name", ["variables.npz", "state.json"])
def test_a_fifo_in_the_state_folder_is_refused_without_waiting(bk: Path, model: keras.Model, name: str) -> None:
    os.remove(bk / "state" / name)
    os.mkfifo(bk / "state" / name)
    old, _ = _alarm(60)
    try:
        with pytest.raises(FormatError, match=rf"{name}.*a FIFO"):
            _fit(model, bk)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert not (bk / LOCK_NAME).exists()
    assert (bk / "state" / name).exists()


@pytest.mark.parametrize("name", ["variables.npz", "state.json"])
def test_a_link_in_the_state_folder_is_never_followed(bk: Path, model: keras.Model, tmp_path: Path,
                                                      name: str) -> None:
    outside = tmp_path / f"outside-{name}"
    shutil.move(bk / "state" / name, outside)  # the genuine file: following the link would resume silently
    (bk / "state" / name).symlink_to(outside)
    with pytest.raises(FormatError, match=rf"{name}.*symbolic link"):
        _fit(model, bk)
    assert outside.exists() and (bk / "state" / name).is_symlink()
    assert not (bk / LOCK_NAME).exists()


def test_a_backup_file_is_never_written_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    (tmp_path / "variables.npz").symlink_to(target)
    with pytest.raises(OSError):
        _write_variables(str(tmp_path / "variables.npz"), {"a": np.ones(2)})
    assert target.read_text() == "precious"
