"""``keras_defaults`` reads ``keras.json`` as Keras does, once per change of the file, not once per layer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from netform.spec import _layer_dict
from netform.spec._layer_dict import keras_defaults


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "keras", raising=False)  # the file, not a live Keras, answers
    return tmp_path


def test_settings_follow_the_file_and_are_read_once_per_change(keras_home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert keras_defaults() == ("float32", "channels_last")  # no file: Keras's defaults
    path = keras_home / "keras.json"
    path.write_text(json.dumps({"floatx": "float16", "image_data_format": "channels_first"}))
    reads = []
    real = _layer_dict._read_settings
    monkeypatch.setattr(_layer_dict, "_read_settings", lambda p: reads.append(p) or real(p))
    assert [keras_defaults() for _ in range(50)] == [("float16", "channels_first")] * 50
    assert reads == [str(path)]
    path.write_text(json.dumps({"floatx": "float64"}))
    os.utime(path, ns=(1, 1))  # a change the cache key sees even where the clock is coarse
    assert keras_defaults() == ("float64", "channels_last")
    assert len(reads) == 2
    path.unlink()
    assert keras_defaults() == ("float32", "channels_last")
    path.write_text("{not json")
    assert keras_defaults() == ("float32", "channels_last")
