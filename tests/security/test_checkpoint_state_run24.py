"""A checkpoint folder's state file is read as TensorFlow reads it, and refused when any path it names leaves.

TensorFlow reads the ``checkpoint`` state file with protobuf's ``text_format.Merge``: of two
``model_checkpoint_path`` lines it takes the last, it joins adjacent strings, takes single quotes and skips
comments. netform read the first double-quoted line only, so a file naming a path inside the folder first and
``../outside`` second was accepted, while ``tf.train.latest_checkpoint`` of the same folder read the weights
outside it. Now every path the file names (``all_model_checkpoint_paths`` too, which a ``CheckpointManager``
reads and deletes) must stay in the folder, as TensorFlow parses it.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest

import netform.saving as nfs
from netform.errors import UnsafeFileError


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    inside, outside = tmp_path / "ck", tmp_path / "outside"
    nfs.save_weights(_model(), inside / "w", format="tf_checkpoint")
    other = _model()
    other.set_weights([w + 100 for w in other.get_weights()])
    nfs.save_weights(other, outside / "ev", format="tf_checkpoint")
    return inside, outside


STATES = {
    "repeated": 'model_checkpoint_path: "w"\nmodel_checkpoint_path: "../outside/ev"\n',
    "comment first": '# a comment\nmodel_checkpoint_path: "../outside/ev"\n',
    "single quotes": "model_checkpoint_path: '../outside/ev'\n",
    "joined strings": 'model_checkpoint_path: "../out" "side/ev"\n',
    "octal escapes": 'model_checkpoint_path: "\\056\\056/outside/ev"\n',
    "space before colon": 'model_checkpoint_path : "../outside/ev"\n',
    "one line": 'model_checkpoint_path: "w" model_checkpoint_path: "../outside/ev"',
}


@pytest.mark.parametrize("text", STATES.values(), ids=STATES.keys())
def test_a_state_file_tensorflow_reads_as_leaving_the_folder_is_refused(folders, text: str) -> None:
    import tensorflow as tf

    inside, outside = folders
    (inside / "checkpoint").write_text(text)
    followed = tf.train.latest_checkpoint(str(inside))
    assert followed is not None and os.path.realpath(followed) == os.path.realpath(outside / "ev")
    with pytest.raises(UnsafeFileError, match="points outside the checkpoint folder"):
        nfs.load_weights(_model(), inside)


def test_a_listed_path_out_of_the_folder_is_refused(folders) -> None:
    inside, _ = folders
    (inside / "checkpoint").write_text(
        'model_checkpoint_path: "w"\nall_model_checkpoint_paths: "w"\nall_model_checkpoint_paths: "../outside/ev"\n'
    )
    with pytest.raises(UnsafeFileError, match="all_model_checkpoint_paths '../outside/ev'"):
        nfs.load_weights(_model(), inside)


def test_a_state_file_inside_the_folder_still_loads(folders) -> None:
    inside, _ = folders
    model = _model()
    (inside / "checkpoint").write_text("# mine\nmodel_checkpoint_path: 'w'\n")
    nfs.load_weights(model, inside)
    assert not np.allclose(model.get_weights()[0], 100, atol=50)


def test_a_path_tensorflow_cleans_into_the_folder_loads(folders) -> None:
    # TensorFlow drops `xx/..` by the text even where `xx` does not exist; netform reads the same file
    import tensorflow as tf

    inside, _ = folders
    (name,) = [n[: -len(".index")] for n in os.listdir(inside) if ".nf-set-" in n and n.endswith(".index")]
    (inside / "checkpoint").write_text(f'model_checkpoint_path: "xx/../{name}"\n')
    assert tf.train.load_checkpoint(tf.train.latest_checkpoint(str(inside))) is not None
    nfs.load_weights(_model(), inside)


def test_a_path_through_a_link_out_is_refused_whichever_way_it_is_read(folders, tmp_path) -> None:
    inside, outside = folders
    (inside / "out").symlink_to(outside / "sub", target_is_directory=True)
    (outside / "sub").mkdir()
    (inside / "checkpoint").write_text(
        'model_checkpoint_path: "out/../ev"\n'
    )  # by the text: ck/ev; by the link: outside/ev
    with pytest.raises(UnsafeFileError, match="points outside the checkpoint folder"):
        nfs.load_weights(_model(), inside)
