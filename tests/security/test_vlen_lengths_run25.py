"""A variable-length HDF5 dataset whose stored lengths lie is refused from its bytes, before HDF5 allocates them.

A 17 KB ``.h5`` holding one string element whose length field claims 4 GiB made ``inspect`` and
``load_weights`` use 4.2-4.7 GB of memory before HDF5 found the data shorter (attributes were already
measured from their descriptors; datasets were read in slices that trusted each element to fit the
file). The lengths are now read from the file's bytes first; a variable-length dataset netform cannot
measure so (stored in chunks or in its header, which Keras never writes) is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import pytest

import netform as nf
from netform.errors import UnsafeFileError


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vlen") / "m.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    return path


def _lying(src: Path, dst: Path, length: int = 2**32 - 1) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        d = f.create_dataset("model_weights/zz", (1,), dtype=h5py.string_dtype())
        d[0] = "A" * 10
        offset = d.id.get_offset()
    data = bytearray(dst.read_bytes())
    data[offset : offset + 4] = length.to_bytes(4, "little")
    dst.write_bytes(bytes(data))
    return dst


def test_a_length_past_the_file_is_refused_without_allocating_it(model_file: Path, tmp_path: Path) -> None:
    bad = _lying(model_file, tmp_path / "lie.h5")
    # in a child under a 2 GB address-space limit: HDF5 allocating the 4 GiB it is told would fail there
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))\n"
        "import netform as nf\n"
        f"try:\n    nf.inspect({str(bad)!r})\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "UnsafeFileError" in out.stdout and "4294967295 bytes" in out.stdout, out.stdout + out.stderr[-2000:]


def test_load_weights_refuses_it_too(model_file: Path, tmp_path: Path) -> None:
    bad = _lying(model_file, tmp_path / "lie.h5")
    with pytest.raises(UnsafeFileError, match="has an element of 4294967295 bytes"):
        nf.load_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), bad)


def test_honest_strings_stored_contiguously_still_load(model_file: Path, tmp_path: Path) -> None:
    ok = tmp_path / "ok.h5"
    shutil.copy(model_file, ok)
    with h5py.File(ok, "a") as f:
        f.create_dataset("model_weights/notes", data=["a", "bb", "ccc"], dtype=h5py.string_dtype())
    nf.inspect(str(ok))


def test_strings_stored_in_chunks_are_refused_as_unmeasurable(model_file: Path, tmp_path: Path) -> None:
    chunked = tmp_path / "chunked.h5"
    shutil.copy(model_file, chunked)
    with h5py.File(chunked, "a") as f:
        f.create_dataset("model_weights/notes", data=["a", "bb", "ccc"], dtype=h5py.string_dtype(), chunks=(1,))
    with pytest.raises(UnsafeFileError, match="stored in chunks"):
        nf.inspect(str(chunked))
