"""A ``checkpoint`` state file naming a TF checkpoint's sets, edited by someone, keeps the checkpoint.

TensorFlow's text-format parser takes a comment (``# keep me``), blank lines, other spacing and a repeated line;
such a file is read by ``tf.train.latest_checkpoint``. netform kept it (not its own words) and saved anyway,
deleting the set it named: TensorFlow then read old weights, then found no checkpoint. Spacing and repeated
lines in netform's own file were dropped by the next save.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform as nf


def _model(value: float) -> keras.Model:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign([[value]])
    return model


@pytest.mark.parametrize(
    "extra", ["# keep me\n", "   \t\n", "\n\n", "REPEAT"], ids=["comment", "spaces", "blank", "repeat"]
)
def test_an_edited_state_file_keeps_the_checkpoint(tmp_path: Path, extra: str) -> None:
    prefix = tmp_path / "ck" / "w.ckpt"
    nf.save_weights(_model(1.0), prefix, format="tf_checkpoint")
    state = tmp_path / "ck" / "checkpoint"
    text = state.read_text()
    state.write_text(text + (text.splitlines(keepends=True)[0] if extra == "REPEAT" else extra))
    latest = tf.train.latest_checkpoint(str(tmp_path / "ck"))
    assert latest is not None
    before = {p.name: p.read_bytes() for p in (tmp_path / "ck").iterdir()}
    with pytest.raises(nf.SaveError, match=r"checkpoint: is a TensorFlow checkpoint state file naming this checkpoint"):
        nf.save_weights(_model(2.0), prefix, format="tf_checkpoint")
    assert {p.name: p.read_bytes() for p in (tmp_path / "ck").iterdir()} == before
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "ck")))
    kernels = [reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "kernel" in k or "vars" in k]
    assert any(np.allclose(k, 1.0) for k in kernels)


def test_state_files_tensorflow_and_netform_write_are_rewritten(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    nf.save_weights(_model(1.0), folder / "w.ckpt", format="tf_checkpoint")
    named = tf.train.latest_checkpoint(str(folder))
    # TensorFlow's own writer of the state file, naming the same set, with a timestamp
    tf.compat.v1.train.update_checkpoint_state(
        str(folder), named, all_model_checkpoint_paths=[named], all_model_checkpoint_timestamps=[1.5]
    )
    for value in (2.0, 3.0):
        nf.save_weights(_model(value), folder / "w.ckpt", format="tf_checkpoint")
        restored = _model(0.0)
        nf.load_weights(restored, tf.train.latest_checkpoint(str(folder)))
        assert float(restored.layers[0].kernel.numpy()[0, 0]) == value


def test_a_users_own_file_named_checkpoint_is_kept_and_the_save_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "checkpoint").write_text("my notes: the run of March\n")
    nf.save_weights(_model(1.0), folder / "w.ckpt", format="tf_checkpoint")
    nf.save_weights(_model(2.0), folder / "w.ckpt", format="tf_checkpoint")
    assert (folder / "checkpoint").read_text() == "my notes: the run of March\n"
