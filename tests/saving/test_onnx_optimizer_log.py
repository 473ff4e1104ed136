"""An optimization pass tf2onnx skips is said in one line, not with a Python traceback.

``netform convert mnv3.keras m.onnx`` (a MobileNetV3Small that plain Keras wrote) exited 0 with a sound file,
and printed two tracebacks of tf2onnx's transpose optimizer ("ValueError: max() arg is an empty sequence").
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from netform.saving._onnx import _brief_optimizer_failures

ROOT = Path(__file__).resolve().parents[2]


def test_a_skipped_pass_is_logged_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tf2onnx.optimizer")
    with caplog.at_level(logging.WARNING, logger="tf2onnx.optimizer"), _brief_optimizer_failures():
        try:
            max([])
        except ValueError:
            logger.warning("Failed to apply %s", "optimize_transpose", exc_info=1)
    assert caplog.records[-1].exc_info is None
    assert "Traceback" not in caplog.text
    assert "Failed to apply optimize_transpose (tf2onnx skipped that optimization: ValueError: max()" in caplog.text
    assert not logger.filters  # the filter lives only within the call


@pytest.mark.slow
def test_converting_a_mobilenet_shows_no_traceback(tmp_path: Path) -> None:
    pytest.importorskip("tf2onnx")
    make = ("import keras; m = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), weights=None, "
            f"classes=5); m.save({str(tmp_path / 'mnv3.keras')!r})")
    subprocess.run([sys.executable, "-c", make], check=True, capture_output=True, timeout=600)
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from netform.cli._main import _entry; sys.exit(_entry())", "convert",
         str(tmp_path / "mnv3.keras"), str(tmp_path / "m.onnx")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (tmp_path / "m.onnx").stat().st_size > 0
