"""Saving leaves nothing behind and refuses a bad target itself, before any work.

* ``nf.save``/``save_weights`` run the path checks (a name too long, a file where a folder should be, a
  foreign folder) before anything is written or converted, with a ``SaveError`` naming the path and the fix,
  and the folders a save made for a write that failed are removed again;
* a spec's ``ModelCheckpoint`` whose write fails leaves none of the folders netform made for it;
* a TF checkpoint save killed with SIGKILL leaves a temporary folder and a set's data without its index,
  which the next save to the prefix removes (a user's look-alike files stay);
* ``netform render -o FOLDER`` names the file to give instead.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: reg
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 1}
    """)


# --- netform render -o FOLDER ---------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["out", "out/", "out.svg"])
def test_render_into_a_folder_names_a_file_to_give(tmp_path: Path, monkeypatch, capsys, output: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reg.yaml").write_text(SPEC)
    (tmp_path / output.rstrip("/")).mkdir()
    assert main(["render", "reg.yaml", "-o", output]) == 7
    err = capsys.readouterr().err
    folder = output.rstrip("/")
    assert f"-o {output}: is a folder" in err
    assert f"give a file name, such as {os.path.join(output, 'reg.svg')}" in err, err
    assert os.listdir(tmp_path / folder) == []


def test_render_into_a_folder_suggests_the_format_asked_for(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reg.yaml").write_text(SPEC)
    (tmp_path / "out").mkdir()
    assert main(["render", "reg.yaml", "-o", "out", "--format", "dot"]) == 7
    assert "such as out/reg.dot" in capsys.readouterr().err


# --- nf.save / save_weights / convert check the path themselves ------------------------------------------

LONG = "a" * 300


def _tiny():
    import keras

    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="tiny")


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "name",
    [
        f"n1/n2/{LONG}.keras",
        f"n1/n2/{LONG}.h5",
        f"n1/n2/{LONG}.weights.h5",
        f"n1/n2/{LONG}_savedmodel",
        f"n1/n2/{LONG}.onnx",
        f"n1/n2/{LONG}.tflite",
        f"n1/n2/{'b' * 230}.ckpt",
    ],
)
def test_save_refuses_a_name_too_long_before_any_work(tmp_path: Path, monkeypatch, name: str) -> None:
    import netform as nf
    from netform.errors import SaveError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SaveError) as err:
        nf.save(_tiny(), name)
    message = str(err.value)
    assert message.startswith(name + ": ")
    assert "give a shorter name" in message or "give a prefix name of at most 207 bytes" in message, message
    assert _tree(tmp_path) == []  # no folder made, nothing converted or written


def test_a_checkpoint_prefix_that_fits_its_set_names_is_saved(tmp_path: Path) -> None:
    import netform as nf
    from netform.errors import SaveError

    fits = tmp_path / ("b" * 202 + ".ckpt")  # 207 bytes: its sets' names are 255
    assert nf.save_weights(_tiny(), fits) == "tf_checkpoint"
    with pytest.raises(SaveError, match="at most 207 bytes"):
        nf.save_weights(_tiny(), tmp_path / ("c" * 203 + ".ckpt"))


@pytest.mark.parametrize(
    ("how", "name"),
    [
        ("save", "afile/m.keras"),
        ("save", "afile/sm_savedmodel"),
        ("save", "afile/m.ckpt"),
        ("save_weights", "afile/sub/m.weights.h5"),
        ("save_weights", "afile/m.ckpt"),
    ],
)
def test_save_under_a_file_names_the_file_and_the_fix(tmp_path: Path, monkeypatch, name: str, how: str) -> None:
    import netform as nf
    from netform.errors import SaveError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(SaveError) as err:
        getattr(nf, how)(_tiny(), name)
    assert str(err.value) == (
        f"{name}: {tmp_path / 'afile'} is a file, not a folder, so nothing can be saved under it; choose a path "
        "in a folder (or move that file away yourself)."
    )
    assert (tmp_path / "afile").read_text() == "mine"


