"""A TF checkpoint save killed at any point leaves every reader a whole checkpoint.

A child process saves model B's checkpoint over model A's and dies
(``os._exit``, nothing cleaned up) right after its k-th file-system step
(a rename, a link or a removal), for every k of the save. The parent then
reads, with the old or the new values whole and never a mix or an error:

* netform's ``load_weights`` of the prefix and of the folder;
* plain TensorFlow at the plain prefix (``tf.train.Checkpoint.read("dir/w.ckpt")``);
* plain TensorFlow at ``tf.train.latest_checkpoint(dir)``;

and the next netform saves over the prefix succeed and leave only their own
files. The prefix starts as netform's own (saved twice) or as a checkpoint
plain TensorFlow wrote (its single-shard names and a state file naming the
prefix, which netform takes over).
A second test reads the plain prefix with plain TensorFlow while a process
saves it again and again.

Each killed save is a process of its own, forked by one server process that
imported Keras once (:mod:`._fork_server`), so a kill point costs a model
and a save, not a TensorFlow import.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import textwrap
import time
from typing import Iterator

import numpy as np
import pytest

import netform.saving as nfs

from ._fork_server import ForkServer

CHILD = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, numpy as np
    import netform.saving as nfs
    prefix, kill_at, value = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")
    for v in model.weights:
        v.assign(np.full(v.shape, value, "float32"))
    steps = [0]
    def step(real):
        def wrapped(*args, **kwargs):
            result = real(*args, **kwargs)
            steps[0] += 1
            if steps[0] == kill_at:
                os._exit(9)  # as SIGKILL: no clean-up, no finally, no atexit
            return result
        return wrapped
    for name in ("replace", "rename", "link", "remove", "unlink", "rmdir"):
        setattr(os, name, step(getattr(os, name)))
    nfs.save_weights(model, prefix, format="tf_checkpoint")
    print("steps", steps[0])
""")


def _model(value: float | None = None):
    import keras

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")
    if value is not None:
        for v in m.weights:
            v.assign(np.full(v.shape, value, "float32"))
    return m


@functools.cache
def _reader_model():
    return _model()


def _zeroed():
    """The model every read loads into, each weight set to 0.0 first (built once: a read costs its load only)."""
    m = _reader_model()
    for v in m.weights:
        v.assign(np.zeros(v.shape, "float32"))
    return m


def _value(m) -> float:
    """The one value every weight holds, or NaN for a mix."""
    values = {float(x) for w in m.get_weights() for x in np.unique(w)}
    return values.pop() if len(values) == 1 else float("nan")


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """The server that forks each child saving a checkpoint, Keras and netform imported once."""
    with ForkServer(["keras", "numpy", "netform.saving"], tmp_path_factory.mktemp("forks")) as server:
        yield server


def _child(forks: ForkServer, prefix, kill_at: int, value: float) -> subprocess.CompletedProcess:
    return forks.run(CHILD, [str(prefix), str(kill_at), str(value)], timeout=300)


