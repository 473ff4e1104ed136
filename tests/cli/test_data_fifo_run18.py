"""A FIFO, a socket or a folder given as a data file says what it is (it read "no such data file")."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from netform.cli import main
from netform.cli._data_files import not_a_data_file

SPEC = Path(__file__).resolve().parents[2] / "models" / "gru_forecaster.yaml"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_as_data_is_named_a_fifo_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "d.npz"
    os.mkfifo(fifo)
    assert main(["predict", str(SPEC), "--data", str(fifo), "-o", str(tmp_path / "p.npy")]) == 4
    assert "is a FIFO, not a data file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["d.npz"]


def test_each_kind_of_non_file_is_named(tmp_path: Path) -> None:
    assert not_a_data_file(tmp_path / "missing.npz") == "no such data file"
    assert not_a_data_file(tmp_path) == "is a folder, not a data file"
    if hasattr(socket, "AF_UNIX"):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(tmp_path / "s.npz"))
            assert not_a_data_file(tmp_path / "s.npz").startswith("is a socket")
    assert not_a_data_file("/dev/null").startswith("is a device")
