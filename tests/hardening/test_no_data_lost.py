"""No good file is lost by a save: foreign files are refused, links never followed, full disks handled.

Each test reproduces a reported way in which a save destroyed data that was
not a saved model, or left a half-written file or a temporary file behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import netform.saving as nfs
from netform.cli._main import main
from netform.errors import SaveError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = """\
netform: 1
name: tiny
kind: sequential
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, units: 3}
"""


@pytest.fixture(scope="module")
def model():
    import keras

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")
    m.compile(optimizer="adam", loss="mse")
    return m


def _thesis_dir(path):
    path.mkdir()
    (path / "thesis.tex").write_text("\\chapter{Years of work}")
    (path / "data").mkdir()
    (path / "data" / "results.csv").write_text("a,b\n1,2\n")
    return path


def _stray(directory):
    return sorted(n for _, _, files in os.walk(directory) for n in files + [] if ".nf-tmp-" in n)


# 1. Saving onto something that is not a saved model of the same format refuses it.

@pytest.mark.parametrize("fmt", ["savedmodel", "keras", "h5"])
def test_save_refuses_a_directory_of_foreign_files(tmp_path, model, fmt):
    target = _thesis_dir(tmp_path / "results")
    with pytest.raises(SaveError, match=r"results.*thesis\.tex.*(another path|remove)"):
        nfs.save(model, target, format=fmt)
    assert (target / "thesis.tex").read_text() == "\\chapter{Years of work}"
    assert (target / "data" / "results.csv").exists()
    assert sorted(os.listdir(tmp_path)) == ["results"]


def test_save_weights_refuses_a_directory_of_that_name(tmp_path, model):
    target = tmp_path / "x.weights.h5"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(SaveError, match=r"x\.weights\.h5.*directory.*notes\.txt"):
        nfs.save_weights(model, target)
    assert (target / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("name,fmt", [("x.keras", "keras"), ("x.h5", "h5"), ("x.weights.h5", "weights_h5")])
def test_save_refuses_a_text_file_with_a_model_name(tmp_path, model, name, fmt):
    target = tmp_path / name
    target.write_text("my notes, not a model")
    save = nfs.save_weights if fmt == "weights_h5" else nfs.save
    with pytest.raises(SaveError, match=rf"{name}: is a .*text.*not an? .* netform would replace"):
        save(model, target, format=fmt)
    assert target.read_text() == "my notes, not a model"


def test_savedmodel_refuses_a_file_and_an_unknown_entry(tmp_path, model):
    afile = tmp_path / "m_savedmodel"
    afile.write_text("a file")
    with pytest.raises(SaveError, match="is a file"):
        nfs.save(model, afile, format="savedmodel")
    assert afile.read_text() == "a file"
    target = tmp_path / "sm"
    nfs.save(model, target, format="savedmodel")
    (target / ".notes").write_text("hidden but mine")
    with pytest.raises(SaveError, match=r"\.notes"):
        nfs.save(model, target, format="savedmodel")
    assert (target / ".notes").exists()
    (target / "variables" / "mine.txt").write_text("x")
    os.remove(target / ".notes")
    with pytest.raises(SaveError, match=r"variables/mine\.txt"):
        nfs.save(model, target, format="savedmodel")


@pytest.mark.parametrize("place", ["assets/vocab_i_need.txt", "assets/sub/deep.txt", "assets.extra/mine.txt"])
def test_savedmodel_keeps_user_files_in_its_asset_folders(tmp_path, model, place):
    """assets/ holds only the files the graph names, assets.extra/ only netform's own: anything else is the user's."""
    target = tmp_path / "sm"
    nfs.save(model, target, format="savedmodel")
    mine = target / place
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("mine")
    with pytest.raises(SaveError, match=place.replace(".", r"\.")):
        nfs.save(model, target, format="savedmodel")
    assert mine.read_text() == "mine"
    mine.unlink()
    if mine.parent.name == "sub":
        with pytest.raises(SaveError, match=r"assets/sub/"):  # an empty folder of the user's: its name is theirs
            nfs.save(model, target, format="savedmodel")
        mine.parent.rmdir()
    nfs.save(model, target, format="savedmodel")  # without the stranger, an earlier save is replaced


def test_savedmodel_with_assets_its_graph_names_is_replaced(tmp_path):
    """A SavedModel whose graph lists asset files (a lookup table's vocabulary) is still an earlier save."""
    import tensorflow as tf

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\nc\n")

    class Lookup(tf.Module):
        def __init__(self) -> None:
            self.asset = tf.saved_model.Asset(str(vocab))

        @tf.function(input_signature=[])
        def path(self) -> tf.Tensor:
            return self.asset.asset_path

    target = tmp_path / "sm"
    tf.saved_model.save(Lookup(), str(target))
    assert (target / "assets" / "vocab.txt").exists()
    from netform.saving._target import check_target, is_savedmodel_dir

    assert is_savedmodel_dir(str(target))
    check_target(str(target), "savedmodel")  # no error: every asset file is named by the graph


def test_checkpoint_refuses_foreign_files_and_keeps_a_foreign_state_file(tmp_path, model):
    (tmp_path / "w.ckpt.index").write_text("not a table")
    with pytest.raises(SaveError, match=r"w\.ckpt\.index: is a .*text.*not a TF checkpoint index"):
        nfs.save_weights(model, tmp_path / "w.ckpt")
    assert (tmp_path / "w.ckpt.index").read_text() == "not a table"
    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoint").write_text("my notes about checkpoints\n")
    for _ in range(3):
        nfs.save_weights(model, other / "w.ckpt")
    assert (other / "checkpoint").read_text() == "my notes about checkpoints\n"
    fresh = type(model).from_config(model.get_config())
    fresh.build((None, 4))
    nfs.load_weights(fresh, other / "w.ckpt")
    np.testing.assert_allclose(fresh.weights[0].numpy(), model.weights[0].numpy())
    mine = tmp_path / "mine"
    for _ in range(4):
        nfs.save_weights(model, mine / "w.ckpt")
    assert nfs.detect_format(mine) == "tf_checkpoint"
    assert len({n.split(".nf-set-")[1].split(".")[0] for n in os.listdir(mine) if ".nf-set-" in n}) == 2


@pytest.mark.parametrize("name", ["w.ckpt.data-00000-of-00001", "w.ckpt.data-notes.txt"])
def test_checkpoint_never_replaces_a_data_file_without_its_index(tmp_path, model, name):
    """A TF checkpoint data file has no signature: one without its index beside it is someone else's."""
    (tmp_path / name).write_text("my data")
    with pytest.raises(SaveError, match=r"is a 7-byte file starting with text 'my data', with no w\.ckpt\.index"):
        nfs.save_weights(model, tmp_path / "w.ckpt")
    assert (tmp_path / name).read_text() == "my data"
    assert sorted(os.listdir(tmp_path)) == [name]


def test_saved_models_of_the_same_format_are_still_replaced(tmp_path, model):
    for name, fmt in [("m.keras", "keras"), ("m.h5", "h5"), ("m_savedmodel", "savedmodel")]:
        nfs.save(model, tmp_path / name, format=fmt)
        nfs.save(model, tmp_path / name, format=fmt)
        assert nfs.detect_format(tmp_path / name) == fmt
    nfs.save_weights(model, tmp_path / "w.weights.h5")
    nfs.save_weights(model, tmp_path / "w.weights.h5")
    (tmp_path / "empty_savedmodel").mkdir()  # an empty directory holds nothing to lose
    nfs.save(model, tmp_path / "empty_savedmodel", format="savedmodel")
    assert nfs.detect_format(tmp_path / "empty_savedmodel") == "savedmodel"
    assert _stray(tmp_path) == []


def test_a_planted_backup_name_is_never_deleted(tmp_path, model):
    target = tmp_path / "m_savedmodel"
    nfs.save(model, target, format="savedmodel")
    parked = _thesis_dir(tmp_path / "m_savedmodel.nf-old")
    nfs.save(model, target, format="savedmodel")  # neither refused nor touched: it is not at the target
    assert (parked / "thesis.tex").exists()
    assert nfs.detect_format(target) == "savedmodel"


def test_cli_build_and_convert_refuse_foreign_directories(tmp_path, model, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    target = _thesis_dir(tmp_path / "results")
    assert main(["build", str(spec), "-o", str(target), "--format", "savedmodel"]) == 5
    err = capsys.readouterr().err
    assert "thesis.tex" in err and "Traceback" not in err
    src = tmp_path / "a.keras"
    nfs.save(model, src)
    assert main(["convert", str(src), str(target), "--format", "savedmodel"]) == 5
    assert "thesis.tex" in capsys.readouterr().err
    assert (target / "thesis.tex").exists() and (target / "data" / "results.csv").exists()


# 3. Every file the CLI writes goes through one atomic writer that never follows links.

def test_predict_never_follows_a_planted_temporary_name(tmp_path, model, capsys):
    src = tmp_path / "m.keras"
    nfs.save(model, src)
    np.savez(tmp_path / "d.npz", x=np.ones((10, 4), "float32"))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out.npy"
    for planted in (out.with_name("out.npy.tmp"), out.with_name("out.npy.nf-old")):
        planted.symlink_to(victim)
    assert main(["predict", str(src), "--data", str(tmp_path / "d.npz"), "-o", str(out),
                 "--batch-size", "3"]) == 0
    assert victim.read_text() == "precious"
    assert os.readlink(out.with_name("out.npy.tmp")) == str(victim)
    np.testing.assert_allclose(np.load(out), model.predict(np.ones((10, 4), "float32"), verbose=0), atol=1e-6)
    assert _stray(tmp_path) == []


def test_cli_outputs_use_the_atomic_writer(tmp_path, model, monkeypatch):
    from netform import _files

    calls = []
    real = _files.atomic_file

    def spy(target, *a, **k):
        calls.append(os.path.basename(os.fspath(target)))
        return real(target, *a, **k)

    monkeypatch.setattr(_files, "atomic_file", spy)
    src = tmp_path / "m.keras"
    nfs.save(model, src)
    assert main(["schema", "-o", str(tmp_path / "s.json")]) == 0
    assert main(["export-spec", str(src), "-o", str(tmp_path / "s.yaml")]) == 0
    from netform.render._graphviz import write_atomic

    write_atomic(tmp_path / "d.dot", b"digraph {}")
    assert calls[-3:] == ["s.json", "s.yaml", "d.dot"]
    assert (tmp_path / "d.dot").read_bytes() == b"digraph {}"


SCHEMA_CHILD = textwrap.dedent("""
    import resource, sys
    from netform.cli._main import main
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    sys.exit(main(["schema", "-o", sys.argv[1]]))
""")


def test_schema_on_a_full_disk_keeps_the_old_file(tmp_path):
    out = tmp_path / "schema.json"
    out.write_text("old schema")
    proc = subprocess.run([sys.executable, "-c", SCHEMA_CHILD, str(out)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert proc.returncode == 5, proc.stderr
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_text() == "old schema"
    assert os.listdir(tmp_path) == ["schema.json"]


# 4. Out of space: every format fails cleanly, keeps the old target and leaves no temporary file.

FULL_DISK_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import netform.saving as nfs
    from netform.errors import SaveError
    directory, tries = sys.argv[1], int(sys.argv[2])
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    big = keras.Sequential([keras.Input((256,)), keras.layers.Dense(512)])
    targets = {"weights_h5": "w.weights.h5", "h5": "m.h5", "keras": "m.keras",
               "savedmodel": "m_savedmodel", "tf_checkpoint": "c/w.ckpt"}
    for fmt, name in targets.items():
        save = nfs.save_weights if fmt in ("weights_h5", "tf_checkpoint") else nfs.save
        save(small, os.path.join(directory, name), format=fmt)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
    out = {}
    for fmt, name in targets.items():
        save = nfs.save_weights if fmt in ("weights_h5", "tf_checkpoint") else nfs.save
        results = []
        for _ in range(tries):
            try:
                save(big, os.path.join(directory, name), format=fmt)
                results.append("saved")
            except SaveError as err:
                results.append("SaveError" if "left intact" in str(err) else "SaveError:" + str(err))
            except BaseException as err:
                results.append(type(err).__name__ + ": " + str(err)[:200])
        out[fmt] = results
    print(json.dumps(out))
""")


def test_a_full_disk_never_crashes_and_keeps_every_old_file(tmp_path, model):
    proc = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(tmp_path), "4"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": ROOT}, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for fmt, outcomes in results.items():
        assert outcomes == ["SaveError"] * 4, (fmt, outcomes)
    assert _stray(tmp_path) == []
    assert not [n for n in os.listdir(tmp_path) if ".nf-" in n]
    import keras

    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    for name in ("m.h5", "m.keras", "m_savedmodel"):
        assert nfs.load(tmp_path / name).count_params() == 15
    nfs.load_weights(small, tmp_path / "w.weights.h5")
    nfs.load_weights(small, tmp_path / "c" / "w.ckpt")


# 5. A checkpoint saved while it is read: readers always see one complete set.

CKPT_CHILD = textwrap.dedent("""
    import os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, numpy as np
    import netform.saving as nfs
    prefix, ready, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64), keras.layers.Dense(64)])
    saves, k = 0, 0
    end = None
    while end is None or time.time() < end:
        k += 1
        for v in model.weights:
            v.assign(np.full(v.shape, float(k), "float32"))
        nfs.save_weights(model, prefix, format="tf_checkpoint")
        saves += 1
        if end is None:
            open(ready, "w").close()
            end = time.time() + seconds
    print(saves)
""")


@pytest.mark.slow
def test_checkpoint_saved_while_read_is_always_complete(tmp_path):
    import keras

    directory = tmp_path / "ckpt"
    prefix = directory / "w.ckpt"
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", CKPT_CHILD, str(prefix), str(ready), "5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": ROOT})
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64), keras.layers.Dense(64)])
    loads, failures = 0, []
    try:
        while not ready.exists():
            assert child.poll() is None, child.stderr.read()[-2000:]
        while child.poll() is None:
            for source in (directory, prefix):
                try:
                    nfs.load_weights(model, source)
                    values = {float(np.unique(v.numpy())[0]) for v in model.weights
                              if len(np.unique(v.numpy())) == 1}
                    if len(values) != 1 or any(len(np.unique(v.numpy())) != 1 for v in model.weights):
                        failures.append(f"torn read from {source.name}: {sorted(values)}")
                except Exception as err:  # noqa: BLE001 - every failure counts
                    failures.append(f"{source.name}: {type(err).__name__}: {str(err)[:200]}")
                loads += 1
    finally:
        out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-2000:]
    saves = int(out.strip().splitlines()[-1])
    assert saves >= 5 and loads >= 20, (saves, loads)
    assert failures == [], f"{len(failures)} of {loads} loads failed during {saves} saves: {failures[:5]}"
    sets = {n.split(".nf-set-")[1].split(".")[0] for n in os.listdir(directory) if ".nf-set-" in n}
    assert len(sets) <= 2, sorted(os.listdir(directory))
    assert _stray(tmp_path) == []
    print(f"{loads} loads during {saves} saves, 0 failures")


def test_a_user_zip_with_keras_entry_names_is_not_replaced(tmp_path, model):
    """A zip named .keras whose config.json and model.weights.h5 hold a user's text is theirs."""
    import zipfile

    path = tmp_path / "notes.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "my thesis outline")
        zf.writestr("model.weights.h5", "chapter one")
    before = path.read_bytes()
    with pytest.raises(SaveError, match=r"config\.json \(not what Keras writes there\), model\.weights\.h5 \(not"):
        nfs.save(model, path)
    assert path.read_bytes() == before


def test_a_user_hdf5_data_file_is_not_replaced(tmp_path, model):
    """An HDF5 file of someone's data (no Keras attribute or group at its root) is theirs."""
    import h5py

    for name, kwargs in [("data.h5", {}), ("data.weights.h5", {}), ("legacy.h5", {"format": "legacy_h5_weights"})]:
        path = tmp_path / name
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(10)
            f.attrs["experiment"] = "run 7"
        before = path.read_bytes()
        with pytest.raises(SaveError, match=r"is an HDF5 file holding (no Keras model or weights|data Keras never writes)"):
            if name == "data.h5":
                nfs.save(model, path)
            else:
                nfs.save_weights(model, path, **kwargs)
        assert path.read_bytes() == before


@pytest.mark.parametrize("layout", ["root_datasets_beside_layer_names", "dataset_in_model_weights"])
def test_a_user_hdf5_file_with_keras_like_names_is_not_replaced(tmp_path, model, layout):
    """Keras keeps arrays inside layer groups: a dataset at the root or in model_weights is a user's."""
    import h5py

    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        if layout == "root_datasets_beside_layer_names":
            f["x"] = np.arange(10)
            f.attrs["layer_names"] = [b"dense"]
        else:
            f.create_group("model_weights")["x"] = np.arange(10)
    before = path.read_bytes()
    for save in (lambda: nfs.save(model, path), lambda: nfs.save_weights(model, path, format="legacy_h5_weights")):
        with pytest.raises(SaveError, match=r"is an HDF5 file holding data Keras never writes"):
            save()
    assert path.read_bytes() == before


@pytest.mark.parametrize("layout", ["user_group_beside_model_weights", "dataset_beside_vars", "unlisted_in_layer",
                                    "string_vars", "user_root_attribute"])
def test_user_data_mixed_into_a_keras_layout_is_not_replaced(tmp_path, model, layout):
    import h5py

    path = tmp_path / "mixed.h5"
    with h5py.File(path, "w") as f:
        if layout == "user_group_beside_model_weights":
            f.attrs["model_config"] = "{}"
            f.create_group("model_weights")
            f["my_experiment/results"] = np.arange(1000)
        elif layout == "dataset_beside_vars":
            f["layers/dense/vars/0"] = np.zeros((2, 2))
            f["layers/dense/thesis_data"] = np.arange(5)
        elif layout == "unlisted_in_layer":
            f.attrs["layer_names"] = [b"dense"]
            g = f.create_group("dense")
            g.attrs["weight_names"] = [b"dense/kernel:0"]
            g["dense/kernel:0"] = np.zeros((2, 2))
            g["patient_records"] = np.arange(5)
        elif layout == "string_vars":
            f.create_dataset("layers/d/vars/0", data=np.array([b"x"] * 50))
        else:
            f.attrs["keras_version"] = "3"
            f.attrs["user_notes"] = np.arange(500)
            f["layers/dense/vars/0"] = np.zeros((2, 2))
    before = path.read_bytes()
    for save in (lambda: nfs.save(model, path), lambda: nfs.save_weights(model, path, format="legacy_h5_weights")):
        with pytest.raises(SaveError, match=r"is an HDF5 file holding data Keras never writes"):
            save()
    assert path.read_bytes() == before
