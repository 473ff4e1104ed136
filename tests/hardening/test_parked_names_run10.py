"""Crash recovery and clean-up touch only what netform provably parked, never what merely has its names.

A folder swap parks the old copy under ``NAME.nf-old-<16 hex digits>`` with a
note beside it; only such a folder, with that note and holding a save of a
directory format, is put back at ``NAME``. A user's folder or file named
``NAME.nf-old`` or ``NAME.nf-old-<hex>`` is never renamed nor deleted, by a
save or by a command that only reads (``inspect``, ``load``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform import _files
from netform.cli._main import main
from netform.errors import FormatError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEX = "0123456789abcdef"
THESIS = "\\chapter{Years of work}"


@pytest.fixture(scope="module")
def model():
    import keras

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")
    m.compile(optimizer="adam", loss="mse")
    return m


def _thesis_dir(path):
    path.mkdir()
    (path / "thesis.tex").write_text(THESIS)
    return path


def _tree(directory):
    """Every path under ``directory`` with a file's bytes (a folder's as None)."""
    out = {}
    for root, dirs, files in os.walk(directory):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), directory)] = None
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, directory)] = open(p, "rb").read()
    return out


# F4: a save deleted a user's folder NAME.nf-old-<16 hex> (by name alone).
@pytest.mark.parametrize("fmt", ["savedmodel", "keras_dir"])
def test_a_users_folder_with_a_parking_name_survives_a_first_save(tmp_path, model, fmt) -> None:
    for suffix in (HEX, "1", "backup"):
        _thesis_dir(tmp_path / f"results.nf-old-{suffix}")
    before = _tree(tmp_path)
    if fmt == "savedmodel":
        nfs.save(model, tmp_path / "results", format="savedmodel")
    else:
        nfs.save(model, tmp_path / "results", format="keras", zipped=False)
    after = _tree(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("results" + os.sep) and k != "results"} == before
    assert nfs.detect_format(tmp_path / "results") == ("savedmodel" if fmt == "savedmodel" else "keras")


# F2: saving a SavedModel to NAME (absent) deleted an existing SavedModel at NAME.nf-old.
def test_a_savedmodel_kept_at_nf_old_is_not_consumed_by_a_save_beside_it(tmp_path, model) -> None:
    nfs.save(model, tmp_path / "keep_me.nf-old", format="savedmodel")
    before = _tree(tmp_path / "keep_me.nf-old")
    nfs.save(model, tmp_path / "keep_me", format="savedmodel")
    assert _tree(tmp_path / "keep_me.nf-old") == before
    assert nfs.detect_format(tmp_path / "keep_me") == "savedmodel"


@pytest.mark.parametrize("name", ["sm.nf-old", f"sm.nf-old-{HEX}"])
def test_a_users_nf_old_folder_neither_blocks_nor_joins_a_save(tmp_path, model, name) -> None:
    _thesis_dir(tmp_path / name)
    nfs.save(model, tmp_path / "sm", format="savedmodel")
    nfs.save(model, tmp_path / "sm", format="savedmodel")  # over an earlier save too
    assert (tmp_path / name / "thesis.tex").read_text() == THESIS
    assert sorted(os.listdir(tmp_path)) == sorted(["sm", name])


# F1: a user's folder PREFIX.nf-old was renamed to PREFIX by a checkpoint save.
def test_a_checkpoint_save_leaves_a_users_nf_old_folder(tmp_path, model) -> None:
    _thesis_dir(tmp_path / "ck.nf-old")
    nfs.save_weights(model, tmp_path / "ck", format="tf_checkpoint")
    assert (tmp_path / "ck.nf-old" / "thesis.tex").read_text() == THESIS
    assert not (tmp_path / "ck").is_dir()


# F1: read-only commands renamed a user's folder NAME.nf-old to NAME.
@pytest.mark.parametrize("name", ["results.nf-old", f"results.nf-old-{HEX}"])
def test_inspect_and_load_move_nothing(tmp_path, model, name, capsys) -> None:
    _thesis_dir(tmp_path / name)
    before = _tree(tmp_path)
    assert main(["inspect", str(tmp_path / "results")]) == 5
    with pytest.raises(FormatError, match="no such file"):
        nfs.load(tmp_path / "results")
    assert _tree(tmp_path) == before


# F10: a file or a link NAME.nf-old next to a missing NAME: RecursionError (exit 70).
def test_a_file_or_link_with_a_parking_name_is_a_missing_path(tmp_path, capsys) -> None:
    (tmp_path / "notes.nf-old").write_text("my notes")
    (tmp_path / "outside").mkdir()
    (tmp_path / "lk.nf-old").symlink_to(tmp_path / "outside")
    before = _tree(tmp_path)
    for name in ("notes", "lk"):
        assert main(["inspect", str(tmp_path / name)]) == 5
        with pytest.raises(FormatError, match="no such file"):
            nfs.load(tmp_path / name)
        with pytest.raises(FormatError, match="no such file"):
            nfs.detect_format(tmp_path / name)
    assert _tree(tmp_path) == before


# F1: inside a backup folder, a user's state.nf-old-<hex> was renamed to state.
def test_a_users_folder_in_a_backup_folder_is_not_taken_for_a_parked_backup(tmp_path) -> None:
    spec = tmp_path / "tr.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            netform: 1
            name: tr
            kind: sequential
            inputs: {x: {shape: [4]}}
            layers:
              - {type: Dense, units: 3, activation: softmax}
            """
        )
    )
    m = nf.build(nf.load_spec(spec))
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    bk = tmp_path / "bk"
    bk.mkdir()
    _thesis_dir(bk / f"state.nf-old-{HEX}")
    x = np.zeros((32, 4), "float32")
    y = np.zeros((32,), "int64")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[nf.TrainingBackup(str(bk), save_every_steps=1)])
    assert (bk / f"state.nf-old-{HEX}" / "thesis.tex").read_text() == THESIS
    assert not (bk / "state").exists()


