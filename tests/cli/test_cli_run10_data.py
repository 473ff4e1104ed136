"""Unreadable spec and data files, duplicate .npz arrays and CSV numbers with underscores get netform's errors.

A file whose read fails (``/proc/self/mem`` gives EIO, as a failing disk does) ended in exit 70 ("a bug"); an
``.npz`` holding two members named ``x.npy`` trained on whichever numpy kept; ``1_000`` in a CSV was read as 1000
(Python's ``float`` takes underscores).
"""

from __future__ import annotations

import os
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: reg
    kind: sequential
    inputs:
      x: {shape: [2]}
    layers:
      - {type: Dense, units: 1}
    training:
      loss: mse
      batch_size: 4
      epochs: 1
    """)

MEM = Path("/proc/self/mem")


@pytest.mark.skipif(not MEM.exists(), reason="needs /proc/self/mem (a file whose read fails)")
def test_an_unreadable_spec_is_a_spec_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(MEM)]) == 1
    assert "cannot read the spec file: Input/output error" in capsys.readouterr().err
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "mem.yaml").symlink_to(MEM)
    (folder / "ok.yaml").write_text(SPEC)
    assert main(["validate", str(folder)]) == 1  # the folder's other spec is still checked
    captured = capsys.readouterr()
    assert "1 of 2 spec(s) valid" in captured.out and "mem.yaml: cannot read the spec file" in captured.err


@pytest.fixture()
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "reg.yaml"
    path.write_text(SPEC)
    return path


@pytest.mark.skipif(not MEM.exists(), reason="needs /proc/self/mem (a file whose read fails)")
def test_an_unreadable_data_file_is_a_data_error(tmp_path: Path, spec: Path, capsys) -> None:
    (tmp_path / "d.csv").symlink_to(MEM)
    assert main(["train", str(spec), "--data", str(tmp_path / "d.csv")]) == 4
    assert "d.csv: cannot read the data file (Input/output error)" in capsys.readouterr().err


def test_an_npz_with_two_arrays_of_one_name_is_refused(tmp_path: Path, spec: Path, capsys) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((8, 2), "float32"), y=np.zeros((8, 1), "float32"))
    with zipfile.ZipFile(tmp_path / "a.npz") as archive, zipfile.ZipFile(tmp_path / "d.npz", "w") as out:
        for name in archive.namelist():
            out.writestr(name, archive.read(name))
        with pytest.warns(UserWarning, match="Duplicate name"):
            out.writestr("x.npy", archive.read("x.npy"))
    assert main(["train", str(spec), "--data", str(tmp_path / "d.npz")]) == 4
    assert "holds two arrays named 'x'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1_000", "1_0.5", "_1"])
def test_a_csv_number_with_underscores_is_not_a_number(tmp_path: Path, spec: Path, value: str, capsys) -> None:
    rows = "\n".join(f"1.0,2.0,{v}" for v in ["3.0", value, "4.5", "1e3"])
    (tmp_path / "d.csv").write_text(f"a,b,y\n{rows}\n")
    assert main(["train", str(spec), "--data", str(tmp_path / "d.csv"), "--x", "a,b", "--y", "y"]) == 4
    assert f"row 3, column 3 ('y'): {value!r} is not a number" in capsys.readouterr().err
    os.remove(tmp_path / "d.csv")
