"""HDF5 virtual datasets, zip / HDF5 / data-file bombs, and reads that verify what they read.

Every hostile file is crafted here, in a temporary folder; nothing binary is committed.
"""

from __future__ import annotations

import io
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
from tests._budget import assert_cpu_under

from . import make_model_corpus  # noqa: E402

#: What the HDF5 and zip files of make_model_corpus.py built here are refused with.
FILE_BOMBS = {
    "h5_virtual_dataset": r"dataset '/model_weights/.*kernel' is a virtual dataset, which reads other files "
                          r"\(.*vds_secret\.h5:secret\)",
    "h5_vlen_bomb": r"variable-length HDF5 data '/model_weights/names' expands to more than \d+ bytes in a "
                    r"\d+-byte file .*refused as a bomb",
    "h5_vlen_attribute_bomb": r"HDF5 attributes expand to more than \d+ bytes when read \(up to '/model_weights'\), "
                              r"in a \d+-byte file.*refused as a bomb",
    "zip_many_entries_bomb": r"the 13\d archive entries would inflate from \d+ to \d+ bytes in all .*zip bomb",
    "zip_overlapping_bomb": r"archive entries overlap .*zip bomb",
}


def _model(seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="victim")
    model.compile(optimizer="adam", loss="mse")
    return model


# --- HDF5 virtual datasets ---------------------------------------------------------------------


def _vds_file(tmp: Path, kind: str) -> Path:
    import h5py

    secret = make_model_corpus.secret_h5(tmp)
    model = _model()
    if kind == "keras":
        path = tmp / "vds.keras"
        nfs.save(model, str(path))
        with zipfile.ZipFile(path) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        buf = io.BytesIO(entries["model.weights.h5"])
        with h5py.File(buf, "a") as f:
            make_model_corpus.replace_by_virtual(f, secret)
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
        make_model_corpus.replace_by_virtual(f, secret)
    return path


@pytest.mark.parametrize("kind", ["legacy", "h5", "weights_h5", "keras"])
def test_virtual_dataset_refused_by_load_weights(tmp_path: Path, kind: str) -> None:
    path = _vds_file(tmp_path, kind)
    model = _model(1)
    with pytest.raises(UnsafeFileError, match=r"is a virtual dataset, which reads other files \(.*vds_secret\.h5:secret\)"):
        nfs.load_weights(model, str(path))
    assert not np.any(model.layers[-1].kernel.numpy() == 42.0), "the other file's data was loaded"


@pytest.mark.parametrize("kind", ["h5", "keras"])
def test_virtual_dataset_refused_by_load(tmp_path: Path, kind: str) -> None:
    path = _vds_file(tmp_path, kind)
    with pytest.raises(UnsafeFileError, match=r"is a virtual dataset, which reads other files \(.*vds_secret\.h5:secret\)"):
        nfs.load(str(path))


