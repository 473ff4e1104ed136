"""Loading weights walks the model as Keras does, once for the shapes (writing nothing) and once to load.

The shapes netform compares before loading are those Keras's ``save_weights`` writes, path for path; Keras
reads the very file netform opened and checked; the skip-set cache used during the call is gone after it.
"""

from __future__ import annotations

import functools
import threading

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform._compat._weights_store import walk_cache, weight_shapes


@functools.cache
def _models() -> list[keras.Model]:
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    cnn = keras.Model(inp, keras.layers.Dense(2)(x), name="cnn")
    cnn.compile("adam", "mse", metrics=["mae"])
    cnn.fit(np.zeros((4, 8, 8, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    rnn = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(20, 6),
                            keras.layers.LSTM(3), keras.layers.Dense(1)], name="rnn")
    seq_in = keras.Input((4, 6))
    att = keras.layers.MultiHeadAttention(2, 3)(seq_in, seq_in)
    attention = keras.Model(seq_in, keras.layers.LayerNormalization()(att), name="attention")
    return [cnn, rnn, attention]


def _written_shapes(model: keras.Model, path: str) -> dict[str, tuple[int, ...]]:
    model.save_weights(path)
    out: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_weight_shapes_are_what_keras_writes(tmp_path) -> None:
    for model in _models():
        assert weight_shapes(model) == _written_shapes(model, str(tmp_path / f"{model.name}.weights.h5"))
        with walk_cache():  # the cached skip-sets make the walk visit exactly the same objects
            assert weight_shapes(model) == _written_shapes(model, str(tmp_path / f"{model.name}.weights.h5"))


def test_weight_shapes_leave_out_skipped_objects() -> None:
    model = _models()[0]
    dense = model.layers[-1]
    every, shapes = weight_shapes(model), weight_shapes(model, {id(dense)})
    left_out = {name: every[name] for name in set(every) - set(shapes)}
    assert sorted(left_out.values()) == [(2,), (4, 2)]  # the dense layer's kernel and bias, nothing else
    assert {name.rpartition("/vars/")[0] for name in left_out} == {"layers/dense"}


def _keras_state_keys() -> set[str]:
    from keras.src.backend.common import global_state  # the test reads Keras's per-thread state directly

    return {k for k in vars(global_state.GLOBAL_STATE_TRACKER) if k.startswith("saving_attr_skiplist_")}


def test_walk_cache_is_removed_after_the_call_and_never_seen_by_other_threads(tmp_path) -> None:
    model = _models()[0]
    path = str(tmp_path / "m.weights.h5")
    nf.save_weights(model, path)
    before = _keras_state_keys()
    seen_elsewhere: list[set[str]] = []
    with walk_cache():
        assert _keras_state_keys() - before  # present inside the call, in this thread
        thread = threading.Thread(target=lambda: seen_elsewhere.append(_keras_state_keys()))
        thread.start()
        thread.join()
    assert seen_elsewhere == [set()]
    assert _keras_state_keys() == before
    nf.load_weights(model, path)
    assert _keras_state_keys() == before


def test_load_weights_matches_keras_and_reports_every_mismatch(tmp_path) -> None:
    model = _models()[0]
    path = str(tmp_path / "m.weights.h5")
    nf.save_weights(model, path)
    twin = keras.models.clone_model(model)
    twin.compile("adam", "mse", metrics=["mae"])
    twin.fit(np.ones((4, 8, 8, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
    nf.load_weights(twin, path)
    keras_twin = keras.models.clone_model(model)
    keras_twin.compile("adam", "mse", metrics=["mae"])
    keras_twin.fit(np.ones((4, 8, 8, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
    keras_twin.load_weights(path)
    for ours, theirs in zip(twin.weights + twin.optimizer.variables,
                            keras_twin.weights + keras_twin.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(5, 3)(inp)  # 5 filters, not 4: conv, batch norm and dense differ
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    other = keras.Model(inp, keras.layers.Dense(2)(x))
    before = [np.asarray(w).copy() for w in other.weights]
    with pytest.raises(nf.errors.FormatError, match=r"\(7 difference\(s\)\)"):
        nf.load_weights(other, path)
    for kept, now in zip(before, other.weights):  # nothing loaded
        np.testing.assert_array_equal(kept, np.asarray(now))
