"""`netform render`: a --format that contradicts the output's extension is refused, .htm and .gv included."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: reg
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 8, activation: relu}
      - {type: Dense, units: 1}
    """)


def _netform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("netform")  # the installed console script
    command = [str(script)] if script.exists() else [sys.executable, "-m", "netform.cli._main"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_svg_into_an_html_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "reg.yaml").write_text(SPEC)
    done = _netform("render", "reg.yaml", "-o", "x.html", "--format", "svg", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: --format svg -o x.html: the file name says html but --format says svg; "
                                   "name the file x.svg, or leave --format out")
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(("output", "fmt", "said"), [
    ("x.HTML", "png", "html"), ("x.htm", "svg", "html"), ("x.svg", "html", "svg"), ("x.gv", "svg", "dot"),
    ("x.dot", "html", "dot"),
])
def test_a_format_that_contradicts_the_extension_is_a_usage_error(
        tmp_path: Path, output: str, fmt: str, said: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "reg.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    assert main(["render", "reg.yaml", "-o", output, "--format", fmt]) == 2
    stem = output.rsplit(".", 1)[0]
    assert capsys.readouterr().err.strip() == (f"error: --format {fmt} -o {output}: the file name says {said} but "
                                               f"--format says {fmt}; name the file {stem}.{fmt}, or leave "
                                               "--format out")
    assert not (tmp_path / output).exists()


def test_a_format_that_agrees_with_an_alias_extension_is_written(tmp_path: Path) -> None:
    (tmp_path / "reg.yaml").write_text(SPEC)
    done = _netform("render", "reg.yaml", "-o", "x.htm", "--format", "html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.htm").read_text().startswith("<!DOCTYPE html>")
    assert main(["render", str(tmp_path / "reg.yaml"), "-o", str(tmp_path / "x.gv"), "--format", "dot"]) == 0
    assert (tmp_path / "x.gv").read_text().startswith("digraph")
