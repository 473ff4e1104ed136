"""A sharded weights save killed at any point leaves the earlier weights or the new ones, never a mix.

``nf.save_weights(model, "w.weights.json", max_shard_size=...)`` writes an index and several shard files,
each moved into place by its own rename. A save killed between two renames must leave an index whose
shards all come from one save: netform's ``load_weights`` and Keras's ``model.load_weights`` both load the
earlier weights or the new ones, entirely, and neither fails. The next save of the same index removes what
the killed save left beside it (its staging folder, its per-save shard names).

Every step is tried in this process (each file system call that changes a name raises a ``BaseException``
that nothing catches, and every later one too, so no clean-up runs: what is left on disk is what a killed
process leaves); one kill is a real ``SIGKILL`` of a child process.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib
import functools
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import keras
import numpy as np
import pytest

import netform as nf

ROOT = Path(__file__).resolve().parents[2]
#: About 1.2 KB per shard: the model below needs three.
SMALL = 0.0000011
#: About 1.6 KB per shard: two.
LARGE = 0.0000015


def _model(shift: float = 0.0) -> keras.Model:
    inputs = keras.Input((8,))
    h = keras.layers.Dense(16, name="a")(inputs)
    h = keras.layers.Dense(16, name="b")(h)
    model = keras.Model(inputs, keras.layers.Dense(4, name="c")(h))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") + shift for w in model.get_weights()])
    return model


@functools.cache
def _unlike_any_save() -> tuple[keras.Model, list[np.ndarray]]:
    model = _model(shift=100.0)
    return model, model.get_weights()


def _fresh() -> keras.Model:
    """The model's layers with weights no save holds (100 off): built once, its weights reset on each call."""
    model, weights = _unlike_any_save()
    model.set_weights(weights)
    return model


def _which(path: Path, expected: dict[str, list[np.ndarray]]) -> list[str]:
    """Which save netform's reader and Keras's each load from ``path`` ("old" or "new"); fails on a mix."""
    found = []
    for reader in ("netform", "keras"):
        fresh = _fresh()
        if reader == "netform":
            assert nf.load_weights(fresh, path) == []
        else:
            fresh.load_weights(path)
        loaded = fresh.get_weights()
        match = [name for name, ws in expected.items() if all(np.array_equal(a, b) for a, b in zip(loaded, ws))]
        assert match, f"{reader} loaded weights from neither save alone: " + ", ".join(
            f"{name} {[bool(np.array_equal(a, b)) for a, b in zip(loaded, ws)]}" for name, ws in expected.items()
        )
        found.append(match[0])
    return found


def _leftovers(folder: Path) -> list[str]:
    index = json.loads((folder / "w.weights.json").read_text())
    named = {n for found in index["weight_map"].values() for n in (found if isinstance(found, list) else [found])}
    keras_layout = {"w.weights.json"} | {f"w_{i:05}.weights.h5" for i in range(len(named))}
    assert named == keras_layout - {"w.weights.json"}
    return sorted(set(os.listdir(folder)) - keras_layout)


class _Killed(BaseException):
    """The process died here: nothing catches it, and no later file system call runs."""


@contextlib.contextmanager
def _killed_at(monkeypatch: pytest.MonkeyPatch, step: int) -> Iterator[None]:
    """Kill the save just before its ``step``-th rename, link or removal (1-based)."""
    state = {"calls": 0, "dead": False}

    def wrap(original):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            if not state["dead"]:
                state["calls"] += 1
                state["dead"] = state["calls"] == step
            if state["dead"]:
                raise _Killed
            return original(*args, **kwargs)

        return call

    with monkeypatch.context() as patch:
        for name in ("replace", "rename", "link", "unlink", "remove", "rmdir"):
            patch.setattr(os, name, wrap(getattr(os, name)))
        yield


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _as_if_killed(folder: Path, pid: int) -> None:
    """The staging folder of the save killed in this process, as a killed process's (one that has ended)."""
    for staging in folder.glob(f".nf-shards-{os.getpid()}-*"):
        staging.rename(staging.with_name(staging.name.replace(f"-{os.getpid()}-", f"-{pid}-", 1)))


def _host() -> str:
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


@pytest.mark.parametrize(("old_size", "new_size"), [(SMALL, LARGE), (LARGE, SMALL)], ids=["4-to-2", "2-to-4"])
def test_a_save_killed_at_any_step_leaves_the_old_weights_or_the_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_size: float, new_size: float
) -> None:
    old, new, later = _model(), _model(shift=1.0), _model(shift=2.0)
    expected = {"old": old.get_weights(), "new": new.get_weights()}
    dead = _dead_pid()
    seen: set[str] = set()
    for step in range(1, 100):
        folder = tmp_path / f"step{step}"
        folder.mkdir()
        path = folder / "w.weights.json"
        nf.save_weights(old, path, max_shard_size=old_size)
        assert len(os.listdir(folder)) == {SMALL: 4, LARGE: 3}[old_size]
        try:
            with _killed_at(monkeypatch, step):
                nf.save_weights(new, path, max_shard_size=new_size)
        except _Killed:
            pass
        else:
            assert _which(path, expected) == ["new", "new"] and _leftovers(folder) == []
            break
        found = _which(path, expected)
        assert found[0] == found[1], f"killed at step {step}: netform loaded {found[0]}, Keras {found[1]}"
        seen.add(found[0])
        _as_if_killed(folder, dead)
        nf.save_weights(later, path, max_shard_size=old_size)  # removes what the killed save left
        assert _leftovers(folder) == [], f"killed at step {step}"
        fresh = _fresh()
        nf.load_weights(fresh, path)
        assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), later.get_weights()))
    else:
        pytest.fail("the save never finished")
    assert seen == {"old", "new"} and step > 8


