"""A sharded weights index (Keras's ``x.weights.json``) is bounded before anything walks it (run 10).

An index mapping 300,000 variable groups to one real shard took 4.7 s of CPU here to load (8 s on the
reporter's machine) and 3.3 s to inspect: each of netform's checks and Keras's own reader walked every entry,
and Keras scans the whole map once per layer. An index mapping more than :data:`MAX_INDEX_ENTRIES` groups,
naming more than :data:`MAX_INDEX_SHARDS` shard files or more shard names in all than
:data:`MAX_INDEX_REFERENCES`, or JSON nested past what the parser follows, is a FormatError naming the limit
(exit 5), before any shard is opened.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError
from netform.saving._weights import MAX_INDEX_ENTRIES, MAX_INDEX_REFERENCES, MAX_INDEX_SHARDS
from tests._budget import assert_cpu_under


def _model() -> Any:
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="d")(x), name="m")


@pytest.fixture
def sharded(tmp_path: Path) -> Path:
    """A sharded save of a one-layer model, in its own folder."""
    model = _model()
    model.set_weights([np.full(w.shape, i + 1.0, "float32") for i, w in enumerate(model.get_weights())])
    (tmp_path / "w").mkdir()
    index = tmp_path / "w" / "x.weights.json"
    model.save_weights(str(index), max_shard_size=0.00001)
    return index


def _inflate(index: Path, entries: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(index.read_text())
    data["weight_map"].update(entries)
    index.write_text(json.dumps(data))
    return data


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _warm(index: Path) -> None:
    """Load and inspect a good index once, so that the modules the checks import are loaded."""
    nf.load_weights(_model(), str(index))
    nfs.inspect(index)


def test_an_index_of_300000_entries_is_refused_quickly(sharded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: loaded in 4.7 s of CPU (8 s on the reporter's machine), inspected in 3.3 s."""
    _warm(sharded)
    shard = json.loads(sharded.read_text())["weight_map"]["/layers/dense/vars"]
    _inflate(sharded, {f"/layers/dense_{i}/vars": shard for i in range(300_000)})
    why = (
        rf"{re.escape(str(sharded))}: the sharded weights index maps 300,00\d variable groups to shards; netform "
        rf"reads at most {MAX_INDEX_ENTRIES:,}"
    )
    model = _model()

    def load() -> None:
        with pytest.raises(FormatError, match=why):
            nf.load_weights(model, str(sharded))

    def inspect() -> None:
        with pytest.raises(FormatError, match=why):
            nfs.inspect(sharded)

    # CPU time after a first untimed refusal (reading the 16 MB index is most of it: 1.0-1.2 s on a quiet
    # machine), the lower of two measurements if over.
    assert_cpu_under(load, 3.0, "nf.load_weights refusing 300,000 index entries")
    assert_cpu_under(inspect, 3.0, "nfs.inspect refusing 300,000 index entries")
    code, _, err = _cli(["inspect", str(sharded)], capsys)
    assert code == 5 and re.search(why, err), err


def test_an_index_at_the_entry_limit_loads(sharded: Path) -> None:
    shard = json.loads(sharded.read_text())["weight_map"]["/layers/dense/vars"]
    _inflate(sharded, {f"/layers/unused_{i}/vars": shard for i in range(MAX_INDEX_ENTRIES - 1)})
    model = _model()
    assert nf.load_weights(model, str(sharded)) == []
    assert model.get_weights()[1].tolist() == [2.0, 2.0]


def test_an_index_naming_too_many_shards_is_refused_before_opening_one(sharded: Path) -> None:
    data = _inflate(sharded, {f"/layers/d{i}/vars": [f"s{i}.weights.h5"] for i in range(MAX_INDEX_SHARDS + 1)})
    assert len(data["weight_map"]) < MAX_INDEX_ENTRIES
    why = rf"names {MAX_INDEX_SHARDS + 2:,} shard files; netform reads at most {MAX_INDEX_SHARDS:,}"
    with pytest.raises(FormatError, match=why):  # not "s0.weights.h5 is missing"
        nf.load_weights(_model(), str(sharded))
    with pytest.raises(FormatError, match=why):
        nfs.inspect(sharded)


def test_an_index_of_too_many_shard_names_in_all_is_refused(sharded: Path) -> None:
    shard = json.loads(sharded.read_text())["weight_map"]["/layers/dense/vars"][0]
    many = MAX_INDEX_REFERENCES // 1000 + 1
    _inflate(sharded, {f"/layers/d{i}/vars": [shard] * 1000 for i in range(many)})
    why = rf"names shards {many * 1000 + 1:,} times in all; netform reads at most {MAX_INDEX_REFERENCES:,}"
    with pytest.raises(FormatError, match=why):
        nf.load_weights(_model(), str(sharded))
    with pytest.raises(FormatError, match=why):
        nfs.inspect(sharded)


def test_an_index_nested_too_deeply_is_a_format_error_for_load_weights(sharded: Path) -> None:
    data = json.loads(sharded.read_text())
    text = json.dumps(data)[:-1] + ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    sharded.write_text(text)
    with pytest.raises(FormatError, match=r"nested too deeply"):
        nf.load_weights(_model(), str(sharded))


def test_a_good_index_still_loads_and_inspects(sharded: Path) -> None:
    model = _model()
    assert nf.load_weights(model, str(sharded)) == []
    assert model.get_weights()[0].tolist() == np.full((4, 2), 1.0).tolist()
    info = nfs.inspect(sharded)
    assert info["format"] == "weights_h5" and info["parameters"] == 10
