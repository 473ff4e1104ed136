"""HDF5 virtual datasets, zip / HDF5 / data-file bombs, and reads that verify what they read.

Every hostile file is crafted here, in a temporary folder; nothing binary is committed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform.saving as nfs  # noqa: E402
from netform.errors import DataError, UnsafeFileError  # noqa: E402


def _model(seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="victim")
    model.compile(optimizer="adam", loss="mse")
    return model


# --- HDF5 virtual datasets ---------------------------------------------------------------------

SECRET = np.full((3, 2), 42.0, dtype="float32")


def _secret_file(tmp: Path) -> Path:
    import h5py

    path = tmp / "secret.h5"
    with h5py.File(path, "w") as f:
        f["secret"] = SECRET
    return path


def _swap_kernel_for_vds(f: Any, secret: Path) -> str:
    """Replace the first (3, 2) dataset by a virtual one reading ``secret``; drop the checksums."""
    import h5py

    found: list[str] = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset)
                 and obj.shape == (3, 2) and not found else None)
    name = found[0]
    del f[name]
    layout = h5py.VirtualLayout(shape=(3, 2), dtype="float32")
    layout[:] = h5py.VirtualSource(str(secret), "secret", shape=(3, 2))
    f.create_virtual_dataset(name, layout)
    if "netform_checksums" in f.attrs:
        del f.attrs["netform_checksums"]
    return name


def _vds_file(tmp: Path, kind: str) -> Path:
    import h5py

    secret = _secret_file(tmp)
    model = _model()
    if kind == "keras":
        path = tmp / "vds.keras"
        nfs.save(model, str(path))
        with zipfile.ZipFile(path) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        buf = io.BytesIO(entries["model.weights.h5"])
        with h5py.File(buf, "a") as f:
            _swap_kernel_for_vds(f, secret)
        entries["model.weights.h5"] = buf.getvalue()
        with zipfile.ZipFile(path, "w") as zf:
            for n, data in entries.items():
                zf.writestr(n, data)
        return path
    path = tmp / {"h5": "vds.h5", "weights_h5": "vds.weights.h5", "legacy": "vds_legacy.h5"}[kind]
    if kind == "h5":
        nfs.save(model, str(path))
    else:
        nfs.save_weights(model, str(path), format="legacy_h5_weights" if kind == "legacy" else "weights_h5")
    with h5py.File(path, "a") as f:
        _swap_kernel_for_vds(f, secret)
    return path


@pytest.mark.parametrize("kind", ["legacy", "h5", "weights_h5", "keras"])
def test_virtual_dataset_refused_by_load_weights(tmp_path: Path, kind: str) -> None:
    path = _vds_file(tmp_path, kind)
    model = _model(1)
    with pytest.raises(UnsafeFileError, match=r"is a virtual dataset, which reads other files \(.*secret\.h5:secret\)"):
        nfs.load_weights(model, str(path))
    assert not np.any(model.layers[-1].kernel.numpy() == 42.0), "the other file's data was loaded"


@pytest.mark.parametrize("kind", ["h5", "keras"])
def test_virtual_dataset_refused_by_load(tmp_path: Path, kind: str) -> None:
    path = _vds_file(tmp_path, kind)
    with pytest.raises(UnsafeFileError, match=r"is a virtual dataset, which reads other files \(.*secret\.h5:secret\)"):
        nfs.load(str(path))


# --- zip bombs ---------------------------------------------------------------------------------


def _raw_zip(path: Path, entries: list[tuple[str, bytes, int, int]], *, share_from: int | None = None) -> None:
    """Write a zip from pre-deflated entries ``(name, deflated, crc, size)``.

    With ``share_from``, every entry from that index on points at that entry's stored data.
    """
    out = bytearray()
    central = bytearray()
    shared = 0
    for i, (name, data, crc, size) in enumerate(entries):
        raw = name.encode()
        offset = len(out)
        if share_from is None or i <= share_from:
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(raw), 0)
            out += raw + data
            shared = offset
        else:
            offset = shared
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size,
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))


def _deflated_zeros(size: int) -> tuple[bytes, int]:
    """Raw deflate of ``size`` zero bytes, built from one compressed 16 MiB block."""
    block = min(size, 16 * 2**20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = comp.compress(b"\0" * block) + comp.flush(zlib.Z_FULL_FLUSH)
    assert size % block == 0
    data = unit * (size // block) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    zeros = b"\0" * block
    for _ in range(size // block):
        crc = zlib.crc32(zeros, crc)
    return data, crc


def _keras_entries(tmp: Path) -> list[tuple[str, bytes, int, int]]:
    path = tmp / "base.keras"
    nfs.save(_model(), str(path))
    with zipfile.ZipFile(path) as zf:
        out = []
        for n in zf.namelist():
            data = zf.read(n)
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            out.append((n, comp.compress(data) + comp.flush(), zlib.crc32(data), len(data)))
    return out


@pytest.mark.parametrize("share", [False, True], ids=["128_entries", "overlapping_entries"])
def test_zip_bomb_checks_the_total(tmp_path: Path, share: bool) -> None:
    data, crc = _deflated_zeros(16 * 2**20)  # 16 MiB each: under the per-entry threshold
    bomb = [(f"assets/zeros_{i:03d}.bin", data, crc, 16 * 2**20) for i in range(128)]
    path = tmp_path / "bomb.keras"
    base = _keras_entries(tmp_path)
    _raw_zip(path, base + bomb, share_from=len(base) if share else None)
    start = time.process_time()
    with pytest.raises(UnsafeFileError, match=r"zip bomb|overlap"):
        nfs.load(str(path))
    assert time.process_time() - start < 2.0
    assert not list(tmp_path.glob("**/zeros_*")), "archive entries were extracted"


# --- HDF5 variable-length bombs ----------------------------------------------------------------


def _vlen_bomb(tmp: Path, copies: int = 256, size: int = 2**20) -> Path:
    """A full-model .h5 with a vlen-string dataset whose ``copies`` elements all name one 1 MiB string."""
    import h5py

    path = tmp / "vlen_bomb.h5"
    nfs.save(_model(), str(path))
    with h5py.File(path, "a") as f:
        values = np.array([b"x" * size] + [b"a"] * (copies - 1), dtype=object)
        dset = f["model_weights"].create_dataset("names", data=values, dtype=h5py.string_dtype("ascii"))
        offset = dset.id.get_offset()
        sums = json.loads(f.attrs["netform_checksums"])
        sums["model_weights/names"] = 0
        f.attrs["netform_checksums"] = json.dumps(sums)
    with open(path, "r+b") as fh:  # every element now points at the first element's heap object
        fh.seek(offset)
        record = fh.read(16)
        fh.seek(offset)
        fh.write(record * copies)
    return path


def test_vlen_bomb_refused_before_reading(tmp_path: Path) -> None:
    path = _vlen_bomb(tmp_path)
    assert path.stat().st_size < 2 * 2**20
    start = time.process_time()
    with pytest.raises(UnsafeFileError, match=r"variable-length .*'/model_weights/names'.*bomb"):
        nfs.load(str(path))
    assert time.process_time() - start < 2.0


def test_small_vlen_dataset_still_loads(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "vlen_ok.h5"
    nfs.save(_model(), str(path))
    with h5py.File(path, "a") as f:
        f.create_dataset("notes", data=np.array([b"hello", b"world"], dtype=object),
                         dtype=h5py.string_dtype("ascii"))
    assert nfs.load(str(path)).name == "victim"


# --- .h5 load while the file is being replaced ---------------------------------------------------


@pytest.mark.parametrize("loader", ["load", "load_weights"])
def test_h5_load_during_replacements_reads_one_file(tmp_path: Path, loader: str) -> None:
    blobs, kernels = [], []
    for seed in (1, 2):
        model = _model(seed)
        src = tmp_path / f"m{seed}.h5"
        nfs.save(model, str(src))
        blobs.append(src.read_bytes())
        kernels.append(model.layers[-1].kernel.numpy())
    target = tmp_path / "live.h5"
    target.write_bytes(blobs[0])
    stop = threading.Event()

    def replace() -> None:
        i = 0
        while not stop.is_set():
            tmp = tmp_path / f"live.h5.tmp{i % 2}"
            tmp.write_bytes(blobs[i % 2])
            os.replace(tmp, target)
            i += 1

    thread = threading.Thread(target=replace)
    thread.start()
    failures: list[str] = []
    loads = 0
    probe = _model(3)
    try:
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            try:
                if loader == "load":
                    kernel = nfs.load(str(target), compile=False).layers[-1].kernel.numpy()
                else:
                    nfs.load_weights(probe, str(target))
                    kernel = probe.layers[-1].kernel.numpy()
            except Exception as err:  # noqa: BLE001 - every failure is collected and reported
                failures.append(f"{type(err).__name__}: {err}")
                continue
            loads += 1
            if not any(np.array_equal(kernel, k) for k in kernels):
                failures.append("loaded a kernel that is neither save")
    finally:
        stop.set()
        thread.join()
    assert loads > 5
    assert not failures, failures[:3]


# --- data files for train / predict / evaluate -------------------------------------------------


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    pad = 64 - (10 + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_npz_header_declaring_40_gb(tmp_path: Path) -> None:
    from netform.cli._data_files import read_data

    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", _npy_header((10**10,)) + b"\0" * 64)
    with pytest.raises(DataError, match=r"huge\.npz: array 'x' declares shape \(10000000000,\).*40000000000 bytes"):
        read_data(str(path))


def test_npz_deflate_bomb(tmp_path: Path) -> None:
    from netform.cli._data_files import read_data

    size = 256 * 2**20
    header = _npy_header((size // 4,))
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    body, _ = _deflated_zeros(size)
    crc = zlib.crc32(b"\0" * size, zlib.crc32(header))
    path = tmp_path / "bomb.npz"
    _raw_zip(path, [("x.npy", head + body, crc, len(header) + size)])
    assert path.stat().st_size < 2**20
    start = time.process_time()
    with pytest.raises(DataError, match=r"bomb\.npz: array 'x' would inflate .* bytes.*compression"):
        read_data(str(path))
    assert time.process_time() - start < 2.0


def test_npz_zero_d_array(tmp_path: Path) -> None:
    from netform.cli._data_files import read_data

    path = tmp_path / "scalar.npz"
    np.savez(path, x=np.float32(3.0), y=np.zeros(4, "float32"))
    with pytest.raises(DataError, match=r"scalar\.npz: array 'x' is a single value .*first axis"):
        read_data(str(path))


def test_csv_huge_field(tmp_path: Path) -> None:
    import csv

    from netform.cli._data_files import read_data

    path = tmp_path / "wide.csv"
    path.write_text("x,y\n1,2\n3," + "4" * 200_000 + "\n")
    limit = csv.field_size_limit()
    with pytest.raises(DataError, match=r"wide\.csv: row 3, column 2 \('y'\) is 200000 characters"):
        read_data(str(path))
    assert csv.field_size_limit() == limit


def test_csv_not_utf8(tmp_path: Path) -> None:
    from netform.cli._data_files import read_data

    path = tmp_path / "latin.csv"
    path.write_bytes(b"x,y\n1,2\n3,\xe9\n")
    with pytest.raises(DataError, match=r"latin\.csv: line 3 is not UTF-8 .*save the file as UTF-8"):
        read_data(str(path))


def test_csv_bad_value_is_located(tmp_path: Path) -> None:
    from netform.cli._data_files import read_data

    path = tmp_path / "bad.csv"
    path.write_text("x,y\n1,2\n3,abc\n")
    with pytest.raises(DataError, match=r"bad\.csv: row 3, column 2 \('y'\): 'abc' is not a number"):
        read_data(str(path))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("x,y\n1,2\n3\n")
    with pytest.raises(DataError, match=r"ragged\.csv: row 3 has 1 field\(s\), the header has 2"):
        read_data(str(ragged))


def test_csv_still_reads(tmp_path: Path) -> None:
    from netform.cli._data_files import read_data

    path = tmp_path / "ok.csv"
    path.write_text("x,y\n1,2\n3,4.5\n")
    data = read_data(str(path))
    np.testing.assert_array_equal(data["y"], np.array([2, 4.5], "float32"))
    assert data["x"].dtype == np.float32


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_cli_refuses_hostile_data_in_one_line(tmp_path: Path, command: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from netform.cli._main import main

    data = tmp_path / "huge.npz"
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("x.npy", _npy_header((10**10,)) + b"\0" * 64)
    if command == "train":
        spec = tmp_path / "tiny.yaml"
        spec.write_text("netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [3]}\n"
                        "layers:\n  - {type: Dense, units: 2}\n")
        argv = ["train", str(spec), "--data", str(data)]
    else:
        model = tmp_path / "m.keras"
        nfs.save(_model(), str(model))
        argv = [command, str(model), "--data", str(data)] + (["-o", str(tmp_path / "p.npy")]
                                                              if command == "predict" else [])
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "array 'x' declares shape" in err
