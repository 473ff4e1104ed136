"""The built-in layer catalog: one Pydantic schema per Keras layer type.

Modules are grouped by layer family, as Keras groups its own layers. A module
is imported the first time one of its types is looked up, so validating a
spec builds only the schemas it uses; :func:`load_all` imports every module.
"""

from __future__ import annotations

import importlib

# family module → the layer types it defines (kept in sync by a test)
CATALOG: dict[str, tuple[str, ...]] = {
    "core": (
        "Activation",
        "Dense",
        "EinsumDense",
        "Embedding",
        "Identity",
    ),
    "regularization": (
        "ActivityRegularization",
        "AlphaDropout",
        "Dropout",
        "GaussianDropout",
        "GaussianNoise",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
    ),
    "merge": (
        "Add",
        "Average",
        "Concatenate",
        "Dot",
        "Maximum",
        "Minimum",
        "Multiply",
        "Subtract",
    ),
    "attention": (
        "AdditiveAttention",
        "Attention",
        "GroupQueryAttention",
        "MultiHeadAttention",
    ),
    "pooling": (
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
    ),
    "normalization": (
        "BatchNormalization",
        "GroupNormalization",
        "LayerNormalization",
        "UnitNormalization",
    ),
    "recurrent": (
        "Bidirectional",
        "GRU",
        "LSTM",
        "SimpleRNN",
        "TimeDistributed",
    ),
    "preprocessing": (
        "CenterCrop",
        "Normalization",
        "Rescaling",
        "Resizing",
    ),
    "lookup": ("StringLookup",),
    "conv": (
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
    ),
    "conv_transpose": (
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
    ),
    "reshaping": (
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "Flatten",
        "Permute",
        "RepeatVector",
        "Reshape",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
    ),
    "activation": (
        "ELU",
        "LeakyReLU",
        "PReLU",
        "ReLU",
        "Softmax",
    ),
    "conv_recurrent": (
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
    ),
    "applications": (
        "CustomScaleLayer",
        "LayerScale",
        "StochasticDepth",
    ),
    "generic": ("KerasLayer",),
}

_MODULES = tuple(CATALOG)
MODULE_OF: dict[str, str] = {name: module for module, names in CATALOG.items() for name in names}
_loaded: set[str] = set()


def load_module(module: str) -> None:
    """Import one family module (registering its schemas)."""
    if module not in _loaded:
        importlib.import_module(f"{__name__}.{module}")
        _loaded.add(module)


def load_for(type_name: str) -> bool:
    """Import the module defining ``type_name``; False when it is not a built-in type."""
    module = MODULE_OF.get(type_name)
    if module is None:
        return False
    load_module(module)
    return True


def load_all() -> None:
    """Import every family module."""
    for module in _MODULES:
        load_module(module)
