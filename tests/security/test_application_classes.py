"""A ``keras.applications`` constructor written as a class in a generic layer's argument is refused at validate.

``{class_name: MobileNet, module: keras.applications, config: {weights: imagenet}}`` as a kernel initializer
passed ``validate`` and failed only at build ("Could not interpret initializer identifier"); it names a whole
model, which may download its weights.
"""

from __future__ import annotations

import pytest

import netform as nf


@pytest.mark.parametrize("module", ["keras.applications", "keras.src.applications.resnet", "keras.datasets.mnist"])
@pytest.mark.parametrize("argument", ["kernel_initializer", "bias_regularizer", "kernel_constraint"])
def test_an_application_as_a_layer_argument_is_refused(module: str, argument: str) -> None:
    layer = {
        "type": "KerasLayer",
        "class_name": "Dense",
        "config": {
            "units": 2,
            argument: {"class_name": "ResNet50", "module": module, "config": {"weights": "imagenet"}},
        },
    }
    spec = {"netform": 1, "name": "m", "kind": "sequential", "inputs": {"x": {"shape": [4]}}, "layers": [layer]}
    with pytest.raises(nf.SpecError, match=f"{module}.ResNet50 as a class; it makes a whole model"):
        nf.load_spec(spec)


def test_keras_own_initializer_classes_still_validate() -> None:
    layer = {
        "type": "KerasLayer",
        "class_name": "Dense",
        "config": {"units": 2, "kernel_initializer": {"class_name": "GlorotUniform", "module": "keras.initializers"}},
    }
    spec = {"netform": 1, "name": "m", "kind": "sequential", "inputs": {"x": {"shape": [4]}}, "layers": [layer]}
    assert nf.load_spec(spec).name == "m"
