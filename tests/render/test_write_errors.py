"""A diagram that cannot be written says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from netform.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("suffix", ["html", "svg", "dot"])
def test_a_directory_in_the_way_is_named(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / f"diagram.{suffix}"
    target.mkdir()
    assert main(["render", str(ROOT / "models" / "mlp.yaml"), "-o", str(target)]) == 7
    err = capsys.readouterr().err
    assert "is a folder" in err and "give a file name" in err and ": None" not in err
    assert target.is_dir()
