"""An .npy header NumPy cannot tokenize is a DataError (a data file) or a FormatError (a training backup).

A header cut off inside its literal (``{'descr': '<f4', 'shape': (16, 64, }``, ``{``, ``'''``, a trailing
backslash) made NumPy raise ``tokenize.TokenError``, which ``train``/``predict``/``evaluate`` reported as a
bug (exit 70) and ``fit(backup_dir=…)`` raised raw.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

HEADERS = [
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (16, 64, }\n",
    b"{\n",
    b"'''\n",
    b"{'descr': '<f4' \\\n",
    b"{'descr': " + b"[" * 5000 + b"\n",
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (16, 4), 'x': 1 +}\n",
]
SPEC = (
    "netform: 1\nname: m\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 1}\n"
    "training: {loss: mse, epochs: 1}\n"
)


def _npy(header: bytes) -> bytes:
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(16 * 4 * 4)


def _member(header: bytes, name: str = "x.npy") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(name, _npy(header))
        y = io.BytesIO()
        np.save(y, np.zeros((16, 1), "float32"))
        z.writestr("y.npy", y.getvalue())
    return out.getvalue()


@pytest.mark.parametrize("header", HEADERS, ids=range(len(HEADERS)))
def test_an_untokenizable_header_in_a_data_file_is_a_data_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], header: bytes
) -> None:
    (tmp_path / "s.yaml").write_text(SPEC)
    (tmp_path / "d.npz").write_bytes(_member(header))
    code = main(["train", str(tmp_path / "s.yaml"), "--data", str(tmp_path / "d.npz"), "--x", "x", "--y", "y"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "entry 'x.npy' is not a .npy array with a readable header" in err and "bug" not in err
