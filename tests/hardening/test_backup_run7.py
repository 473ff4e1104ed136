"""A training backup's ``variables.npz`` is untrusted: its headers are checked before any array is allocated.

Each case damages a real backup (left by a training interrupted in its second
epoch) and resumes: a header declaring a 37 GiB array, an array of the wrong
shape, an array no backup holds, or arrays declaring more bytes than the
model's variables are each a FormatError naming the file and the fix, which
removes only netform's own ``state`` folder (before, the first was a raw
MemoryError and the second said to delete the whole backup folder, which may
hold the user's files).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from netform.errors import FormatError
from tests._budget import assert_cpu_under

from ._backup_helpers import fit, interrupted_backup, rewrite_variables, tiny_model, variables


def _model(units: int = 3) -> keras.Model:
    return tiny_model(units)


def _fit(model: keras.Model, backup: Path) -> None:
    fit(model, backup)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return interrupted_backup(tmp_path_factory.mktemp("orig"), tiny_model())


@pytest.fixture
def bk(tmp_path: Path, interrupted: Path) -> Path:
    backup = tmp_path / "bk"
    shutil.copytree(interrupted, backup)
    (backup / "my_notes.txt").write_text("mine")  # a user's file beside netform's state
    return backup


def _rewrite(bk: Path, change: dict[str, bytes | np.ndarray | None]) -> None:
    """Rewrite ``state/variables.npz``: each named member replaced by raw ``.npy`` bytes or an array, added, or
    (``None``) left out."""
    members: dict[str, bytes | np.ndarray | None] = dict(variables(bk))
    members.update(change)
    rewrite_variables(bk, [(name, value) for name, value in members.items() if value is not None])


def _resume_refused(bk: Path, pattern: str, model: keras.Model | None = None) -> str:
    with pytest.raises(FormatError, match=pattern) as caught:
        _fit(model or _model(), bk)
    message = str(caught.value)
    assert f"remove {bk / 'state'} (the backup folder's state)" in message and f"delete {bk} " not in message
    assert (bk / "my_notes.txt").read_text() == "mine" and (bk / "state" / "variables.npz").is_file()
    return message


def test_a_header_declaring_37_gib_is_refused_before_allocating(bk: Path) -> None:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += b" " * (118 - len(header)) + b"\n"
    _rewrite(bk, {"model_0": b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header})
    pattern = (
        r"variables\.npz: array 'model_0' declares shape \(100000, 100000\) of float32 "
        r"\(40000000000 bytes\), but the file stores only 0 bytes"
    )
    # Wall clock (the model is made and fit starts on TensorFlow's threads), after a first untimed refusal: generous
    # beside the refusal itself, far under allocating 37 GiB.
    assert_cpu_under(lambda: _resume_refused(bk, pattern), 5.0, "resuming from a 37 GiB header",
                     clock=time.perf_counter)


def test_a_backup_of_another_shape_names_only_the_state_folder(bk: Path) -> None:
    _resume_refused(
        bk, r"model variable 0 \(.*kernel\) has shape \(4, 5\) in model .* but \(4, 3\) in the backup", _model(units=5)
    )


def test_an_array_no_backup_holds_is_refused(bk: Path) -> None:
    _rewrite(bk, {"zzz": np.arange(10.0)})
    _resume_refused(bk, r"array 'zzz' is none a backup of model .* holds")


def test_arrays_declaring_more_than_the_model_holds_are_refused(bk: Path) -> None:
    _rewrite(bk, {"metrics_0": np.zeros(70 * 2**20 // 8)})  # 70 MiB stored for a scalar metric
    _resume_refused(bk, r"the arrays declare [\d,]+ bytes, more than the [\d,]+ bytes of model")


def test_the_untouched_backup_resumes(bk: Path) -> None:
    model = _model()
    _fit(model, bk)
    assert not (bk / "state").exists() and (bk / "my_notes.txt").read_text() == "mine"
    assert "my_notes.txt" in os.listdir(bk)
