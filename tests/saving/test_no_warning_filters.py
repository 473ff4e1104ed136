"""Saving and loading change no warning filter, even for the length of the call (it would be process-wide)."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netform as nf  # noqa: E402

_SEEN: list[list[object]] = []


class _Spy(keras.layers.Dense):
    """A Dense layer that notes the warning filters in force while Keras reads or writes its weights."""

    @property
    def trainable_weights(self):  # type: ignore[no-untyped-def]
        _SEEN.append(list(warnings.filters))
        return super().trainable_weights

    def load_own_variables(self, store):  # type: ignore[no-untyped-def]
        _SEEN.append(list(warnings.filters))
        super().load_own_variables(store)


def _model() -> keras.Model:
    inputs = keras.Input((3,))
    model = keras.Model(inputs, _Spy(2, name="spy")(keras.layers.Dense(4, name="hidden")(inputs)))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_save_and_load_weights_leave_warning_filters_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _model()
    before = list(warnings.filters)
    _SEEN.clear()
    nf.save(model, tmp_path / "m.h5", format="h5")
    nf.save_weights(model, tmp_path / "m.weights.h5")
    nf.load_weights(_model(), tmp_path / "m.weights.h5")
    assert len(_SEEN) >= 2
    assert all(seen == before for seen in _SEEN)
    assert list(warnings.filters) == before


def test_skip_mismatch_warns_once_with_what_was_skipped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inputs = keras.Input((3,))
    saved = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(4)(inputs)))
    nf.save_weights(saved, tmp_path / "w.weights.h5")
    other = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.Dense(4)(inputs)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipped = nf.load_weights(other, tmp_path / "w.weights.h5", skip_mismatch=True)
    user = [w for w in caught if issubclass(w.category, UserWarning)]
    assert len(user) == 1 and "skipped 2 variable(s)" in str(user[0].message), [str(w.message) for w in user]
    assert len(skipped) == 2
    np.testing.assert_array_equal(other.layers[1].kernel.numpy(), saved.layers[1].kernel.numpy())
