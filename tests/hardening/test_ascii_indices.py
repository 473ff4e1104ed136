"""A list index, a variable's number and a logged epoch are ASCII digits: ``str.isdigit`` also takes ``²``.

``netform train spec.yaml 'layers[²].scale=1'`` ended in a raw ``ValueError`` (``int("²")``), a CSV log whose
epoch column a user wrote as ``²`` broke the resume of its training, and ``inspect`` of a ``.keras`` whose
variable was renamed ``vars/²`` said the file was corrupt with Python's message. ``٣`` (an Arabic-Indic three)
was taken as the index 3.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import h5py
import keras
import pytest

import netform as nf
from netform.cli._train_cmds import apply_overrides
from netform.engine._callback_state import continue_csv_logs

SPEC = str(Path(__file__).resolve().parents[2] / "models" / "mlp.yaml")


@pytest.mark.parametrize("key", ["layers[²].scale", "layers.².scale", "layers[٠].scale", "layers.٠.scale"])
def test_an_override_index_of_other_digits_is_no_path(key: str) -> None:
    with pytest.raises(nf.SpecError, match="is no path in a spec|is not in the spec") as caught:
        apply_overrides(SPEC, [f"{key}=0.5"])
    assert "mlp.yaml" in str(caught.value)


def test_a_log_row_of_other_digits_is_dropped_on_resume(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\r\n0,1.0\r\n²,2.0\r\n1,0.5\r\n3,0.1\r\n", encoding="utf-8")
    logger = keras.callbacks.CSVLogger(str(log))
    assert continue_csv_logs([logger], epoch=2) == [logger]
    assert log.read_text(encoding="utf-8").splitlines() == ["epoch,loss", "0,1.0", "1,0.5"]


def test_a_variable_numbered_in_other_digits_is_described(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    good = tmp_path / "a.keras"
    model.save(good)
    with zipfile.ZipFile(good) as zin:
        weights = io.BytesIO(zin.read("model.weights.h5"))
        with h5py.File(weights, "r+") as h5:
            h5["layers/dense/vars"].move("1", "²")
        edited = tmp_path / "b.keras"
        with zipfile.ZipFile(edited, "w") as zout:
            for item in zin.infolist():
                data = weights.getvalue() if item.filename == "model.weights.h5" else zin.read(item.filename)
                zout.writestr(item, data)
    assert nf.inspect(str(edited))["parameters"] == 8