@pytest.mark.parametrize("kind", ["h5", "weights_h5", "keras"])
def test_keras_refusals_surface_as_unsafe(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from netform.saving import _h5, _keras_zip, _weights

    path = _vds_file(tmp_path, kind)
    for module in (_h5, _keras_zip, _weights):  # without netform's own check, Keras's guard refuses
        monkeypatch.setattr(module, "check_h5", lambda *args, **kwargs: None)
    with pytest.raises(UnsafeFileError, match=r"Keras refused part of the HDF5 data \(Not allowed: H5 file "
                                              r"with virtual Dataset\)"):
        if kind == "h5":
            nfs.load(str(path))
        else:
            nfs.load_weights(_model(1), str(path))


# --- zip bombs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlapping", [False, True], ids=["128_entries", "overlapping_entries"])
def test_zip_bomb_checks_the_total(tmp_path: Path, overlapping: bool) -> None:
    path = make_model_corpus.zip_many_entries_bomb(tmp_path, overlapping=overlapping)
    assert path.stat().st_size < 3 * 2**20

    def refuse() -> None:
        with pytest.raises(UnsafeFileError, match=FILE_BOMBS["zip_overlapping_bomb" if overlapping
                                                             else "zip_many_entries_bomb"]):
            nfs.load(str(path))

    assert_cpu_under(refuse, 2.0, f"nfs.load refusing the zip bomb ({'overlapping' if overlapping else '128'} entries)")
    assert not list(tmp_path.glob("**/zeros_*")), "archive entries were extracted"


# --- HDF5 variable-length bombs ----------------------------------------------------------------


def test_vlen_bomb_refused_before_reading(tmp_path: Path) -> None:
    path = make_model_corpus.h5_vlen_bomb(tmp_path)
    assert path.stat().st_size < 2 * 2**20

    def refuse() -> None:
        with pytest.raises(UnsafeFileError, match=FILE_BOMBS["h5_vlen_bomb"]):
            nfs.load(str(path))

    assert_cpu_under(refuse, 2.0, "nfs.load refusing the variable-length bomb")


def test_small_vlen_dataset_still_loads(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "vlen_ok.h5"
    nfs.save(_model(), str(path))
    with h5py.File(path, "a") as f:
        f.create_dataset("notes", data=np.array([b"hello", b"world"], dtype=object),
                         dtype=h5py.string_dtype("ascii"))
    assert nfs.load(str(path)).name == "victim"


def test_many_optimizer_variables_still_load(tmp_path: Path) -> None:
    """Keras names optimizer variables in a variable-length string attribute; it is not a bomb."""
    import keras

    model = keras.Sequential([keras.Input((128,))] + [keras.layers.Dense(128, use_bias=False) for _ in range(40)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    path = tmp_path / "deep.h5"
    nfs.save(model, str(path))
    assert len(model.optimizer.variables) * path.stat().st_size > 64 * path.stat().st_size + 16 * 2**20
    loaded = nfs.load(str(path))
    np.testing.assert_array_equal(loaded.layers[-1].kernel.numpy(), model.layers[-1].kernel.numpy())


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
    body, _ = make_model_corpus.deflated_zeros(size)
    crc = zlib.crc32(b"\0" * size, zlib.crc32(header))
    path = tmp_path / "bomb.npz"
    make_model_corpus.raw_zip(path, [("x.npy", head + body, crc, len(header) + size)])
    assert path.stat().st_size < 2**20

    def refuse() -> None:
        with pytest.raises(DataError, match=r"bomb\.npz: array 'x' would inflate .* bytes.*compression"):
            read_data(str(path))

    assert_cpu_under(refuse, 2.0, "read_data refusing the deflate bomb")


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


def test_csv_with_a_wide_header_reads_in_linear_time(tmp_path: Path) -> None:
    """200,000 columns (1.3 MB) took over 90 s: the duplicate-name check counted every name in the whole header."""
    from netform.cli._data_files import read_data

    n = 200_000
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join(["0"] * n) + "\n")

    def read() -> None:
        assert len(read_data(str(path))) == n

    assert_cpu_under(read, 5.0, "read_data of 200,000 columns")
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match=r"the header names column 'a' twice"):
        read_data(str(path))


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
                        "layers:\n  - {type: Dense, units: 2}\ntraining: {loss: mse}\n")
        argv = ["train", str(spec), "--data", str(data)]
    else:
        model = tmp_path / "m.keras"
        nfs.save(_model(), str(model))
        argv = [command, str(model), "--data", str(data)] + (["-o", str(tmp_path / "p.npy")]
                                                              if command == "predict" else [])
    assert main(argv) == 4
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("warning: ")]  # Keras's, one line each
    assert len(errors) == 1 and "Traceback" not in err
    assert "array 'x' declares shape" in err


# --- HDF5 variable-length attributes ------------------------------------------------------------


@pytest.mark.parametrize("weights_only", [False, True])
def test_vlen_attribute_bomb_refused_before_reading(tmp_path: Path, weights_only: bool) -> None:
    """HDF5 reads an attribute whole: 3,000 elements naming one 2 MiB string would take 6 GB."""
    path = make_model_corpus.h5_vlen_attribute_bomb(tmp_path, weights_only=weights_only,
                                                    name="bomb.weights.h5" if weights_only else "bomb.h5")
    assert path.stat().st_size < 3 * 2**20
    pattern = r"HDF5 attributes expand to more than \d+ bytes when read .*refused as a bomb"

    def refuse() -> None:
        if weights_only:
            with pytest.raises(UnsafeFileError, match=pattern):
                nfs.load_weights(_model(), str(path))
        else:
            with pytest.raises(UnsafeFileError, match=pattern):
                nfs.load(str(path))
        with pytest.raises(UnsafeFileError, match=pattern):
            nfs.inspect(str(path))

    assert_cpu_under(refuse, 2.0, f"{'nfs.load_weights' if weights_only else 'nfs.load'} and nfs.inspect refusing "
                                  "the attribute bomb")