def test_a_parked_training_backup_is_resumed_from(tmp_path) -> None:
    spec = tmp_path / "tr.yaml"
    spec.write_text(
        "netform: 1\nname: tr\nkind: sequential\ninputs: {x: {shape: [4]}}\n"
        "layers:\n  - {type: Dense, units: 3, activation: softmax}\n"
    )
    x = np.zeros((32, 4), "float32")
    y = np.zeros((32,), "int64")
    bk = tmp_path / "bk"

    class Stop(Exception):
        pass

    import keras

    class StopAfterEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Stop

    m = nf.build(nf.load_spec(spec))
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    backup = nf.TrainingBackup(str(bk), save_every_steps=1)
    with pytest.raises(Stop):
        m.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[backup, StopAfterEpoch()])
    assert (bk / "state").is_dir()
    _files._park(str(bk / "state"))  # killed between the two renames of a backup write
    seen = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    m2 = nf.build(nf.load_spec(spec))
    m2.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m2.fit(
        x, y, epochs=3, batch_size=16, verbose=0, callbacks=[nf.TrainingBackup(str(bk), save_every_steps=1), Epochs()]
    )
    assert seen and seen[0] >= 1  # resumed from the parked backup, not from the start


# What recovery is for: a swap killed between its two renames, put back by load and by save.
def _killed_swap(target) -> str:
    """Park ``target`` as a swap does, and stop there (as if the process was killed)."""
    return _files._park(str(target))


def test_a_parked_save_is_put_back_by_load(tmp_path, model) -> None:
    nfs.save(model, tmp_path / "sm", format="savedmodel")
    parked = _killed_swap(tmp_path / "sm")
    assert not (tmp_path / "sm").exists()
    assert nfs.detect_format(tmp_path / "sm") == "savedmodel"
    assert main(["inspect", str(tmp_path / "sm")]) == 0
    assert sorted(os.listdir(tmp_path)) == ["sm"]
    assert not os.path.exists(parked)


