"""A group B-tree that loops is refused before libhdf5 walks it.

libhdf5 follows a version-1 B-tree node's children as they are written: a
node of level 1 whose children are itself sends it down without end and the
process dies (SIGSEGV) as soon as anything lists the group (``h5py.File``
itself opens such a file). :func:`netform.saving._h5_attrs.check_btrees`
walks every B-tree from the superblock in the file's bytes first, so every
reader, load, load_weights and a save over such a file end with a netform
error instead. Real files (Keras's, h5py's with chunked data, a user block,
many groups, a dataset holding the bytes ``TREE``) pass.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from netform.errors import CorruptFileError
from netform.saving._h5_attrs import check_btrees, hdf5_end, raw_reader

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")
pytest.importorskip("keras")

SPEC = """\
netform: 1
name: small
kind: sequential
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 3, activation: relu}
  - {type: Dense, units: 2}
"""


def _cycle(raw: bytes) -> bytes:
    """The root group's B-tree node set to level 1, every child naming the node itself."""
    b = bytearray(raw)
    t = b.find(b"TREE")
    used = struct.unpack_from("<H", b, t + 6)[0]
    assert used >= 1
    b[t + 5] = 1
    for k in range(used):
        struct.pack_into("<Q", b, t + 24 + 8 + 16 * k, t)
    return bytes(b)


def _check(raw: bytes) -> None:
    check_btrees(raw_reader(None, io.BytesIO(raw)), len(raw), "f.h5")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import netform as nf

    d = tmp_path_factory.mktemp("btree")
    (d / "small.yaml").write_text(SPEC)
    model = nf.build(str(d / "small.yaml"))
    out: dict[str, Path] = {}
    for name in ("m.keras", "m.h5", "w.weights.h5"):
        nf.save(model, str(d / name))
    for name in ("m.h5", "w.weights.h5"):
        bad = d / f"cycle_{name}"
        bad.write_bytes(_cycle((d / name).read_bytes()))
        out[name] = bad
    with zipfile.ZipFile(d / "m.keras") as src, zipfile.ZipFile(d / "cycle_m.keras", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, _cycle(data) if info.filename == "model.weights.h5" else data)
    out["m.keras"] = d / "cycle_m.keras"
    out["good.keras"] = d / "m.keras"
    out["good.h5"] = d / "m.h5"
    out["good.weights.h5"] = d / "w.weights.h5"
    return out


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, env=os.environ
    )


def test_keras_and_netform_files_pass(files: dict[str, Path]) -> None:
    for name in ("good.h5", "good.weights.h5"):
        _check(files[name].read_bytes())
    with zipfile.ZipFile(files["good.keras"]) as z:
        _check(z.read("model.weights.h5"))


def test_cycle_refused_by_the_raw_check(files: dict[str, Path]) -> None:
    for name in ("m.h5", "w.weights.h5"):
        with pytest.raises(CorruptFileError, match="B-tree node at address .* no node of level 0"):
            _check(files[name].read_bytes())


@pytest.mark.parametrize("userblock", [0, 1024])
def test_h5py_files_pass(tmp_path: Path, userblock: int) -> None:
    """Many groups (a B-tree of two levels), chunked and compressed data, a user block, weights holding b'TREE'."""
    p = tmp_path / "x.h5"
    with h5py.File(p, "w", userblock_size=userblock) as f:
        for i in range(300):
            f.create_group(f"g{i:03d}").create_dataset("d", data=np.arange(10.0))
        f.create_dataset("ch", data=np.random.default_rng(0).random((200, 200)), chunks=(10, 10))
        f.create_dataset("chz", data=np.ones((50, 50)), chunks=(5, 5), compression="gzip")
        fake = b"TREE\x00\x01\x01\x00" + b"\xff" * 16 + b"\0" * 8 + struct.pack("<Q", 8)
        f["g000"].create_dataset("TREE", data=np.frombuffer(fake * 50, dtype="u1"))
        sub = f.create_group("deep")
        for _ in range(40):
            sub = sub.create_group("x")
    raw = p.read_bytes()
    _check(raw)
    assert hdf5_end(raw_reader(None, io.BytesIO(raw)), len(raw)) == len(raw)


