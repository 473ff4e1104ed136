"""The keras-io examples corpus (tests/builder/corpus/): every model round-trips through a spec.

from_keras → YAML → load_spec → build → same parameter count (also from
nf.summary, without TensorFlow) and the same predictions with the original's
weights.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from ._roundtrip import round_trip  # noqa: E402
from .corpus import EXAMPLES, RANDOM_OUTPUTS  # noqa: E402

#: example → why it does not round-trip yet (strict: the test fails once it does)
_XFAIL: dict[str, str] = {}

#: examples holding plain Keras layers registered with Keras ("package>Name"): counted at build, not statically
_BUILD_TIME_COUNTS = {"text/text_classification_with_transformer", "generative/vae_encoder"}

#: examples over ~15 s on a CPU (a whole keras.applications backbone inside)
_SLOW = {"vision/deeplabv3_plus", "vision/keypoint_detection", "vision/image_classification_efficientnet_fine_tuning"}


def _params() -> list:
    out = []
    for name in EXAMPLES:
        marks = [pytest.mark.slow] if name in _SLOW else []
        if name in _XFAIL:
            marks.append(pytest.mark.xfail(reason=_XFAIL[name], strict=True))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def test_corpus_has_at_least_30_examples():
    examples = {fn.__doc__.split(":", 1)[0] for fn in EXAMPLES.values()}
    assert all(e.startswith("examples/") and e.endswith(".py") for e in examples)
    assert len(examples) >= 30


@pytest.mark.parametrize("name", _params())
def test_example_round_trip(name):
    model, xs = EXAMPLES[name]()
    round_trip(model, xs, random_outputs=RANDOM_OUTPUTS.get(name, ()), static_params=name not in _BUILD_TIME_COUNTS)
