"""Subclassed models: the generated ``SpecModel`` and registered user classes."""

from __future__ import annotations

from typing import Any

import keras

from ..engine import Model
from ..errors import BuildError
from ..spec import ModelSpec, load_spec, spec_access
from ..spec._load import graph_of
from ._layers import to_keras_layer

__all__ = ["SpecModel", "build_generated", "build_registered", "symbolic_inputs"]


def symbolic_inputs(spec: ModelSpec) -> Any:
    """Keras inputs for a spec: one tensor, or a list in the spec's order."""
    from ._build import input_tensors

    ins = list(input_tensors(spec).values())
    return ins[0] if len(ins) == 1 else ins


@keras.saving.register_keras_serializable(package="netform", name="SpecModel")
class SpecModel(Model):
    """An ``nf.Model`` subclass generated from a spec.

    It holds one Keras layer per node (shared nodes reuse their owner's layer)
    and runs the nodes in topological order in :meth:`call`, so the forward
    pass can be stepped through in a debugger. ``get_config()`` is the spec.
    """

    def __init__(self, spec: ModelSpec | dict[str, Any] | str, **kwargs: Any) -> None:
        model_spec = spec if isinstance(spec, ModelSpec) else load_spec(spec)
        kwargs.setdefault("name", model_spec.name)
        super().__init__(**kwargs)
        self._netform_spec = model_spec
        graph = graph_of(model_spec)
        self._input_names = list(model_spec.inputs)
        self._output_names = list(graph.outputs)
        self._steps = [(n.name, n.owner, n.layer.type, n.inputs) for n in graph.nodes.values()]
        self.node_layers = {n.name: to_keras_layer(n.layer, name=n.name) for n in graph.nodes.values() if not n.shared}

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        from ._build import call_layer

        if isinstance(inputs, dict):
            env = {name: inputs[name] for name in self._input_names}
        elif isinstance(inputs, (list, tuple)):
            env = dict(zip(self._input_names, inputs))
        else:
            env = {self._input_names[0]: inputs}
        for name, owner, layer_type, ins in self._steps:
            env[name] = call_layer(self.node_layers[owner], layer_type, [env[i] for i in ins], training=training)
        outs = [env[o] for o in self._output_names]
        return outs[0] if len(outs) == 1 else outs

    @property
    def spec(self) -> ModelSpec:
        """The spec this model was generated from."""
        return self._netform_spec

    def get_config(self) -> dict[str, Any]:
        return {"spec": self._netform_spec.to_dict(), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> "SpecModel":
        config = dict(config)
        spec = config.pop("spec")
        # Loading a model never makes its spec's training callbacks, so their paths are not checked here.
        with spec_access(allow_paths=True, allow_network=True):
            model = cls(spec, **{k: v for k, v in config.items() if k in ("name", "trainable")})
        model.build_symbolically()
        return model

    def build_symbolically(self) -> None:
        """Build every node's layer on the spec's symbolic inputs, then the model.

        ``call`` runs on Keras tensors first, outside any graph, so each layer
        builds as in the functional API (calling the model directly would build
        them inside a scratch graph, where a layer such as ``Normalization``
        keeps tensors that are out of scope afterwards).
        """
        inputs = symbolic_inputs(self._netform_spec)
        self.call(inputs)
        self(inputs)


def build_generated(spec: ModelSpec) -> SpecModel:
    """The generated subclass model of a graph spec, built."""
    model = SpecModel(spec)
    try:
        model.build_symbolically()
    except (ValueError, TypeError) as err:
        raise BuildError(f"{spec.source}: building the subclassed form failed: {err}") from err
    return model


def build_registered(spec: ModelSpec) -> keras.Model:
    """A registered model class (``kind: subclass``) made from its Pydantic config, built."""
    from ..spec._custom import resolve_model_class

    assert spec.model is not None
    cls, config_model = resolve_model_class(spec.model.type)
    config = config_model.model_validate(spec.model.config)
    try:
        model = cls(config, name=spec.name)
    except TypeError as err:
        raise BuildError(
            f"{spec.source}: could not make {spec.model.type}({config!r}): {err}; a registered model class takes "
            "its config object first: def __init__(self, config, **kwargs)"
        ) from err
    model._netform_spec = spec
    try:
        model(symbolic_inputs(spec))
    except (ValueError, TypeError) as err:
        raise BuildError(f"{spec.source}: building {spec.model.type} on the spec's inputs failed: {err}") from err
    return model
