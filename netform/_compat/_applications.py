"""Layer classes that ``keras.applications`` defines but does not export.

ConvNeXt's ``LayerScale`` and ``StochasticDepth`` and InceptionResNetV2's
``CustomScaleLayer`` live only in ``keras.src.applications``: Keras has no
public name for them (``keras.applications.convnext`` exports the models and
``preprocess_input``), nor registers them with ``register_keras_serializable``.
A model built by those constructors holds instances of them, so exporting and
rebuilding it needs the classes themselves.
"""

from __future__ import annotations

__all__ = ["application_layer_classes"]


def application_layer_classes() -> dict[str, type]:
    """Class name → class, for every layer class of ``keras.applications`` outside ``keras.layers``."""
    # Private: keras.src.applications.{convnext,inception_resnet_v2}; no public alternative (see above).
    from keras.src.applications import convnext, inception_resnet_v2

    return {
        "LayerScale": convnext.LayerScale,
        "StochasticDepth": convnext.StochasticDepth,
        "CustomScaleLayer": inception_resnet_v2.CustomScaleLayer,
    }