def test_check_save_path_refuses_what_save_refuses(tmp_path: Path) -> None:
    from netform.errors import SaveError
    from netform.saving._api import check_save_path

    with pytest.raises(SaveError, match="give a shorter name"):
        check_save_path(tmp_path / f"{LONG}.keras")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SaveError, match="is a file, not a folder"):
        check_save_path(tmp_path / "afile" / "m.keras")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("x")
    with pytest.raises(SaveError, match="thesis.tex"):
        check_save_path(str(tmp_path / "foreign") + "/")
    assert check_save_path(tmp_path / "new" / "deeper" / "m.keras") == "keras"
    assert not (tmp_path / "new").exists()


def test_convert_to_a_bad_target_is_refused_with_the_fix(tmp_path: Path) -> None:
    import netform as nf
    from netform.errors import SaveError

    nf.save(_tiny(), tmp_path / "m.keras")
    with pytest.raises(SaveError, match="give a shorter name"):
        nf.convert(tmp_path / "m.keras", tmp_path / "n1" / f"{LONG}.h5")
    assert _tree(tmp_path) == ["m.keras"]


def test_convert_checks_its_target_before_reading_the_model(tmp_path: Path, monkeypatch) -> None:
    import netform as nf
    from netform.errors import SaveError
    from netform.saving import _inspect

    nf.save(_tiny(), tmp_path / "m.keras")
    read: list[str] = []
    monkeypatch.setattr(_inspect, "load", lambda path, **kwargs: read.append(str(path)))
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(SaveError, match="give a shorter name"):
        nf.convert(tmp_path / "m.keras", tmp_path / f"{LONG}.h5")
    with pytest.raises(SaveError, match="thesis.tex"):
        nf.convert(tmp_path / "m.keras", tmp_path / "thesis.tex" / "m.h5")
    assert read == []  # refused before the model was read
    assert (tmp_path / "thesis.tex").read_text() == "mine"


def test_a_save_into_new_folders_still_makes_them(tmp_path: Path) -> None:
    import netform as nf

    assert nf.save(_tiny(), tmp_path / "n1" / "n2" / "m.keras") == "keras"
    assert nf.save_weights(_tiny(), tmp_path / "w1" / "w.ckpt") == "tf_checkpoint"
    assert (tmp_path / "n1" / "n2" / "m.keras").is_file()
    assert (tmp_path / "w1" / "w.ckpt.index").is_file()


class _NoConfig:
    """A layer whose config cannot be written: every full-model save fails after its folders are made."""

    @staticmethod
    def model(netform: bool = False):
        import keras

        from netform.engine import Sequential

        class NoConfig(keras.layers.Layer):
            def call(self, x):
                return x

            def get_config(self):
                raise RuntimeError("no config")

        cls = Sequential if netform else keras.Sequential  # netform builds a spec's model as its Sequential
        return cls([keras.Input((3,)), keras.layers.Dense(2), NoConfig()])


@pytest.mark.parametrize("name", ["n1/n2/m.keras", "n1/n2/m.h5", "n1/n2/sm_savedmodel"])
def test_a_failed_save_removes_the_folders_it_made(tmp_path: Path, monkeypatch, name: str) -> None:
    import netform as nf
    from netform.errors import SaveError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept").mkdir()
    with pytest.raises(SaveError, match="no config"):
        nf.save(_NoConfig.model(), name)
    with pytest.raises(SaveError, match="no config"):
        nf.save(_NoConfig.model(), "kept/" + name)
    assert _tree(tmp_path) == ["kept"]  # the folder that was there stays, the ones the save made go


def test_a_failed_save_keeps_a_made_folder_someone_wrote_into(tmp_path: Path, monkeypatch) -> None:
    import netform as nf
    import netform.saving._keras_zip as kz
    from netform.errors import SaveError

    real = kz.save_keras

    def failing(model, path):
        os.makedirs(tmp_path / "n1" / "other", exist_ok=True)
        (tmp_path / "n1" / "other" / "notes.txt").write_text("someone's")
        real(model, path)

    monkeypatch.setattr(kz, "save_keras", failing)
    with pytest.raises(SaveError):
        nf.save(_NoConfig.model(), tmp_path / "n1" / "n2" / "m.keras")
    assert _tree(tmp_path) == ["n1", "n1/other", "n1/other/notes.txt"]


