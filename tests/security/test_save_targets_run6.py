"""A save replaces only what an earlier save wrote: user data hidden inside Keras's own layouts is refused.

Each case takes a real save and hides a user's data where Keras and netform
write none (an extra key in a JSON member of a ``.keras`` archive, a user
array in a weight's place, a zip entry comment or extra field, an HDF5
attribute, an HDF5 user block), saves over it, and checks that the save is
refused with a SaveError naming the intruder and that the file is unchanged.
Saves written by plain Keras (with and without an optimizer) and by netform
are still replaced.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zipfile
from typing import Any, Callable

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SaveError

from ._helpers import inner_h5, json_member, rewrite_member, rezip

SPEC = (
    "netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"
    "  - {type: Dense, units: 3, activation: relu}\n  - {type: Dense, units: 2}\n"
)
NOTE = "irreplaceable text: my thesis notes"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("spec") / "s.yaml"
    path.write_text(SPEC)
    return nf.build(nf.load_spec(str(path)))


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("ref")
    paths = {ext: str(root / f"ref{ext}") for ext in (".keras", ".h5", ".weights.h5")}
    for path in paths.values():
        nf.save(model, path)
    return paths


def _refused(model, path: str, pattern: str, saver: Callable[[], Any] | None = None) -> None:
    before = open(path, "rb").read()
    with pytest.raises(SaveError, match=pattern):
        (saver or (lambda: nf.save(model, path)))()
    assert open(path, "rb").read() == before


def _first_dataset(f: h5py.File) -> str:
    return f.visititems(lambda name, obj: name if isinstance(obj, h5py.Dataset) else None)


# --- (a) keys Keras and netform never write in config.json, metadata.json, netform.json -----------------------


@pytest.mark.parametrize("member", ["config.json", "metadata.json", "netform.json"])
def test_json_member_with_user_key_is_not_replaced(tmp_path, model, saved, member) -> None:
    def edit(value: dict[str, Any]) -> None:
        value["my_thesis_notes"] = NOTE

    target = rezip(saved[".keras"], str(tmp_path / "a.keras"), json_member(member, edit))
    _refused(model, target, rf"a\.keras.*{member}")


def test_keras_dir_json_with_user_key_is_not_replaced(tmp_path, model) -> None:
    target = str(tmp_path / "m_dir")
    nf.save(model, target, zipped=False)
    with open(os.path.join(target, "config.json")) as fh:
        config = json.load(fh)
    config["my_thesis_notes"] = NOTE
    with open(os.path.join(target, "config.json"), "w") as fh:
        json.dump(config, fh)
    with pytest.raises(SaveError, match="config.json"):
        nf.save(model, target, zipped=False)
    assert NOTE in open(os.path.join(target, "config.json")).read()


def test_every_netform_json_key_is_accepted(tmp_path, model, saved) -> None:
    """netform.json as netform writes it, keras_classes included (functional models), is replaced."""
    keys = {"netform_version", "keras_version", "format", "saved_at", "model_class", "model_name", "keras_classes"}

    def edit(value: dict[str, Any]) -> None:
        assert set(value) <= keys
        value.setdefault("keras_classes", [])

    target = rezip(saved[".keras"], str(tmp_path / "ok.keras"), json_member("netform.json", edit))
    nf.save(model, target)
    assert nf.load(target).count_params() == model.count_params()


# --- (b) a weight dataset swapped for a user array ------------------------------------------------------------


def _swap_bias(f: h5py.File) -> None:
    name = next(n for n in _walk(f) if n.endswith(("vars/1", "bias")))
    del f[name]
    f[name] = np.arange(100_000.0)


def _walk(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def test_keras_weight_swapped_for_user_array_is_not_replaced(tmp_path, model, saved) -> None:
    target = rezip(saved[".keras"], str(tmp_path / "b.keras"), inner_h5(_swap_bias))
    _refused(model, target, r"model\.weights\.h5.*layers/dense \(100012 values where the config declares 15\)")


def test_h5_weight_swapped_for_user_array_is_not_replaced(tmp_path, model, saved) -> None:
    target = str(tmp_path / "b.h5")
    shutil.copy(saved[".h5"], target)
    with h5py.File(target, "a") as f:
        _swap_bias(f)
    _refused(model, target, r"model_weights/dense \(100012 values")


# --- (c) zip entry comments and extra fields --------------------------------------------------------------------


def test_zip_entry_comment_is_not_replaced(tmp_path, model, saved) -> None:
    def mutate(info: zipfile.ZipInfo, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
        info.comment = NOTE.encode()
        return info, data

    target = rezip(saved[".keras"], str(tmp_path / "c.keras"), mutate)
    _refused(model, target, "a comment on the entry")


def test_zip_extra_field_is_not_replaced(tmp_path, model, saved) -> None:
    def mutate(info: zipfile.ZipInfo, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
        info.extra = struct.pack("<HH", 0xCAFE, 16) + b"SECRETUSERDATA!!"
        return info, data

    target = rezip(saved[".keras"], str(tmp_path / "c.keras"), mutate)
    _refused(model, target, "an extra field")


def test_zip64_extra_with_user_values_is_not_replaced(tmp_path, model, saved) -> None:
    """A record shaped as zip64 but holding other numbers than the entry's sizes carries user bytes."""

    def mutate(info: zipfile.ZipInfo, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
        info.extra = struct.pack("<HH", 1, 16) + b"SECRETUSERDATA!!"
        return info, data

    target = rezip(saved[".keras"], str(tmp_path / "c.keras"), mutate)
    _refused(model, target, "an extra field")


def test_zip64_entries_are_replaced(tmp_path, model, saved) -> None:
    """Entries written with zip64 records (as Keras writes its weights entry) are a save's."""
    target = str(tmp_path / "z.keras")
    with zipfile.ZipFile(saved[".keras"]) as archive, zipfile.ZipFile(target, "w") as out:
        for info in archive.infolist():
            with out.open(info.filename, "w", force_zip64=True) as fh:
                fh.write(archive.read(info.filename))
    assert b"\x01\x00\x10\x00" in open(target, "rb").read()  # the zip64 records of the local headers
    nf.save(model, target)
    assert nf.load(target).count_params() == model.count_params()


# --- (d) attributes Keras never writes ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [".h5", ".weights.h5"])
def test_h5_dataset_attribute_is_not_replaced(tmp_path, model, saved, kind) -> None:
    target = str(tmp_path / f"d{kind}")
    shutil.copy(saved[kind], target)
    with h5py.File(target, "a") as f:
        name = _first_dataset(f)
        f[name].attrs["lab_notes"] = NOTE
    saver = (lambda: model.save_weights(target)) if kind == ".weights.h5" else None
    _refused(model, target, rf"{name}@lab_notes", saver)


def test_h5_layer_group_attribute_is_not_replaced(tmp_path, model, saved) -> None:
    target = str(tmp_path / "g.h5")
    shutil.copy(saved[".h5"], target)
    with h5py.File(target, "a") as f:
        f["model_weights/dense"].attrs["lab_notes"] = NOTE
    _refused(model, target, r"model_weights/dense@lab_notes")


def test_keras_inner_dataset_attribute_is_not_replaced(tmp_path, model, saved) -> None:
    def edit(f: h5py.File) -> None:
        f[_first_dataset(f)].attrs["lab_notes"] = NOTE

    target = rezip(saved[".keras"], str(tmp_path / "d.keras"), inner_h5(edit))
    _refused(model, target, r"@lab_notes")


# --- (e) an HDF5 user block -------------------------------------------------------------------------------------


def _with_userblock(src: str, dst: str, head: bytes) -> None:
    with h5py.File(src, "r") as f, h5py.File(dst, "w", userblock_size=512) as g:
        for key, value in f.attrs.items():
            g.attrs[key] = value
        for key in f:
            f.copy(f[key], g, name=key)
    data = bytearray(open(dst, "rb").read())
    data[: len(head)] = head
    open(dst, "wb").write(bytes(data))


@pytest.mark.parametrize("kind", [".h5", ".weights.h5"])
def test_h5_user_block_is_not_replaced(tmp_path, model, saved, kind) -> None:
    target = str(tmp_path / f"e{kind}")
    _with_userblock(saved[kind], target, NOTE.encode())
    saver = (lambda: model.save_weights(target)) if kind == ".weights.h5" else None
    _refused(model, target, "user block", saver)


def test_keras_inner_user_block_is_not_replaced(tmp_path, model, saved) -> None:
    def with_block(data: bytes) -> bytes:
        open(tmp_path / "w.h5", "wb").write(data)
        _with_userblock(str(tmp_path / "w.h5"), str(tmp_path / "u.h5"), NOTE.encode())
        return open(tmp_path / "u.h5", "rb").read()

    target = rezip(saved[".keras"], str(tmp_path / "e.keras"), rewrite_member("model.weights.h5", with_block))
    _refused(model, target, "user block")


def test_empty_user_block_is_replaced(tmp_path, model, saved) -> None:
    target = str(tmp_path / "z.h5")
    _with_userblock(saved[".h5"], target, b"")
    nf.save(model, target)
    with h5py.File(target) as f:
        assert f.userblock_size == 0


# --- what plain Keras writes is still replaced ------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("ext", [".keras", ".h5", ".weights.h5"])
def test_plain_keras_saves_are_replaced(tmp_path, model, ext, compiled) -> None:
    inputs = keras.Input((4,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(3)(inputs))
    plain = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    if compiled:
        plain.compile(optimizer="adam", loss="mse")
        plain.fit(np.ones((4, 4)), np.ones((4, 2)), epochs=1, verbose=0)
    target = str(tmp_path / f"plain{ext}")
    if ext == ".weights.h5":
        plain.save_weights(target)
        model.save_weights(target)
    else:
        plain.save(target)
        nf.save(model, target)
        assert nf.load(target).count_params() == model.count_params()
    with h5py.File(target if ext != ".keras" else io.BytesIO(zipfile.ZipFile(target).read("model.weights.h5"))) as f:
        assert "layers" in f or "model_weights" in f  # the new save's weights, not Keras's model


@pytest.mark.parametrize("ext", [".keras", ".weights.h5"])
def test_plain_keras_bfloat16_weights_are_replaced(tmp_path, model, ext) -> None:
    """Keras stores bfloat16 weights as 2-byte raw values marked ``dtype: bfloat16``: still a save."""
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, dtype="bfloat16")])
    target = str(tmp_path / f"bf{ext}")
    if ext == ".weights.h5":
        plain.save_weights(target)
        model.save_weights(target)
    else:
        plain.save(target)
        nf.save(model, target)
        assert nf.load(target).count_params() == model.count_params()