def test_the_staging_folder_of_a_running_save_is_left_alone(tmp_path: Path) -> None:
    """Only a save whose process has ended is cleaned up after: a running one's folder, another index's, a
    folder holding anything else, and another machine's stay as they are."""
    path = tmp_path / "w.weights.json"
    nf.save_weights(_model(), path, max_shard_size=SMALL)
    token = "0123456789abcdef"
    dead = _dead_pid()
    running = tmp_path / f".nf-shards-{os.getpid()}-{_host()}-{token}"
    elsewhere = tmp_path / f".nf-shards-{dead}-{'0' * 8 if _host() != '0' * 8 else '1' * 8}-{token}"
    other_index = tmp_path / f".nf-shards-{dead}-{_host()}-{'1' * 16}"
    not_netforms = tmp_path / f".nf-shards-{dead}-{_host()}-{'2' * 16}"
    a_folder_inside = tmp_path / f".nf-shards-{dead}-{_host()}-{'4' * 16}"
    for folder in (running, elsewhere, other_index, not_netforms, a_folder_inside):
        folder.mkdir()
    (a_folder_inside / "w_00001.weights.h5").mkdir()
    (a_folder_inside / "w_00001.weights.h5" / "thesis.tex").write_text("keep me")
    (running / "w_00000.weights.h5").write_bytes(b"a running save's shard")
    (tmp_path / f"w_00000.{token}.weights.h5").write_bytes(b"a running save's shard")
    (other_index / "v.weights.json").write_text("{}")
    (not_netforms / "thesis.tex").write_text("keep me")
    nf.save_weights(_model(shift=1.0), path, max_shard_size=SMALL)
    for folder in (running, elsewhere, other_index, not_netforms, a_folder_inside):
        assert folder.is_dir(), folder.name
    assert (a_folder_inside / "w_00001.weights.h5" / "thesis.tex").exists()
    assert (tmp_path / f"w_00000.{token}.weights.h5").exists() and (not_netforms / "thesis.tex").exists()
    killed = tmp_path / f".nf-shards-{dead}-{_host()}-{'3' * 16}"
    killed.mkdir()
    shard = (tmp_path / "w_00000.weights.h5").read_bytes()  # what a save writes there (a user's text stays:
    (killed / "w_00000.weights.h5").write_bytes(shard)  # tests/hardening/test_sharded_leftovers_content.py)
    (tmp_path / f"w_00003.{'3' * 16}.weights.h5").write_bytes(shard)
    nf.save_weights(_model(shift=1.0), path, max_shard_size=SMALL)
    assert not killed.exists() and not (tmp_path / f"w_00003.{'3' * 16}.weights.h5").exists()


def test_a_real_sigkill_between_two_shard_renames(tmp_path: Path) -> None:
    """A child process saving over earlier weights is killed at its second rename; the next save cleans up."""
    old, new = _model(), _model(shift=1.0)
    path = tmp_path / "w.weights.json"
    nf.save_weights(old, path, max_shard_size=SMALL)
    nf.save_weights(new, tmp_path / "new.weights.h5")
    child = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        import netform as nf
        from tests.hardening.test_sharded_weights_kill import _model, SMALL
        model = _model(shift=50.0)
        nf.load_weights(model, {str(tmp_path / "new.weights.h5")!r})
        calls, replace = [0], os.replace
        def killed_at_second(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return replace(*args, **kwargs)
        os.replace = killed_at_second
        nf.save_weights(model, {str(path)!r}, max_shard_size=SMALL)
        """
    )
    run = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr[-2000:]
    found = _which(path, {"old": old.get_weights(), "new": new.get_weights()})
    assert found[0] == found[1]
    assert [p.name for p in tmp_path.glob(".nf-shards-*")]
    nf.save_weights(old, path, max_shard_size=SMALL)
    assert sorted(set(_leftovers(tmp_path)) - {"new.weights.h5"}) == []
    assert not [n for n in os.listdir(tmp_path) if re.fullmatch(r"w_\d{5}\.[0-9a-f]{16}\.weights\.h5", n)]


def test_netform_loads_one_save_while_saves_of_the_index_run(tmp_path: Path) -> None:
    """A load during saves of the same index reads one save's weights (it loads again when the index moved),
    or, when saves replaced the index during each try, says so; it never returns a mix."""
    import threading
    import time

    from netform.errors import FormatError

    models = [_model(), _model(shift=1.0)]
    expected = {"old": models[0].get_weights(), "new": models[1].get_weights()}
    path = tmp_path / "w.weights.json"
    nf.save_weights(models[0], path, max_shard_size=SMALL)
    stop = threading.Event()
    failures: list[BaseException] = []

    def save() -> None:
        try:
            for i in range(1, 1000):
                if stop.is_set():
                    return
                nf.save_weights(models[i % 2], path, max_shard_size=(SMALL, LARGE)[i % 2])
                time.sleep(0.02 * (i % 5))
        except BaseException as err:
            failures.append(err)

    saver = threading.Thread(target=save)
    saver.start()
    try:
        seen = []
        for _ in range(30):
            fresh = _model(shift=100.0)
            try:
                nf.load_weights(fresh, path)
            except FormatError as err:
                assert "was replaced during each of" in str(err)
                seen.append("refused")
                continue
            loaded = fresh.get_weights()
            match = [k for k, ws in expected.items() if all(np.array_equal(a, b) for a, b in zip(loaded, ws))]
            assert match, "a load mixed two saves"
            seen.append(match[0])
    finally:
        stop.set()
        saver.join()
    assert not failures, failures
    assert {"old", "new"} <= set(seen), seen
