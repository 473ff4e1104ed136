"""What the deployment exports (ONNX, LiteRT) share: the model's serving function and the converters' imports."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from netform.errors import FormatError, SaveError

__all__ = ["all_layers", "keras_layer_path", "require", "serving_function"]


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional converter, or say which ``pip install`` brings it.

    Raises:
        SaveError: The package is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise SaveError(f"{what} needs the '{module.split('.')[0]}' package, which is not installed "
                        f"({err}). Install it with: pip install netform[{extra}]") from err


def all_layers(model: Any) -> list[Any]:
    """``model`` and every layer inside it: nested models' layers and wrapped layers (``Bidirectional``...)."""
    found: list[Any] = []
    stack = [model]
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "layers", None) or [])
        for attr in ("layer", "forward_layer", "backward_layer"):
            inner = getattr(layer, attr, None)
            if inner is not None and hasattr(inner, "name") and hasattr(inner, "call"):
                stack.append(inner)
    return found


def keras_layer_path(model: Any, scope: str) -> str:
    """The Keras layer a TensorFlow op scope comes from, by the layers' names.

    TensorFlow scopes a traced op by the layers it runs in, with ``_1``-style
    suffixes where names repeat (``functional_1/odd_layer_1/Igamma``); the
    result names the layers as Keras does (``odd_layer``), nested ones joined
    by ``/``. A scope naming no layer comes back as it is.
    """
    import re  # noqa: PLC0415

    names = {layer.name for layer in all_layers(model)}
    found = []
    for part in scope.split("/")[:-1] if "/" in scope else [scope]:
        if part in names and part != model.name:
            found.append(part)
            continue
        base = re.sub(r"_\d+$", "", part)
        while base not in names and re.search(r"_\d+$", base):
            base = re.sub(r"_\d+$", "", base)
        if base in names and base != model.name:
            found.append(base)
    return "/".join(found) or scope.rsplit("/", 1)[0]


def serving_function(model: Any, path: str, batch: int | None = None) -> tuple[Any, list[Any]]:
    """A ``tf.function`` running ``model`` in inference mode, and its flat input signature.

    The signature is the one ``model.export()`` computes (from the model's
    inputs, or the shapes a subclassed model was built with); the function
    takes the inputs as positional tensors in that order. ``batch`` fixes the
    first dimension of every input (None leaves it as the model has it).

    Raises:
        FormatError: The model is not built, so it has no input signature.
    """
    import tensorflow as tf  # noqa: PLC0415

    from netform._compat._keras_export import deploy_input_signature  # noqa: PLC0415

    from ._meta import check_built  # noqa: PLC0415

    check_built(model, "export")
    try:
        signature = deploy_input_signature(model)
    except (ValueError, TypeError, AttributeError) as err:
        raise FormatError(f"{path}: cannot tell the inputs of model '{model.name}' ({err}). Build it "
                          "with an input shape (model.build(...)) or call it once on data.") from err
    flat = tf.nest.flatten(signature)
    specs = [tf.TensorSpec(_batched(s.shape, batch), s.dtype, name=getattr(s, "name", None) or f"input_{i}")
             for i, s in enumerate(flat)]

    def serve(*args: Any) -> Any:
        packed = tf.nest.pack_sequence_as(signature, list(args))
        return model(*packed, training=False)

    return tf.function(serve, input_signature=specs, autograph=False), specs


def _batched(shape: Any, batch: int | None) -> Any:
    if batch is None or not shape:
        return shape
    return (batch, *tuple(shape)[1:])