def test_chunk_tree_cycle_refused(tmp_path: Path) -> None:
    p = tmp_path / "c.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("ch", data=np.zeros((400, 400), "f4"), chunks=(10, 10))
    b = bytearray(p.read_bytes())
    t = b.find(b"TREE\x01")
    assert t >= 0 and b[t + 5] == 1  # 1,600 chunks: two levels
    struct.pack_into("<Q", b, t + 24 + 32, t)  # the first child (after a 32-byte key) names the node itself
    with pytest.raises(CorruptFileError, match="no node of level 0"):
        _check(bytes(b))


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "w.weights.h5"])
def test_every_reader_refuses_the_cycle(files: dict[str, Path], tmp_path: Path, name: str) -> None:
    """inspect, summary, export-spec, render: a netform error (exit 5), never a signal."""
    exe = Path(sys.executable).with_name("netform")
    for cmd in (["inspect"], ["summary"], ["export-spec"], ["render", "-o", str(tmp_path / "r.svg")]):
        r = subprocess.run([str(exe), cmd[0], str(files[name]), *cmd[1:]], capture_output=True, text=True, timeout=300)
        assert r.returncode == 5, (name, cmd, r.returncode, r.stderr[-500:])
        assert "B-tree node" in r.stderr, (name, cmd, r.stderr[-500:])


def test_load_load_weights_and_save_over_refuse_the_cycle(files: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    for name in ("m.h5", "m.keras", "w.weights.h5"):
        shutil.copy(files[name], tmp_path / f"target_{name}")
    code = f"""
import netform as nf
good = nf.load({str(files["good.keras"])!r})
results = []
for call in (
    lambda: nf.load({str(files["m.h5"])!r}),
    lambda: nf.load({str(files["m.keras"])!r}),
    lambda: nf.load_weights(good, {str(files["m.h5"])!r}),
    lambda: nf.save(good, "target_m.h5"),
    lambda: nf.save(good, "target_m.keras"),
    lambda: nf.save(good, "target_w.weights.h5"),
):
    try:
        call()
        results.append("accepted")
    except nf.NetformError as err:
        results.append(type(err).__name__ + ("/btree" if "B-tree node" in str(err) else ""))
print(results)
"""
    r = _run(code, tmp_path)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    results = eval(r.stdout.strip().splitlines()[-1])
    assert results[:3] == ["CorruptFileError/btree"] * 3, results
    assert results[3:] == ["SaveError/btree"] * 3, results
    for name in ("m.h5", "m.keras", "w.weights.h5"):  # left as they were
        assert (tmp_path / f"target_{name}").read_bytes() == files[name].read_bytes()


def test_load_weights_refuses_the_cycle_in_a_weights_file(files: dict[str, Path], tmp_path: Path) -> None:
    code = f"""
import netform as nf
good = nf.load({str(files["good.keras"])!r})
try:
    nf.load_weights(good, {str(files["w.weights.h5"])!r})
except nf.FormatError as err:
    print("refused", "B-tree node" in str(err))
"""
    r = _run(code, tmp_path)
    assert r.returncode == 0 and r.stdout.split()[-2:] == ["refused", "True"], (r.returncode, r.stderr[-1000:])


def _sparse(src: Path, dst: Path, size: int) -> Path:
    dst.write_bytes(src.read_bytes())
    os.truncate(dst, size)
    return dst


def test_scans_stop_at_the_superblocks_end(files: dict[str, Path], tmp_path: Path) -> None:
    """The raw scans read the HDF5 file up to the end address its superblock records, never a sparse tail."""
    from netform.saving._h5_attrs import check_global_heaps

    good = files["good.weights.h5"]
    p = _sparse(good, tmp_path / "s.weights.h5", 256 * 2**20)
    read_bytes = 0
    with open(p, "rb") as fh:
        inner = raw_reader(None, fh.fileno())

        def counting(offset: int, n: int) -> bytes:
            nonlocal read_bytes
            read_bytes += n
            return inner(offset, n)

        assert hdf5_end(counting, os.path.getsize(p)) == good.stat().st_size
        check_global_heaps(counting, os.path.getsize(p), str(p))
        check_btrees(counting, os.path.getsize(p), str(p))
    assert read_bytes < 4 * good.stat().st_size, read_bytes


def test_load_checks_of_a_sparse_file_read_only_the_hdf5_file(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_h5 on a 3 GiB sparse copy of a .h5 (read through a descriptor) reads about the file's 20 KB."""
    from netform.saving._h5_source import open_h5
    from netform.saving._safety import check_h5

    good = files["good.h5"]
    p = _sparse(good, tmp_path / "s.h5", 3 * 2**30)
    real = os.pread
    read_bytes = 0

    def counting(fd: int, n: int, offset: int) -> bytes:
        nonlocal read_bytes
        read_bytes += n
        return real(fd, n, offset)

    monkeypatch.setattr(os, "pread", counting)
    with open_h5(p) as opened:
        assert opened.image is None  # read through the descriptor
        check_h5(opened.file, str(p), file_size=opened.size, raw=opened.raw)
    assert read_bytes < 2**20, read_bytes
