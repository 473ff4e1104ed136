"""The ``training:`` section checked against the model it trains.

Two kinds of findings, both located at the spec's file, line and path:

* errors (:func:`training_errors`): per-output keys of ``loss``,
  ``loss_weights``, ``metrics`` and ``weighted_metrics`` that name no output,
  or a per-output ``loss`` that leaves one out. Keras would stop at
  ``compile``/``fit`` with ``Expected keys [...] in loss dict`` or a bare
  ``KeyError``; the spec says where and what to write instead.
* warnings (:func:`training_warnings`): settings Keras accepts that make
  training fail silently — an output activated twice (softmax/sigmoid with a
  loss ``from_logits: true``), a linear output read as probabilities, an
  ``EarlyStopping`` that stops before ``ReduceLROnPlateau`` could act, a
  ``monitor`` naming a value training never logs, ``restore_best_weights``
  without validation data.

Neither needs TensorFlow.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ..errors import Diagnostic, did_you_mean
from ._types import TypedObject

__all__ = ["training_errors", "training_warnings", "PROBABILISTIC_LOSSES"]

#: Losses that read their predictions as probabilities unless ``from_logits: true``.
PROBABILISTIC_LOSSES = frozenset({
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "binary_focal_crossentropy", "categorical_focal_crossentropy",
})
_SQUASHING = frozenset({"softmax", "sigmoid"})
# Keras's defaults of the arguments read below.
_MONITOR_DEFAULT = "val_loss"
_PATIENCE_DEFAULT = {"EarlyStopping": 0, "ReduceLROnPlateau": 10}
_PER_OUTPUT = ("loss", "loss_weights", "metrics", "weighted_metrics")


def _outputs(spec: Any, graph: Any) -> tuple[str, ...] | None:
    """The Keras output names, or ``None`` when only the built model knows them (kind: subclass)."""
    if spec.kind == "subclass" or graph is None:
        return None
    return tuple(graph.output_names)


def _unknown_key_message(field: str, key: str, outputs: tuple[str, ...], missing: list[str]) -> str:
    hint = did_you_mean(key, outputs)
    if not hint and len(missing) == 1:
        hint = f" (Did you mean '{missing[0]}'?)"
    return (f"'{key}' is not an output of the model{hint}; the keys of `{field}` are output names: "
            f"{', '.join(outputs)}")


def training_errors(spec: Any, graph: Any, smap: Any) -> list[Diagnostic]:
    """Per-output training settings whose keys do not match the model's outputs.

    Args:
        spec: The :class:`~netform.spec.ModelSpec`.
        graph: Its resolved graph (gives the output names).
        smap: The source map that locates paths in the file.

    Returns:
        One located diagnostic per problem (empty when there is no
        ``training:`` section or the outputs are known only at build time).
    """
    training = spec.training
    outputs = _outputs(spec, graph)
    if training is None or not outputs:
        return []
    diags: list[Diagnostic] = []
    for field in _PER_OUTPUT:
        value = getattr(training, field)
        if field == "loss" and isinstance(value, dict) and spec.kind == "sequential":
            # keras.Sequential.fit fails on any loss mapping (TypeError: 'NoneType' object is not iterable).
            only = next(iter(value.values()), None)
            example = only if isinstance(only, str) else "mse"
            diags.append(smap.diagnostic(
                f"a sequential model takes one loss, not one per output name; write the loss itself "
                f"(e.g. `loss: {example}`), or use kind: functional for several outputs", ("training", field)))
        elif isinstance(value, dict):
            missing = [o for o in outputs if o not in value]
            unknown = [k for k in value if k not in outputs]
            for key in unknown:
                diags.append(smap.diagnostic(_unknown_key_message(field, key, outputs, missing),
                                             ("training", field, key)))
            # Keras needs a loss for every output, and a weight for every output of a per-output loss.
            needs_all = field == "loss" or (field == "loss_weights" and isinstance(training.loss, dict))
            if needs_all and missing and not unknown:
                diags.append(smap.diagnostic(
                    f"`{field}` has no entry for output{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(repr(m) for m in missing)}; give one per output ({', '.join(outputs)})",
                    ("training", field)))
        elif field == "loss_weights" and isinstance(value, tuple) and len(value) != len(outputs):
            diags.append(smap.diagnostic(
                f"{len(value)} loss weight(s) for {len(outputs)} output(s) ({', '.join(outputs)}); give one "
                "weight per output, in that order, or a mapping from output name to weight", ("training", field)))
    return diags


# -- warnings ----------------------------------------------------------------


def _name(ref: Any) -> str:
    return ref if isinstance(ref, str) else ref.type


def _from_logits(ref: Any) -> bool:
    return isinstance(ref, TypedObject) and ref.arguments.get("from_logits") is True


def _final_activation(layer: Any) -> str | None:
    """``"softmax"``, ``"sigmoid"``, ``"linear"`` or ``None`` (anything else, or not known)."""
    if layer.type == "Softmax":
        return "softmax"
    if "activation" not in type(layer).model_fields:
        return None
    act = getattr(layer, "activation", None)
    if act is None:
        return "linear" if layer.type in ("Dense", "EinsumDense") or layer.type.startswith("Conv") else None
    name = _name(act)
    if name in _SQUASHING or name == "linear":
        return name
    return None


def _losses_by_output(loss: Any, outputs: tuple[str, ...]) -> Iterator[tuple[str, Any, tuple[str | int, ...]]]:
    if isinstance(loss, dict):
        for out, ref in loss.items():
            if out in outputs:
                yield out, ref, ("training", "loss", out)
    elif loss is not None:
        for out in outputs:
            yield out, loss, ("training", "loss")


def _activation_warnings(spec: Any, graph: Any, smap: Any, outputs: tuple[str, ...]) -> list[Diagnostic]:
    diags = []
    producers = dict(zip(outputs, graph.outputs))
    for out, ref, path in _losses_by_output(spec.training.loss, outputs):
        node = graph.nodes.get(producers.get(out, ""))
        if node is None:
            continue
        act = _final_activation(node.layer)
        name = _name(ref)
        if act in _SQUASHING and _from_logits(ref):
            diags.append(smap.diagnostic(
                f"output '{out}' already applies {act}, and its loss {name} has from_logits: true, so {act} is "
                f"applied twice and training barely moves; remove the output's activation, or set "
                "from_logits: false", path))
        elif act == "linear" and name in PROBABILISTIC_LOSSES and not _from_logits(ref):
            diags.append(smap.diagnostic(
                f"output '{out}' is linear (no activation), but its loss {name} reads probabilities "
                f"(from_logits: false); write the loss as {{type: {_class_name(name)}, from_logits: true}}, or "
                "give the output activation: softmax (or sigmoid)", path))
    return diags


def _class_name(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_")) if name.islower() else name


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _metric_names(metrics: Any, outputs: tuple[str, ...], prefix: str = "") -> tuple[set[str], set[str]]:
    """The names Keras logs for these metrics: as it writes them, and every spelling it may use."""
    refs: list[tuple[str | None, Any]] = []
    if isinstance(metrics, dict):
        refs = [(out, m) for out, ms in metrics.items() for m in ms]
    elif metrics:
        refs = [(None, m) for m in metrics]
    shown: set[str] = set()
    accepted: set[str] = set()
    for out, ref in refs:
        if isinstance(ref, str):
            bases = [ref, _snake(ref)]
        else:
            given = ref.arguments.get("name")
            bases = [given] if isinstance(given, str) else [_snake(ref.type), ref.type.lower()]
        owners = [out] if out else list(outputs)
        shown |= {f"{o}_{prefix}{bases[0]}" for o in owners} if len(outputs) > 1 else {prefix + bases[0]}
        for base in bases:
            accepted |= {prefix + base} | {f"{o}_{prefix}{base}" for o in owners}
    return shown, accepted


def _logged(spec: Any, outputs: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """What training logs (as Keras writes it), and every name a monitor may use for it."""
    training = spec.training
    shown = {"loss"} | ({f"{o}_loss" for o in outputs} if len(outputs) > 1 else set())
    accepted = shown | {"learning_rate"}
    # A weighted metric named like a plain one may be logged with a "weighted_" prefix: accept both.
    for metrics, prefix in ((training.metrics, ""), (training.weighted_metrics, ""),
                            (training.weighted_metrics, "weighted_")):
        more_shown, more_accepted = _metric_names(metrics, outputs, prefix)
        shown |= more_shown if not prefix else set()
        accepted |= more_accepted
    return shown, accepted


def _callbacks(spec: Any) -> Iterator[tuple[int, str, dict[str, Any]]]:
    for i, cb in enumerate(spec.training.callbacks):
        yield i, cb.type, cb.arguments


def training_warnings(spec: Any, graph: Any, smap: Any) -> list[Diagnostic]:
    """Settings Keras accepts that make training fail silently.

    Args:
        spec: A valid :class:`~netform.spec.ModelSpec`.
        graph: Its resolved graph.
        smap: The source map that locates paths in the file.

    Returns:
        Located diagnostics, in the order of the spec (empty without ``training:``).
    """
    training = spec.training
    if training is None:
        return []
    outputs = _outputs(spec, graph)
    diags: list[Diagnostic] = []
    if outputs:
        diags += _activation_warnings(spec, graph, smap, outputs)
    has_validation = training.validation_split > 0
    shown, logged = _logged(spec, outputs) if outputs else (set(), None)
    patience: dict[str, tuple[int, Any, str]] = {}
    for i, kind, args in _callbacks(spec):
        path: tuple[str | int, ...] = ("training", "callbacks", i)
        uses_monitor = kind in ("EarlyStopping", "ReduceLROnPlateau") or (
            kind == "ModelCheckpoint" and args.get("save_best_only") is True)
        if not uses_monitor:
            continue
        monitor = args.get("monitor", _MONITOR_DEFAULT)
        if not isinstance(monitor, str):
            continue
        where = path + ("monitor",) if "monitor" in args else path
        if kind in _PATIENCE_DEFAULT:
            value = args.get("patience", _PATIENCE_DEFAULT[kind])
            if isinstance(value, int) and not isinstance(value, bool):
                patience[kind] = (value, path + ("patience",) if "patience" in args else path, monitor)
        if monitor.startswith("val_") and not has_validation:
            diags.append(smap.diagnostic(
                f"{kind} watches '{monitor}', but training holds out no validation data (validation_split is "
                f"0), so '{monitor}' is never logged and {kind} does nothing; set training.validation_split "
                f"(e.g. 0.2), or watch '{monitor[4:]}'", where))
        elif logged is not None and monitor.removeprefix("val_") not in logged:
            known = sorted(shown | {"val_" + n for n in shown} if has_validation else shown)
            diags.append(smap.diagnostic(
                f"{kind} watches '{monitor}', which training never logs{did_you_mean(monitor, known)}, so "
                f"{kind} does nothing; training logs: {', '.join(known)}", where))
        if kind == "EarlyStopping" and args.get("restore_best_weights") is True and not has_validation:
            diags.append(smap.diagnostic(
                "EarlyStopping restores its best weights, but training holds out no validation data "
                "(validation_split is 0): the weights kept are judged on the data they were fitted to; set "
                "training.validation_split (e.g. 0.2)", path + ("restore_best_weights",)))
    if "EarlyStopping" in patience and "ReduceLROnPlateau" in patience:
        (stop, stop_path, stop_on), (reduce, _, reduce_on) = patience["EarlyStopping"], patience["ReduceLROnPlateau"]
        if stop <= reduce and stop_on == reduce_on:
            diags.append(smap.diagnostic(
                f"EarlyStopping's patience ({stop}) is not longer than ReduceLROnPlateau's ({reduce}): training "
                "stops before the learning rate is ever lowered; make EarlyStopping's patience longer "
                f"(e.g. {reduce + max(2, reduce // 2)})", stop_path))
    return sorted(diags, key=lambda d: (d.line or 0, d.column or 0))
