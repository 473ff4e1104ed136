"""A data file's array of Python objects is refused as what it is (a pickle, never loaded), not as truncated.

``numpy.savez`` of an object array (one holding a pickled ``os.system`` call) was refused by ``train`` and
``predict`` with "declares shape (8, 4) of object (256 bytes), but the file stores only 231 bytes ... truncated
or crafted. Write it again with numpy.savez", though numpy.savez wrote it: a pickle's size is no object count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netform.cli import main


def test_an_object_array_is_refused_as_a_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objects = np.empty((8, 4), dtype=object)
    objects[:] = "x"
    np.savez(tmp_path / "obj.npz", x=objects, y=np.zeros((8, 1), "float32"))
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 1}\n"
        "training: {loss: mse, epochs: 1}\n"
    )
    code = main(["train", str(spec), "--data", str(tmp_path / "obj.npz"), "-o", str(tmp_path / "m.keras")])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "array 'x' holds Python objects (dtype object), which numpy stores as a pickle" in err
    assert "truncated" not in err and not (tmp_path / "m.keras").exists()
