"""Model types declared by their configuration: specs validate without the class; a build needs the class."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

import netform as nf
from netform.errors import RegistryError
from netform.spec._custom import model_classes, register_model_config, resolve_model_class


class _DeclaredConfig(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}

    width: int = Field(3, gt=0, description="A width.")


register_model_config("NfTestDeclaredOnly", _DeclaredConfig)
SPEC = "netform: 1\nkind: subclass\ninputs: {x: {shape: [4]}}\nmodel: {type: NfTestDeclaredOnly, width: 5}\n"


def test_a_declared_type_validates_by_its_config() -> None:
    assert nf.load_spec(SPEC).model.config == {"width": 5}
    with pytest.raises(nf.SpecError, match="width"):
        nf.load_spec(SPEC.replace("width: 5", "width: 0"))
    assert model_classes()["NfTestDeclaredOnly"] == (type(None), _DeclaredConfig)


def test_building_a_declared_type_without_its_class_names_the_cause() -> None:
    with pytest.raises(RegistryError, match="'NfTestDeclaredOnly' is declared but its class is not registered yet"):
        resolve_model_class("NfTestDeclaredOnly")


def test_netforms_own_model_registers_itself_with_the_declared_config() -> None:
    pytest.importorskip("tensorflow")
    from netform.builder._zoo_models import ResidualMLP
    from netform.spec._custom import ResidualMLPConfig

    assert resolve_model_class("ResidualMLP") == (ResidualMLP, ResidualMLPConfig)
