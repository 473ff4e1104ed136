"""The spec reference (Markdown), generated from the schemas themselves.

``python -m netform.spec._reference > docs/spec-reference.md`` regenerates it;
a test fails when the file and the schemas disagree.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ._layer_base import LayerSpec, layer_specs
from ._model import BlockSpec, InputSpec, ModelSpec
from ._training import DistributionSpec, TrainingSpec

__all__ = ["reference_markdown"]


def _type_name(annotation: Any) -> str:
    return _render_type(annotation).replace("|", "\\|")


def _render_type(tp: Any) -> str:
    import types
    import typing

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin is typing.Annotated:
        inner = _render_type(args[0])
        for meta in args[1:]:
            gt = getattr(meta, "gt", None)
            ge = getattr(meta, "ge", None)
            if gt == 0 and inner == "int":
                inner = "positive int"
            elif ge == 0 and inner == "int":
                inner = "int ≥ 0"
            for item in getattr(meta, "metadata", []) or []:
                if getattr(item, "gt", None) == 0 and inner == "int":
                    inner = "positive int"
        return inner
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_render_type(a) for a in args))
    if origin is typing.Literal:
        return " / ".join(repr(a) for a in args)
    if origin in (tuple,):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_render_type(args[0])}"
        return "[" + ", ".join(_render_type(a) for a in args) + "]"
    if origin in (list,):
        return f"list of {_render_type(args[0])}" if args else "list"
    if origin in (dict,):
        return f"mapping of {_render_type(args[1])}" if len(args) == 2 else "mapping"
    if isinstance(tp, type):
        return {"TypedObject": "{type: …}", "NoneType": "null", "LayerSpec": "layer"}.get(tp.__name__, tp.__name__)
    text = str(tp)
    for noise in ("typing.", "pydantic.types."):
        text = text.replace(noise, "")
    return text


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default
    if value is PydanticUndefined:
        value = info.default_factory() if info.default_factory else None  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        value = value.model_dump()
    import json

    return f"`{json.dumps(value, default=str)}`".replace("|", "\\|")


def _table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        alias = info.alias or name
        desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{alias}` | {_type_name(info.annotation)} | {_default(info)} | {desc} |")
    return rows


def reference_markdown() -> str:
    """The whole reference: model sections, then every layer type by family."""
    out = [
        "# netform spec reference",
        "",
        "Generated from netform's schemas by `python -m netform.spec._reference`; do not edit by hand",
        "(a test fails when it is out of date). Every layer also takes `name`, `trainable` and `dtype`.",
        "",
        "Types are strict, as in the JSON Schema (`netform schema`): an int field takes only whole numbers",
        "(`units: \"64\"`, `units: true` and `units: 64.0` are refused), a float field takes a number",
        "(`rate: 1` too) but not a string or a boolean, and a bool field takes only `true` or `false`.",
        "",
        "## Model",
        "",
        *_table(ModelSpec),
        "",
        "## Inputs (`inputs.NAME`)",
        "",
        *_table(InputSpec),
        "",
        "## Blocks (`blocks.NAME`)",
        "",
        *_table(BlockSpec),
        "",
        "## Training (`training`)",
        "",
        "The keys of a per-output `loss`, `loss_weights`, `metrics` or `weighted_metrics` are output names",
        "(`outputs:`; a sequential spec has one, named after its last layer, and takes one loss, not a mapping)",
        "and are checked against them; a per-output `loss` needs every output. A spec without `optimizer` trains with Adam;",
        "`netform.Model.compile()` called without one keeps Keras's default, RMSprop. `netform validate` also warns (exit 0) about",
        "settings that make training fail silently: a softmax/sigmoid output whose loss has `from_logits: true`,",
        "a linear output with a crossentropy loss that reads probabilities, an `EarlyStopping` patience not",
        "longer than `ReduceLROnPlateau`'s, a `monitor` that training never logs (`val_…` without",
        "`validation_split`), and `restore_best_weights` without validation data.",
        "",
        *_table(TrainingSpec),
        "",
        "### `training.distribution`",
        "",
        *_table(DistributionSpec),
        "",
        "## Layers",
        "",
    ]
    by_family: dict[str, list[tuple[str, type[LayerSpec]]]] = {}
    from .layers import MODULE_OF

    for name, cls in sorted(layer_specs().items()):
        if name not in MODULE_OF:  # users' registered layers are theirs to document
            continue
        by_family.setdefault(cls.family, []).append((name, cls))
    for family in sorted(by_family):
        out += [f"### {family.capitalize()}", ""]
        for name, cls in by_family[family]:
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            out += [f"#### `{name}`", "", doc, "", *_table(cls, skip=("type", "name", "trainable", "dtype")), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
