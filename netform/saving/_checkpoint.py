"""TensorFlow checkpoints (``prefix.index`` + ``prefix.data-*``) of a model's weights.

Written with ``tf.train.Checkpoint(model=...)``; TensorFlow checksums every
tensor (CRC-32C in the index), so corruption surfaces on read and is wrapped
as a :class:`FormatError`.
"""

from __future__ import annotations

from typing import Any

from netform.errors import FormatError, SaveError

from ._atomic import atomic_prefix
from ._detect import checkpoint_prefix
from ._meta import reading, writing
from ._weights import mismatch_error

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_variables"]


def save_checkpoint(model: Any, prefix: str) -> None:
    """Write the model's variables as a TF checkpoint at ``prefix``, atomically."""
    import tensorflow as tf  # noqa: PLC0415

    if prefix.endswith(".index"):
        prefix = prefix[: -len(".index")]
    with writing(prefix, "tf_checkpoint"), atomic_prefix(prefix) as tmp:
        tf.train.Checkpoint(model=model).write(tmp)
        missing = unreachable_weights(model)
        if missing:
            raise SaveError(
                f"{prefix}: a TF checkpoint cannot reach {len(missing)} of the model's {len(model.weights)} "
                f"weights ({', '.join(missing[:5])}): their layers sit in a structure TensorFlow does not "
                "track (e.g. a tuple); keep layers in attributes or lists, or save with format='weights_h5'")


def unreachable_weights(model: Any) -> list[str]:
    """Paths of the model's weights that TF's object graph cannot reach from the model.

    The optimizer is left out of the walk: a weight reachable only through the
    optimizer's slots would be saved, but could not be restored into a fresh
    model that has no optimizer yet.
    """
    seen: set[int] = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        try:
            children = obj._trackable_children(save_type="checkpoint")
        except (AttributeError, TypeError, ValueError):
            continue
        for name, child in children.items():
            if obj is model and name == "optimizer":
                continue
            stack.append(child)
    return [getattr(w, "path", w.name) for w in model.weights if id(w) not in seen]


def checkpoint_variables(prefix: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a checkpoint's model variables."""
    import tensorflow as tf  # noqa: PLC0415

    return {k: tuple(s) for k, s in tf.train.list_variables(prefix)
            if k.startswith("model/") and k.endswith("VARIABLE_VALUE")}


def load_checkpoint(model: Any, path: str, *, skip_mismatch: bool = False) -> list[str]:
    """Restore a model's variables from a TF checkpoint.

    Args:
        model: A built model.
        path: The prefix, its ``.index``, or a directory with a ``checkpoint`` file.
        skip_mismatch: Not supported for checkpoints (TensorFlow matches by
            object graph); a mismatch is always an error listing the differences.

    Returns:
        An empty list (nothing is ever skipped).
    """
    import tensorflow as tf  # noqa: PLC0415

    prefix = checkpoint_prefix(path)
    if prefix is None:
        raise FormatError(f"{path}: no TF checkpoint index found here.")
    with reading(path, "tf_checkpoint"):
        saved = checkpoint_variables(prefix)
        try:
            status = tf.train.Checkpoint(model=model).read(prefix)
            status.assert_existing_objects_matched()
            status.expect_partial()
            missing = unreachable_weights(model)
            if missing:
                raise AssertionError(f"TF checkpoints cannot reach the weights {', '.join(missing[:5])} of this model")
        except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as err:
            mine = [f"{v.path}: {tuple(v.shape)}" for v in model.weights]
            theirs = [f"{k.removeprefix('model/').split('/.ATTRIBUTES')[0]}: {s}"
                      for k, s in saved.items() if "/optimizer/" not in k and not k.startswith("model/optimizer")]
            problems = [" ".join(str(err).split())[:300],
                        "model variables: " + ", ".join(mine[:12]),
                        "checkpoint variables: " + ", ".join(theirs[:12])]
            note = (" (skip_mismatch is not supported for TF checkpoints, which match variables "
                    "by object graph; use a .weights.h5 file.)") if skip_mismatch else ""
            raise FormatError(str(mismatch_error(path, model, problems)) + note) from err
    return []
