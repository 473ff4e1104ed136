"""An ONNX initializer kept in an external file, or declaring more elements than it stores, is refused.

``netform inspect`` took an initializer whose ``external_data`` named ``../secret.txt`` or ``/dev/zero`` for
one stored in the file (and counted its parameters), and a 958 KB file declaring 5×10^13 parameters as they were.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(path: Path, initializer: object) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y], [initializer])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../secret.txt", "/dev/zero", "w.bin"])
def test_external_data_is_refused_and_never_read(tmp_path: Path, location: str, capsys) -> None:
    tensor = numpy_helper.from_array(np.zeros((2, 3), "float32"), "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    assert main(["inspect", str(_model(tmp_path / "m.onnx", tensor))]) == 6
    err = capsys.readouterr().err
    assert f"initializer 'w' of the ONNX graph keeps its data in an external file ({location!r})" in err


def test_an_initializer_declaring_more_than_it_stores_is_refused(tmp_path: Path, capsys) -> None:
    lie = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1000, 1000])  # no data at all
    assert main(["inspect", str(_model(tmp_path / "m.onnx", lie))]) == 5
    assert "declares 1,000,000 elements but stores 0 bytes" in capsys.readouterr().err
    short = numpy_helper.from_array(np.zeros((4, 4), "float32"), "w")
    short.raw_data = short.raw_data[:-4]  # one float short
    assert main(["inspect", str(_model(tmp_path / "s.onnx", short))]) == 5
    assert "declares 16 elements but stores 60 bytes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "tensor",
    [
        numpy_helper.from_array(np.ones((3, 5), "float32"), "w"),  # raw_data
        helper.make_tensor("w", TensorProto.FLOAT, [3, 5], [1.0] * 15),  # packed float_data
        helper.make_tensor("w", TensorProto.INT64, [15], list(range(15))),  # varints
        helper.make_tensor("w", TensorProto.STRING, [15], [b""] * 15),  # empty strings
        helper.make_tensor("w", TensorProto.FLOAT, [0, 5], []),  # no elements
    ],
    ids=["raw", "float_data", "int64_data", "strings", "empty"],
)
def test_self_contained_initializers_are_counted(tmp_path: Path, tensor: object, capsys) -> None:
    assert main(["inspect", str(_model(tmp_path / "m.onnx", tensor))]) == 0
    out = capsys.readouterr().out
    assert ("parameters: 15" in out) or ("parameters: 0" in out)
