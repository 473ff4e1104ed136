"""What a path holds, as error messages describe it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from netform.saving._detect import describe_content


def test_a_file_is_described_by_its_size_and_first_bytes(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello there, a user's notes")
    assert describe_content(str(tmp_path / "notes.txt")) == "a 27-byte file starting with text 'hello there, a u'"
    (tmp_path / "empty").write_bytes(b"")
    assert describe_content(str(tmp_path / "empty")) == "an empty file"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_proc_file_is_not_called_zero_bytes() -> None:
    """``/proc/self/environ`` stats as 0 bytes and reads as text: it was "a 0-byte file starting with text ..."."""
    text = describe_content("/proc/self/cmdline")
    assert "0-byte" not in text and "no size known before it is read" in text
