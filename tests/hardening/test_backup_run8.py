"""A training backup's ``state.json`` counts and ``variables.npz`` directory are checked before use.

Each case damages a real backup (left by a training interrupted in its second
epoch) and resumes. A ``counts`` field of a billion variables used to be
expanded into a set of that many array names before it was compared with the
model (4 GB, then a raw MemoryError); now it is compared first, a FormatError
in milliseconds. The archive's directory is checked before any array header is
read: an entry beyond the counts ``state.json`` declares, an entry named twice,
or more entries than the state declares are each refused.
"""

from __future__ import annotations

import json
import shutil
import time
import tracemalloc
from pathlib import Path

import keras
import numpy as np
import pytest

from netform.engine._backup import TrainingBackup
from netform.errors import FormatError
from tests._budget import assert_cpu_under, assert_seconds_under, cpu_seconds

from ._backup_helpers import X, fit, interrupted_backup, rewrite_variables, tiny_model, variables


def _model() -> keras.Model:
    return tiny_model(name="tiny")


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return interrupted_backup(tmp_path_factory.mktemp("orig"), _model())


@pytest.fixture
def bk(tmp_path: Path, interrupted: Path) -> Path:
    backup = tmp_path / "bk"
    shutil.copytree(interrupted, backup)
    return backup


def _set_count(bk: Path, group: str, value: int) -> None:
    path = bk / "state" / "state.json"
    state = json.loads(path.read_text())
    state["counts"][group] = value
    path.write_text(json.dumps(state))


def _built_model() -> keras.Model:
    """The model, its optimizer built: restoring needs no data stream."""
    model = _model()
    model(X[:1])
    model.optimizer.build(model.trainable_variables)
    return model


def _restore_refused(bk: Path, pattern: str) -> tuple[float, int]:
    """Restore directly; return the CPU seconds and peak bytes (Python allocations) it took to refuse.

    Measured on a second refusal: the first, untimed, loads the modules refusing imports on first use.
    """
    model = _built_model()
    backup = TrainingBackup(bk)

    def refuse() -> None:
        with pytest.raises(FormatError, match=pattern) as caught:
            backup.restore(model, None)
        assert f"remove {bk / 'state'} (the backup folder's state)" in str(caught.value)

    refuse()
    tracemalloc.start()
    try:
        seconds = cpu_seconds(refuse, warm=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak


def _rewrite(bk: Path, entries: list[tuple[str, np.ndarray]]) -> None:
    """Rewrite ``state/variables.npz`` with the backup's own arrays followed by ``entries`` (names may repeat)."""
    rewrite_variables(bk, [*variables(bk), *entries])


def test_a_huge_model_count_is_compared_with_the_model_first(bk: Path) -> None:
    _set_count(bk, "model", 10**6)  # a billion took 32 s and 4 GB, then a raw MemoryError
    pattern = r"the training backup holds 1000000 model variable\(s\) but model 'tiny' has 2\. "
    seconds, peak = _restore_refused(bk, pattern)
    assert peak < 20 * 2**20, peak
    assert_seconds_under(seconds, 1.0, "restore refusing a million model variables",
                         again=lambda: _restore_refused(bk, pattern)[0])


def test_a_huge_metrics_count_allocates_nothing(bk: Path) -> None:
    _set_count(bk, "metrics", 10**6)  # metrics are not compared (rebuilt lazily): the count must still cost nothing
    model = _built_model()
    backup = TrainingBackup(bk)
    tracemalloc.start()
    try:
        backup.restore(model, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak


def test_the_cli_refuses_a_billion_variables_in_well_under_a_second(bk: Path) -> None:
    _set_count(bk, "model", 10**9)

    def refuse() -> None:
        with pytest.raises(FormatError, match=r"holds 1000000000 model variable\(s\) but model 'tiny' has 2"):
            fit(_model(), bk)

    # Wall clock, after a first untimed refusal (Keras's first fit in this process sets up more): the model is made
    # and fit starts on TensorFlow's threads. A billion took 32 s and 4 GB.
    assert_cpu_under(refuse, 5.0, "fit refusing a billion model variables", clock=time.perf_counter)


def test_entries_beyond_the_declared_counts_are_refused(bk: Path) -> None:
    _rewrite(bk, [(f"model_{i}", np.zeros(1, "float32")) for i in range(2, 5)])
    pattern = r"variables\.npz: array 'model_2' is beyond the 2 model array\(s\) state\.json"
    seconds, _ = _restore_refused(bk, pattern)
    assert_seconds_under(seconds, 1.0, "restore refusing entries beyond the counts",
                         again=lambda: _restore_refused(bk, pattern)[0])


def test_a_duplicate_entry_is_refused(bk: Path) -> None:
    _rewrite(bk, [("model_0", np.zeros((4, 3), "float32"))])
    _restore_refused(bk, r"variables\.npz: entry 'model_0\.npy' appears 2 times")


def test_more_entries_than_the_state_declares_are_refused(bk: Path) -> None:
    _rewrite(bk, [(f"callback7_{j}", np.zeros(1, "float32")) for j in range(100)])
    _restore_refused(bk, r"variables\.npz: holds \d+ arrays, more than the \d+ state\.json declares")


def test_the_untouched_backup_still_resumes(bk: Path) -> None:
    fit(_model(), bk)
    assert not (bk / "state").exists()
