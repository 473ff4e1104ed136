"""The named call arguments each built-in layer takes (``call:`` in a node), in pure Python.

A node passes them as ``call: {initial_state: [enc.1, enc.2]}`` or
``call: {use_causal_mask: true}``. This table is the layers' ``call``
signatures without their first (tensor) argument, so a spec is checked
without importing Keras; a test compares it with ``inspect.signature``.
"""

from __future__ import annotations

__all__ = ["CALL_ARGUMENTS", "call_arguments"]

_RNN = ("initial_state", "mask", "training")
_DROPOUT = ("training",)
_ATTENTION = ("mask", "training", "return_attention_scores", "use_causal_mask")
_MHA = (
    "key",
    "query_mask",
    "value_mask",
    "key_mask",
    "attention_mask",
    "return_attention_scores",
    "training",
    "use_causal_mask",
)

#: layer type → the names a node's `call:` may give (absent: the layer's call takes only its input)
CALL_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "AdditiveAttention": _ATTENTION,
    "Attention": _ATTENTION,
    "MultiHeadAttention": _MHA,
    "GroupQueryAttention": _MHA,
    "LSTM": _RNN,
    "GRU": _RNN,
    "SimpleRNN": _RNN,
    "Bidirectional": _RNN,
    "BatchNormalization": ("training", "mask"),
    "TimeDistributed": ("training", "mask"),
    "GlobalAveragePooling1D": ("mask",),
    "Softmax": ("mask",),
    "CenterCrop": _DROPOUT,
    "Resizing": _DROPOUT,
    **{
        name: _DROPOUT
        for name in (
            "AlphaDropout",
            "Dense",
            "Dropout",
            "EinsumDense",
            "GaussianDropout",
            "GaussianNoise",
            "SpatialDropout1D",
            "SpatialDropout2D",
            "SpatialDropout3D",
        )
    },
}


def call_arguments(layer_type: str) -> tuple[str, ...] | None:
    """The call arguments of a built-in layer type; ``None`` for a type this table does not know (custom layers)."""
    from . import MODULE_OF

    if layer_type in CALL_ARGUMENTS:
        return CALL_ARGUMENTS[layer_type]
    return () if layer_type in MODULE_OF and layer_type != "KerasLayer" else None
