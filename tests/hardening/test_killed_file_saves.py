"""A single-file save killed while writing leaves no temporary copy for good, and a save keeps the extended
attributes of the file it replaces.

A `.keras` save of MobileNetV2 killed mid-write left `.<hex>.nf-tmp-dst.keras` (up to the model's full 14.7 MB) in
4 of 5 tries, and no later save removed it (the SavedModel and checkpoint savers already removed their killed
folders). A user's `user.*` attribute on a model file (a file manager's comment) went with the old copy, where Keras,
writing into the existing file, keeps it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

import netform as nf
from netform._files import UNFINISHED_MARK, temp_name

FORMATS = ["m.keras", "m.h5", "m.weights.h5"]


def _xattrs_here(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def _save(model: keras.Model, path: Path) -> None:
    if path.name.endswith(".weights.h5"):
        nf.save_weights(model, path)
    else:
        nf.save(model, path)


def _killed_save(path: Path, where: str) -> None:
    """Run a save of ``path`` in a child process killed (SIGKILL) at ``where``: its fsync, or its rename."""
    script = textwrap.dedent(f"""
        import os, signal, keras, netform as nf
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        os.{where} = die
        target = {str(path)!r}
        (nf.save_weights if target.endswith(".weights.h5") else nf.save)(model, target)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert done.returncode == -9, done.stderr.decode()[-2000:]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".nf-tmp-" in p.name)


@pytest.mark.slow
@pytest.mark.parametrize("name", FORMATS)
def test_a_killed_save_leaves_nothing_once_the_next_save_ran(tmp_path: Path, name: str) -> None:
    if not _xattrs_here(tmp_path):
        pytest.skip("this file system keeps no extended attributes")
    path = tmp_path / name
    model = _model()
    _save(model, path)
    before = path.read_bytes()
    _killed_save(path, "fsync")  # killed with the whole file written, before its rename
    first = _leftovers(tmp_path)
    assert len(first) == 1
    _killed_save(path, "replace")  # a save killed later removed the first one's copy before it wrote its own
    second = _leftovers(tmp_path)
    assert len(second) == 1 and second != first
    assert path.read_bytes() == before  # the earlier save is whole
    _save(model, path)
    assert _leftovers(tmp_path) == []
    assert UNFINISHED_MARK not in os.listxattr(path)


def test_files_of_such_a_name_that_are_not_a_killed_save_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    model = _model()
    nf.save(model, path)
    unmarked = Path(temp_name(path))
    unmarked.write_bytes(b"a user's file, under a name like netform's own")
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"kept")
    link = Path(temp_name(path))
    link.symlink_to(elsewhere)
    other = Path(temp_name(tmp_path / "other.keras"))  # another file's leftover: that save's to remove
    other.write_bytes(b"")
    nf.save(model, path)
    assert unmarked.read_bytes() == b"a user's file, under a name like netform's own"
    assert link.is_symlink() and elsewhere.read_bytes() == b"kept"
    assert other.exists()
    empty = Path(temp_name(path))
    empty.write_bytes(b"")  # killed as it was made
    nf.save(model, path)
    assert not empty.exists()


@pytest.mark.parametrize("name", [*FORMATS, "m_savedmodel"])
def test_a_save_keeps_the_extended_attributes_of_what_it_replaces(tmp_path: Path, name: str) -> None:
    if not _xattrs_here(tmp_path):
        pytest.skip("this file system keeps no extended attributes")
    path = tmp_path / name
    model = _model()
    _save(model, path) if name in FORMATS else nf.save(model, path, format="savedmodel")
    os.setxattr(path, "user.xdg.comment", b"trained on the March data; do not share")
    _save(model, path) if name in FORMATS else nf.save(model, path, format="savedmodel")
    assert os.getxattr(path, "user.xdg.comment") == b"trained on the March data; do not share"
    assert UNFINISHED_MARK not in os.listxattr(path)


@pytest.mark.parametrize(("name", "inner"), [("m_savedmodel", "saved_model.pb"), ("unzipped", "config.json")])
def test_a_folder_holding_a_file_with_a_users_attributes_is_kept(tmp_path: Path, name: str, inner: str) -> None:
    if not _xattrs_here(tmp_path):
        pytest.skip("this file system keeps no extended attributes")
    path = tmp_path / name
    model = _model()
    if name == "unzipped":
        model.save(path, zipped=False)
        again = lambda: nf.save(model, path, format="keras", zipped=False)  # noqa: E731
    else:
        nf.save(model, path, format="savedmodel")
        again = lambda: nf.save(model, path, format="savedmodel")  # noqa: E731
    again()  # replaced
    os.setxattr(path / inner, "user.xdg.comment", b"the good run")
    with pytest.raises(nf.SaveError, match=rf"{inner} \(its extended attributes\)"):
        again()
    assert os.getxattr(path / inner, "user.xdg.comment") == b"the good run"


def test_any_file_netform_writes_leaves_nothing_once_written_again(tmp_path: Path) -> None:
    """The command line's outputs (`predict -o`, `export-spec -o`, a diagram) are written the same way."""
    if not _xattrs_here(tmp_path):
        pytest.skip("this file system keeps no extended attributes")
    target = tmp_path / "predictions.npy"
    script = textwrap.dedent(f"""
        import os, signal
        from netform import _files
        os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        _files.write_bytes({str(target)!r}, b"x" * 100_000)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    assert len(_leftovers(tmp_path)) == 1
    from netform._files import write_bytes

    write_bytes(target, b"y")
    assert _leftovers(tmp_path) == [] and target.read_bytes() == b"y"


def test_sharded_weights_and_checkpoints_carrying_a_users_attributes_are_kept(tmp_path: Path) -> None:
    """A sharded save renames its files over the old ones and a checkpoint save deletes older sets: a user's
    ``user.*`` attribute on any of them went with them."""
    if not _xattrs_here(tmp_path):
        pytest.skip("this file system keeps no extended attributes")
    model = keras.Sequential([keras.Input((64,)), *[keras.layers.Dense(64) for _ in range(4)]])
    index = tmp_path / "w.weights.json"
    nf.save_weights(model, index, max_shard_size=0.00005)
    shards = sorted(p for p in tmp_path.iterdir() if p.name.endswith(".weights.h5"))
    assert len(shards) > 1
    for noted in (index, shards[-1]):
        os.setxattr(noted, "user.note", b"keep")
        with pytest.raises(nf.SaveError, match=r"extended attributes|not a shard of an earlier save"):
            nf.save_weights(model, index, max_shard_size=0.00005)
        assert os.getxattr(noted, "user.note") == b"keep"
        os.removexattr(noted, "user.note")
    nf.save_weights(model, index, max_shard_size=0.00005)  # without them: replaced
    prefix = tmp_path / "ck" / "w.ckpt"
    nf.save_weights(model, prefix, format="tf_checkpoint")
    data = next(p for p in (tmp_path / "ck").iterdir() if ".nf-set-" in p.name and ".data-" in p.name)
    os.setxattr(data, "user.note", b"keep")
    with pytest.raises(nf.SaveError, match=r"carries extended attributes of a user's"):
        nf.save_weights(model, prefix, format="tf_checkpoint")
    assert os.getxattr(data, "user.note") == b"keep"
