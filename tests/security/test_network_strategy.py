"""A spec's ``distribution: {strategy: multi_worker_mirrored}`` uses the network: allowed only by the user.

MultiWorkerMirroredStrategy starts a gRPC server on every interface and joins the cluster the environment's
``TF_CONFIG`` names. A spec asking for it passed ``validate``, and ``netform train`` of it, where ``TF_CONFIG``
was set (a cluster node), listened on ``*:23456`` and connected out, without ``--allow-network``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netform as nf
from netform.cli._main import main
from netform.engine import fit_from_training_config
from netform.spec import spec_access

SPEC = """\
netform: 1
name: m
kind: sequential
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 2}
training:
  loss: mse
  epochs: 1
  distribution: {strategy: multi_worker_mirrored}
"""


def test_a_spec_asking_for_a_multi_worker_strategy_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mw.yaml"
    path.write_text(SPEC)
    with pytest.raises(nf.SpecError, match="multi_worker_mirrored.*TF_CONFIG.*--allow-network"):
        nf.load_spec(path)
    assert main(["validate", str(path)]) == 1
    assert "--allow-network" in capsys.readouterr().err
    with spec_access(allow_network=True):
        assert nf.load_spec(path).training is not None
    assert main(["validate", str(path), "--allow-network"]) == 0


def test_fit_from_a_training_config_asking_for_it_is_refused() -> None:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    training = {"loss": "mse", "epochs": 1, "distribution": {"strategy": "multi_worker_mirrored"}}
    with pytest.raises(nf.EngineError, match="multi_worker_mirrored.*allow_network=True"):
        fit_from_training_config(model, training, np.ones((4, 4)), np.ones((4, 2)), verbose=0)
