"""Steps and loops that now use public Keras where they used Keras internals behave as ``keras.Model``.

``train_step``/``test_step`` call the public ``compute_loss`` (with ``training``
only when the override takes it, as Keras's private ``_compute_loss`` does) and
decide ``training=`` from ``call_signature_parameters``; ``fit`` decides when
to validate from ``validation_freq`` itself instead of Keras's ``_should_eval``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import EngineError

from engine_helpers import assert_history_close, make_mlp, max_weight_diff


def _loss_override_models(with_training: bool):
    """The same subclassed model on Keras and on netform, with a ``compute_loss`` override."""
    seen: dict[str, list] = {"keras": [], "netform": []}

    def make(base, key):
        class Doubled(base):
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(3, activation="softmax")

            def call(self, x):  # no `training` argument
                return self.dense(x)

            if with_training:
                def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                    seen[key].append(training)
                    return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, training=training)
            else:  # an override written before Keras 3.3 added `training`
                def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
                    seen[key].append(None)
                    return 2.0 * super().compute_loss(x, y, y_pred, sample_weight)

        keras.utils.set_random_seed(3)
        model = Doubled()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        return model

    return make(keras.Model, "keras"), make(nf.Model, "netform"), seen


@pytest.mark.parametrize("with_training", [True, False], ids=["training-arg", "no-training-arg"])
def test_compute_loss_override_as_keras(data, with_training: bool) -> None:
    x, y = data
    k_model, nf_model, seen = _loss_override_models(with_training)
    k_hist = k_model.fit(x, y, batch_size=30, epochs=2, validation_split=0.2, shuffle=False, verbose=0)
    nf_hist = nf_model.fit(x, y, batch_size=30, epochs=2, validation_split=0.2, shuffle=False, verbose=0)
    assert_history_close(nf_hist, k_hist)
    assert max_weight_diff(nf_model, k_model) < 1e-5
    # traced calls: training=True in train_step, False in test_step, on both
    assert set(seen["netform"]) == set(seen["keras"]) == ({True, False} if with_training else {None})
    np.testing.assert_allclose(nf_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), atol=1e-5)


@pytest.mark.parametrize(("validation_freq", "validations"), [(2, 1), ([1, 3], 2)], ids=["every-2nd", "listed"])
def test_validation_freq_as_keras(data, validation_freq, validations: int) -> None:
    x, y = data
    histories = []
    for cls in (keras.Model, nf.Model):
        model = make_mlp(cls)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        histories.append(model.fit(x, y, batch_size=30, epochs=3, validation_split=0.2,
                                   validation_freq=validation_freq, shuffle=False, verbose=0))
    k_hist, nf_hist = histories
    assert_history_close(nf_hist, k_hist)
    assert len(nf_hist.history["val_loss"]) == len(k_hist.history["val_loss"]) == validations


def test_bad_validation_freq_is_an_engine_error(data) -> None:
    x, y = data
    model = make_mlp(nf.Model)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(EngineError, match="validation_freq"):
        model.fit(x, y, epochs=1, validation_split=0.2, validation_freq="often", verbose=0)


def test_checkpoint_holds_sublayers_kept_in_a_list(tmp_path) -> None:
    """tf.train.Checkpoint saves and restores the weights of layers a subclassed model keeps in a list."""
    import tensorflow as tf

    class Stack(nf.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(4, name="first"), keras.layers.Dense(2, name="second")]

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    x = np.ones((2, 3), "float32")
    keras.utils.set_random_seed(5)
    saved = Stack()
    saved(x)
    path = tf.train.Checkpoint(model=saved).write(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(6)
    restored = Stack()
    restored(x)
    assert max_weight_diff(restored, saved) > 0
    tf.train.Checkpoint(model=restored).read(path).assert_existing_objects_matched()
    assert max_weight_diff(restored, saved) == 0
    np.testing.assert_array_equal(restored(x), saved(x))
