"""A library call leaves the process as it found it: GC, recursion limit, warning filters, global RNGs.

Checked after the calls and while they run: eight threads check a spec,
build it, save and load it (``.keras``, ``.h5``, ``.weights.h5``) while a
ninth polls the state, and every setter of that state is watched for calls
from netform's code. Python's ``random`` is the one exception, and only as
Keras has it: a Keras layer's constructor draws its seed from it (so that
``keras.utils.set_random_seed`` decides it), and netform's build and load
draw exactly those seeds, no more, and never set it back.
"""

from __future__ import annotations

import concurrent.futures
import gc
import itertools
import random
import sys
import threading
import time
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
from netform.spec import graph_of

from .test_spec_scale import make_large_spec


def test_load_spec_leaves_the_garbage_collector_running() -> None:
    """Checking a large spec does not pause the collector: collections still happen during the call."""
    text = make_large_spec(lanes=10)  # about 1,000 nodes
    seen: list[bool] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(gc.isenabled())

    gc.callbacks.append(watch)
    try:
        spec = nf.load_spec(text)
    finally:
        gc.callbacks.remove(watch)
    assert len(graph_of(spec).nodes) > 1000
    # ~17 collections run while it is checked; a paused collector gives at most the one when it is resumed
    assert len(seen) >= 5 and all(seen), f"{len(seen)} automatic collection(s) ran while the spec was checked"


# ------------------------------------------------------------ threads at work
THREADS = 8
MLP = Path(__file__).resolve().parents[2] / "models" / "mlp.yaml"
SEED = 20261202
KERAS_SEED_DRAW = (1, int(1e9))  # keras.src.random.seed_generator.make_default_seed: random.randint(1, 1e9)


def _seed_chain(n: int) -> dict[int, int]:
    """``hash(random.getstate())`` -> how many Keras seed draws lead there from ``random.seed(SEED)``."""
    random.seed(SEED)
    chain = {hash(random.getstate()): 0}
    for i in range(1, n + 1):
        random.randint(*KERAS_SEED_DRAW)
        chain[hash(random.getstate())] = i
    return chain


def _numpy_state() -> tuple[Any, ...]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return name, keys.tobytes(), pos, has_gauss, cached


def _snapshot() -> dict[str, Any]:
    """The process-wide state a library call must leave alone (Python's ``random`` apart: see below)."""
    return {
        "gc": (gc.isenabled(), gc.get_threshold()),
        "recursion_limit": sys.getrecursionlimit(),
        "warning_filters": (id(warnings.filters), list(warnings.filters)),
        "numpy_rng": _numpy_state(),
    }


class _SetterLog:
    """Records every call that sets process-wide state while it is active, with the caller's file.

    A state set and put back between two polls escapes the poller; each setter
    (and an assignment to ``warnings.filters``, as ``warnings.catch_warnings``
    does) is wrapped for the length of the threads' work instead.
    """

    SETTERS = [(gc, "disable"), (gc, "enable"), (gc, "set_threshold"), (gc, "freeze"), (sys, "setrecursionlimit"),
               (random, "seed"), (random, "setstate"), (np.random, "seed"), (np.random, "set_state"),
               (warnings, "simplefilter"), (warnings, "filterwarnings"), (warnings, "resetwarnings")]

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._saved: list[tuple[Any, str, Any]] = []
        self._numbers = itertools.count(1)
        # (number, caller's file) of the latest gc.disable/gc.enable call, set before the call itself runs
        self.last_gc_call: tuple[int, str] = (0, "")

    def _note(self, what: str) -> None:
        frame = sys._getframe(2)  # the Python code that called the setter (or a compiled function it called)
        self.calls.append((what, f"{frame.f_code.co_filename}:{frame.f_lineno}"))
        if what in ("gc.disable", "gc.enable"):
            self.last_gc_call = (next(self._numbers), frame.f_code.co_filename)

    def made_outside_netform(self, gc_call: tuple[int, str]) -> bool:
        """Whether ``gc_call`` (a value of ``last_gc_call``) was made by a dependency: the
        poller reads ``last_gc_call`` before and after a poll, and when both are the same such
        call, the collector's state it saw is that dependency's (h5py pauses the collector while
        it closes a file, as it does under plain Keras). netform's calls are caught by ``by_netform``."""
        number, caller = gc_call
        return number > 0 and not caller.startswith(str(Path(nf.__file__).resolve().parent))

    def by_netform(self, *prefixes: str) -> list[tuple[str, str]]:
        """The calls made from netform's own code (dependencies' calls are theirs: h5py pauses
        the collector while it closes a file, as it does under plain Keras)."""
        package = str(Path(nf.__file__).resolve().parent)
        return sorted({c for c in self.calls if c[0].startswith(prefixes) and c[1].startswith(package)})

    def __enter__(self) -> _SetterLog:
        log = self
        for module, name in self.SETTERS:
            original = getattr(module, name)

            def wrapper(*args: Any, _original: Any = original, _what: str = f"{module.__name__}.{name}",
                        **kwargs: Any) -> Any:
                log._note(_what)
                return _original(*args, **kwargs)

            self._saved.append((module, name, original))
            setattr(module, name, wrapper)

        class _Watched(types.ModuleType):
            def __setattr__(self, key: str, value: Any) -> None:
                if key == "filters":
                    log._note("warnings.filters =")
                super().__setattr__(key, value)

        self._saved.append((warnings, "__class__", types.ModuleType))
        warnings.__class__ = _Watched
        return self

    def __exit__(self, *exc: Any) -> None:
        for module, name, original in reversed(self._saved):
            setattr(module, name, original)


