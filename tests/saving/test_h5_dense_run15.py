"""HDF5 structures of nodes naming nodes that the B-tree walk does not follow are refused before HDF5 walks them.

The walk that runs before h5py lists a group (``_h5_attrs.check_btrees``) follows the version-1 B-trees Keras
and h5py's default file format write; a tree that names itself sends libhdf5 down without end (a crash).
HDF5's newer structures were left to HDF5: links or attributes kept in dense storage (a fractal heap
indexed by a version-2 B-tree) and a version-4 layout's chunks indexed by an extensible array or a
version-2 B-tree. Keras never writes them; they are now refused (UnsafeFileError, exit 6) by every reader,
naming the structure. The newer format's small groups, compact attributes and fixed-array chunk
indexes hold no such tree and are still read.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zipfile
from pathlib import Path
from typing import Any, Callable

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError, UnsafeFileError
from netform.saving._h5_attrs import check_btrees_path


def _file(path: Path, fill: Callable[[Any], object], **kwargs: Any) -> Path:
    with h5py.File(path, "w", **kwargs) as f:
        fill(f)
    return path


_DENSE: dict[str, tuple[Callable[[Any], object], str]] = {
    "links": (lambda f: [f.create_group(f"g{i}") for i in range(40)], "a group's links in HDF5's dense storage"),
    "attributes": (lambda f: [f.attrs.__setitem__(f"n{i}", i) for i in range(20)], "its attributes in HDF5's dense"),
    "extensible_array": (
        lambda f: f.create_dataset("d", data=np.ones(100), chunks=(10,), maxshape=(None,)),
        "chunks indexed by an extensible array",
    ),
    "v2_btree": (
        lambda f: f.create_dataset("d", data=np.ones((20, 20)), chunks=(10, 10), maxshape=(None, None)),
        "chunks indexed by a version-2 B-tree",
    ),
}


@pytest.mark.parametrize("kind", sorted(_DENSE))
def test_newer_linked_structures_are_refused(kind: str, tmp_path: Path) -> None:
    fill, words = _DENSE[kind]
    path = _file(tmp_path / "x.h5", fill, libver="latest")
    with pytest.raises(UnsafeFileError, match=words):
        check_btrees_path(path)
    # the same file in h5py's default format is walked, and passes
    check_btrees_path(_file(tmp_path / "old.h5", fill))


@pytest.mark.parametrize(
    "fill",
    [
        lambda f: [f.create_group(f"g{i}") for i in range(3)],
        lambda f: [f.attrs.__setitem__(f"n{i}", i) for i in range(5)],
        lambda f: f.create_dataset("d", data=np.ones(100), chunks=(10,)),
    ],
    ids=["few_links", "few_attributes", "fixed_array"],
)
def test_the_newer_format_without_such_trees_is_read(fill: Callable[[Any], object], tmp_path: Path) -> None:
    check_btrees_path(_file(tmp_path / "x.h5", fill, libver="latest"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, Path]:
    d = tmp_path_factory.mktemp("dense15")
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    model.save_weights(d / "w.weights.h5")
    nf.save(model, d / "m.keras")
    return model, d


def _rewritten_latest(src: Path, dst: Path, extra: int = 20) -> Path:
    """``src`` copied into h5py's newer format, with ``extra`` attributes on its root (dense storage)."""
    with h5py.File(src, "r") as old, h5py.File(dst, "w", libver="latest") as new:
        for key, value in old.attrs.items():
            new.attrs[key] = value
        for i in range(extra):
            new.attrs[f"x{i}"] = np.int64(i)

        def copy(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Group):
                group = new.require_group(name)
                for key, value in obj.attrs.items():
                    group.attrs[key] = value
            else:
                new.create_dataset(name, data=obj[()])

        old.visititems(copy)
    return dst


