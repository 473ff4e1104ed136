"""A netform SavedModel's files are compared by size before they are hashed.

A sparse ``assets.extra/netform.keras`` of 30 GiB (30 KB on disk) kept ``inspect`` busy 58 s and ``load``
36 s, hashing zeros, before it was found to differ. The save now records each file's size beside its
digest; a file of another size differs at once. A save of an earlier version has no sizes: its copy may
hold at most 5 times the bytes of the graph and variables (plus 64 MiB) before it is hashed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import netform as nf
from netform.errors import FormatError

pytestmark = pytest.mark.tf

SPEC = "netform: 1\nname: t\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 1}]\n"
SPARSE = 30 * 2**30


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "sm"
    nf.save(nf.build(nf.load_spec(SPEC)), str(path), format="savedmodel")
    return path


def _record(path: Path) -> tuple[Path, dict[str, Any]]:
    meta = path / "assets.extra" / "netform.json"
    return meta, json.loads(meta.read_text())


def test_the_save_records_every_hashed_file_s_size(saved: Path) -> None:
    _, record = _record(saved)
    assert set(record["sizes"]) == set(record["sha256"]) | set(record["sha256_netform"])
    for name, size in record["sizes"].items():
        assert (saved / name).stat().st_size == size


@pytest.mark.parametrize("name", ["assets.extra/netform.keras", "saved_model.pb", "variables/variables.index"])
def test_a_sparse_file_is_refused_by_its_size_without_hashing(saved: Path, name: str) -> None:
    os.truncate(saved / name, SPARSE)
    for read in (nf.load, nf.inspect):
        start = time.process_time()
        with pytest.raises(FormatError):
            read(str(saved))
        assert time.process_time() - start < 5  # hashing 30 GiB took 36-58 s


def test_the_size_named_in_the_message(saved: Path) -> None:
    os.truncate(saved / "assets.extra" / "netform.keras", SPARSE)
    with pytest.raises(FormatError, match=r"netform\.keras differs from the one the save wrote \(32,212,254,720 bytes; the save wrote [\d,]+\)"):
        nf.load(str(saved))


def test_without_recorded_sizes_the_copy_is_bounded_before_hashing(saved: Path) -> None:
    meta, record = _record(saved)
    del record["sizes"]  # as an earlier version saved it
    meta.write_text(json.dumps(record))
    nf.load(str(saved))  # the copy a save wrote is within the bound
    os.truncate(saved / "assets.extra" / "netform.keras", SPARSE)
    start = time.process_time()
    with pytest.raises(FormatError, match=r"more than 5 times the [\d,]+ bytes of the graph and variables"):
        nf.load(str(saved))
    assert time.process_time() - start < 5


@pytest.mark.parametrize("sizes", [[1], {"saved_model.pb": "12"}, {"saved_model.pb": -1}, {"../x": 1}, "x"])
def test_a_sizes_record_not_as_netform_writes_it_is_refused(saved: Path, sizes: Any) -> None:
    meta, record = _record(saved)
    record["sizes"] = sizes
    meta.write_text(json.dumps(record))
    with pytest.raises(FormatError, match="field 'sizes' is not an object of file names"):
        nf.load(str(saved))


@pytest.mark.parametrize("name", ["assets.extra/netform.keras", "variables/variables.data-00000-of-00001"])
def test_a_sparse_file_whose_recorded_size_was_edited_is_refused_unread(saved: Path, name: str) -> None:
    """The record is the attacker's too: a hole is refused by what is on disk, whatever the record says."""
    os.truncate(saved / name, SPARSE)
    meta, record = _record(saved)
    record["sizes"][name] = SPARSE
    meta.write_text(json.dumps(record))
    for read in (nf.load, nf.inspect):
        start = time.process_time()
        with pytest.raises(FormatError):
            read(str(saved))
        assert time.process_time() - start < 5
