"""A path that is a symbolic link to nothing is refused as missing, naming the link.

``netform inspect d`` and ``nf.load("d")`` of a dangling link ``d`` recursed until Python's recursion limit
(exit 70): the format detection saw no file behind the name, looked for a parked copy to put back, saw a name
there (the link itself) and detected again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError


@pytest.mark.parametrize("name", ["d", "m.keras", "sm"])
def test_a_dangling_link_is_refused_as_missing(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / name
    os.symlink(tmp_path / "nothere", link)
    for load in (nf.load, nf.inspect, nf.detect_format):
        with pytest.raises(FormatError, match=r"symbolic link to .*nothere.*which does not exist"):
            load(str(link))
    capsys.readouterr()
    assert main(["inspect", str(link)]) == 5
    assert main(["convert", str(link), str(tmp_path / "out.keras")]) == 5
    err = capsys.readouterr().err
    assert "which does not exist" in err and "Recursion" not in err
    assert os.path.islink(link) and not (tmp_path / "out.keras").exists()


def test_summary_and_render_say_the_link_is_dangling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "dang.keras"
    os.symlink(tmp_path / "nowhere.keras", link)
    assert main(["summary", str(link)]) != 0
    assert main(["render", str(link), "-o", str(tmp_path / "o.svg")]) != 0
    err = capsys.readouterr().err
    assert err.count("which does not exist") == 2
    assert not (tmp_path / "o.svg").exists()
