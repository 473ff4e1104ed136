"""The JSON Schema of the whole spec format, for editors' YAML language servers.

The schema follows the YAML as people write it: a node's layer fields sit
inline beside ``in``. Every layer type is a variant keyed by its ``type``
constant, with ``additionalProperties: false`` so a misspelt field is flagged,
and every field carries its description for hover help.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from ._layer_base import MAX_LAYER_NAME, layer_specs
from ._model import MAX_MODEL_NAME, BlockSpec, InputSpec, NAME_PATTERN
from ._training import TrainingSpec

__all__ = ["json_schema"]

_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"


def _inline(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    for key, value in schema.pop("$defs", {}).items():
        defs.setdefault(key, value)
    return schema


def _refs_input() -> dict[str, Any]:
    return {
        "description": "The node or input feeding this node, or a list of them.",
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
        ],
    }


def _point_nested_layers(defs: dict[str, Any]) -> None:
    """Wrapper layers (Bidirectional, TimeDistributed) hold a whole layer: point them at AnyLayer."""

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("$ref") == "#/$defs/LayerSpec":
                return {"$ref": "#/$defs/AnyLayer", **{k: v for k, v in node.items() if k != "$ref"}}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    for key in list(defs):
        if key != "LayerSpec":
            defs[key] = fix(defs[key])


_PARAM = {
    "type": "string",
    "pattern": "^\\$\\{?[A-Za-z_][A-Za-z0-9_]*\\}?$",
    "description": "A block parameter, e.g. $filters.",
}


def _relaxed_block_bodies(
    defs: dict[str, Any],
    block_schema: dict[str, Any],
    seq_refs: list[dict[str, Any]],
    graph_refs: list[dict[str, Any]],
    choose: Any,
) -> None:
    """Layers inside blocks: the same fields and typo checks, but any value may be a ``$param``."""
    for refs, suffix in ((seq_refs, "Layer"), (graph_refs, "Node")):
        for ref in refs:
            name = ref["$ref"].rsplit("/", 1)[-1]
            base = defs[name]
            relaxed = {
                "type": "object",
                "additionalProperties": False,
                "required": base.get("required", []),
                "properties": {
                    field: (
                        {
                            "anyOf": [{"$ref": f"#/$defs/{name}/properties/{field}"}, _PARAM],
                            "description": sub.get("description", ""),
                        }
                        if field != "type"
                        else sub
                    )
                    for field, sub in base["properties"].items()
                },
            }
            defs[f"Block{name}"] = relaxed
    block_seq = choose([{"$ref": r["$ref"].replace("/$defs/", "/$defs/Block")} for r in seq_refs], False)
    block_graph = choose([{"$ref": r["$ref"].replace("/$defs/", "/$defs/Block")} for r in graph_refs], True)
    defs["BlockSequentialItem"] = block_seq
    defs["BlockGraphNode"] = block_graph
    props = block_schema["properties"]
    props["layers"] = {
        "description": props["layers"].get("description", ""),
        "anyOf": [{"type": "array", "items": {"$ref": "#/$defs/BlockSequentialItem"}}, {"type": "null"}],
    }
    props["nodes"] = {
        "description": props["nodes"].get("description", ""),
        "anyOf": [{"type": "object", "additionalProperties": {"$ref": "#/$defs/BlockGraphNode"}}, {"type": "null"}],
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a netform spec file.

    Returns:
        A dict ready for ``json.dumps``; point an editor's YAML language server
        at it (``# yaml-language-server: $schema=netform.schema.json``).
    """
    defs: dict[str, Any] = {}
    layer_refs_graph: list[dict[str, Any]] = []
    layer_refs_seq: list[dict[str, Any]] = []
    for name, cls in sorted(layer_specs().items()):
        schema = _inline(cls, defs)
        schema["properties"]["type"] = {"const": name, "description": (cls.__doc__ or name).strip().splitlines()[0]}
        schema["required"] = sorted(set(schema.get("required", [])) | {"type"})
        schema["additionalProperties"] = False
        seq = copy.deepcopy(schema)
        graph = copy.deepcopy(schema)
        graph["properties"]["in"] = _refs_input()
        graph["required"] = sorted(set(graph["required"]) | {"in"})
        defs[f"{name}Layer"] = seq
        defs[f"{name}Node"] = graph
        layer_refs_seq.append({"$ref": f"#/$defs/{name}Layer"})
        layer_refs_graph.append({"$ref": f"#/$defs/{name}Node"})
    block_use = {
        "type": "object",
        "description": "A use of a block: `block` names it; its parameters are given beside it.",
        "properties": {
            "block": {"type": "string", "description": "The name of a block under `blocks:`."},
            "in": _refs_input(),
            "repeat": {
                "type": "integer",
                "minimum": 1,
                "description": "Chain this many copies, each with its own weights.",
            },
            "nested": {"type": "boolean", "description": "Build as a nested model (true) or inline (false)."},
        },
        "required": ["block"],
    }
    shared = {
        "type": "object",
        "description": "Reuse the layer (and weights) of an earlier node.",
        "properties": {
            "shares": {"type": "string", "description": "The node whose layer is reused."},
            "in": _refs_input(),
        },
        "required": ["shares", "in"],
        "additionalProperties": False,
    }
    defs["BlockUse"] = block_use
    defs["SharedNode"] = shared

    def choose(refs: list[dict[str, Any]], with_in: bool) -> dict[str, Any]:
        # `if/then` on `type` keeps editors' errors short and completion precise.
        branches = []
        for ref in refs:
            name = ref["$ref"].rsplit("/", 1)[-1].removeprefix("Block").removesuffix("Node").removesuffix("Layer")
            branches.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": ref})
        type_enum = {"enum": sorted(layer_specs()), "description": "The Keras layer class."}
        return {
            "type": "object",
            "properties": {"type": type_enum},
            "anyOf": [
                {"required": ["type"], "allOf": branches},
                {"$ref": "#/$defs/BlockUse"},
                *([{"$ref": "#/$defs/SharedNode"}] if with_in else []),
            ],
        }

    any_layer = choose(layer_refs_seq, False)
    any_layer["anyOf"] = any_layer["anyOf"][:1]
    defs["AnyLayer"] = any_layer
    _point_nested_layers(defs)
    defs["GraphNode"] = choose(layer_refs_graph, True)
    defs["SequentialItem"] = choose(layer_refs_seq, False)
    input_schema = _inline(InputSpec, defs)
    training_schema = _inline(TrainingSpec, defs)
    block_schema = _inline(BlockSpec, defs)
    _relaxed_block_bodies(defs, block_schema, layer_refs_seq, layer_refs_graph, choose)
    return {
        "$schema": _SCHEMA_URI,
        "$id": "https://netform.dev/schema/spec-1.json",
        "title": "netform model spec",
        "description": "A Keras model written as YAML: inputs, layers or nodes, blocks and training.",
        "type": "object",
        "additionalProperties": False,
        "required": ["netform", "kind"],
        "properties": {
            "netform": {"const": 1, "description": "The spec format version."},
            "name": {
                "type": "string",
                "pattern": NAME_PATTERN,
                "maxLength": MAX_MODEL_NAME,
                "description": "The model's name.",
            },
            "kind": {
                "enum": ["sequential", "functional", "subclass"],
                "description": "sequential (layers:), functional (nodes: + outputs:) or subclass (model:).",
            },
            "description": {"type": "string", "description": "What the model is, for readers."},
            "inputs": {
                "type": "object",
                "description": "Named model inputs.",
                "additionalProperties": input_schema,
                "propertyNames": {"pattern": NAME_PATTERN},
            },
            "layers": {
                "type": "array",
                "items": {"$ref": "#/$defs/SequentialItem"},
                "description": "For kind: sequential, the layers in order.",
            },
            "nodes": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/GraphNode"},
                "propertyNames": {"pattern": NAME_PATTERN, "maxLength": MAX_LAYER_NAME},
                "description": "For kind: functional, the named nodes.",
            },
            "outputs": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "For kind: functional, the nodes that are outputs.",
            },
            "blocks": {
                "type": "object",
                "additionalProperties": block_schema,
                "description": "Reusable sub-graphs with parameters, used by name.",
            },
            "model": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "description": "The registered model class."}},
                "description": "For kind: subclass, the registered model class and its config.",
            },
            "training": training_schema,
        },
        "$defs": defs,
    }
