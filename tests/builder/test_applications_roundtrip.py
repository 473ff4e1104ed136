"""Every keras.applications model: from_keras → YAML → load_spec → build → same predictions.

Each model is made with ``weights=None`` at the smallest input its
architecture takes (32×32, or 71/75 where Keras asks for more) and 10
classes, so the whole set runs on a CPU: about 7 minutes of CPU time for
all 40 (ConvNeXtXLarge, EfficientNetV2L and NASNetLarge the longest). Three
quick ones run by default; the rest are marked slow (CI runs them).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ._roundtrip import round_trip  # noqa: E402

#: the smallest input side each architecture accepts, where it is not 32
_SIZES = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}

#: run by default (each under ~15 s on a loaded 2-core machine); every other constructor is marked slow.
#: The others hold the same layer types, more of them (the keras.applications-only ones: test_from_keras_gaps.py).
_FAST = {"MobileNet", "MobileNetV3Small", "VGG16"}

#: constructor → why it does not round-trip yet (strict: the test fails once it does)
_XFAIL: dict[str, str] = {}

APPLICATIONS = sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))


def _params() -> list:
    out = []
    for name in APPLICATIONS:
        marks = [] if name in _FAST else [pytest.mark.slow]
        if name in _XFAIL:
            marks.append(pytest.mark.xfail(reason=_XFAIL[name], strict=True))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def test_every_constructor_is_listed():
    assert len(APPLICATIONS) == 40
    assert _FAST <= set(APPLICATIONS) and set(_XFAIL) <= set(APPLICATIONS)


@pytest.mark.parametrize("name", _params())
def test_application_round_trip(name):
    size = _SIZES.get(name, 32)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype("float32")
    round_trip(model, x)