def _attribute_total(path: Path, group: str = "/") -> tuple[int, int]:
    """(measured bytes, bytes h5py reads) of the variable-length attributes of ``group``."""
    import h5py

    from netform.saving._h5_attrs import PER_ELEMENT_BYTES, attribute_bytes, raw_reader

    with h5py.File(path, "r") as f:
        oid = h5py.h5o.open(f.id, group.encode())
        measured = attribute_bytes(f, oid, raw_reader(f, None), file_size=path.stat().st_size,
                                   where=str(path), what=group)
        read = 0
        for name in f[group].attrs:
            value = f[group].attrs[name]
            t = f[group].attrs.get_id(name).get_type()
            if t.get_class() == h5py.h5t.STRING and not t.is_variable_str():
                continue
            if t.get_class() not in (h5py.h5t.STRING, h5py.h5t.VLEN):
                continue
            items = [value] if np.ndim(value) == 0 else list(np.ravel(value))
            for item in items:
                size = len(item.encode()) if isinstance(item, str) else (
                    len(item) if isinstance(item, bytes) else int(np.asarray(item).nbytes))
                read += size + PER_ELEMENT_BYTES
    return measured, read


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_vlen_attributes_measured_exactly(tmp_path: Path, libver: str) -> None:
    """Strings and sequences, scalar and arrays, in version 1 and version 2 object headers."""
    import h5py

    path = tmp_path / f"attrs_{libver}.h5"
    with h5py.File(path, "w", libver=libver) as f:
        g = f.create_group("g")
        g.attrs["scalar"] = "x" * 1000
        g.attrs.create("names", np.array(["a" * i for i in range(1, 300)], dtype=object),
                       dtype=h5py.string_dtype("utf-8"))
        seq = np.empty(3, dtype=object)
        seq[:] = [np.arange(n, dtype=np.int32) for n in (1, 5, 50)]
        g.attrs.create("seq", seq, dtype=h5py.vlen_dtype(np.int32))
        g.attrs["fixed"] = np.arange(10)
    measured, read = _attribute_total(path, "g")
    assert measured == read


def test_attributes_in_continuation_chunks_and_user_block(tmp_path: Path) -> None:
    """Many attributes push messages into continuation chunks; a user block shifts every address."""
    import h5py

    path = tmp_path / "many.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        for i in range(200):
            f.attrs[f"a{i}"] = "v" * i
        f.attrs.create("big", np.array(["n" * 40] * 1000, dtype=object), dtype=h5py.string_dtype())
    measured, read = _attribute_total(path)
    assert measured == read


def test_dense_attributes_refused(tmp_path: Path) -> None:
    """Attributes kept in a fractal heap indexed by a version-2 B-tree (h5py's libver="latest" past 8 of them)
    are refused before HDF5 walks that tree: variable ones could not be measured without reading them, and
    no tree but the version-1 B-trees Keras writes is walked first (one that names itself crashes libhdf5)."""
    import h5py

    from netform.saving._safety import check_h5

    fixed, variable = tmp_path / "dense_fixed.h5", tmp_path / "dense_vlen.h5"
    with h5py.File(fixed, "w", libver="latest") as f:
        for i in range(20):
            f.attrs[f"n{i}"] = np.int64(i)
    with h5py.File(variable, "w", libver="latest") as f:
        for i in range(20):
            f.attrs[f"s{i}"] = f"value {i}"
    for path in (fixed, variable):
        with h5py.File(path, "r") as f, pytest.raises(UnsafeFileError, match=r"keeps its attributes in HDF5's dense"):
            check_h5(f, str(path), file_size=path.stat().st_size)


def test_keras_h5_with_many_layers_still_loads(tmp_path: Path) -> None:
    """A plain Keras .h5 with 60 layers: long layer_names and weight_names attributes pass."""
    import keras

    model = keras.Sequential([keras.Input((4,))] + [keras.layers.Dense(4, name=f"layer_with_a_long_name_{i:04d}")
                                                   for i in range(60)])
    path = tmp_path / "deep_keras.h5"
    keras.saving.save_model(model, str(path))
    loaded = nfs.load(str(path))
    assert len(loaded.layers) == 60
    assert nfs.inspect(str(path))["format"] == "h5"


# --- HDF5 nesting ------------------------------------------------------------------------------


def _nested(tmp_path: Path, depth: int) -> Path:
    import h5py

    path = tmp_path / f"nested_{depth}.h5"
    nfs.save(_model(), str(path))
    with h5py.File(path, "a") as f:
        group = f.create_group("junk")
        for _ in range(depth):
            group = group.create_group("g")
    return path


def test_deeply_nested_groups_are_refused_at_once(tmp_path: Path) -> None:
    """3,000 nested empty groups (3 MB) took 29 s of CPU to inspect: each object was opened from the root."""
    path = _nested(tmp_path, 3000)

    def refuse() -> None:
        for reader in (nfs.inspect, nfs.load):
            with pytest.raises(UnsafeFileError, match=r"HDF5 groups nested more than 512 deep"):
                reader(str(path))

    assert_cpu_under(refuse, 2.0, "nfs.inspect and nfs.load refusing 3,000 nested groups")


def test_nesting_under_the_limit_is_walked_in_linear_time(tmp_path: Path) -> None:
    path = _nested(tmp_path, 500)

    def load() -> None:
        assert nfs.load(str(path)).name == "victim"

    assert_cpu_under(load, 3.0, "nfs.load of a model beside 500 nested groups")