# --- a spec's ModelCheckpoint whose write fails ----------------------------------------------------------


def _fit_with_checkpoint(tmp_path: Path, filepath: str, model) -> None:
    import numpy as np

    from netform.engine._config import fit_from_training_config

    training = {
        "optimizer": "sgd",
        "loss": "mse",
        "epochs": 2,
        "batch_size": 4,
        "callbacks": [{"type": "ModelCheckpoint", "filepath": filepath}],
    }
    x = np.zeros((8, 3), "float32")
    y = np.zeros((8, 2), "float32")
    fit_from_training_config(model, training, x, y, verbose=0, out_dir=tmp_path)


def test_a_failed_checkpoint_write_leaves_no_folder_netform_made(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    with pytest.raises(Exception, match="no config"):
        _fit_with_checkpoint(tmp_path, "ck/sub/m.keras", _NoConfig.model(netform=True))
    assert _tree(tmp_path) == ["kept"]
    with pytest.raises(Exception, match="no config"):
        _fit_with_checkpoint(tmp_path, "kept/sub/m.keras", _NoConfig.model(netform=True))
    assert _tree(tmp_path) == ["kept"]


def test_a_failed_checkpoint_write_keeps_the_folder_of_an_earlier_write(tmp_path: Path) -> None:
    import keras

    model = _tiny()
    calls = []
    real = type(model).save

    def second_fails(self, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) == 2:
            raise OSError(13, "Permission denied")
        return real(self, filepath, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keras.Sequential, "save", second_fails)
        with pytest.raises(OSError, match="Permission denied"):
            _fit_with_checkpoint(tmp_path, "ck/sub/m{epoch}.keras", model)
    assert _tree(tmp_path) == ["ck", "ck/sub", "ck/sub/m1.keras"]


def test_a_checkpoint_that_writes_keeps_its_folders(tmp_path: Path) -> None:
    _fit_with_checkpoint(tmp_path, "ck/sub/m.keras", _tiny())
    assert _tree(tmp_path) == ["ck", "ck/sub", "ck/sub/m.keras"]


def test_a_failed_keras_save_removes_only_the_file_it_created(tmp_path: Path) -> None:
    from netform.errors import SaveError

    model = _NoConfig.model(netform=True)
    with pytest.raises(Exception, match="no config"):
        model.save(tmp_path / "new.keras")
    assert _tree(tmp_path) == []  # Keras opened new.keras before it failed: the empty file goes
    (tmp_path / "link.keras").symlink_to(tmp_path / "elsewhere.keras")
    with pytest.raises(SaveError, match="symbolic link"):
        model.save(tmp_path / "link.keras")
    assert os.path.islink(tmp_path / "link.keras")


# --- a TF checkpoint save killed with SIGKILL ------------------------------------------------------------

KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import netform.saving as nfs
    prefix, kill_at = sys.argv[1], int(sys.argv[2])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")
    steps = [0]
    def step(real):
        def wrapped(*args, **kwargs):
            result = real(*args, **kwargs)
            steps[0] += 1
            if steps[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapped
    for name in ("mkdir", "replace", "rename", "link", "remove", "unlink", "rmdir"):
        setattr(os, name, step(getattr(os, name)))
    nfs.save_weights(model, prefix, format="tf_checkpoint")
    print("steps", steps[0])
""")


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory):
    """A server that forks each killed save from one process that imported Keras and netform once."""
    from ._fork_server import ForkServer

    with ForkServer(["keras", "numpy", "netform.saving"], tmp_path_factory.mktemp("forks")) as server:
        yield server


def _killed_save(forks, prefix: Path, kill_at: int):
    return forks.run(KILLED_SAVE, [str(prefix), str(kill_at)], timeout=300)


def _leftovers(folder: Path) -> list[str]:
    """A save's temporary names, and sets' data files without their index."""
    import re

    names = os.listdir(folder)
    left = [n for n in names if ".nf-tmp-" in n]
    for n in names:
        found = re.fullmatch(r"(.+\.nf-set-[0-9a-f]{20})\.data-\d{5}-of-\d{5}", n)
        if found and found.group(1) + ".index" not in names:
            left.append(n)
    return sorted(left)


def test_the_next_save_removes_what_a_save_killed_at_any_step_left(tmp_path: Path, forks) -> None:
    import netform as nf

    folder = tmp_path / "ck"
    prefix = folder / "w.ckpt"
    nf.save_weights(_tiny(), prefix, format="tf_checkpoint")
    done = _killed_save(forks, prefix, 10**6)
    steps = int(done.stdout.split()[-1])
    assert steps >= 6, done.stdout + done.stderr
    seen_left = set()
    for kill_at in range(1, steps + 1):
        done = _killed_save(forks, prefix, kill_at)
        assert done.returncode == -9, (kill_at, done.stdout, done.stderr)
        left = _leftovers(folder)
        seen_left.update("tmp folder" if n.endswith(".nf-tmp-w.ckpt") else n.rsplit(".", 1)[-1] for n in left)
        nf.save_weights(_tiny(), prefix, format="tf_checkpoint")
        assert _leftovers(folder) == [], (kill_at, left)
    # the kills did leave a temporary folder and a set's data without its index to remove
    assert "tmp folder" in seen_left and any(k.startswith("data-") for k in seen_left), seen_left


def test_a_killed_save_s_leftovers_stay_while_another_save_runs(tmp_path: Path, forks) -> None:
    import fcntl

    import netform as nf

    folder = tmp_path / "ck"
    prefix = folder / "w.ckpt"
    nf.save_weights(_tiny(), prefix, format="tf_checkpoint")
    kill_at = 3  # the temporary folder made, its checkpoint written and its data moved out as a set's
    assert _killed_save(forks, prefix, kill_at).returncode == -9
    left = _leftovers(folder)
    assert left
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # as a save running in the folder holds it
        nf.save_weights(_tiny(), prefix, format="tf_checkpoint")
        assert _leftovers(folder) == left  # that save may still be using them
    finally:
        os.close(fd)
    nf.save_weights(_tiny(), prefix, format="tf_checkpoint")
    assert _leftovers(folder) == []


def test_look_alikes_of_a_killed_save_are_never_removed(tmp_path: Path) -> None:
    import netform as nf

    folder = tmp_path / "ck"
    prefix = folder / "w.ckpt"
    nf.save_weights(_tiny(), prefix, format="tf_checkpoint")
    unmarked = folder / ".0123456789abcdef.nf-tmp-w.ckpt"  # a temporary folder's name, no mark
    unmarked.mkdir()
    (unmarked / "w.ckpt.index").write_bytes(b"mine")
    marked = folder / ".fedcba9876543210.nf-tmp-w.ckpt"  # the mark, and a file no save writes there
    marked.mkdir()
    (marked / ".nf-checkpoint-save").write_text("netform checkpoint save\n")
    (marked / "notes.txt").write_text("mine")
    lone = folder / "w.ckpt.nf-set-0123456789abcdef0123.data-00000-of-00002"  # no mark names this set
    lone.write_bytes(b"mine")
    other = folder / ".00112233445566aa.nf-tmp-w.ckpt.index"  # a temporary link's name, no set's file
    other.write_bytes(b"mine")
    for _ in range(2):
        nf.save_weights(_tiny(), prefix, format="tf_checkpoint")
    assert (unmarked / "w.ckpt.index").read_bytes() == b"mine"
    assert (marked / "notes.txt").read_text() == "mine"
    assert (marked / ".nf-checkpoint-save").exists()
    assert lone.read_bytes() == b"mine"
    assert other.read_bytes() == b"mine"
