"""Every model x every format: save, detect (also misnamed), load, same predictions."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import netform.saving as nfs
from netform.errors import FormatError, SaveError

from .conftest import CASE_NAMES, predict

FULL = {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_savedmodel"}
WEIGHTS = {"weights_h5": "w.weights.h5", "legacy_h5_weights": "w.lw.h5", "tf_checkpoint": "w.ckpt"}


def _same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-6)


@pytest.mark.parametrize("fmt", list(FULL))
@pytest.mark.parametrize("name", CASE_NAMES)
def test_full_model_roundtrip(tmp_path, cases, trained, name, fmt):
    model, case = trained[name], cases[name]
    path = str(tmp_path / FULL[fmt])
    assert nfs.save(model, path) == fmt
    assert nfs.detect_format(path) == fmt
    wrong = str(tmp_path / ("misnamed.weights.h5" if fmt != "savedmodel" else "misnamed.keras"))
    shutil.move(path, wrong)
    assert nfs.detect_format(wrong) == fmt
    loaded = nfs.load(wrong)
    assert type(loaded) is type(model)
    assert loaded.name == model.name
    _same(predict(loaded, case.x), predict(model, case.x))
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    assert type(loaded.optimizer) is type(model.optimizer)
    assert not [p for p in os.listdir(tmp_path) if ".nf-" in p], "temporary files left behind"


@pytest.mark.parametrize("fmt", list(WEIGHTS))
@pytest.mark.parametrize("name", ["mlp", "cnn", "nested"])
def test_weights_roundtrip(tmp_path, cases, trained, name, fmt):
    model, case = trained[name], cases[name]
    path = str(tmp_path / WEIGHTS[fmt])
    assert nfs.save_weights(model, path, format=fmt) == fmt
    assert nfs.detect_format(path) == fmt
    fresh = case.fresh()
    assert nfs.load_weights(fresh, path) == []
    _same(predict(fresh, case.x), predict(model, case.x))


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_load_weights_from_full_model_file(tmp_path, cases, trained, fmt):
    path = str(tmp_path / FULL[fmt])
    nfs.save(trained["cnn"], path)
    fresh = cases["cnn"].fresh()
    nfs.load_weights(fresh, path)
    _same(predict(fresh, cases["cnn"].x), predict(trained["cnn"], cases["cnn"].x))


def test_serving_signature(tmp_path, cases, trained):
    import tensorflow as tf

    path = str(tmp_path / "m_savedmodel")
    nfs.save(trained["multi_io"], path)
    served = tf.saved_model.load(path)
    fn = served.signatures["serving_default"]
    x = cases["multi_io"].x
    out = fn(a=tf.constant(x[0]), b=tf.constant(x[1]))
    ref = predict(trained["multi_io"], x)
    got = [out[k].numpy() for k in sorted(out)]
    _same(sorted(got, key=lambda a: a.shape[1]), sorted(ref, key=lambda a: a.shape[1]))


def test_ambiguous_path_lists_choices(tmp_path, trained):
    with pytest.raises(SaveError, match=r"cannot tell the format.*'keras', 'h5', 'savedmodel'"):
        nfs.save(trained["mlp"], str(tmp_path / "model.bin"))
    with pytest.raises(SaveError, match=r"Unknown format 'kras' \(Did you mean 'keras'\?\)"):
        nfs.save(trained["mlp"], str(tmp_path / "model.bin"), format="kras")


def test_format_argument_overrides_extension(tmp_path, trained):
    path = str(tmp_path / "model.bin")
    assert nfs.save(trained["mlp"], path, format="h5") == "h5"
    assert nfs.detect_format(path) == "h5"


def test_unknown_content_lists_formats(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("hello, not a model")
    with pytest.raises(FormatError, match=r"found a 18-byte file starting with text 'hello, not a mod'.*"
                                          r"Supported formats: keras, h5, savedmodel, weights_h5"):
        nfs.detect_format(str(path))
    with pytest.raises(FormatError, match="no such file"):
        nfs.load(str(tmp_path / "missing.keras"))
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(FormatError, match="an empty directory"):
        nfs.load(str(empty))


def test_load_refuses_weights_only(tmp_path, trained):
    path = str(tmp_path / "w.weights.h5")
    nfs.save_weights(trained["mlp"], path)
    with pytest.raises(FormatError, match=r"holds only weights \(weights_h5\).*load_weights"):
        nfs.load(path)


def test_detect_format_is_fast_and_tf_free(tmp_path, trained):
    import subprocess
    import sys

    paths = []
    for fmt, name in {**FULL, **WEIGHTS}.items():
        p = str(tmp_path / name)
        (nfs.save if fmt in FULL else nfs.save_weights)(trained["mlp"], p, format=fmt)
        paths.append((p, fmt))
    code = (
        "import sys, time, netform.saving as s\n"
        f"paths = {paths!r}\n"
        "for p, f in paths: assert s.detect_format(p) == f, (p, f)\n"
        # CPU time, best of 5 rounds: a busy machine must not fail a correct build.
        "def rnd():\n"
        "    t = time.process_time()\n"
        "    for _ in range(20):\n"
        "        for p, f in paths: s.detect_format(p)\n"
        "    return (time.process_time() - t) / (20 * len(paths))\n"
        "per = min(rnd() for _ in range(5))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(per)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    per_call = float(out.stdout.strip().splitlines()[-1])
    assert per_call < 1e-3, f"detect_format: {per_call * 1e3:.2f} ms of CPU a call (best of 5 rounds), over 1 ms"


def test_tf_checkpoint_refuses_weights_it_cannot_reach(tmp_path):
    import keras
    import numpy as np

    import netform as nf
    from netform.errors import SaveError

    class Pairs(keras.Model):
        def __init__(self):
            super().__init__()
            self.pairs = [(keras.layers.Dense(3, name="a"), keras.layers.Dense(3, name="b"))]
            self.head = keras.layers.Dense(1, name="head")

        def call(self, x):
            a, b = self.pairs[0]
            return self.head(b(a(x)))

    model = Pairs()
    model(np.zeros((2, 3), "float32"))
    with pytest.raises(SaveError, match=r"a TF checkpoint cannot reach 4 of the model's 6 weights .*format='weights_h5'"):
        nf.save_weights(model, tmp_path / "w.ckpt", format="tf_checkpoint")
    assert not list(tmp_path.iterdir())
