"""What only the data's values show (an index out of range) is a data error on the command line, not a bug."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.cli._main import _runtime_data_error

TAKE = textwrap.dedent("""\
    netform: 1
    name: taker
    kind: functional
    inputs:
      x: {shape: [4]}
      i: {shape: [2], dtype: int32}
    nodes:
      t: {op: take, in: [x, i]}
    outputs: [t]
    """)


def test_take_past_the_flattened_batch_is_exit_4_naming_the_index(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`take` without `axis` indexes the flattened batch: indices [5, 0] fit 2 samples of 4 values but not 1."""
    (tmp_path / "take.yaml").write_text(TAKE)
    assert main(["validate", str(tmp_path / "take.yaml")]) == 0
    assert main(["build", str(tmp_path / "take.yaml"), "-o", str(tmp_path / "take.keras")]) == 0
    np.savez(tmp_path / "two.npz", x=np.arange(8, dtype="float32").reshape(2, 4), i=np.array([[5, 0], [1, 2]], "int32"))
    np.savez(tmp_path / "one.npz", x=np.ones((1, 4), "float32"), i=np.array([[5, 0]], "int32"))
    capsys.readouterr()
    # a row of two samples takes values of the other sample: no prediction per sample, nothing written
    assert main(["predict", str(tmp_path / "take.keras"), "--data", str(tmp_path / "two.npz"),
                 "--batch-size", "2", "-o", str(tmp_path / "two_out.npy")]) == 4
    assert "gives no prediction per sample" in capsys.readouterr().err
    assert not (tmp_path / "two_out.npy").exists()
    code = main(["predict", str(tmp_path / "take.keras"), "--data", str(tmp_path / "one.npz"),
                 "-o", str(tmp_path / "one_out.npy")])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "the model cannot run on these values (at node 'taker_1/GatherV2'): indices[0,0] = 5 is not in [0, 4)" in err
    assert "Traceback" not in err and "a bug in netform" not in err
    assert not (tmp_path / "one_out.npy").exists()


def test_only_tensorflow_value_errors_become_data_errors() -> None:
    """A Python bug in netform stays exit 70; TensorFlow's out-of-memory becomes a data error naming --batch-size."""
    import tensorflow as tf

    assert _runtime_data_error(ValueError("indices[0] = 5 is not in [0, 4)")) is None
    assert _runtime_data_error(tf.errors.UnimplementedError(None, None, "no kernel")) is None
    oom = tf.errors.ResourceExhaustedError(None, None, "Graph execution error:\n\nDetected at node m/dense/MatMul "
                                           "defined at (most recent call last):\n  File \"x.py\", line 1\n\n"
                                           "OOM when allocating tensor with shape[65536,30000]\n\t [[{{node m}}]]")
    message = _runtime_data_error(oom)
    assert message == ("not enough memory to run the model on this data (at node 'm/dense/MatMul'): OOM when "
                       "allocating tensor with shape[65536,30000]; lower --batch-size, or, where the layer at that "
                       "node makes a large tensor whatever the batch (a large kernel, dilation or size setting), make "
                       "that setting smaller (--debug shows TensorFlow's message)")


def test_a_closing_brace_is_no_reason() -> None:
    """TensorFlow's message can end in a line holding only ``}``: the reason shown was that brace."""
    import tensorflow as tf

    err = tf.errors.InvalidArgumentError(None, None, "Graph execution error:\n\nDetected at node auc/zeros defined "
                                         "at (most recent call last):\n  File \"x.py\", line 1\n\nEncountered when "
                                         "executing an operation: {\n  shape [100000,100000] is too large\n}")
    message = _runtime_data_error(err)
    assert message is not None and "shape [100000,100000] is too large" in message and ": };" not in message