@pytest.mark.parametrize("fmt", ["savedmodel", "keras_dir"])
def test_a_parked_save_is_replaced_by_the_next_save(tmp_path, model, fmt) -> None:
    def save():
        if fmt == "savedmodel":
            nfs.save(model, tmp_path / "m", format="savedmodel")
        else:
            nfs.save(model, tmp_path / "m", format="keras", zipped=False)

    save()
    _killed_swap(tmp_path / "m")
    save()
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_a_parked_folder_a_user_put_files_into_is_left_alone(tmp_path, model) -> None:
    nfs.save(model, tmp_path / "sm", format="savedmodel")
    parked = _killed_swap(tmp_path / "sm")
    with open(os.path.join(parked, "thesis.tex"), "w") as fh:
        fh.write(THESIS)
    before = _tree(tmp_path)
    with pytest.raises(FormatError, match="no such file"):
        nfs.load(tmp_path / "sm")
    nfs.save(model, tmp_path / "sm", format="savedmodel")
    after = _tree(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("sm" + os.sep) and k != "sm"} == before


def test_a_parking_name_with_a_note_that_is_not_netforms_is_left_alone(tmp_path, model) -> None:
    nfs.save(model, tmp_path / "sm", format="savedmodel")
    parked = _killed_swap(tmp_path / "sm")
    with open(parked + _files.PARKED_NOTE, "w") as fh:
        fh.write("my note")
    with pytest.raises(FormatError, match="no such file"):
        nfs.load(tmp_path / "sm")
    assert os.path.isdir(parked)


def test_a_swap_whose_second_rename_fails_puts_the_old_copy_back(tmp_path, model, monkeypatch) -> None:
    nfs.save(model, tmp_path / "sm", format="savedmodel")
    before = _tree(tmp_path / "sm")
    real = os.replace
    calls = []

    def failing(src, dst, *a, **k):
        calls.append(dst)
        if len(calls) == 2:  # the new copy into place
            raise OSError(28, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(_files.os, "replace", failing)
    with pytest.raises(Exception, match="No space left"):
        nfs.save(model, tmp_path / "sm", format="savedmodel")
    monkeypatch.undo()
    assert _tree(tmp_path / "sm") == before
    assert sorted(os.listdir(tmp_path)) == ["sm"]


# F3: a checkpoint save deleted user files named PREFIX.nf-set-<hex>.index / .data-* (by name alone).
def test_a_checkpoint_save_keeps_user_files_with_a_set_name(tmp_path, model) -> None:
    (tmp_path / "ck.nf-set-0000.index").write_text("my notes, not a checkpoint")
    (tmp_path / "ck.nf-set-0000.data-00000-of-00001").write_text("my data")
    for _ in range(3):  # netform keeps its two newest sets and drops older ones
        nfs.save_weights(model, tmp_path / "ck", format="tf_checkpoint")
    assert (tmp_path / "ck.nf-set-0000.index").read_text() == "my notes, not a checkpoint"
    assert (tmp_path / "ck.nf-set-0000.data-00000-of-00001").read_text() == "my data"


# F9: a failed .keras or SavedModel save (file size limit) left an empty tmpXXXX/assets/ folder per try.
def test_a_failed_save_leaves_no_temporary_folder(tmp_path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    script = textwrap.dedent(
        f"""
        import os, resource
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import keras
        import netform.saving as nfs
        from netform.errors import SaveError
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(128), keras.layers.Dense(128), keras.layers.Dense(3)])
        for fmt, name in (("keras", "m.keras"), ("savedmodel", "m_sm")):
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
            try:
                nfs.save(m, os.path.join({str(tmp_path)!r}, name), format=fmt)
                print(fmt, "saved")
            except SaveError:
                print(fmt, "SaveError")
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        """
    )
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert "keras SaveError" in out.stdout and "savedmodel SaveError" in out.stdout, out.stdout + out.stderr
    assert os.listdir(tmpdir) == []