def _start(prefix, how: str) -> None:
    """Model A (all weights 1.0) at ``prefix``: saved twice by netform, or written by plain TensorFlow."""
    import tensorflow as tf

    a = _model(1.0)
    if how == "netform":
        for _ in range(2):
            nfs.save_weights(a, prefix, format="tf_checkpoint")
    else:  # its files at the prefix, and a state file naming it, as tf.train.CheckpointManager writes one
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        tf.train.Checkpoint(model=a).write(str(prefix))
        name = os.path.basename(prefix)
        with open(os.path.join(os.path.dirname(prefix), "checkpoint"), "w") as fh:
            fh.write(f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')


def _tf_read(prefix: str) -> float:
    import tensorflow as tf

    m = _zeroed()
    tf.train.Checkpoint(model=m).read(prefix).assert_existing_objects_matched()
    return _value(m)


def _nf_read(path) -> float:
    m = _zeroed()
    nfs.load_weights(m, path)
    return _value(m)


def _reads(folder, prefix) -> dict[str, object]:
    import tensorflow as tf

    got: dict[str, object] = {}
    latest = tf.train.latest_checkpoint(str(folder))
    for name, read in (
        ("netform prefix", lambda: _nf_read(prefix)),
        ("netform folder", lambda: _nf_read(folder)),
        ("tf plain prefix", lambda: _tf_read(str(prefix))),
        ("tf latest_checkpoint", lambda: _tf_read(latest) if latest else "latest_checkpoint is None"),
    ):
        try:
            got[name] = read()
        except Exception as err:  # every failure is reported
            got[name] = f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"
    return got


def _leftovers(folder, base: str) -> list[str]:
    """What is wrong with the prefix's files after whole saves: plain data its index does not name, >2 sets."""
    from netform.saving._tensor_bundle import read_index

    count, _ = read_index(os.path.join(folder, base + ".index"))
    names = os.listdir(folder)
    declared = {f"{base}.data-{i:05d}-of-{count:05d}" for i in range(count)}
    wrong = [n for n in names if n.startswith(base + ".data-") and n not in declared]
    sets = [n for n in names if re.fullmatch(re.escape(base) + r"\.nf-set-[0-9a-f]{20}\.index", n)]
    if len(sets) > 2:
        wrong += sorted(sets)
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("how", ["netform", "plain_tf"])
def test_a_save_killed_at_any_step_leaves_every_reader_a_whole_checkpoint(tmp_path, forks, how) -> None:
    # How many steps a whole save of B over A takes.
    full = tmp_path / "full"
    _start(full / "w.ckpt", how)
    done = _child(forks, full / "w.ckpt", 0, 2.0)
    assert done.returncode == 0, done.stderr[-2000:]
    total = int(done.stdout.split("steps")[-1])
    assert total >= 6, total
    assert _reads(full, full / "w.ckpt") == dict.fromkeys(
        ("netform prefix", "netform folder", "tf plain prefix", "tf latest_checkpoint"), 2.0
    )
    broken = {}
    for k in range(1, total + 1):
        folder = tmp_path / f"k{k}"
        prefix = folder / "w.ckpt"
        _start(prefix, how)
        died = _child(forks, prefix, k, 2.0)
        assert died.returncode == 9, (k, died.returncode, died.stderr[-2000:])
        got = _reads(folder, prefix)
        if any(v not in (1.0, 2.0) for v in got.values()):
            broken[k] = got
            continue
        # The next netform save over the prefix takes it over whole, whatever the kill left.
        nfs.save_weights(_model(3.0), prefix, format="tf_checkpoint")
        after = _reads(folder, prefix)
        if set(after.values()) != {3.0}:
            broken[k] = {"after the next save": after}
            continue
        # The data file the old index read stays for one more save (a TensorFlow checkpoint's single shard too).
        nfs.save_weights(_model(3.0), prefix, format="tf_checkpoint")
        wrong = _leftovers(folder, "w.ckpt")
        if wrong:
            broken[k] = {"left after the next save": wrong}
    assert broken == {}, f"{len(broken)} of {total} kill points: {broken}"


TF_READER = textwrap.dedent("""
    import os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, numpy as np, tensorflow as tf
    prefix, seconds = sys.argv[1], float(sys.argv[2])
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64), keras.layers.Dense(64)])
    reads, failures, end = 0, [], time.time() + seconds
    while time.time() < end:
        for path in (prefix, tf.train.latest_checkpoint(os.path.dirname(prefix))):
            try:
                tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched()
                values = {float(x) for v in model.weights for x in np.unique(v.numpy())}
                if len(values) != 1:
                    failures.append(f"mixed read of {os.path.basename(path)}: {sorted(values)[:4]}")
            except Exception as err:
                failures.append(f"{os.path.basename(path)}: {type(err).__name__}: {str(err)[:200]}")
            reads += 1
    print(reads, len(failures))
    for f in failures[:5]:
        print(f)
""")


@pytest.mark.slow
def test_plain_tensorflow_reads_the_prefix_whole_while_it_is_saved_again_and_again(tmp_path, forks) -> None:
    import keras

    prefix = tmp_path / "ck" / "w.ckpt"
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64), keras.layers.Dense(64)])
    # every save holds one value, the first too: a reader that reads the first set before the next save
    # lands must not see the model's random initial weights as a "mixed" read
    for v in model.weights:
        v.assign(np.zeros(v.shape, "float32"))
    nfs.save_weights(model, prefix, format="tf_checkpoint")
    reader = forks.start(TF_READER, [str(prefix), "12"])
    saves, k = 0, 0
    try:
        while reader.poll() is None:
            k += 1
            for v in model.weights:
                v.assign(np.full(v.shape, float(k), "float32"))
            nfs.save_weights(model, prefix, format="tf_checkpoint")
            saves += 1
            time.sleep(0.2)  # a reader slower than two saves may find its set gone (netform's reader retries)
    finally:
        read = reader.wait(timeout=120)
    assert read.returncode == 0, read.stderr[-2000:]
    lines = read.stdout.strip().splitlines()
    reads, failed = (int(x) for x in lines[0].split())
    assert reads >= 20 and saves >= 10, (reads, saves)
    # Never a mixed or torn read, and no error either: TensorFlow's reader takes the index's size and then
    # opens it by name, so an index switched between the two was once read with the other's size ("not an
    # sstable (bad magic number)", "Read less bytes than requested", about 1 read in 1,200 to 2,000); both
    # indexes are now the same size
    assert failed == 0, f"{failed} of {reads} plain TensorFlow reads failed during {saves} saves: {lines[1:]}"


