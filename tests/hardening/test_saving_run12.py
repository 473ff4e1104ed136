"""Saving leaves nothing behind and refuses a bad target itself, before any work.

* ``nf.save``/``save_weights`` run the path checks (a name too long, a file where a folder should be, a
  foreign folder) before anything is written or converted, with a ``SaveError`` naming the path and the fix,
  and the folders a save made for a write that failed are removed again;
* a spec's ``ModelCheckpoint`` whose write fails leaves none of the folders netform made for it;
* a TF checkpoint save killed with SIGKILL leaves a temporary folder and a set's data without its index,
  which the next save to the prefix removes (a user's look-alike files stay);
* ``netform render -o FOLDER`` names the file to give instead.
"""

from __future__ import annotations

import os
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
      - {type: Dense, units: 1}
    """)


# --- netform render -o FOLDER ---------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["out", "out/", "out.svg"])
def test_render_into_a_folder_names_a_file_to_give(tmp_path: Path, monkeypatch, capsys, output: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reg.yaml").write_text(SPEC)
    (tmp_path / output.rstrip("/")).mkdir()
    assert main(["render", "reg.yaml", "-o", output]) == 7
    err = capsys.readouterr().err
    folder = output.rstrip("/")
    assert f"-o {output}: is a folder" in err
    assert f"give a file name, such as {os.path.join(output, 'reg.svg')}" in err, err
    assert os.listdir(tmp_path / folder) == []


def test_render_into_a_folder_suggests_the_format_asked_for(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reg.yaml").write_text(SPEC)
    (tmp_path / "out").mkdir()
    assert main(["render", "reg.yaml", "-o", "out", "--format", "dot"]) == 7
    assert "such as out/reg.dot" in capsys.readouterr().err
