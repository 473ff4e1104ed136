"""Data files numpy reads but netform cannot use are refused naming the file and the array, with advice that fits.

A float128 (long double) array reached TensorFlow and failed as "predict(): the data could not be read:
Invalid dtype: float128", naming neither; an .npy header over numpy's safe length passed numpy's advice on,
"adjust `max_header_size` or fully trust the `.npy` file using `allow_pickle=True`", options netform has not.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from netform.cli._data_files import read_data
from netform.errors import DataError


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="long double is float64 on this machine")
def test_a_long_double_array_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ld.npz"
    np.savez(path, x=np.ones((3, 2), np.longdouble))
    with pytest.raises(DataError, match=r"ld\.npz: array 'x' holds float128 values .*astype\('float64'\)"):
        read_data(str(path))


def test_a_long_header_gets_no_numpy_advice(tmp_path: Path) -> None:
    header = repr({"descr": "<f4", "fortran_order": False, "shape": (2, 2)}) + " " * 20_000 + "\n"
    data = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + np.zeros((2, 2), "f4").tobytes()
    path = tmp_path / "h.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", data)
    with pytest.raises(DataError) as err:
        read_data(str(path))
    assert "h.npz: entry 'x.npy'" in str(err.value) and "longer than numpy reads safely" in str(err.value)
    assert "allow_pickle" not in str(err.value) and "max_header_size" not in str(err.value)
