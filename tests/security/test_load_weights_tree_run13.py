"""``nf.load_weights`` from a SavedModel folder checks the folder's tree first, as ``nf.load`` does.

Before: ``load_weights`` went straight to the folder's graph and digests (``check_digests`` hashes
``variables/variables.index``): a FIFO there blocked the load forever, and a link out of the folder was
followed and read. Now every entry must be a regular file or folder inside it, with ``nf.load``'s error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import netform as nf
from netform.errors import UnsafeFileError

#: Feeds EOF to a reader blocked on the FIFO after a delay, and leaves a flag saying it had to.
_UNBLOCKER = """
import os, sys, time
fifo, after, flag = sys.argv[1], float(sys.argv[2]), sys.argv[3]
time.sleep(after)
open(flag, "w").close()
while True:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass
    time.sleep(0.05)
"""


@contextlib.contextmanager
def unblock(fifo: Path, after: float = 20.0) -> Iterator[list[bool]]:
    """Fail instead of hanging: a reader still blocked on ``fifo`` after ``after`` s is fed EOF."""
    hung: list[bool] = []
    flag = fifo.parent / (fifo.name + ".hung")
    helper = subprocess.Popen([sys.executable, "-c", _UNBLOCKER, str(fifo), str(after), str(flag)])
    try:
        yield hung
    finally:
        helper.kill()
        helper.wait()
        if flag.exists():
            hung.append(True)
            flag.unlink()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import keras

    out = tmp_path_factory.mktemp("saved")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="tiny")
    model.compile(optimizer="adam", loss="mse")
    nf.save(model, out / "m_savedmodel", format="savedmodel")
    return {"model": model, "savedmodel": out / "m_savedmodel"}


def _copy(saved: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "m_savedmodel"
    shutil.copytree(saved["savedmodel"], path)
    return path


def _refusal(call: Any) -> str:
    with pytest.raises(UnsafeFileError) as info:
        call()
    return str(info.value)


def test_a_clean_folder_still_loads(tmp_path: Path, saved: dict[str, Any]) -> None:
    assert nf.load_weights(saved["model"], _copy(saved, tmp_path)) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("member", ["variables/variables.index", "saved_model.pb", "assets.extra/netform.json"])
def test_a_fifo_in_the_folder_is_refused_as_load_refuses_it(tmp_path: Path, saved: dict[str, Any], member: str) -> None:
    path = _copy(saved, tmp_path)
    fifo = path / member
    fifo.unlink()
    os.mkfifo(fifo)
    with unblock(fifo) as hung:
        by_load = _refusal(lambda: nf.load(path))
    assert not hung
    with unblock(fifo) as hung:
        by_weights = _refusal(lambda: nf.load_weights(saved["model"], path))
    assert not hung, "load_weights blocked on the FIFO"
    assert by_weights == by_load
    assert f"{member}: " in by_weights and "is a FIFO (named pipe)" in by_weights, by_weights


@pytest.mark.parametrize("member", ["variables/variables.index", "assets/outside"])
def test_a_link_out_of_the_folder_is_refused_as_load_refuses_it(
    tmp_path: Path, saved: dict[str, Any], member: str
) -> None:
    path = _copy(saved, tmp_path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes((path / "variables" / "variables.index").read_bytes())
    link = path / member
    if link.exists():
        link.unlink()
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(secret)
    by_load = _refusal(lambda: nf.load(path))
    by_weights = _refusal(lambda: nf.load_weights(saved["model"], path))
    assert by_weights == by_load
    assert f"{member}: a link in the SavedModel directory points outside it" in by_weights, by_weights