def _keras_draws(call: Any) -> int | str:
    """How many Keras seed draws from Python's ``random`` ``call`` makes (as plain Keras would, or not)."""
    chain = _seed_chain(200)
    random.seed(SEED)
    call()
    return chain.get(hash(random.getstate()), "a change that is not Keras's seed draws")


def _work(folder: Path, i: int) -> None:
    """What one thread does: check a spec, build it, save and load it in three formats."""
    spec = nf.load_spec(MLP.read_text(), source=f"thread-{i}.yaml")
    model = nf.build(spec)
    for name in ("m.keras", "m.h5"):
        path = folder / f"{i}-{name}"
        nf.save(model, path)
        loaded = nf.load(path)
        assert loaded.count_params() == model.count_params()
    path = folder / f"{i}-m.weights.h5"
    nf.save(model, path)
    other = nf.build(spec)
    nf.load_weights(other, path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_python_random_is_drawn_only_where_keras_draws(tmp_path: Path) -> None:
    """Keras's layer constructors draw one seed each from Python's ``random`` (so that
    ``keras.utils.set_random_seed`` decides them); netform's build and load draw exactly
    those, and nothing else reads or sets any global RNG."""
    import keras

    saved_python = random.getstate()
    spec = nf.load_spec(MLP)
    model = nf.build(spec)
    for name in ("m.keras", "m.h5", "m.weights.h5"):
        nf.save(model, tmp_path / name)
    numpy_before = _numpy_state()
    try:
        keras_build = _keras_draws(lambda: keras.Sequential.from_config(model.get_config()))
        assert isinstance(keras_build, int) and keras_build > 0
        assert _keras_draws(lambda: nf.build(spec)) == keras_build
        for name in ("m.keras", "m.h5"):
            assert _keras_draws(lambda: nf.load(tmp_path / name)) == \
                _keras_draws(lambda: keras.saving.load_model(tmp_path / name)) == keras_build
        assert _keras_draws(lambda: nf.load_spec(MLP)) == 0
        for name in ("m.keras", "m.h5", "m.weights.h5"):
            assert _keras_draws(lambda: nf.save(model, tmp_path / name)) == 0
        assert _keras_draws(lambda: nf.load_weights(model, tmp_path / "m.weights.h5")) == 0
        assert _numpy_state() == numpy_before
    finally:
        random.setstate(saved_python)


@pytest.fixture(scope="module")
def threads_at_work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``_work`` in 8 threads at once while a 9th polls the process state.

    Returns the state before and after, every state the poller saw that
    differed from the one before (by key), the Keras seed draws one ``_work``
    makes, and where on the chain of Keras seed draws from ``random.seed(SEED)``
    each Python ``random`` state the poller saw lies (``None``: off the chain).
    """
    folder = tmp_path_factory.mktemp("threads")
    saved_python = random.getstate()
    _work(folder, -1)  # imports and first-use set-up are not what is measured
    per_work = _keras_draws(lambda: _work(folder, -2))
    assert isinstance(per_work, int)
    chain = _seed_chain(THREADS * per_work + 10)
    before = _snapshot()
    seen: dict[str, list[Any]] = {key: [] for key in before}
    positions: list[int | None] = []
    polls = [0]
    done = threading.Event()

    log = _SetterLog()

    def poll() -> None:
        while not done.is_set():
            gc_call_before = log.last_gc_call
            now = _snapshot()
            if gc_call_before == log.last_gc_call and log.made_outside_netform(gc_call_before):
                # paused by h5py for the length of a file close, not by netform
                now["gc"] = (before["gc"][0], now["gc"][1])
            position = chain.get(hash(random.getstate()))
            if not positions or position != positions[-1]:
                positions.append(position)
            polls[0] += 1
            for key, value in now.items():
                if value != before[key] and len(seen[key]) < 5:
                    seen[key].append(value)
            time.sleep(0.001)

    random.seed(SEED)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        with log, concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            for future in [pool.submit(_work, folder, i) for i in range(THREADS)]:
                future.result()
    finally:
        done.set()
        poller.join()
        after, final = _snapshot(), chain.get(hash(random.getstate()))
        random.setstate(saved_python)
    return {"before": before, "after": after, "during": seen, "polls": polls[0], "per_work": per_work,
            "positions": positions, "final": final, "set": log}


def _check(state: dict[str, Any], key: str, *setters: str) -> None:
    assert state["polls"] > 10, "the poller barely ran while the threads worked"
    assert state["after"][key] == state["before"][key], f"{key} changed by the calls"
    assert not state["during"][key], f"{key} seen changed during the calls: {state['during'][key][:2]}"
    calls = state["set"].by_netform(*setters)
    assert not calls, f"{key} set during the calls by: {calls[:5]}"


def test_gc_state_is_left_alone_by_threads_at_work(threads_at_work: dict[str, Any]) -> None:
    _check(threads_at_work, "gc", "gc.")


def test_global_rngs_are_left_alone_by_threads_at_work(threads_at_work: dict[str, Any]) -> None:
    """NumPy's is never touched; Python's only moves forward by Keras's seed draws (never set back)."""
    _check(threads_at_work, "numpy_rng", "numpy.", "random.")
    positions = threads_at_work["positions"]
    assert None not in positions, "Python's random was set to a state Keras's seed draws do not reach"
    assert positions == sorted(positions), f"Python's random went back: {positions}"
    assert threads_at_work["final"] == THREADS * threads_at_work["per_work"]
    assert len(positions) > 2  # the poller saw the draws happen


def test_recursion_limit_is_left_alone_by_threads_at_work(threads_at_work: dict[str, Any]) -> None:
    _check(threads_at_work, "recursion_limit", "sys.")


def test_warning_filters_are_left_alone_by_threads_at_work(threads_at_work: dict[str, Any]) -> None:
    _check(threads_at_work, "warning_filters", "warnings.")
