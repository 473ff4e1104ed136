"""Two saves of one folder target at once: each replaces the folder whole, in turn, and none fails.

A directory save (a SavedModel, Keras's unzipped ``.keras``) parks the old folder and renames the new one
into its place. Two processes saving the same target interleaved those renames: one parked the folder the
other had just put in place, or found the name taken by the other's new folder, and failed with
``OSError: [Errno 39] Directory not empty`` or ``FileNotFoundError``, leaving a whole parked copy
(``NAME.nf-old-<hex>``) and its note behind (172 copies of an unzipped ``.keras`` in 25 s of two processes
saving). Swaps of one target now take turns (a lock of the machine, held for the milliseconds of the
swap), so every save succeeds and nothing is left.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
from netform.saving import _target

pytestmark = pytest.mark.tf

SPEC = "netform: 1\nname: t\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 3}]\n"
CASES = [("savedmodel", {"format": "savedmodel"}), ("keras_dir", {"format": "keras", "zipped": False})]


def _fill(model: Any, value: float) -> None:
    for w in model.weights:
        w.assign(np.full(w.shape, value, "float32"))


def _values(target: str) -> set[float]:
    return {float(v) for w in nf.load(target).weights for v in np.unique(np.asarray(w))}


@pytest.mark.parametrize("kind,options", CASES, ids=[c[0] for c in CASES])
def test_a_save_during_another_saves_swap_waits_its_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, options: Any
) -> None:
    first, second = nf.build(nf.load_spec(SPEC)), nf.build(nf.load_spec(SPEC))
    target = str(tmp_path / "m")
    _fill(first, 1.0)
    nf.save(first, target, **options)
    original = _target.check_parked
    parked = threading.Event()

    def slow_check(*args: Any, **kwargs: Any) -> None:
        if not parked.is_set():
            parked.set()  # the first save's swap: the old folder parked, the name missing for a second
            time.sleep(1.0)
        original(*args, **kwargs)

    monkeypatch.setattr(_target, "check_parked", slow_check)
    _fill(first, 2.0)
    _fill(second, 3.0)
    errors: list[BaseException] = []

    def save() -> None:
        try:
            nf.save(first, target, **options)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=save)
    thread.start()
    assert parked.wait(60)
    nf.save(second, target, **options)  # its swap comes after the first's
    thread.join()
    assert not errors
    assert _values(target) == {3.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no parked folder or note left


SAVER = textwrap.dedent("""
    import os, sys, time, warnings
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    warnings.simplefilter("ignore")
    import numpy as np, netform as nf
    target, fmt, value, start = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    model = nf.build(nf.load_spec(sys.argv[5]))
    for w in model.weights:
        w.assign(np.full(w.shape, value, "float32"))
    options = {"format": "savedmodel"} if fmt == "savedmodel" else {"format": "keras", "zipped": False}
    while time.time() < start:
        time.sleep(0.01)
    saves, failures = 0, []
    while time.time() < start + 8:
        try:
            nf.save(model, target, **options)
            saves += 1
        except Exception as err:
            failures.append(f"{type(err).__name__}: {str(err)[:300]}")
    print(saves, len(failures))
    for f in failures[:3]:
        print(f)
""")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["keras_dir", "savedmodel"])
def test_two_processes_saving_one_folder_target_never_fail(tmp_path: Path, kind: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    target = str(tmp_path / "out" / "m")
    start = time.time() + 12  # both past their imports
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, target, kind, str(v), str(start), str(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (1.0, 2.0)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    total = 0
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-2000:]
        lines = out.strip().splitlines()
        saves, failed = (int(x) for x in lines[0].split())
        assert failed == 0, lines[1:]
        total += saves
    assert total >= 4, total
    assert _values(target) in ({1.0}, {2.0})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m"]


SHARDED_SAVER = textwrap.dedent("""
    import os, sys, time, warnings
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    warnings.simplefilter("ignore")
    import keras, numpy as np, netform as nf
    index, value, start = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    inputs = keras.Input((32,))
    x = inputs
    for name in "abc":
        x = keras.layers.Dense(32, name=name)(x)
    model = nf.Model(inputs, keras.layers.Dense(4, name="d")(x))
    model.set_weights([np.full(w.shape, value, "float32") for w in model.get_weights()])
    while time.time() < start:
        time.sleep(0.01)
    saves, failures, i = 0, [], 0
    while time.time() < start + 8:
        i += 1
        try:
            nf.save_weights(model, index, max_shard_size=(0.000005, 1)[i % 2])  # 4 shards, then 1
            saves += 1
        except Exception as err:
            failures.append(f"{type(err).__name__}: {str(err)[:300]}")
    print(saves, len(failures))
    for f in failures[:3]:
        print(f)
""")


@pytest.mark.slow
def test_two_processes_saving_one_sharded_index_with_other_shard_counts_never_fail(tmp_path: Path) -> None:
    import json

    index = tmp_path / "w.weights.json"
    start = time.time() + 12
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SHARDED_SAVER, str(index), str(v), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (1.0, 2.0)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-2000:]
        lines = out.strip().splitlines()
        assert int(lines[0].split()[1]) == 0, lines[1:]
    # what is left is the last save, whole: its index and the shards it names, nothing else
    named = {n for found in json.loads(index.read_text())["weight_map"].values() for n in found}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"w.weights.json", *named})


CHECKPOINT_SAVER = textwrap.dedent("""
    import os, sys, time, warnings
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    warnings.simplefilter("ignore")
    import numpy as np, netform as nf
    prefix, value, start = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    model = nf.build(nf.load_spec(sys.argv[4]))
    for w in model.weights:
        w.assign(np.full(w.shape, value, "float32"))
    while time.time() < start:
        time.sleep(0.01)
    saves, failures = 0, []
    while time.time() < start + 8:
        try:
            nf.save_weights(model, prefix, format="tf_checkpoint")
            saves += 1
        except Exception as err:
            failures.append(f"{type(err).__name__}: {str(err)[:300]}")
    print(saves, len(failures))
    for f in failures[:3]:
        print(f)
""")


@pytest.mark.slow
def test_two_processes_saving_one_checkpoint_prefix_never_fail(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    prefix = tmp_path / "ck" / "w.ckpt"
    start = time.time() + 12
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHECKPOINT_SAVER, str(prefix), str(v), str(start), str(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (1.0, 2.0)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-2000:]
        lines = out.strip().splitlines()
        assert int(lines[0].split()[1]) == 0, lines[1:]
    model = nf.build(nf.load_spec(SPEC))
    nf.load_weights(model, prefix)
    assert {float(v) for w in model.weights for v in np.unique(np.asarray(w))} in ({1.0}, {2.0})