def test_readers_refuse_weights_in_dense_storage(
    weights: tuple[keras.Model, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, d = weights
    path = _rewritten_latest(d / "w.weights.h5", tmp_path / "dense.weights.h5")
    with pytest.raises(UnsafeFileError, match="dense storage"):
        nf.load_weights(model, path)
    with pytest.raises(UnsafeFileError, match="dense storage"):
        nf.inspect(path)
    capsys.readouterr()
    assert main(["inspect", str(path)]) == 6 and "dense storage" in capsys.readouterr().err
    # the same copy in the newer format, without dense storage, loads
    nf.load_weights(model, _rewritten_latest(d / "w.weights.h5", tmp_path / "ok.weights.h5", extra=0))


def test_an_archive_whose_weights_use_dense_storage_is_refused(
    weights: tuple[keras.Model, Path], tmp_path: Path
) -> None:
    _, d = weights
    with zipfile.ZipFile(d / "m.keras") as archive:
        items = [(info.filename, archive.read(info)) for info in archive.infolist()]
    inner = _rewritten_latest_bytes(dict(items)["model.weights.h5"], tmp_path)
    path = tmp_path / "dense.keras"
    with zipfile.ZipFile(path, "w") as out:
        for name, data in items:
            out.writestr(name, inner if name == "model.weights.h5" else data)
    with pytest.raises(UnsafeFileError, match="dense storage"):
        nf.load(path)
    with pytest.raises(UnsafeFileError, match="dense storage"):
        nf.inspect(path)


def _rewritten_latest_bytes(data: bytes, tmp_path: Path) -> bytes:
    src = tmp_path / "inner.h5"
    src.write_bytes(data)
    return _rewritten_latest(src, tmp_path / "inner_latest.h5").read_bytes()


def _shared_flag(path: Path, mtype: int) -> Path:
    """``path`` with the message of type ``mtype`` in group ``g``'s (version-1) object header marked as shared."""
    from netform.saving import _h5_attrs

    with h5py.File(path, "r") as f:
        addr = h5py.h5o.get_info(f["g"].id).addr
    data = bytearray(path.read_bytes())
    with open(path, "rb") as fh:
        read = _h5_attrs.raw_reader(None, fh.fileno())
        messages = list(_h5_attrs._messages(read, addr, 8, 8, 0))
    assert data[addr] == 1  # a version-1 header: type (2), size (2), flags (1), reserved (3), then the body
    kind, flags, offset, _ = next(m for m in messages if m[0] == mtype)
    assert data[offset - 4] == flags
    data[offset - 4] = flags | 0x02
    out = path.with_name(f"{path.stem}_shared.h5")
    out.write_bytes(bytes(data))
    return out


def _track_order_group(f: Any) -> None:
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    h5py.h5g.create(f.id, b"g", gcpl=gcpl)
    for i in range(20):
        f["g"].create_dataset(f"d{i}", data=np.arange(3))


@pytest.mark.parametrize(
    ("fill", "mtype"),
    [(_track_order_group, 0x0002), (lambda f: f.create_group("g").create_dataset("d", data=np.ones(3)), 0x0011)],
    ids=["link_info", "symbol_table"],
)
def test_a_message_marked_shared_that_hdf5_never_shares_is_refused(
    fill: Callable[[Any], object], mtype: int, tmp_path: Path
) -> None:
    """libhdf5 reads a Link Info or Symbol Table message marked shared as it is: the walk skipped it (a shared
    message is a reference), so a dense group or a whole B-tree was hidden from it, not from HDF5."""
    path = _shared_flag(_file(tmp_path / "x.h5", fill), mtype)
    with h5py.File(path, "r") as f:
        assert len(list(f["g"])) >= 1  # HDF5 still follows it
    with pytest.raises(FormatError, match=f"message of type {mtype:#06x} marked as shared"):
        check_btrees_path(path)


@pytest.mark.parametrize(("bound", "words"), [("_MAX_WALK_OBJECTS", "objects"), ("_MAX_WALK_NODES", "B-tree nodes")])
def test_a_file_past_the_walk_s_bounds_is_refused_not_passed(
    bound: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its bounds the walk stopped and passed the file: a tree past them went unchecked."""
    from netform.saving import _h5_attrs

    path = _file(tmp_path / "x.h5", lambda f: [f.create_group(f"g{i}").create_group("h") for i in range(6)])
    check_btrees_path(path)
    monkeypatch.setattr(_h5_attrs, bound, 3)
    with pytest.raises(UnsafeFileError, match=f"more than 3 {words}"):
        check_btrees_path(path)