def test_the_plain_index_is_the_same_size_whichever_shard_it_reads(tmp_path) -> None:
    prefix = tmp_path / "w.ckpt"
    sizes = []
    for k in range(3):
        nfs.save_weights(_model(float(k)), prefix, format="tf_checkpoint")
        sizes.append(os.path.getsize(str(prefix) + ".index"))
        assert _tf_read(str(prefix)) == float(k) and _nf_read(prefix) == float(k)
    assert len(set(sizes)) == 1, sizes


@pytest.mark.slow
def test_a_first_save_killed_before_it_linked_the_index_does_not_block_the_next(tmp_path, forks) -> None:
    prefix = tmp_path / "w.ckpt"
    # its steps: the data file renamed to its shard, the set's data and index moved in, the plain data
    # file linked (a link, a rename), then the index
    died = _child(forks, prefix, 5, 2.0)
    assert died.returncode == 9, died.stderr[-2000:]
    assert os.path.exists(str(prefix) + ".data-00000-of-00002") and not os.path.exists(str(prefix) + ".index")
    nfs.save_weights(_model(3.0), prefix, format="tf_checkpoint")
    assert _tf_read(str(prefix)) == 3.0 and _nf_read(prefix) == 3.0


# ------------------------------------------------------------ the plain names


def test_the_plain_prefix_alternates_between_two_data_file_names(tmp_path) -> None:
    from netform.saving._tensor_bundle import read_index

    prefix = tmp_path / "w.ckpt"
    used = []
    for k in range(4):
        nfs.save_weights(_model(float(k)), prefix, format="tf_checkpoint")
        count, entries = read_index(str(prefix) + ".index")
        used.append((count, {e.shard_id for e in entries}))
        assert _tf_read(str(prefix)) == float(k)
    assert used == [(2, {0}), (2, {1}), (2, {0}), (2, {1})]
    # the data file the previous index read stays, as the previous set does
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("w.ckpt.data-")) == [
        "w.ckpt.data-00000-of-00002",
        "w.ckpt.data-00001-of-00002",
    ]


def test_a_user_file_under_the_shard_name_that_holds_no_tensor_is_not_replaced(tmp_path) -> None:
    from netform.errors import SaveError

    prefix = tmp_path / "w.ckpt"
    nfs.save_weights(_model(1.0), prefix, format="tf_checkpoint")
    planted = tmp_path / "w.ckpt.data-00001-of-00002"  # declared by the two-shard index, read by no entry
    planted.write_bytes(b"my own bytes")
    with pytest.raises(SaveError, match=r"w\.ckpt\.data-00001-of-00002.*does not name"):
        nfs.save_weights(_model(2.0), prefix, format="tf_checkpoint")
    assert planted.read_bytes() == b"my own bytes"
    assert _tf_read(str(prefix)) == 1.0 and _nf_read(prefix) == 1.0


def test_a_checkpoint_plain_tensorflow_wrote_is_taken_over_and_its_single_shard_goes_a_save_later(tmp_path) -> None:
    import tensorflow as tf

    prefix = tmp_path / "w.ckpt"
    tf.train.Checkpoint(model=_model(1.0)).write(str(prefix))
    nfs.save_weights(_model(2.0), prefix, format="tf_checkpoint")
    names = sorted(n for n in os.listdir(tmp_path) if n.startswith("w.ckpt.data-"))
    # kept for a reader that opened the old index just before the switch
    assert names == ["w.ckpt.data-00000-of-00001", "w.ckpt.data-00000-of-00002"]
    assert _tf_read(str(prefix)) == 2.0
    nfs.save_weights(_model(3.0), prefix, format="tf_checkpoint")
    names = sorted(n for n in os.listdir(tmp_path) if n.startswith("w.ckpt.data-"))
    assert names == ["w.ckpt.data-00000-of-00002", "w.ckpt.data-00001-of-00002"]
    assert _tf_read(str(prefix)) == 3.0 and _nf_read(prefix) == 3.0


def test_a_data_file_removed_after_a_reader_listed_it_does_not_fail_the_read(tmp_path, monkeypatch) -> None:
    """A save removes the previous checkpoint's data file a load may have just listed."""
    import glob

    from netform.saving import _detect

    prefix = tmp_path / "w.ckpt"
    nfs.save_weights(_model(1.0), prefix, format="tf_checkpoint")
    gone = tmp_path / "w.ckpt.data-00000-of-00001"
    gone.write_bytes(b"")
    real = glob.glob

    def listed_then_removed(pattern, *args, **kwargs):
        found = real(pattern, *args, **kwargs)
        if gone.exists() and str(gone) in found:
            gone.unlink()
        return found

    monkeypatch.setattr(_detect.glob, "glob", listed_then_removed)
    assert _nf_read(prefix) == 1.0
