"""Atomic writes: a failed or killed save leaves the previous file intact and loadable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import netform.saving as nfs
from netform.errors import SaveError
from netform.saving import _atomic

from .conftest import predict

FILES = {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_savedmodel", "weights_h5": "w.weights.h5",
         "tf_checkpoint": "w.ckpt"}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with nfs.atomic_path(target) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]
    with nfs.atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith("f.txt")
        with open(tmp, "w") as fh:
            fh.write("new")
    assert target.read_text() == "new"


def test_directory_swap_recovers_backup(tmp_path):
    from netform import _files

    target = tmp_path / "d"
    target.mkdir()
    (target / "x").write_text("old")
    _files._park(str(target))  # as if killed between the two renames
    assert _files.recover(target)
    assert (target / "x").read_text() == "old"
    assert os.listdir(tmp_path) == ["d"]


def test_a_folder_with_only_the_parking_name_is_not_recovered(tmp_path):
    target = tmp_path / "d"
    (tmp_path / "d.nf-old").mkdir()
    (tmp_path / "d.nf-old" / "x").write_text("mine")
    assert not _atomic.recover(target)
    assert os.listdir(tmp_path) == ["d.nf-old"]


@pytest.mark.parametrize("fmt", list(FILES))
def test_exception_during_save_keeps_old_file(tmp_path, monkeypatch, cases, trained, fmt):
    path = str(tmp_path / FILES[fmt])
    old, new = trained["mlp"], cases["mlp"].fresh()
    save = nfs.save if fmt in ("keras", "h5", "savedmodel") else nfs.save_weights
    save(old, path, format=fmt)
    before = sorted(os.listdir(tmp_path))

    import h5py
    import tensorflow as tf

    def fail(*args, **kwargs):
        raise OSError("disk full (injected)")

    if fmt == "keras":
        from keras.src.saving import saving_lib
        monkeypatch.setattr(saving_lib, "_save_state", fail)
    elif fmt == "h5":
        from keras.src.legacy.saving import legacy_h5_format
        monkeypatch.setattr(legacy_h5_format, "save_weights_to_hdf5_group", fail)
    elif fmt == "savedmodel":
        import keras

        monkeypatch.setattr(keras.Model, "export", fail)  # netform's SavedModel save exports with Keras's method
    elif fmt == "weights_h5":
        monkeypatch.setattr(h5py.Group, "create_dataset", fail)
    else:
        monkeypatch.setattr(tf.train.Checkpoint, "write", fail)
    with pytest.raises(SaveError, match=r"disk full \(injected\).*left intact"):
        save(new, path, format=fmt)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before
    if fmt in ("keras", "h5", "savedmodel"):
        loaded = nfs.load(path)
    else:
        loaded = cases["mlp"].fresh()
        nfs.load_weights(loaded, path)
    np.testing.assert_allclose(predict(loaded, cases["mlp"].x)[0], predict(old, cases["mlp"].x)[0], atol=1e-6)


CHILD = textwrap.dedent("""
    import os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import netform.saving as nfs
    from keras.src.saving import saving_lib
    from keras.src.legacy.saving import legacy_h5_format
    target, signal_file, fmt = sys.argv[1:4]

    def slow(*args, **kwargs):
        fh = args[1] if len(args) > 1 else None
        if hasattr(fh, "write"):
            fh.write(b"PK\\x03\\x04 half-written archive")
            fh.flush()
        with open(signal_file, "w") as s:
            s.write("mid-write")
        time.sleep(120)

    saving_lib._save_state = slow  # the .keras writer's weights step: its archive is half-written by then
    legacy_h5_format.save_weights_to_hdf5_group = slow
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    nfs.save(model, target, format=fmt)
""")


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_sigkill_mid_write_keeps_old_file(tmp_path, cases, trained, fmt):
    path = str(tmp_path / FILES[fmt])
    nfs.save(trained["mlp"], path)
    signal_file = tmp_path / "mid_write"
    env = {**os.environ, "PYTHONPATH": ROOT}
    child = subprocess.Popen([sys.executable, "-c", CHILD, path, str(signal_file), fmt], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not signal_file.exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "child never reached the write"
            time.sleep(0.05)
        if fmt == "keras":  # HDF5 is built in memory and reaches the disk in one write at the end
            assert any(".nf-tmp-" in n for n in os.listdir(tmp_path)), "child was not writing beside the target"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    loaded = nfs.load(path)
    np.testing.assert_allclose(predict(loaded, cases["mlp"].x)[0],
                               predict(trained["mlp"], cases["mlp"].x)[0], atol=1e-6)
