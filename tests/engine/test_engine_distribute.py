"""Distribution: MirroredStrategy over 2 logical CPUs and 2 local MultiWorkerMirrored workers.

Each run happens in subprocesses (logical devices must be set before TF starts),
with hard time-outs so a hung worker fails the test instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe

WORKER = Path(__file__).with_name("dist_worker.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def _run(mode: str, out: Path, env: dict | None = None, timeout: float = 120) -> None:
    subprocess.run([sys.executable, str(WORKER), mode, str(out)], env=env or ENV, check=True, timeout=timeout,
                   capture_output=True)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "single.npz"
    _run("single", out)
    return np.load(out)


def _assert_same_training(a, b, tol=1e-5):
    weights = sorted(k for k in a.files if k.startswith("w"))
    assert weights
    for k in weights:
        np.testing.assert_allclose(a[k], b[k], atol=tol, err_msg=k)
    np.testing.assert_allclose(a["loss"], b["loss"], atol=tol)
    np.testing.assert_allclose(a["evaluate"], b["evaluate"], atol=tol)
    np.testing.assert_allclose(a["pred"], b["pred"], atol=tol)


def test_strategy_from_name():
    assert nfe.strategy_from_name("default") is tf.distribute.get_strategy()
    assert isinstance(nfe.strategy_from_name("one_device", ["/cpu:0"]), tf.distribute.OneDeviceStrategy)
    assert isinstance(nfe.strategy_from_name("Mirrored", ["/cpu:0"]), tf.distribute.MirroredStrategy)


def test_mirrored_two_cpus_matches_one_device(single, tmp_path):
    out = tmp_path / "mirrored.npz"
    _run("mirrored", out)
    result = np.load(out)
    assert int(result["replicas"]) == 2
    _assert_same_training(result, single)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_mirrored_two_local_workers(single, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, str(WORKER), "multi_worker", str(tmp_path / f"w{index}.npz")],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    try:
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert int(w0["replicas"]) == 2
    _assert_same_training(w0, w1, tol=0)
    _assert_same_training(w0, single)
