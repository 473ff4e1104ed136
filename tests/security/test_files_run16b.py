"""A FIFO as a sharded weights index, and a NUL in a checkpoint state file, are refused at once, in kind.

``nf.load_weights(model, "x.weights.json")`` opened a FIFO index before checking it and blocked forever; a
state file naming ``"w\\u0000x"`` gave a raw ValueError (exit 70 in the CLI).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError, NetformError, UnsafeFileError

pytestmark = pytest.mark.tf

SPEC = "netform: 1\nname: t\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 1}]\n"


def _alarm(seconds: int) -> Any:
    def fail(*_: Any) -> None:
        raise TimeoutError("blocked")

    return signal.signal(signal.SIGALRM, fail), signal.alarm(seconds)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_sharded_index_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "x.weights.json"
    os.mkfifo(fifo)
    model = nf.build(nf.load_spec(SPEC))
    old, _ = _alarm(20)
    try:
        with pytest.raises(UnsafeFileError, match="FIFO"):
            nf.load_weights(model, str(fifo))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_a_nul_in_a_checkpoint_state_file_is_a_format_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = nf.build(nf.load_spec(SPEC))
    folder = tmp_path / "ck"
    folder.mkdir()
    nf.save_weights(model, str(folder / "w.ckpt"), format="tf_checkpoint")
    (folder / "checkpoint").write_text('model_checkpoint_path: "w\\u0000x"\nall_model_checkpoint_paths: "w\\u0000x"\n')
    with pytest.raises(FormatError, match="NUL"):
        nf.load_weights(model, str(folder))
    with pytest.raises(FormatError, match="NUL"):
        nf.inspect(str(folder))
    assert main(["inspect", str(folder)]) == 5
    assert "bug" not in capsys.readouterr().err


def test_a_checkpoint_state_file_linking_out_of_its_folder_is_refused(tmp_path: Path) -> None:
    """The folder's ``checkpoint`` file named what loads: one linked from elsewhere let an outside file choose."""
    model = nf.build(nf.load_spec(SPEC))
    folder = tmp_path / "ck"
    folder.mkdir()
    nf.save_weights(model, str(folder / "w.ckpt"), format="tf_checkpoint")
    outside = tmp_path / "elsewhere-checkpoint"
    outside.write_bytes((folder / "checkpoint").read_bytes())
    (folder / "checkpoint").unlink()
    os.symlink(outside, folder / "checkpoint")
    with pytest.raises(UnsafeFileError, match="state file is a link pointing outside its folder"):
        nf.load_weights(model, str(folder))
    with pytest.raises(UnsafeFileError, match="outside its folder"):
        nf.inspect(str(folder))
    nf.load_weights(model, str(folder / "w.ckpt"))  # the prefix itself still loads
    (folder / "checkpoint").unlink()
    os.symlink("w.ckpt.index", folder / "checkpoint")  # a link inside the folder is the folder's own
    with pytest.raises(NetformError) as err:  # it names no checkpoint: refused as such, not as a link out
        nf.load_weights(model, str(folder))
    assert "outside its folder" not in str(err.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_checkpoint_state_file_is_unsafe_not_unknown(tmp_path: Path) -> None:
    model = nf.build(nf.load_spec(SPEC))
    folder = tmp_path / "ck"
    folder.mkdir()
    nf.save_weights(model, str(folder / "w.ckpt"), format="tf_checkpoint")
    (folder / "checkpoint").unlink()
    os.mkfifo(folder / "checkpoint")
    old, _ = _alarm(20)
    try:
        with pytest.raises(UnsafeFileError, match="FIFO, socket or device"):
            nf.load_weights(model, str(folder))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
