"""HDF5 header fields of free value that no Keras writer fills keep a weights file.

A dataset's modification time (4 bytes, HDF5's default before h5py 3.0; neither h5py 3, Keras 3 nor netform
records one) and a maximum dimension that is neither the dimension nor unlimited (8 bytes an axis) held text that
Keras and netform loaded as before, and the next save replaced the file (`.weights.h5`, `.h5` and a `.keras`'s
weights alike).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Callable

import h5py
import keras
import numpy as np
import pytest

import netform as nf


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])


def _rebuilt(src: Path, dst: Path, make: Callable[[Any, str, Any], None]) -> None:
    """``src`` copied group by group with h5py, each dataset made by ``make(group, name, dataset)``."""

    def copy(source: Any, target: Any) -> None:
        for key, value in source.attrs.items():
            target.attrs[key] = value
        for key in source:
            item = source[key]
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(key))
            else:
                make(target, key, item)
                for a, b in item.attrs.items():
                    target[key].attrs[a] = b

    with h5py.File(src, "r") as s, h5py.File(dst, "w") as t:
        copy(s, t)


def _timed(group: Any, name: str, item: Any) -> None:
    group.create_dataset(name, data=item[()], track_times=True)


def _bounded() -> Callable[[Any, str, Any], None]:
    def make(group: Any, name: str, item: Any) -> None:
        shape = item.shape
        space = h5py.h5s.create_simple(shape, shape) if shape else h5py.h5s.create(h5py.h5s.SCALAR)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)  # (HDF5's own default records a time; h5py's does not)
        made = h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(item.dtype), space, dcpl=dcpl)
        made.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(item[()]))

    return make


def _hide_in_max_dims(path: Path) -> int:
    data = bytearray(path.read_bytes())
    planted = 0
    for at in range(len(data) - 24):
        mtype, size = struct.unpack_from("<HH", data, at)
        rank = data[at + 9]
        if mtype == 1 and data[at + 8] == 1 and data[at + 10] == 1 and 1 <= rank <= 4 and size == 8 + 16 * rank:
            struct.pack_into("<Q", data, at + 16 + 8 * rank, int.from_bytes(b"SECRET!!", "little"))
            planted += 1
    path.write_bytes(bytes(data))
    return planted


def test_a_modification_time_keeps_the_weights_file(tmp_path: Path) -> None:
    model = _model()
    plain = tmp_path / "plain.weights.h5"
    model.save_weights(plain)
    target = tmp_path / "m.weights.h5"
    _rebuilt(plain, target, _timed)
    model.load_weights(target)
    nf.load_weights(_model(), target)
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"a modification time"):
        nf.save_weights(model, target)
    assert target.read_bytes() == before


def test_text_in_a_maximum_dimension_keeps_the_weights_file(tmp_path: Path) -> None:
    model = _model()
    plain = tmp_path / "plain.weights.h5"
    model.save_weights(plain)
    target = tmp_path / "m.weights.h5"
    _rebuilt(plain, target, _bounded())
    nf.save_weights(model, target)  # maximum dimensions equal to the dimensions: nothing hidden, replaced
    _rebuilt(plain, target, _bounded())
    assert _hide_in_max_dims(target) >= 4
    model.load_weights(target)
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"a maximum dimension"):
        nf.save_weights(model, target)
    assert target.read_bytes() == before


def _messages_of(path: Path, name: str) -> list[tuple[int, int, int, int]]:
    from netform.saving._h5_attrs import _messages

    data = path.read_bytes()
    with h5py.File(path, "r") as f:
        addr = h5py.h5o.get_info(f[name].id).addr
    return list(_messages(lambda at, n: data[at : at + n], addr, 8, 8, 0, continuations=True))


@pytest.mark.parametrize(("mtype", "at", "value"), [(1, -4, 0x10), (8, -4, 0x80), (5, 1, 3), (5, 3, 2)])
def test_free_bits_in_message_flags_and_fill_settings_keep_the_file(
    tmp_path: Path, mtype: int, at: int, value: int
) -> None:
    """A message's flags byte (bits 0x04, 0x08, 0x10, 0x80 read as before) and a fill value's allocation time,
    write time and "defined" byte (0 to 3 each) carried bits no writer sets there, replaced by the next save."""
    model = _model()
    path = tmp_path / "m.weights.h5"
    nf.save_weights(model, path)
    data = bytearray(path.read_bytes())
    offset = next(o for t, _, o, _ in _messages_of(path, "layers/dense/vars/0") if t == mtype)
    data[offset + at] = value
    path.write_bytes(bytes(data))
    model.load_weights(path)
    with pytest.raises(nf.SaveError, match=r"a message flagged|a fill value's settings"):
        nf.save_weights(model, path)
