"""Ctrl-C stops a call of another tool's SavedModel, even one whose function never returns.

A SavedModel's function runs as its author wrote it, loops included (a recurrent model's are loops): one
whose loop never ends kept ``netform predict`` running after Ctrl-C for ten minutes, until it was killed,
because TensorFlow runs the function in one C call during which Python handles no signal. The call now runs
in a worker thread and the waiting thread takes the interrupt: ``predict`` exits 130 ("interrupted").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")


def _loop_savedmodel(path: Path) -> None:
    import tensorflow as tf

    class Forever(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            i = tf.while_loop(lambda i: i >= 0, lambda i: i + 1 - 1, [tf.constant(0)])
            return {"y": x + tf.cast(i, tf.float32)}

    module = Forever()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def test_ctrl_c_stops_predict_on_a_function_that_never_returns(tmp_path: Path) -> None:
    _loop_savedmodel(tmp_path / "loop")
    np.savez(tmp_path / "d.npz", x=np.zeros((8, 4), "float32"))
    script = Path(sys.executable).with_name("netform")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from netform.cli import main; raise SystemExit(main())"]
    )
    proc = subprocess.Popen(
        [*command, "predict", str(tmp_path / "loop"), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "p.npy")],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # predict has begun once the model is loaded
            if "inference-only" in line:
                break
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, rest
    assert "interrupted" in rest
    assert not (tmp_path / "p.npy").exists()
