"""A training backup's leftovers lose only what a backup writes, judged by content as well as by name.

A backup killed as it replaced its state left ``.<hex>.nf-tmp-state``; the next run deleted ``state.json`` and
``variables.npz`` in it by their names alone, so a user's notes saved there under ``state.json`` went with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from netform.engine._backup_lock import remove_temporaries


def test_a_user_s_text_under_a_state_name_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    left = tmp_path / ".0123456789abcdef.nf-tmp-state"
    left.mkdir()
    (left / "state.json").write_text("my notes, not json")
    (left / "variables.npz").write_text("more notes")
    remove_temporaries(tmp_path, state)
    assert (left / "state.json").read_text() == "my notes, not json"
    assert (left / "variables.npz").read_text() == "more notes"


def test_a_backup_s_own_leftover_is_removed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    left = tmp_path / ".0123456789abcdef.nf-tmp-state"
    left.mkdir()
    (left / "state.json").write_text(json.dumps({"format": "netform-training-backup", "version": 1}))
    np.savez(left / "variables.npz", a=np.zeros(3))
    remove_temporaries(tmp_path, state)
    assert not left.exists()


def test_a_variables_file_cut_short_by_a_kill_is_removed(tmp_path: Path) -> None:
    """A backup killed while writing ``variables.npz`` leaves the start of a zip (its entries' headers, no
    directory): it is no zip, so its folder stayed for good, through every later training."""
    np.savez(tmp_path / "whole.npz", a=np.zeros(20_000), b=np.ones(30_000))
    data = (tmp_path / "whole.npz").read_bytes()
    state = tmp_path / "state"
    for cut in (3, 100, 143_928, len(data) - 30):
        left = tmp_path / ".0123456789abcdef.nf-tmp-state"
        left.mkdir()
        (left / "variables.npz").write_bytes(data[:cut])
        remove_temporaries(tmp_path, state)
        assert not left.exists(), cut


def test_a_zip_of_a_user_s_text_files_cut_short_is_kept(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as archive:
        archive.writestr("thesis.txt", "my thesis " * 1000)
    state = tmp_path / "state"
    left = tmp_path / ".0123456789abcdef.nf-tmp-state"
    left.mkdir()
    (left / "variables.npz").write_bytes((tmp_path / "notes.zip").read_bytes()[:500])
    remove_temporaries(tmp_path, state)
    assert (left / "variables.npz").exists()
