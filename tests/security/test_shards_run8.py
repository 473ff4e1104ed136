"""Sharded weights: odd shard names and the model's own ``load_weights``.

* a ``.weights.json`` index naming a shard with a NUL byte, a control
  character, a lone surrogate, an empty or dotted name, a path or a very long
  name gets netform's FormatError naming the index (before: a raw
  ``ValueError: embedded null byte`` from ``os.stat``);
* ``load_weights`` called as a method of netform's ``Model`` (the drop-in
  ``keras.Model``) makes the same checks as ``nf.load_weights``: a shard that
  links out of its folder, a FIFO (which Keras would block on forever), a
  folder, or a name with a path is refused with netform's errors, while good
  files load exactly the weights Keras's own ``load_weights`` loads.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import FormatError, UnsafeFileError


def _layers(model_class: Any) -> Any:
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="h")(inputs)
    return model_class(inputs, keras.layers.Dense(2, name="d")(hidden), name="m")


def _weights(model: Any) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


@pytest.fixture
def sharded(tmp_path: Path) -> Path:
    """A sharded save of a model with known weights, in its own folder."""
    model = _layers(keras.Model)
    model.set_weights([np.full(w.shape, i + 1.0, "float32") for i, w in enumerate(model.get_weights())])
    (tmp_path / "w").mkdir()
    index = tmp_path / "w" / "x.weights.json"
    model.save_weights(str(index), max_shard_size=0.00001)
    assert list((tmp_path / "w").glob("*.weights.h5"))
    return index


def _rename_shards(index: Path, name: str) -> None:
    data = json.loads(index.read_text())
    data["weight_map"] = {key: [name] for key in data["weight_map"]}
    index.write_text(json.dumps(data))


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail (instead of blocking the suite) when a read does not return within 30 s."""

    def _stop(signum: int, frame: Any) -> None:
        raise TimeoutError("load_weights blocked on the shard")

    before = signal.signal(signal.SIGALRM, _stop)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


# --- 1. Odd shard names are netform's FormatError, naming the index ------------------------------


@pytest.mark.parametrize(
    "name",
    ["x\x00.h5", "x\n.weights.h5", "x\x1b[2J.h5", "x\x7f.h5", "\ud800.weights.h5", "", ".", "..", "a/b.h5", "../x.h5"],
)
def test_odd_shard_names_are_format_errors_naming_the_index(sharded: Path, name: str) -> None:
    _rename_shards(sharded, name)
    with pytest.raises(FormatError, match=r"x\.weights\.json: the index names shard") as err:
        nf.load_weights(_layers(keras.Model), str(sharded))
    assert "a shard must be a file name" in str(err.value)


def test_a_very_long_shard_name_is_a_format_error(sharded: Path) -> None:
    _rename_shards(sharded, "a" * 300 + ".weights.h5")
    with pytest.raises(FormatError, match=r"weights shard"):
        nf.load_weights(_layers(keras.Model), str(sharded))


# --- 2. The model's own load_weights makes nf.load_weights's checks --------------------------------


def test_the_model_method_loads_good_files_as_keras_does(sharded: Path, tmp_path: Path) -> None:
    single = tmp_path / "one.weights.h5"
    source = _layers(keras.Model)
    source.load_weights(str(sharded))
    source.save_weights(str(single))
    for path in (sharded, single):
        ours, theirs = _layers(nf.Model), _layers(keras.Model)
        assert isinstance(ours, nf.Model)
        assert ours.load_weights(str(path)) is None
        theirs.load_weights(str(path))
        for a, b in zip(_weights(ours), _weights(theirs), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(_weights(ours)[0], np.full((4, 3), 1.0))
    ours = _layers(nf.Model)
    ours.load_weights(Path(sharded), skip_mismatch=False)  # a pathlib.Path, Keras's keyword
    np.testing.assert_array_equal(_weights(ours)[-1], np.full((2,), 4.0))


def test_the_model_method_refuses_a_shard_linking_out_of_its_folder(sharded: Path, tmp_path: Path) -> None:
    shard = sorted(sharded.parent.glob("*.weights.h5"))[0]
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.weights.h5"
    shutil.move(str(shard), secret)
    os.symlink(secret, shard)
    with pytest.raises(UnsafeFileError, match=r"a weights shard is a link pointing outside its index's folder"):
        _layers(nf.Model).load_weights(str(sharded))


def test_the_model_method_refuses_a_fifo_shard_without_blocking(sharded: Path, no_hang: None) -> None:
    shard = sorted(sharded.parent.glob("*.weights.h5"))[0]
    shard.unlink()
    os.mkfifo(shard)
    with pytest.raises(UnsafeFileError, match=r"FIFO"):
        _layers(nf.Model).load_weights(str(sharded))


def test_the_model_method_refuses_a_fifo_weights_file_without_blocking(tmp_path: Path, no_hang: None) -> None:
    fifo = tmp_path / "f.weights.h5"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match=r"FIFO"):
        _layers(nf.Model).load_weights(str(fifo))


def test_the_model_method_refuses_a_folder_shard(sharded: Path) -> None:
    shard = sorted(sharded.parent.glob("*.weights.h5"))[0]
    shard.unlink()
    shard.mkdir()
    with pytest.raises(FormatError, match=r"weights shard"):
        _layers(nf.Model).load_weights(str(sharded))


@pytest.mark.parametrize("name", ["../x.weights.h5", "/etc/hostname", "sub/x.weights.h5", "x\x00.h5"])
def test_the_model_method_refuses_shard_names_with_a_path(sharded: Path, name: str) -> None:
    _rename_shards(sharded, name)
    with pytest.raises(FormatError, match=r"x\.weights\.json: the index names shard"):
        _layers(nf.Model).load_weights(str(sharded))
