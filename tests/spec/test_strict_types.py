"""Every layer field of type int, float or bool takes only values of that type, as the JSON Schema says.

`units: "64"` used to be read as 64 and `units: true` as 1 while `netform schema`
refused both; `validate` and the schema must give one answer.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from pydantic import ValidationError

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec._layer_base import layer_specs
from netform.spec._schema import json_schema

_JSON_TYPE = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _scalar_types(prop: dict[str, Any]) -> set[str]:
    """The JSON types a property admits at its top level (not inside arrays or objects)."""
    types: set[str] = set()
    for alt in prop.get("anyOf", [prop]):
        if "type" in alt:
            types.add(alt["type"])
        elif "const" in alt or "enum" in alt:
            types.update(_JSON_TYPE[type(v)] for v in alt.get("enum", [alt.get("const")]) if type(v) in _JSON_TYPE)
        elif "$ref" in alt:
            types.add("object")
    return types


def _wrong_values(admitted: set[str]) -> list[Any]:
    """Values of a JSON type the field does not admit: a quoted number, a boolean, a fraction, a 0/1."""
    out: list[Any] = []
    if "string" not in admitted:
        out.append("7")
    if "boolean" not in admitted:
        out.append(True)
    if "integer" in admitted and "number" not in admitted:
        out.append(2.5)
    if "boolean" in admitted and not admitted & {"integer", "number"}:
        out.append(1)
    return out


def _cases() -> list[tuple[str, str, Any]]:
    defs = json_schema()["$defs"]
    cases = []
    for name in sorted(layer_specs()):
        for field, prop in defs[f"{name}Layer"]["properties"].items():
            admitted = _scalar_types(prop)
            if field == "type" or not admitted & {"integer", "number", "boolean"}:
                continue
            cases += [(name, field, value) for value in _wrong_values(admitted)]
    return cases


CASES = _cases()


def _schema_refuses(defs: dict[str, Any], name: str, field: str, value: Any) -> bool:
    prop = defs[f"{name}Layer"]["properties"][field]
    try:
        import jsonschema
    except ImportError:  # no validator: the schema's own types must leave the value out
        return _JSON_TYPE[type(value)] not in _scalar_types(prop) and not (
            isinstance(value, float) and value.is_integer() and "integer" in _scalar_types(prop))
    validator = jsonschema.Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}Layer"})
    return any(list(e.absolute_path)[:1] == [field] for e in validator.iter_errors({"type": name, field: value}))


def test_every_int_float_bool_field_is_covered() -> None:
    names = {name for name, _, _ in CASES}
    assert {"Dense", "Conv2D", "Dropout", "LSTM", "BatchNormalization", "MultiHeadAttention"} <= names
    assert len(CASES) > 300


def test_validate_and_the_json_schema_refuse_every_wrong_typed_value() -> None:
    defs = json_schema()["$defs"]
    specs = layer_specs()
    accepted_by_validate, accepted_by_schema = [], []
    for name, field, value in CASES:
        cls = specs[name]
        try:
            cls.model_validate({"type": name, field: value})
        except ValidationError as err:
            fields = {field, *(f for f, info in cls.model_fields.items() if info.alias == field)}
            if not any(e["loc"] and e["loc"][0] in fields for e in err.errors()):
                accepted_by_validate.append((name, field, value))
        else:
            accepted_by_validate.append((name, field, value))
        if not _schema_refuses(defs, name, field, value):
            accepted_by_schema.append((name, field, value))
    assert accepted_by_validate == []
    assert accepted_by_schema == []


@pytest.mark.parametrize(("field", "value", "message"), [
    ("units", '"64"', "layers[0].units: input should be a valid integer; received '64'"),
    ("units", "true", "layers[0].units: input should be a valid integer; received True"),
    ("use_bias", "1", "layers[0].use_bias: input should be a valid boolean; received 1"),
])
def test_a_spec_with_a_wrong_typed_value_is_refused_where_it_is(field: str, value: str, message: str) -> None:
    text = textwrap.dedent(f"""\
        netform: 1
        kind: sequential
        inputs: {{x: {{shape: [3]}}}}
        layers:
          - {{type: Dense, units: 4, {field}: {value}}}
        """).replace("units: 4, units:", "units:")
    with pytest.raises(SpecError, match=r"<string>:5:\d+: " + message.replace("[", r"\[").replace("]", r"\]")):
        load_spec(text)


@pytest.mark.parametrize(("line", "where"), [
    ("training: {epochs: '3'}", "training.epochs: input should be a valid integer"),
    ("training: {shuffle: 0}", "training.shuffle: input should be a valid boolean"),
    ("training: {validation_split: true}", "training.validation_split: input should be a valid number"),
])
def test_training_fields_are_strict(line: str, where: str) -> None:
    text = "netform: 1\nkind: sequential\ninputs: {x: {shape: [3]}}\nlayers: [{type: Dense, units: 1}]\n" + line
    with pytest.raises(SpecError, match=where):
        load_spec(text)


def test_a_float_field_takes_an_int_as_json_schema_does() -> None:
    spec = load_spec("netform: 1\nkind: sequential\ninputs: {x: {shape: [3]}}\n"
                     "layers: [{type: Dropout, rate: 0}]\ntraining: {validation_split: 0}\n")
    assert spec.layers[0].layer.rate == 0.0 and isinstance(spec.layers[0].layer.rate, float)


@pytest.mark.parametrize(("value", "received"), [('"3"', "'3'"), ("true", "True"), ("3.5", "3.5")])
def test_input_shapes_are_strict(value: str, received: str) -> None:
    text = f"netform: 1\nkind: sequential\ninputs: {{x: {{shape: [{value}]}}}}\nlayers: [{{type: Dense, units: 1}}]\n"
    with pytest.raises(SpecError, match=rf"inputs.x.shape\[0\]: input should be a valid integer(, got a number with a "
                                        rf"fractional part)?; received {received}"):
        load_spec(text)


def test_a_whole_number_written_as_a_float_is_an_int_as_in_json_schema() -> None:
    """JSON Schema's `integer` is any whole number, 64.0 included: validate reads it as 64 too."""
    jsonschema = pytest.importorskip("jsonschema")
    defs = json_schema()["$defs"]
    assert list(jsonschema.Draft202012Validator({"$defs": defs, "$ref": "#/$defs/DenseLayer"}).iter_errors(
        {"type": "Dense", "units": 64.0})) == []
    spec = load_spec("netform: 1\nkind: sequential\ninputs: {x: {shape: [3.0]}}\n"
                     "layers: [{type: Dense, units: 64.0}]\n")
    units = spec.layers[0].layer.units
    assert units == 64 and type(units) is int and spec.inputs["x"].shape == (3,)
