"""Helpers the security tests share: rewriting a saved ``.keras`` archive member by member."""

from __future__ import annotations

import io
import json
import hashlib
import zipfile
from pathlib import Path
from typing import Any, Callable

import h5py

#: Rewrites one archive entry: given its ZipInfo and bytes, returns those to write.
Mutation = Callable[[zipfile.ZipInfo, bytes], tuple[zipfile.ZipInfo, bytes]]


def rezip(src: str, dst: str, mutate: Mutation) -> str:
    """Copy the archive ``src`` to ``dst``, each entry passed through ``mutate``; returns ``dst``."""
    with zipfile.ZipFile(src) as archive:
        items = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(dst, "w") as out:
        for info, data in items:
            out.writestr(*mutate(info, data))
    return dst


def rewrite_member(name: str, change: Callable[[bytes], bytes]) -> Mutation:
    """A mutation that replaces the bytes of the entry ``name`` by ``change(bytes)``, leaving the others."""

    def mutate(info: zipfile.ZipInfo, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
        return info, (change(data) if info.filename == name else data)

    return mutate


def json_member(name: str, edit: Callable[[dict[str, Any]], None]) -> Mutation:
    """A mutation that loads the JSON entry ``name``, applies ``edit`` to it in place and writes it back."""

    def change(data: bytes) -> bytes:
        value = json.loads(data)
        edit(value)
        return json.dumps(value).encode()

    return rewrite_member(name, change)


def inner_h5(edit: Callable[[h5py.File], None]) -> Mutation:
    """A mutation that opens the archive's ``model.weights.h5`` for writing and applies ``edit`` to it."""

    def change(data: bytes) -> bytes:
        image = io.BytesIO(data)
        with h5py.File(image, "a") as f:
            edit(f)
        return image.getvalue()

    return rewrite_member("model.weights.h5", change)


#: A functional spec of one input ``x`` (shape, dtype) and one node ``o`` (``%s`` three times, in that order).
ONE_NODE_SPEC = """\
netform: 1
name: f
kind: functional
inputs:
  x: {shape: %s, dtype: %s}
nodes:
  o: %s
outputs: [o]
"""


def first_located_error(text: str) -> Any:
    """The first diagnostic of the SpecError ``load_spec(text)`` raises; it has a line and a column."""
    import pytest

    from netform.errors import SpecError
    from netform.spec import load_spec

    with pytest.raises(SpecError) as info:
        load_spec(text)
    diag = info.value.diagnostics[0]
    assert diag.line is not None and diag.column is not None
    return diag


def rehash_embedded(folder: Path) -> None:
    """Record the SHA-256 (and size) of a replaced ``assets.extra/netform.keras`` in the SavedModel's ``netform.json``.

    Tests that put another archive in a saved SavedModel to reach that archive's own checks rewrite the
    digests netform records (which refuse a swapped archive first) to match it.
    """
    meta = folder / "assets.extra" / "netform.json"
    data = json.loads(meta.read_text())
    archive = folder / "assets.extra" / "netform.keras"
    data.setdefault("sha256_netform", {})["assets.extra/netform.keras"] = hashlib.sha256(
        archive.read_bytes()
    ).hexdigest()
    if "sizes" in data:
        data["sizes"]["assets.extra/netform.keras"] = archive.stat().st_size
    meta.write_text(json.dumps(data))
