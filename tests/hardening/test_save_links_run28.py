"""A sharded weights save refuses a link at its index, as every other save refuses one; a FIFO is called one.

``save_weights(m, "d/t.weights.json", max_shard_size=…)`` over a link to an earlier save's index replaced the
link with a regular file (the user's link was gone; its target was unchanged), where ``.keras``, ``.h5``,
``.weights.h5`` and SavedModel saves refuse a link with "is a symbolic link to …". A FIFO at a TF checkpoint's
``.index`` was refused as "a link or a directory".
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import pytest

import netform as nf
from netform.errors import SaveError


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    return nf.Model(inputs, keras.layers.Dense(64)(keras.layers.Dense(64)(inputs)))


def test_a_link_at_a_sharded_index_is_refused_and_kept(tmp_path: Path) -> None:
    model = _model()
    (tmp_path / "out").mkdir()
    (tmp_path / "d").mkdir()
    earlier = tmp_path / "out" / "t.weights.json"
    nf.save_weights(model, earlier, max_shard_size=2e-5)
    before = earlier.read_bytes()
    link = tmp_path / "d" / "t.weights.json"
    link.symlink_to(earlier)
    with pytest.raises(SaveError, match="is a symbolic link to"):
        nf.save_weights(model, link, max_shard_size=2e-5)
    assert link.is_symlink() and os.readlink(link) == str(earlier)
    assert earlier.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["t.weights.json"]
    nf.save_weights(model, earlier, max_shard_size=2e-5)  # the earlier save itself is still replaced


def test_a_fifo_at_a_checkpoint_index_is_called_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.index")
    with pytest.raises(SaveError, match=r"not a regular file \(a FIFO"):
        nf.save_weights(_model(), tmp_path / "p", format="tf_checkpoint")
    assert [p.name for p in tmp_path.iterdir()] == ["p.index"]
