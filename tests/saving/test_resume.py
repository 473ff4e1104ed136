"""Training state survives: 2 epochs + save/load + 1 epoch == 3 epochs straight."""

from __future__ import annotations

import numpy as np
import pytest

import netform.saving as nfs

FULL = {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_savedmodel"}


@pytest.mark.parametrize("fmt", list(FULL))
@pytest.mark.parametrize("name", ["mlp", "cnn", "multi_io"])
def test_resume_training_matches_straight_run(tmp_path, cases, name, fmt):
    case = cases[name]
    kw = {"batch_size": 8, "shuffle": False, "verbose": 0}
    straight = case.fresh()
    start = [w.copy() for w in straight.get_weights()]
    resumed = case.fresh()
    resumed.set_weights(start)

    straight.fit(case.x, case.y, epochs=3, **kw)
    resumed.fit(case.x, case.y, epochs=2, **kw)
    path = str(tmp_path / FULL[fmt])
    nfs.save(resumed, path)
    reloaded = nfs.load(path)
    assert int(reloaded.optimizer.iterations.numpy()) == 4
    reloaded.fit(case.x, case.y, epochs=1, **kw)

    for got, want in zip(reloaded.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_compile_false_gives_uncompiled_model(tmp_path, trained):
    for fmt, name in FULL.items():
        path = str(tmp_path / name)
        nfs.save(trained["mlp"], path)
        model = nfs.load(path, compile=False)
        assert not model.compiled, fmt
