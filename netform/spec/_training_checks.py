"""The ``training:`` section checked against the model it trains.

Two kinds of findings, both located at the spec's file, line and path:

* errors (:func:`training_errors`): per-output keys of ``loss``,
  ``loss_weights``, ``metrics`` and ``weighted_metrics`` that name no output,
  or a per-output ``loss`` that leaves one out. Keras would stop at
  ``compile``/``fit`` with ``Expected keys [...] in loss dict`` or a bare
  ``KeyError``; the spec says where and what to write instead. Also arguments
  Keras takes at ``compile`` but fails on (or spends minutes and gigabytes on)
  while training (:func:`argument_errors`, :func:`monitor_errors`): a
  ``monitor`` Keras cannot direct with ``mode: auto``, callback ``mode``,
  ``update_freq`` and ``save_freq`` values it does not know, non-finite numbers,
  and metric sizes (thresholds, IoU classes) past a step's means; constructor
  arguments outside the ranges Keras's classes check (:data:`_RANGES`) or of another form than Keras
  uses them in (:data:`_ARGUMENT_FORMS`: a mapping where a number goes), an ``axis`` past its output's
  rank, a ``name`` that is no string; metrics Keras cannot compile (``Mean``, ``Sum``)
  or whose logged name hides the loss or another metric (:func:`metric_errors`).
* warnings (:func:`training_warnings`): settings Keras accepts that make
  training fail silently — an output activated twice (softmax/sigmoid with a
  loss ``from_logits: true``), a linear output read as probabilities, an
  ``EarlyStopping`` that stops before ``ReduceLROnPlateau`` could act, a
  ``monitor`` naming a value training never logs, ``restore_best_weights``
  without validation data.

Neither needs TensorFlow.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any, Iterator, NamedTuple, TypeGuard

from ..errors import Diagnostic, did_you_mean
from ._access import current_access, template_name_problem
from ._types import TypedObject, check_arguments

__all__ = [
    "training_errors",
    "training_warnings",
    "checkpoint_errors",
    "metric_errors",
    "template_fields",
    "PROBABILISTIC_LOSSES",
]

#: Losses that read their predictions as probabilities unless ``from_logits: true``.
PROBABILISTIC_LOSSES = frozenset(
    {
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
        "BinaryFocalCrossentropy",
        "CategoricalFocalCrossentropy",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "binary_focal_crossentropy",
        "categorical_focal_crossentropy",
    }
)
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
    return f"'{key}' is not an output of the model{hint}; the keys of `{field}` are output names: {', '.join(outputs)}"


def _pattern_errors(training: Any, graph: Any, smap: Any) -> list[Diagnostic]:
    """Regular expressions the optimizer hands to Python's matcher (``Muon``'s ``exclude_layers``, at every
    variable of the model), costed on the model's layer names as a model file's are
    (:func:`netform.spec._patterns.check_patterns`): 28 alternatives that start alike and a layer named
    ``abab…`` cost ``train`` 45 s of CPU after ``validate`` said ok."""
    from ..errors import UnsafeFileError
    from ._patterns import check_patterns

    optimizer = training.optimizer
    kind, arguments = getattr(optimizer, "type", None), getattr(optimizer, "arguments", None)
    if not isinstance(kind, str) or not isinstance(arguments, dict):
        return []
    names = [str(name) for name in getattr(graph, "nodes", {})] or ["model"]
    met = (4 * len(names), max(len(name) for name in names) + 64)
    try:
        check_patterns({"class_name": kind, "config": dict(arguments)}, "the spec", met=met)
    except UnsafeFileError as err:
        message = str(err).removeprefix("the spec: ").replace("the file is refused as hostile", "Keras would run it")
        return [smap.diagnostic(f"{kind}: {message}", ("training", "optimizer"))]
    return []


def training_errors(spec: Any, graph: Any, smap: Any, shapes: Any = None) -> list[Diagnostic]:
    """Per-output training settings whose keys do not match the model's outputs.

    Args:
        spec: The :class:`~netform.spec.ModelSpec`.
        graph: Its resolved graph (gives the output names).
        smap: The source map that locates paths in the file.
        shapes: The static shapes of its nodes (``infer_shapes``), if known: a loss ``axis`` or a metric
            ``class_id`` past the output's shape is an error.

    Returns:
        One located diagnostic per problem (empty when there is no
        ``training:`` section or the outputs are known only at build time).
    """
    training = spec.training
    if training is None:
        return []
    outputs = _outputs(spec, graph)
    diags: list[Diagnostic] = argument_errors(spec, smap) + monitor_errors(spec, smap, outputs)
    diags += schedule_errors(spec, smap)
    diags += _pattern_errors(training, graph, smap)
    diags += metric_errors(spec, smap, outputs)
    diags += checkpoint_errors(spec, smap, outputs)
    if not outputs:
        return diags
    if shapes is not None:
        diags += _shape_errors(training, graph, shapes, smap)
    for field in _PER_OUTPUT:
        value = getattr(training, field)
        if field == "loss" and isinstance(value, dict) and spec.kind == "sequential":
            # keras.Sequential.fit fails on any loss mapping (TypeError: 'NoneType' object is not iterable).
            only = next(iter(value.values()), None)
            example = only if isinstance(only, str) else "mse"
            diags.append(
                smap.diagnostic(
                    f"a sequential model takes one loss, not one per output name; write the loss itself "
                    f"(e.g. `loss: {example}`), or use kind: functional for several outputs",
                    ("training", field),
                )
            )
        elif isinstance(value, dict):
            missing = [o for o in outputs if o not in value]
            unknown = [k for k in value if k not in outputs]
            for key in unknown:
                diags.append(
                    smap.diagnostic(_unknown_key_message(field, key, outputs, missing), ("training", field, key))
                )
            # Keras needs a loss for every output, and a weight for every output of a per-output loss.
            needs_all = field == "loss" or (field == "loss_weights" and isinstance(training.loss, dict))
            if needs_all and missing and not unknown:
                diags.append(
                    smap.diagnostic(
                        f"`{field}` has no entry for output{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)}; give one per output ({', '.join(outputs)})",
                        ("training", field),
                    )
                )
        elif field == "loss_weights" and isinstance(value, tuple) and len(value) != len(outputs):
            diags.append(
                smap.diagnostic(
                    f"{len(value)} loss weight(s) for {len(outputs)} output(s) ({', '.join(outputs)}); give one "
                    "weight per output, in that order, or a mapping from output name to weight",
                    ("training", field),
                )
            )
    return diags


def _output_shapes(graph: Any, shapes: Any) -> dict[str, tuple[int | None, ...]]:
    """Each output name's static shape (batch first), where static inference knows it."""
    out = {}
    for name, node in zip(graph.output_names, graph.outputs):
        shape = getattr(shapes.get(node), "output_shape", None)
        if isinstance(shape, tuple) and all(d is None or _is_int(d) for d in shape):
            out[name] = shape
    return out


#: Losses and metrics whose ``axis`` TensorFlow's backend takes only as the last ("Only axis=-1 is supported")
_LAST_AXIS_ONLY = frozenset({"SparseCategoricalCrossentropy"})


def _shape_errors(training: Any, graph: Any, shapes: Any, smap: Any) -> list[Diagnostic]:
    """A loss's or metric's ``axis`` past its output's rank, a metric ``class_id`` past its output's classes.

    Keras takes both at ``compile`` and fails at the first training step (``axis 5 is out of bounds``,
    ``Invalid reduction dimension``, an index past the last class).
    """
    by_output = _output_shapes(graph, shapes)
    diags = []
    for kind, ref, path in _typed_refs(training):
        if kind not in ("loss", "metric"):
            continue
        key = path[2] if len(path) > 2 and isinstance(path[2], str) else None
        targets = [key] if key is not None else list(graph.output_names)
        for output in targets:
            shape = by_output.get(output)
            if shape is None:
                continue
            axis = ref.arguments.get("axis")
            axes = axis if isinstance(axis, (list, tuple)) else [axis]
            past = next((a for a in axes if _is_int(a) and not -len(shape) <= a < len(shape)), None)
            if ref.type in _LAST_AXIS_ONLY and _is_int(axis) and past is None and axis % len(shape) != len(shape) - 1:
                diags.append(
                    smap.diagnostic(
                        f"{ref.type}.axis is {axis}; Keras (TensorFlow) takes only the last axis of output "
                        f"'{output}' (shape {list(shape)}): write axis: -1",
                        path + ("axis",),
                    )
                )
                break
            if past is not None and (kind == "loss" or _bounds(kind, ref.type, "axis") is not None):
                held = f"is {axis}" if past == axis else f"holds {past}"
                fix = "the class axis is usually -1" if kind == "loss" else "Keras's default is -1 (the last axis)"
                diags.append(
                    smap.diagnostic(
                        f"{ref.type}.axis {held}; output '{output}' has {len(shape)} axes (shape "
                        f"{list(shape)}), so axis lies between {-len(shape)} and {len(shape) - 1}; {fix}",
                        path + ("axis",),
                    )
                )
                break
            class_id = ref.arguments.get("class_id")
            classes = shape[-1] if shape else None
            if kind == "metric" and _is_int(class_id) and isinstance(classes, int) and not 0 <= class_id < classes:
                diags.append(
                    smap.diagnostic(
                        f"{ref.type}.class_id is {class_id}; output '{output}' predicts {classes} class(es) "
                        f"(shape {list(shape)}), so class_id lies between 0 and {classes - 1}",
                        path + ("class_id",),
                    )
                )
                break
            problem = _auc_labels_problem(ref, output, shape) if kind == "metric" else None
            if problem is not None:
                diags.append(smap.diagnostic(problem, path + ("num_labels",)))
                break
    return diags


def _auc_labels_problem(ref: Any, output: str, shape: tuple[int | None, ...]) -> str | None:
    """Why ``AUC(multi_label: true, num_labels: N)`` does not fit an output's static shape, or None.

    Keras keeps one curve per label, num_labels of them, and takes predictions of shape
    (batch, num_labels): another width fails at the first step (``Incompatible shapes``), another rank
    in its label checks. A width of 1 is broadcast over the labels, and trains.
    """
    labels = ref.arguments.get("num_labels")
    if ref.type == "AUC" and ref.arguments.get("multi_label") is True and labels is None and len(shape) == 2:
        # Keras reads num_labels from the first batch: the output's width, one curve per label
        count = ref.arguments.get("num_thresholds", 200)
        width = shape[-1]
        if _is_int(count) and _is_int(width) and 4 * count * width > MAX_METRIC_VALUES:
            return (
                f"AUC with multi_label: true keeps a curve per label of output '{output}' ({width:,} labels, read "
                f"from the first batch): four counters of num_thresholds × labels values, {4 * count * width:,} in "
                f"all; the limit is {MAX_METRIC_VALUES:,} (8 GB as float32): use fewer thresholds"
            )
        return None
    if ref.type != "AUC" or ref.arguments.get("multi_label") is not True or not _is_int(labels) or labels < 1:
        return None
    width = shape[-1] if len(shape) == 2 else None
    if len(shape) != 2:
        return (
            f"AUC with multi_label: true takes predictions of shape (batch, num_labels), but output '{output}' "
            f"has shape {list(shape)}; compute it on an output of rank 2, or use multi_label: false"
        )
    if isinstance(width, int) and width not in (labels, 1):  # Keras broadcasts one column over the labels
        return (
            f"AUC.num_labels is {labels}, but output '{output}' predicts {width} label(s) (shape {list(shape)}); "
            f"write num_labels: {width}, or leave num_labels out (Keras reads it from the first batch)"
        )
    return None


# -- arguments Keras takes at compile but fails on while training -------------

#: ``mode`` of the callbacks that watch a value (Keras warns on anything else and falls back to auto).
_MODES = ("auto", "min", "max")
_MONITORING = ("EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau")
#: Metric classes without a direction (Keras's ``_direction``): with ``mode: auto`` a monitor cannot watch them.
_UNDIRECTED = frozenset({"FalseNegatives", "FalsePositives", "TrueNegatives", "TruePositives", "Mean", "Sum"})
#: The most thresholds one metric may keep (AUC and the *AtRecall family: ``num_thresholds`` or a list).
#: Keras's default is 200; every step costs time and memory in proportion (AUC with 20,000,000 took 44 s
#: and 1.8 GB for 64 samples), and a finer curve than 100,000 steps changes no reported figure.
MAX_THRESHOLDS = 100_000
#: The most values a metric's own state may hold (an IoU confusion matrix is num_classes²): 8 GB as float32.
MAX_METRIC_VALUES = 2**31 - 1
_THRESHOLD_COUNTS = {
    "AUC": "num_thresholds",
    "PrecisionAtRecall": "num_thresholds",
    "RecallAtPrecision": "num_thresholds",
    "SensitivityAtSpecificity": "num_thresholds",
    "SpecificityAtSensitivity": "num_thresholds",
}
_THRESHOLD_LISTS = {"AUC", "Precision", "Recall", "TruePositives", "TrueNegatives", "FalsePositives", "FalseNegatives"}
_IOU = frozenset({"IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"})


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _typed_refs(training: Any) -> Iterator[tuple[str, Any, tuple[str | int, ...]]]:
    """Every ``{type: …}`` object of the section: (kind, object, path)."""
    if hasattr(training.optimizer, "arguments"):
        yield "optimizer", training.optimizer, ("training", "optimizer")
    loss = training.loss
    for key, ref in loss.items() if isinstance(loss, dict) else [(None, loss)]:
        if hasattr(ref, "arguments"):
            yield "loss", ref, ("training", "loss") + ((key,) if key is not None else ())
    for field in ("metrics", "weighted_metrics"):
        value = getattr(training, field)
        groups = value.items() if isinstance(value, dict) else [(None, value or ())]
        for key, refs in groups:
            for i, ref in enumerate(refs):
                if hasattr(ref, "arguments"):
                    yield "metric", ref, ("training", field) + ((key,) if key is not None else ()) + (i,)
    for i, cb in enumerate(training.callbacks):
        yield "callback", cb, ("training", "callbacks", i)


def _non_finite(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], float]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite(v, path + (k,))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _non_finite(v, path + (i,))


def _positive_or(name: str, arg: str, value: Any, words: tuple[str, ...]) -> str | None:
    """A message when ``value`` is neither one of ``words`` nor a positive whole number."""
    if value in words or (_is_int(value) and value > 0):
        return None
    choices = " or ".join(repr(w) for w in words)
    return (
        f"{name}.{arg} is {value!r}; it must be {choices} or a positive whole number (every that many "
        f"batches), e.g. {arg}: {words[-1]!r}"
    )


def _memory() -> int:
    """How many float32 values this machine's memory holds (unbounded when the system does not say)."""
    from ._shapes import _memory_values

    memory = _memory_values()
    return memory if memory is not None else 1 << 62


def _size_errors(ref: Any, path: tuple[str | int, ...], smap: Any) -> list[Diagnostic]:
    """Metric arguments that size the metric's state: refused before TensorFlow allocates it."""
    name, args = ref.type, ref.arguments
    diags = []
    count_arg = _THRESHOLD_COUNTS.get(name)
    count: Any = args.get(count_arg) if count_arg else None
    if _is_int(count) and count > MAX_THRESHOLDS:
        diags.append(
            smap.diagnostic(
                f"{name}.{count_arg} is {count:,}; the limit is {MAX_THRESHOLDS:,} (Keras's default is 200): every "
                f"training step compares each prediction with every threshold, so time and memory grow with it; "
                f"write e.g. {count_arg}: 1000",
                path + (count_arg,),
            )
        )
    elif _is_int(count) and count < (2 if name == "AUC" else 1):
        diags.append(
            smap.diagnostic(
                f"{name}.{count_arg} is {count}; it must be at least {2 if name == 'AUC' else 1} (Keras's default "
                f"is 200)",
                path + (count_arg,),
            )
        )
    listed = args.get("thresholds")
    if name in _THRESHOLD_LISTS and isinstance(listed, (list, tuple)) and len(listed) > MAX_THRESHOLDS:
        diags.append(
            smap.diagnostic(
                f"{name}.thresholds lists {len(listed):,} thresholds; the limit is {MAX_THRESHOLDS:,}: every training "
                "step compares each prediction with every threshold; list fewer",
                path + ("thresholds",),
            )
        )
    labels = args.get("num_labels")
    if name == "AUC" and _is_int(labels) and _is_int(count) and labels > 0 and 4 * count * labels > MAX_METRIC_VALUES:
        diags.append(
            smap.diagnostic(
                f"AUC keeps four counters of num_thresholds × num_labels values, {4 * count * labels:,} in all; the "
                f"limit is {MAX_METRIC_VALUES:,} (8 GB as float32): use fewer thresholds",
                path + ("num_labels",),
            )
        )
    classes = args.get("num_classes")
    if name in _IOU and _is_int(classes):
        if classes < 1:
            diags.append(
                smap.diagnostic(
                    f"{name}.num_classes is {classes}; it must be a positive whole number "
                    "(the number of classes the model predicts)",
                    path + ("num_classes",),
                )
            )
        elif classes * classes > MAX_METRIC_VALUES or classes * classes * 2 > _memory():
            # Keras keeps the matrix, and each step builds another of the same size
            memory = _memory()
            if classes * classes <= MAX_METRIC_VALUES:
                diags.append(
                    smap.diagnostic(
                        f"{name}.num_classes is {classes:,}: its confusion matrix holds num_classes² = "
                        f"{classes * classes:,} values, kept and built again each step: more than this machine's memory "
                        f"({memory * 4 / 2**30:,.0f} GB) holds, i.e. at most {math.isqrt(memory // 2):,} classes here; "
                        "write the number of classes the model predicts",
                        path + ("num_classes",),
                    )
                )
                return diags
            diags.append(
                smap.diagnostic(
                    f"{name}.num_classes is {classes:,}: its confusion matrix holds num_classes² = {classes * classes:,}"
                    f" values; the limit is {MAX_METRIC_VALUES:,} (8 GB as float32), i.e. at most "
                    f"{math.isqrt(MAX_METRIC_VALUES):,} classes; write the number of classes the model predicts",
                    path + ("num_classes",),
                )
            )
    return diags


def _last_part(filename: str) -> str:
    """The last part of a file name, '/' or '\\' between parts (a name ending in either names a folder)."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1]


def _callback_errors(name: str, args: dict[str, Any], path: tuple[str | int, ...], smap: Any) -> list[Diagnostic]:
    diags = []
    if name in _MONITORING and "mode" in args and args["mode"] not in _MODES:
        diags.append(
            smap.diagnostic(
                f"{name}.mode is {args['mode']!r}; it must be 'auto', 'min' or 'max' ('min': the watched value should "
                "fall, 'max': rise, 'auto': Keras infers it from the metric)",
                path + ("mode",),
            )
        )
    checks = {
        ("TensorBoard", "update_freq"): ("batch", "epoch"),
        ("ModelCheckpoint", "save_freq"): ("epoch",),
        ("BackupAndRestore", "save_freq"): ("epoch",),
    }
    for (cls, arg), words in checks.items():
        if name == cls and arg in args and not (cls == "BackupAndRestore" and args[arg] is False):
            problem = _positive_or(name, arg, args[arg], words)
            if problem:
                diags.append(smap.diagnostic(problem, path + (arg,)))
    monitor = args.get("monitor")
    if name in _MONITORING and isinstance(monitor, str) and ("{" in monitor or "}" in monitor or not monitor):
        diags.append(
            smap.diagnostic(
                f"{name}.monitor {monitor!r} is not the name of a logged value; write a metric name such as "
                "'val_loss' or 'accuracy'",
                path + ("monitor",),
            )
        )
    separator = args.get("separator")
    if name == "CSVLogger" and "separator" in args and not (isinstance(separator, str) and len(separator) == 1):
        diags.append(
            smap.diagnostic(
                f"CSVLogger.separator is {separator!r}; it must be one character (Python's csv module writes "
                "the log), e.g. separator: ';'",
                path + ("separator",),
            )
        )
    filename = args.get("filename")
    if name == "CSVLogger" and isinstance(filename, str) and _last_part(filename) in ("", ".", ".."):
        diags.append(
            smap.diagnostic(
                f"CSVLogger.filename {filename!r} names no file (a folder, or nothing): Keras opens it to write the "
                "log; name a file, e.g. filename: training.csv",
                path + ("filename",),
            )
        )
    if name == "ReduceLROnPlateau" and isinstance(args.get("factor"), (int, float)) and not (0 < args["factor"] < 1):
        diags.append(
            smap.diagnostic(
                f"ReduceLROnPlateau.factor is {args['factor']!r}; it must lie between 0 and 1 (the learning rate is "
                "multiplied by it), e.g. factor: 0.5",
                path + ("factor",),
            )
        )
    return diags


# Values Keras's constructors refuse (checked here so that `validate` says so, at the argument).
#: ``reduction`` of a loss (Keras's ``standardize_reduction``)
LOSS_REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight")
#: ``average`` of F1Score and FBetaScore (besides null: one score per class)
F_AVERAGES = ("micro", "macro", "weighted")
#: Keras's learning-rate schedules a spec may give as an optimizer's ``learning_rate``: the arguments each
#: needs, then those it may take (``keras.optimizers.schedules``; a test compares with the signatures)
LR_SCHEDULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ExponentialDecay": (("initial_learning_rate", "decay_steps", "decay_rate"), ("staircase", "name")),
    "InverseTimeDecay": (("initial_learning_rate", "decay_steps", "decay_rate"), ("staircase", "name")),
    "PolynomialDecay": (("initial_learning_rate", "decay_steps"), ("end_learning_rate", "power", "cycle", "name")),
    "PiecewiseConstantDecay": (("boundaries", "values"), ("name",)),
    "CosineDecay": (("initial_learning_rate", "decay_steps"), ("alpha", "name", "warmup_target", "warmup_steps")),
    "CosineDecayRestarts": (("initial_learning_rate", "first_decay_steps"), ("t_mul", "m_mul", "alpha", "name")),
}
_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")
# The positive normal float32 range: a loss scale outside it rounds to 0 or infinity in a float32 loss.
_FLOAT32_TINY, _FLOAT32_MAX = 1.1754943508222875e-38, 3.4028234663852886e38
#: The largest ``gradient_accumulation_steps`` taken: more steps than any training runs (one update per that many).
MAX_ACCUMULATION_STEPS = 2**31 - 1
#: The most Newton-Schulz steps a Muon optimizer may take per update (netform's limit; Keras's default is 5)
MAX_NS_STEPS = 100
#: The most boundaries a PiecewiseConstantDecay may hold (netform's limit): Keras compares the step with each one
#: in the graph of every training step, about 18 ms of tracing each
MAX_SCHEDULE_BOUNDARIES = 100


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value_errors(
    kind: str, name: str, args: dict[str, Any], path: tuple[str | int, ...], smap: Any
) -> list[Diagnostic]:
    """Argument values the Keras class refuses when it is made (``ValueError`` at ``train``)."""
    messages: list[tuple[str, str]] = []
    if kind == "loss" and "reduction" in args and args["reduction"] not in LOSS_REDUCTIONS + (None,):
        messages.append(
            (
                "reduction",
                f"{name}.reduction is {args['reduction']!r}; Keras takes {', '.join(LOSS_REDUCTIONS)} or "
                "null (the default: sum_over_batch_size)",
            )
        )
    if kind == "metric" and name in ("F1Score", "FBetaScore") and args.get("average") not in F_AVERAGES + (None,):
        messages.append(
            (
                "average",
                f"{name}.average is {args['average']!r}; Keras takes {', '.join(F_AVERAGES)} or null (one "
                "score per class)",
            )
        )
    classes, ids = args.get("num_classes"), args.get("target_class_ids")
    if kind == "metric" and name in ("IoU", "OneHotIoU") and _is_int(classes) and isinstance(ids, (list, tuple)):
        outside = [i for i in ids if _is_int(i) and not 0 <= i < classes]
        if outside:
            messages.append(
                (
                    "target_class_ids",
                    f"{name}.target_class_ids lists {outside[0]}, but num_classes is {classes}: the "
                    f"ids lie between 0 and {classes - 1}",
                )
            )
    thresholds = args.get("thresholds")
    if kind == "metric" and name in _THRESHOLD_LISTS and thresholds is not None:
        values = thresholds if isinstance(thresholds, (list, tuple)) else [thresholds]
        # non-finite values are refused with the other arguments (above), other than numbers by their form
        beyond = [t for t in values if _is_number(t) and math.isfinite(t) and not 0 <= t <= 1]
        if beyond and len(values) <= MAX_THRESHOLDS:
            messages.append(
                ("thresholds", f"{name}.thresholds holds {beyond[0]!r}; thresholds are probabilities between 0 and 1")
            )
    if kind == "optimizer":
        messages += _optimizer_problems(name, args)
    messages += _table_problems(kind, name, args)
    if kind == "callback" and name == "TensorBoard" and "profile_batch" in args:
        problem = _profile_batch_problem(args["profile_batch"])
        if problem:
            messages.append(("profile_batch", problem))
    return [smap.diagnostic(m, path + ((arg,) if arg else ())) for arg, m in messages]


#: Arguments that take one of a few words (Keras refuses others when the object is made), by (kind, class)
_WORDS: dict[tuple[str, str, str], tuple[Any, ...]] = {
    ("metric", "AUC", "curve"): ("ROC", "PR", "PRGAIN", "roc", "pr", "prgain"),
    ("metric", "AUC", "summation_method"): (
        "interpolation",
        "minoring",
        "majoring",
        "Interpolation",
        "Minoring",
        "Majoring",
    ),
    ("metric", "R2Score", "class_aggregation"): ("uniform_average", "variance_weighted_average", None),
}


class _Range(NamedTuple):
    """The numbers a constructor argument takes: Keras's own check in the class's ``__init__``."""

    low: float | None  #: ``None``: unbounded below
    high: float | None  #: ``None``: unbounded above (``high`` itself is taken)
    open_low: bool = False  #: ``low`` itself is refused
    form: str = "number"  #: "number", "float" (Keras checks ``isinstance(x, float)``), "whole" or "bool"
    null: bool = False  #: null (the class's default) is taken too
    many: str = ""  #: "": one value; "or": one value or a list of them; "list": a list of them


#: Number arguments and the range Keras takes them in (each as the class's constructor checks it)
_RANGES: dict[tuple[str, str, str], _Range] = {
    ("optimizer", "SGD", "momentum"): _Range(0.0, 1.0),
    ("optimizer", "Ftrl", "learning_rate_power"): _Range(None, 0.0),
    ("optimizer", "Ftrl", "initial_accumulator_value"): _Range(0.0, None),
    ("optimizer", "Ftrl", "l1_regularization_strength"): _Range(0.0, None),
    ("optimizer", "Ftrl", "l2_regularization_strength"): _Range(0.0, None),
    ("optimizer", "Ftrl", "l2_shrinkage_regularization_strength"): _Range(0.0, None),
    ("optimizer", "Lion", "beta_1"): _Range(0.0, 1.0, open_low=True),
    ("metric", "SensitivityAtSpecificity", "specificity"): _Range(0.0, 1.0),
    ("metric", "SpecificityAtSensitivity", "sensitivity"): _Range(0.0, 1.0),
    ("metric", "PrecisionAtRecall", "recall"): _Range(0.0, 1.0),
    ("metric", "RecallAtPrecision", "precision"): _Range(0.0, 1.0),
    ("metric", "FBetaScore", "beta"): _Range(0.0, None, open_low=True, form="float"),
    ("metric", "FBetaScore", "threshold"): _Range(0.0, 1.0, open_low=True, form="float", null=True),
    ("metric", "F1Score", "threshold"): _Range(0.0, 1.0, open_low=True, form="float", null=True),
    ("metric", "R2Score", "num_regressors"): _Range(0, None, form="whole"),
    # Keras reads 0 as "not given" and fails on a negative count (a variable of negative size)
    ("metric", "AUC", "num_labels"): _Range(1, None, form="whole", null=True),
    # AUC takes its thresholds as a list only (``len(thresholds)``); the other classes also take one number
    ("metric", "AUC", "thresholds"): _Range(None, None, null=True, many="list"),
    # ``ops.sum`` over one axis, several, or all (null, the default)
    ("loss", "Dice", "axis"): _Range(None, None, form="whole", null=True, many="or"),
    ("loss", "Tversky", "axis"): _Range(None, None, form="whole", null=True, many="or"),
}
#: What each argument of Keras's built-in losses and metrics takes, by its name (where :data:`_RANGES` names no
#: class of its own): Keras casts these into the computation or tests them as conditions, so a mapping, a list
#: or text passes ``compile`` and fails at the first step (or, for a condition, is read as true)
_ARGUMENT_FORMS: dict[str, _Range] = {
    "axis": _Range(None, None, form="whole"),
    "threshold": _Range(None, None),
    "thresholds": _Range(None, None, null=True, many="or"),
    "num_thresholds": _Range(None, None, form="whole"),
    "num_classes": _Range(None, None, form="whole"),
    "class_id": _Range(None, None, form="whole", null=True),
    "ignore_class": _Range(None, None, form="whole", null=True),
    "target_class_ids": _Range(None, None, form="whole", many="list"),
    "label_weights": _Range(None, None, null=True, many="or"),
    # top k of none (0) counts nothing, and Keras fails on a negative k
    "k": _Range(1, None, form="whole"),
    "top_k": _Range(1, None, form="whole", null=True),
    "alpha": _Range(None, None),
    "beta": _Range(None, None),
    "gamma": _Range(None, None),
    "delta": _Range(None, None),
    "margin": _Range(None, None),
    "label_smoothing": _Range(None, None),
    "from_logits": _Range(None, None, form="bool"),
    "multi_label": _Range(None, None, form="bool"),
    "apply_class_balancing": _Range(None, None, form="bool"),
    "remove_diagonal": _Range(None, None, form="bool"),
    "sparse_y_true": _Range(None, None, form="bool"),
    "sparse_y_pred": _Range(None, None, form="bool"),
    "from_sorted_ids": _Range(None, None, form="bool"),
}


def _bounds(kind: str, name: str, arg: str) -> _Range | None:
    """The values Keras's ``name`` takes for ``arg``: its own entry of :data:`_RANGES`, or the argument's form
    (:data:`_ARGUMENT_FORMS`) where ``name`` is a built-in loss or metric taking ``arg``."""
    bounds = _RANGES.get((kind, name, arg))
    if bounds is not None or kind not in ("loss", "metric") or arg not in _ARGUMENT_FORMS:
        return bounds
    from ._keras_args import KERAS_ARGS

    return _ARGUMENT_FORMS[arg] if arg in KERAS_ARGS.get(kind, {}).get(name, ()) else None


def _default(kind: str, name: str, arg: str) -> Any:
    """Keras's default value of ``arg`` for its built-in ``name`` (``None``: none, or not known here)."""
    from ._keras_defaults import KERAS_DEFAULTS

    return KERAS_DEFAULTS.get(kind, {}).get(name, {}).get(arg)


_FORMS = {"float": "a number with a fraction", "whole": "a whole number", "bool": "true or false"}


def _fits_form(value: Any, form: str) -> bool:
    if form == "bool":
        return isinstance(value, bool)
    return _is_int(value) if form == "whole" else _is_number(value)


def _range_problem(name: str, arg: str, value: Any, bounds: _Range, default: Any = None) -> str | None:
    """Why ``value`` is not what Keras's constructor takes for ``arg`` (``None``: it is).

    ``default``: the class's own value of ``arg`` (Keras's default), shown as the fix where it fits the form.
    """
    if value is None and bounds.null:
        return None
    if _is_number(value) and not math.isfinite(value):
        return None  # refused with the other non-finite arguments
    low, high, open_low = bounds.low, bounds.high, bounds.open_low
    if low is not None and high is not None:
        where = f"between {low} and {high}" + (f" ({low} excluded)" if open_low else "")
    elif low is not None:
        where = f"{'greater than' if open_low else 'at least'} {low}"
    elif high is not None:
        where = f"at most {high}"
    else:
        where = ""
    what = _FORMS.get(bounds.form, "a number")
    null = " (or null: Keras's default)" if bounds.null else ""
    one = f"{what} {where}".strip()
    plural = {"float": "numbers with a fraction", "whole": "whole numbers", "bool": "true/false values"}
    each = f"a list of {plural.get(bounds.form, 'numbers')}" + (f", each {where}" if where else "")
    taken = {"or": f"{one}, or a list of them", "list": each}.get(bounds.many, one)
    listed = isinstance(value, (list, tuple))
    values = list(value) if listed else [value]
    wrong = [v for v in values if not (_fits_form(v, bounds.form) or (_is_number(v) and bounds.form == "float"))]
    if (listed and not bounds.many) or (not listed and bounds.many == "list") or wrong:
        shown = f"{value!r:.60}" if not listed or not wrong else f"{value!r:.60}, which holds {wrong[0]!r:.40}"
        shown = f"the text {shown}" if isinstance(value, str) else shown
        text = next((v for v in values if isinstance(v, str)), None)
        hint = (
            " (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)"
            if text is not None and re.fullmatch(r"[-+]?[\d.]+e[-+]?\d+", text)
            else ""
        )
        fits = default is not None and _range_problem(name, arg, default, bounds) is None
        example = f", e.g. {arg}: {_yaml_scalar(default)} (Keras's default)" if fits else ""
        return f"{name}.{arg} is {shown}; Keras takes {taken}{null}{hint}{example}"
    for item in values:
        if not _is_number(item) or not math.isfinite(item):
            continue
        if bounds.form == "float" and not isinstance(item, float):
            return f"{name}.{arg} is the whole number {item}; Keras takes {what} (write {item}.0), {where}"
        if (low is not None and (item < low or (open_low and item == low))) or (high is not None and item > high):
            held = f"holds {item!r}" if listed else f"is {item!r}"
            return f"{name}.{arg} {held}; Keras takes {'each value' if listed else 'it'} {where}{null}"
    return None


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    return repr(value)


def _table_problems(kind: str, name: str, args: dict[str, Any]) -> list[tuple[str, str]]:
    """Arguments outside the words or ranges of :data:`_WORDS`, :data:`_RANGES` and :data:`_ARGUMENT_FORMS`."""
    out: list[tuple[str, str]] = []
    for arg, value in args.items():
        words = _WORDS.get((kind, name, arg))
        if words is not None and value not in words:
            shown = ", ".join("null" if w is None else str(w) for w in words if w is None or not w[0].isupper())
            out.append((arg, f"{name}.{arg} is {value!r}; Keras takes {shown}"))
        bounds = _bounds(kind, name, arg)
        problem = _range_problem(name, arg, value, bounds, _default(kind, name, arg)) if bounds is not None else None
        if problem is not None:
            out.append((arg, problem))
    if kind in _NAMED_KINDS and "name" in args:
        problem = _name_problem(kind, name, args["name"])
        if problem is not None:
            out.append(("name", problem))
    labels = args.get("num_labels")
    if kind == "metric" and name == "AUC" and _is_int(labels) and labels > 0 and args.get("multi_label") is not True:
        out.append(
            (
                "num_labels",
                f"AUC.num_labels is {args['num_labels']!r}, but Keras takes it only with multi_label: true (one "
                "curve per label); add multi_label: true, or remove num_labels",
            )
        )
    return out


#: The kinds whose ``name`` Keras takes as a string, and those it also opens a name scope with (no "/" in it)
_NAMED_KINDS = ("optimizer", "loss", "metric")
_SCOPED_KINDS = ("optimizer", "loss")


def _name_problem(kind: str, name: str, value: Any) -> str | None:
    """Why ``value`` is not a ``name`` Keras takes (a string; null: the class's own), or ``None``."""
    if value is None or (isinstance(value, str) and not (kind in _SCOPED_KINDS and "/" in value)):
        return None
    if isinstance(value, str):
        return (
            f"{name}.name {value!r} holds '/'; Keras opens a name scope with a {kind}'s name, which takes no '/': "
            f"write e.g. {value.replace('/', '_')!r}"
        )
    return (
        f"{name}.name is {value!r:.60}; a name is a string (Keras names the {kind} and its logged value with it), "
        f"e.g. name: {_snake(name)!r}, or leave it out"
    )


def _profile_batch_problem(value: Any) -> str | None:
    """Why a TensorBoard ``profile_batch`` is not what Keras reads (a batch, or a first and last batch)."""
    pair: Any = value
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)?", value):
            pair = None
        else:
            pair = [int(p) for p in value.split(",")]
            pair = pair[0] if len(pair) == 1 else pair
    if _is_int(pair):
        pair = [pair, pair]
    ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_is_int(p) for p in pair)
    if ok and 0 <= pair[0] <= pair[1]:
        return None
    return (
        f"TensorBoard.profile_batch is {value!r}; Keras takes a batch number (0: no profiling) or the first and last "
        "batch to profile, e.g. [10, 20] or '10,20'"
    )


def _optimizer_problems(name: str, args: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    given = [c for c in _CLIPS if args.get(c) is not None]
    if len(given) > 1:
        out.append(
            (
                given[1],
                f"{name} takes only one of clipnorm, clipvalue and global_clipnorm (Keras refuses "
                f"several); received {' and '.join(given)}: keep one",
            )
        )
    momentum = args.get("ema_momentum")
    if args.get("use_ema") is True and _is_number(momentum) and not 0 <= momentum <= 1:
        out.append(
            (
                "ema_momentum",
                f"{name}.ema_momentum is {momentum!r}; it must lie between 0 and 1 (Keras's default is 0.99)",
            )
        )
    for clip in given[:1]:
        value = args[clip]
        if _is_number(value) and math.isfinite(value) and value <= 0:
            out.append(
                (
                    clip,
                    f"{name}.{clip} is {value!r}; Keras takes it but does not clip at all for a value of 0 or "
                    f"less, so the gradients go unclipped: write a positive bound (e.g. {clip}: 1.0), or leave "
                    f"{clip} out",
                )
            )
    scale = args.get("loss_scale_factor")
    if _is_number(scale) and math.isfinite(scale) and not _FLOAT32_TINY <= scale <= _FLOAT32_MAX:
        why = (
            "Keras multiplies the loss by it and divides the gradients by it, so training runs on NaN"
            if scale == 0
            else "a loss scale is a positive factor"
            if scale < 0
            else "float32 rounds it to 0 or infinity, so training runs on NaN"
        )
        out.append(
            (
                "loss_scale_factor",
                f"{name}.loss_scale_factor is {scale!r}; {why}: write a positive number between "
                f"{_FLOAT32_TINY:.3g} and {_FLOAT32_MAX:.3g} (e.g. 128.0), or leave it out (no scaling)",
            )
        )
    ns_steps = args.get("ns_steps")
    if name == "Muon" and "ns_steps" in args and not (_is_int(ns_steps) and 0 <= ns_steps <= MAX_NS_STEPS):
        out.append(
            (
                "ns_steps",
                f"{name}.ns_steps is {ns_steps!r:.40}; Keras writes each Newton-Schulz step into the graph of every "
                f"training step (1,000 took 30 s to trace a two-layer model; 10**9 never ended): write a whole "
                f"number from 0 to {MAX_NS_STEPS} (Keras's default is 5)",
            )
        )
    steps = args.get("gradient_accumulation_steps")
    if _is_number(steps) and steps < 2:
        out.append(
            (
                "gradient_accumulation_steps",
                f"{name}.gradient_accumulation_steps is {steps!r}; it must be a "
                "whole number of at least 2 (or null: no accumulation)",
            )
        )
    elif _is_number(steps) and steps > MAX_ACCUMULATION_STEPS:
        out.append(
            (
                "gradient_accumulation_steps",
                f"{name}.gradient_accumulation_steps is {steps!r}; Keras applies one update every that many "
                f"steps, so no training would ever apply one: write a whole number between 2 and "
                f"{MAX_ACCUMULATION_STEPS} (at most the steps the training runs), or null (no accumulation)",
            )
        )
    if "learning_rate" in args:
        out += _learning_rate_problems(name, args["learning_rate"])
    if name == "LossScaleOptimizer":
        out += _inner_optimizer_problems(args)
    return out


def _learning_rate_problems(name: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, float):
        return []
    if isinstance(value, dict):
        return _schedule_problems(name, value)
    if isinstance(value, str):
        hint = (
            " (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)" if re.fullmatch(r"[-+]?[\d.]+e[-+]?\d+", value) else ""
        )
        return [
            (
                "learning_rate",
                f"{name}.learning_rate is the text {value!r}{hint}; Keras takes a number with a "
                "fraction (e.g. 0.001) or a schedule such as {type: ExponentialDecay, initial_learning_rate: 0.01, "
                "decay_steps: 1000, decay_rate: 0.9}",
            )
        ]
    if _is_int(value):
        return [
            ("learning_rate", f"{name}.learning_rate is the whole number {value}; Keras takes a float: write {value}.0")
        ]
    return [
        (
            "learning_rate",
            f"{name}.learning_rate is {value!r}; Keras takes a number with a fraction (e.g. 0.001) "
            "or a schedule such as {type: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 1000, "
            "decay_rate: 0.9}",
        )
    ]


def _schedule_problems(name: str, value: dict[str, Any]) -> list[tuple[str, str]]:
    where = f"{name}.learning_rate"
    schedule = value.get("type")
    if schedule not in LR_SCHEDULES:
        shown = schedule if isinstance(schedule, str) else ""
        return [
            (
                "learning_rate",
                f"{where} is a mapping whose `type` {schedule!r} is not one of Keras's "
                f"learning-rate schedules{did_you_mean(shown, tuple(LR_SCHEDULES))}: "
                f"{', '.join(LR_SCHEDULES)}",
            )
        ]
    needed, optional = LR_SCHEDULES[schedule]
    for arg in value:
        if arg != "type" and arg not in needed + optional:
            return [
                (
                    "learning_rate",
                    f"{schedule} takes no argument '{arg}'"
                    f"{did_you_mean(arg, needed + optional)}; its arguments: {', '.join(needed + optional)}",
                )
            ]
    missing = [a for a in needed if a not in value]
    if missing:
        return [
            ("learning_rate", f"{schedule} needs {', '.join(missing)} (its arguments: {', '.join(needed + optional)})")
        ]
    for arg in needed + optional:
        got = value.get(arg)
        if arg in ("boundaries", "values"):
            if not (isinstance(got, (list, tuple)) and all(_is_number(v) for v in got)):
                return [("learning_rate", f"{schedule}.{arg} must be a list of numbers; received {got!r}")]
        elif arg in ("staircase", "cycle"):
            if arg in value and not isinstance(got, bool):
                return [("learning_rate", f"{schedule}.{arg} must be true or false; received {got!r}")]
        elif arg == "name":
            if arg in value and not isinstance(got, str):
                return [("learning_rate", f"{schedule}.name must be a string; received {got!r}")]
        elif arg in value and not (got is None and arg == "warmup_target") and not _is_number(got):
            return [("learning_rate", f"{schedule}.{arg} must be a number; received {got!r}")]
        elif arg.endswith("decay_steps") and not (_is_number(got) and got > 0):
            return [("learning_rate", f"{schedule}.{arg} must be a positive number of steps; received {got!r}")]
    if schedule == "PiecewiseConstantDecay" and len(value["boundaries"]) > MAX_SCHEDULE_BOUNDARIES:
        return [
            (
                "learning_rate",
                f"{schedule} has {len(value['boundaries']):,} boundaries; Keras writes a comparison for each into the "
                "graph of every training step (4,000 took 73 s to trace a one-layer model): netform takes at most "
                f"{MAX_SCHEDULE_BOUNDARIES} (a smooth schedule, e.g. ExponentialDecay or CosineDecay, takes none)",
            )
        ]
    if schedule == "PiecewiseConstantDecay" and len(value["values"]) != len(value["boundaries"]) + 1:
        return [
            (
                "learning_rate",
                "PiecewiseConstantDecay needs one more value than boundaries (a rate before the "
                f"first boundary, and after each); received {len(value['boundaries'])} boundaries and "
                f"{len(value['values'])} values",
            )
        ]
    return []


def _inner_optimizer_problems(args: dict[str, Any]) -> list[tuple[str, str]]:
    """LossScaleOptimizer wraps another optimizer: named (``adam``) or written out (``{type: Adam, …}``)."""
    from ._training import OPTIMIZERS

    inner = args.get("inner_optimizer")
    fix = "write e.g. {type: LossScaleOptimizer, inner_optimizer: adam} (or {type: Adam, learning_rate: 0.001})"
    if inner is None:
        return [("", f"LossScaleOptimizer needs `inner_optimizer`, the optimizer whose loss it scales; {fix}")]
    inner_name = inner if isinstance(inner, str) else inner.get("type") if isinstance(inner, dict) else None
    choices = tuple(o for o in OPTIMIZERS if o != "LossScaleOptimizer")
    if not isinstance(inner_name, str) or inner_name not in choices:
        shown = inner_name if isinstance(inner_name, str) else ""
        return [
            (
                "inner_optimizer",
                f"LossScaleOptimizer.inner_optimizer {inner!r} is not one of Keras's optimizers"
                f"{did_you_mean(shown, choices)}; {fix}",
            )
        ]
    if not isinstance(inner, dict):
        return []
    inner_args = {k: v for k, v in inner.items() if k != "type"}
    try:
        check_arguments("optimizer", TypedObject.model_validate({**inner_args, "type": inner_name}))
    except ValueError as err:
        return [("inner_optimizer", f"LossScaleOptimizer.inner_optimizer: {err}")]
    return [
        ("inner_optimizer", f"LossScaleOptimizer.inner_optimizer: {m}")
        for _, m in _optimizer_problems(inner_name, inner_args) + _table_problems("optimizer", inner_name, inner_args)
    ]


def argument_errors(spec: Any, smap: Any) -> list[Diagnostic]:
    """Arguments of the optimizer, losses, metrics and callbacks that Keras takes but fails on in training.

    Non-finite numbers (``.nan``, ``.inf``) anywhere in their arguments, callback ``mode``/``update_freq``/
    ``save_freq`` values Keras does not know, and metric sizes (thresholds, IoU classes) past what a
    training step can afford.

    Args:
        spec: The :class:`~netform.spec.ModelSpec`.
        smap: The source map that locates paths in the file.

    Returns:
        One located diagnostic per problem.
    """
    from ._training import missing_arguments

    training = spec.training
    if training is None:
        return []
    diags: list[Diagnostic] = []
    for kind, ref, path in _typed_refs(training):
        for where, value in _non_finite(ref.arguments, path):
            diags.append(
                smap.diagnostic(
                    f"{ref.type}.{where[len(path)]} is {value}; {kind} arguments must be finite numbers (Keras "
                    f"would train on NaN, or fail mid-training); write a finite number",
                    where,
                )
            )
        diags += _value_errors(kind, ref.type, ref.arguments, path, smap)
        missing = missing_arguments(kind, ref.type, ref.arguments)
        if missing is not None:
            diags.append(smap.diagnostic(missing, path))
        if kind == "metric":
            diags += _size_errors(ref, path, smap)
        elif kind == "callback":
            diags += _callback_errors(ref.type, ref.arguments, path, smap)
            if ref.type == "SwapEMAWeights" and getattr(training.optimizer, "arguments", {}).get("use_ema") is not True:
                diags.append(
                    smap.diagnostic(
                        "SwapEMAWeights swaps in the optimizer's moving averages of the weights, which it keeps only "
                        "with `use_ema: true`; write e.g. `optimizer: {type: Adam, use_ema: true}`, or remove it",
                        path,
                    )
                )
    return diags


#: Metric classes Keras cannot compile: their ``update_state`` takes the values to reduce, not the labels and
#: predictions a compiled metric is called with (a test compares with Keras's signatures)
NOT_COMPILED = {"Mean": "average", "Sum": "add up"}


def _metric_entries(training: Any) -> Iterator[tuple[tuple[str, str | None], Any, tuple[str | int, ...]]]:
    """Every metric of the section: (its list: field and output key, the metric, its path)."""
    for field in ("metrics", "weighted_metrics"):
        value = getattr(training, field)
        groups = value.items() if isinstance(value, dict) else [(None, value or ())]
        for key, refs in groups:
            for i, ref in enumerate(refs):
                yield (field, key), ref, ("training", field) + ((key,) if key is not None else ()) + (i,)


def _given_name(ref: Any) -> str | None:
    """The name Keras logs a metric under, where the spec fixes it (a name as written, or ``name:``)."""
    if isinstance(ref, str):
        return None if ">" in ref else ref  # a registered metric is named by its class
    name = ref.arguments.get("name")
    return name if isinstance(name, str) and name else None


def _dotted(path: tuple[str | int, ...]) -> str:
    return Diagnostic("", path).dotted_path


def metric_errors(spec: Any, smap: Any, outputs: tuple[str, ...] | None) -> list[Diagnostic]:
    """Metrics Keras cannot compile, and metrics whose logged value hides another.

    ``Mean`` and ``Sum`` take values, not labels and predictions (Keras fails at the first step); a metric
    named ``loss`` (``OUTPUT_loss`` with several outputs) is logged under the loss's name, and its value
    silently replaces the loss in the logs, the progress bar and what callbacks watch; two metrics of one
    list with the same name (or the same metric twice) log one value under two names.

    Args:
        spec: The :class:`~netform.spec.ModelSpec`.
        smap: The source map that locates paths in the file.
        outputs: The model's output names (``None``: known only at build time).

    Returns:
        One located diagnostic per problem.
    """
    training = spec.training
    diags: list[Diagnostic] = []
    several = outputs is not None and len(outputs) > 1
    losses = {"loss"} | ({f"{o}_loss" for o in outputs or ()} if several else set())
    seen: dict[tuple[Any, ...], tuple[str | int, ...]] = {}
    for group, ref, path in _metric_entries(training):
        kind = _name(ref)
        if kind in NOT_COMPILED:
            diags.append(
                smap.diagnostic(
                    f"{kind} cannot be a compiled metric: Keras calls each metric of `{path[1]}` with the labels "
                    f"and the predictions, and {kind} takes values to {NOT_COMPILED[kind]} (update_state(values)); "
                    "name a metric of labels and predictions, e.g. mae or accuracy",
                    path,
                )
            )
            continue
        name = _given_name(ref)
        owners = ([group[1]] if group[1] is not None else list(outputs or ())) if several else [None]
        logged = {f"{o}_{name}" if o else name for o in owners} if name else set()
        clash = sorted(logged & losses) or (["loss"] if name == "loss" else [])
        if clash:
            where = path + (("name",) if isinstance(ref, TypedObject) else ())
            output = clash[0][: -len("_loss")]
            loss_path = ("training", "loss") + ((output,) if output and isinstance(training.loss, dict) else ())
            diags.append(
                smap.diagnostic(
                    f"this metric is logged as '{clash[0]}', the name Keras logs the loss ({_dotted(loss_path)}) "
                    "under: its value would replace the loss in the logs, the progress bar and what callbacks "
                    f"watch; give the metric another name, e.g. name: {_snake(kind)}",
                    where,
                )
            )
            continue
        if several and group[1] is None:
            continue  # a list for several outputs: Keras may read it as one metric per output, in order
        key = (group, name) if name else (group, kind, repr(sorted(getattr(ref, "arguments", {}).items())))
        first = seen.setdefault(key, path)
        if first != path:
            what = f"has the same name, '{name}', as" if name else "is the same metric, with the same arguments, as"
            renamed = f" as '{name}_1'" if name else " under a name of its own making"
            diags.append(
                smap.diagnostic(
                    f"this metric {what} {_dotted(first)}: Keras would log it again{renamed}, a name nothing else "
                    "refers to; remove one, or give one another name (name: …)",
                    path,
                )
            )
    return diags


def _directed_names(training: Any) -> tuple[set[str], set[str]]:
    """The names Keras directs a monitor by: the compiled metrics' own names (no output prefix) where the
    metric has a direction (Keras's ``_direction``), every spelling; and those names as Keras writes them."""
    names: set[str] = set()
    shown: set[str] = set()
    for field in ("metrics", "weighted_metrics"):
        value = getattr(training, field)
        refs = [r for group in value.values() for r in group] if isinstance(value, dict) else list(value or ())
        kept = tuple(r for r in refs if _name(r) not in _UNDIRECTED)
        for prefix in ("", "weighted_") if field == "weighted_metrics" else ("",):
            logged, accepted = _metric_names(kept, (), prefix)
            names |= accepted
            shown |= logged if not prefix else set()
    return names, shown


def monitor_errors(spec: Any, smap: Any, outputs: tuple[str, ...] | None) -> list[Diagnostic]:
    """``monitor`` values Keras cannot tell the direction of with ``mode: auto`` (it fails after an epoch).

    Keras's ``MonitorCallback`` infers the direction from the name, ``val_`` removed: ``loss`` falls, and a
    compiled metric with a direction (accuracy rises, an error falls) is found by its own name (``accuracy``,
    never the per-output ``cls_accuracy`` a model with several outputs logs). Anything else (a per-output
    name or loss, the learning rate, a counter such as TruePositives, a name training never logs) raises
    "isn't able to automatically determine whether that metric should be maximized or minimized".
    With ``mode: min``/``max`` an unknown name only warns (see :func:`training_warnings`).
    """
    training = spec.training
    diags: list[Diagnostic] = []
    names, shown = _directed_names(training)
    for i, kind, args in _callbacks(spec):
        if kind not in _MONITORING or args.get("mode", "auto") != "auto":
            continue
        monitor = args.get("monitor", _MONITOR_DEFAULT)
        if not isinstance(monitor, str) or "{" in monitor or "}" in monitor or not monitor:
            continue
        metric = monitor.removeprefix("val_")
        if metric == "loss" or metric in names:
            continue
        path = ("training", "callbacks", i) + (("monitor",) if "monitor" in args else ())
        per_output = next((f"'{n}'" for n in sorted(shown) for o in outputs or () if metric == f"{o}_{n}"), None)
        why = (
            f"Keras directs a metric by its own name ({per_output}), not by the per-output name"
            if per_output
            else f"Keras can tell whether to maximize or minimize only 'loss' and compiled "
            f"metrics with a direction{did_you_mean(metric, sorted(shown | {'loss'}))}"
        )
        diags.append(
            smap.diagnostic(
                f"{kind} watches '{monitor}' with mode 'auto', but {why}, so training would fail after its first "
                f"epoch; set mode: max (the value should rise) or mode: min (fall)",
                path,
            )
        )
    return diags


def _schedule(optimizer: Any) -> str | None:
    """The ``LearningRateSchedule`` an optimizer (or a ``LossScaleOptimizer``'s inner one) takes its rate from."""
    args = getattr(optimizer, "arguments", None) or {}
    inner = args.get("inner_optimizer")
    for value in (args.get("learning_rate"), inner.get("learning_rate") if isinstance(inner, dict) else None):
        if isinstance(value, dict) and isinstance(value.get("type"), str):
            return str(value["type"])
    return None


def schedule_errors(spec: Any, smap: Any) -> list[Diagnostic]:
    """A ``ReduceLROnPlateau`` beside an optimizer whose learning rate is a ``LearningRateSchedule``.

    Keras's optimizer refuses to have a scheduled rate set ("its learning rate is not settable"), so training
    fails the first time the plateau is reached, after the epochs trained so far; refused where it is written.
    """
    schedule = _schedule(spec.training.optimizer)
    if schedule is None:
        return []
    return [
        smap.diagnostic(
            f"{kind} lowers the optimizer's learning rate, but the optimizer takes it from the schedule "
            f"{schedule}, which Keras does not let a callback set: training would fail the first time the loss "
            f"stops improving; give the optimizer a number as learning_rate, or leave {kind} out (the schedule "
            "already lowers the rate)",
            ("training", "callbacks", i),
        )
        for i, kind, _ in _callbacks(spec)
        if kind == "ReduceLROnPlateau"
    ]


# -- ModelCheckpoint file names ------------------------------------------------

#: the file name endings Keras's ModelCheckpoint takes: weights only, or the whole model
_WEIGHTS_ENDING = ".weights.h5"
_MODEL_ENDINGS = (".keras", ".h5")


def template_fields(template: str) -> list[tuple[str, str]]:
    """The ``(name, format spec)`` of each ``{field}`` of a ModelCheckpoint ``filepath`` (empty if malformed).

    A malformed template is refused by the spec's callback checks (``_access``); this reads only well-formed ones.
    """
    try:
        return [(f, spec or "") for _, f, spec, _ in string.Formatter().parse(template) if f]
    except ValueError:
        return []


def _format_fails(spec: str, value: int | float) -> str | None:
    """Python's complaint when ``value`` is formatted with ``spec``, or ``None`` when it formats."""
    try:
        format(value, spec)
    except (ValueError, TypeError) as err:
        return str(err)
    return None


def _logged_keys(spec: Any, outputs: tuple[str, ...] | None) -> tuple[set[str], list[str]] | None:
    """Every name a training log may hold (each spelling), and those shown to the user; ``None``: not known here.

    Not known for a subclass model (its output names come with the build) and for a registered metric
    without an explicit ``name`` (its name is its class's).
    """
    training = spec.training
    if not outputs:
        return None
    for field in ("metrics", "weighted_metrics"):
        value = getattr(training, field)
        refs = [r for group in value.values() for r in group] if isinstance(value, dict) else list(value or ())
        for ref in refs:
            if ">" in _name(ref) and not (isinstance(ref, TypedObject) and isinstance(ref.arguments.get("name"), str)):
                return None
    shown, accepted = _logged(spec, outputs)
    if len(outputs) > 1:  # Keras logs a metric of a model with several outputs only under its output's name
        accepted = {n for n in accepted if n == "loss" or any(n.startswith(f"{o}_") for o in outputs)}
    return accepted - {"learning_rate"}, sorted(shown)


def _is_vector(ref: Any) -> bool:
    """Whether a metric's result is one value per class or threshold, not one number (Keras logs the array)."""
    if not isinstance(ref, TypedObject):
        return False
    if ref.type in ("F1Score", "FBetaScore"):
        return ref.arguments.get("average") is None
    thresholds = ref.arguments.get("thresholds")
    return ref.type in _THRESHOLD_LISTS and ref.type != "AUC" and isinstance(thresholds, list) and len(thresholds) > 1


def _vector_names(training: Any, outputs: tuple[str, ...]) -> set[str]:
    """Every name Keras may log an array-valued metric under (see :func:`_is_vector`)."""
    names: set[str] = set()
    for field in ("metrics", "weighted_metrics"):
        value = getattr(training, field)
        if isinstance(value, dict):
            kept: Any = {out: tuple(r for r in refs if _is_vector(r)) for out, refs in value.items()}
        else:
            kept = tuple(r for r in value or () if _is_vector(r))
        for prefix in ("", "weighted_") if field == "weighted_metrics" else ("",):
            names |= _metric_names(kept, outputs, prefix)[1]
    return names


def checkpoint_errors(spec: Any, smap: Any, outputs: tuple[str, ...] | None) -> list[Diagnostic]:
    """ModelCheckpoint ``filepath`` values Keras takes but fails on once training saves.

    The file name must end as Keras requires (``.keras`` or ``.h5``, ``.weights.h5`` with
    ``save_weights_only``), and each ``{field}`` must name a value in the logs at the time of saving:
    ``epoch``; ``batch`` with an integer ``save_freq`` only; ``loss`` and the compiled metrics (``val_``
    versions when saving once an epoch: whether validation data is given is checked when training starts);
    ``learning_rate`` after a ReduceLROnPlateau, which writes it. Its format spec must suit the value
    (``epoch`` and ``batch`` are whole numbers, the rest are floats: ``{loss:d}`` fails). Keras stops
    with a ``KeyError`` or ``ValueError`` after the first epoch otherwise.

    Args:
        spec: The :class:`~netform.spec.ModelSpec`.
        smap: The source map that locates paths in the file.
        outputs: The model's output names (``None``: known only at build time; the logged names are not checked).

    Returns:
        One located diagnostic per problem.
    """
    training = spec.training
    if training is None:
        return []
    known = _logged_keys(spec, outputs)
    vectors = _vector_names(training, outputs or ())
    diags: list[Diagnostic] = []
    lr_logged = False
    for i, kind, args in _callbacks(spec):
        if kind == "ReduceLROnPlateau":
            lr_logged = True  # it writes `learning_rate` into the logs the callbacks after it read
        if kind != "ModelCheckpoint":
            continue
        path: tuple[str | int, ...] = ("training", "callbacks", i)
        filepath = args.get("filepath")
        if "filepath" not in args:
            diags.append(
                smap.diagnostic(
                    "ModelCheckpoint needs `filepath`: the file it saves to, e.g. filepath: 'ckpt/{epoch:02d}.keras'",
                    path,
                )
            )
            continue
        if not isinstance(filepath, str):
            continue  # its type is refused by the callback's argument checks
        where = path + ("filepath",)
        weights_only = args.get("save_weights_only") is True
        if weights_only and not filepath.endswith(_WEIGHTS_ENDING):
            diags.append(
                smap.diagnostic(
                    f"ModelCheckpoint.filepath {filepath!r} must end in '.weights.h5' with save_weights_only: true "
                    "(Keras's weights format), e.g. 'ckpt/{epoch:02d}.weights.h5'",
                    where,
                )
            )
        elif not weights_only and not filepath.endswith(_MODEL_ENDINGS):
            diags.append(
                smap.diagnostic(
                    f"ModelCheckpoint.filepath {filepath!r} must end in '.keras' (Keras's model format; or '.h5', "
                    "or '.weights.h5' with save_weights_only: true), e.g. 'ckpt/{epoch:02d}.keras'",
                    where,
                )
            )
        per_batch = _is_int(args.get("save_freq"))
        before = len(diags)
        for field, fmt in template_fields(filepath):
            if not field.isidentifier():
                continue  # refused by the template's form check
            problem = _field_problem(field, per_batch, lr_logged, known)
            if problem is None and fmt and field.removeprefix("val_") in vectors:
                problem = (
                    f"formats {{{field}}} with ':{fmt}', but that metric logs one value per class or threshold (a "
                    "list, which takes no number format); give the metric `average: macro` (F1Score, FBetaScore) or "
                    "one threshold, or name another value"
                )
            elif problem is None:
                sample: int | float = 1 if field in ("epoch", "batch") else 0.5
                failed = _format_fails(fmt, sample)
                if failed is not None:
                    what = "a whole number" if isinstance(sample, int) else "a number with a fraction (a float)"
                    example = "{epoch:02d}" if isinstance(sample, int) else f"{{{field}:.4f}}"
                    problem = (
                        f"formats {{{field}}} with ':{fmt}', but {field} is {what} ({failed}); write e.g. {example}"
                    )
            if problem is not None:
                diags.append(smap.diagnostic(f"ModelCheckpoint.filepath {filepath!r} {problem}", where))
        # Only where the callbacks are made (summary, render and build accept their arguments as they stand).
        checked = len(diags) == before and current_access().check_callbacks
        long = _name_length_problem(filepath, training) if checked else None
        if long is not None:
            diags.append(smap.diagnostic(f"ModelCheckpoint.filepath {filepath!r} {long}", where))
    return diags


def _logs_float64(training: Any) -> bool:
    """Whether a logged value may be a float64 (beyond float32's range): floatx float64, a loss or metric of
    dtype float64, or a registered one (its dtype is its own)."""
    from ._layer_dict import keras_defaults

    if keras_defaults()[0] == "float64":
        return True
    for kind, ref, _path in _typed_refs(training):
        if kind not in ("loss", "metric"):
            continue
        dtype = ref.arguments.get("dtype")
        if ">" in ref.type or (dtype is not None and dtype not in ("float16", "bfloat16", "float32")):
            return True
    for field in ("metrics", "weighted_metrics"):
        value = getattr(training, field)
        refs = [r for group in value.values() for r in group] if isinstance(value, dict) else list(value or ())
        if any(isinstance(r, str) and ">" in r for r in refs):
            return True
    loss = training.loss
    return any(isinstance(r, str) and ">" in r for r in (loss.values() if isinstance(loss, dict) else [loss]))


def _name_length_problem(filepath: str, training: Any) -> str | None:
    """Why the file names a ModelCheckpoint template can make may pass 255 bytes (None: they never do).

    Measured by :func:`~netform.spec._access.template_name_problem` (the engine's measure too), with
    ``epoch`` up to ``training.epochs`` and the logged floats float64 where :func:`_logs_float64` says so.
    """
    epochs = training.epochs if _is_int(training.epochs) else None
    return template_name_problem(filepath, largest_epoch=epochs, float64=_logs_float64(training))


def _field_problem(
    field: str, per_batch: bool, lr_logged: bool, known: tuple[set[str], list[str]] | None
) -> str | None:
    """Why ``{field}`` is not in the logs a checkpoint is named from, or ``None``."""
    if field == "epoch":
        return None
    when = "every save_freq batches (the batch's logs)" if per_batch else "at the end of each epoch"
    if field == "batch":
        if per_batch:
            return None
        return (
            "names {batch}, which Keras fills only when it saves every N batches (save_freq: a whole number); "
            "with save_freq: epoch remove {batch}, or write e.g. save_freq: 100"
        )
    if field.startswith("val_") and per_batch:
        return (
            f"names {{{field}}}, but it saves {when}, where validation values are not logged; use save_freq: epoch, "
            f"or write {{{field[4:]}}}"
        )
    if field == "learning_rate" and lr_logged and not per_batch:
        return None
    if known is None:
        return None
    accepted, shown = known
    if field.removeprefix("val_") in accepted:
        return None
    names = ["epoch"] + (["batch"] if per_batch else []) + shown
    if not per_batch:
        names += ["val_" + n for n in shown]
    return (
        f"names {{{field}}}, which training never logs{did_you_mean(field, names)}; the fields it may name: "
        f"{', '.join(names)} (val_ ones with validation data)"
    )


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
            diags.append(
                smap.diagnostic(
                    f"output '{out}' already applies {act}, and its loss {name} has from_logits: true, so {act} is "
                    f"applied twice and training barely moves; remove the output's activation, or set "
                    "from_logits: false",
                    path,
                )
            )
        elif act == "linear" and name in PROBABILISTIC_LOSSES and not _from_logits(ref):
            diags.append(
                smap.diagnostic(
                    f"output '{out}' is linear (no activation), but its loss {name} reads probabilities "
                    f"(from_logits: false); write the loss as {{type: {_class_name(name)}, from_logits: true}}, or "
                    "give the output activation: softmax (or sigmoid)",
                    path,
                )
            )
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
    for metrics, prefix in (
        (training.metrics, ""),
        (training.weighted_metrics, ""),
        (training.weighted_metrics, "weighted_"),
    ):
        more_shown, more_accepted = _metric_names(metrics, outputs, prefix)
        shown |= more_shown if not prefix else set()
        accepted |= more_accepted
    return shown, accepted


def logged_names(training: Any, outputs: tuple[str, ...] | list[str] | None) -> tuple[frozenset[str], bool]:
    """Every name a log of this training may hold (``val_`` ones aside), and whether each may also come after
    an output's name the model shows only once built (``outputs`` is ``None``).

    Args:
        training: A spec's training section, or the mapping ``fit_from_training_config`` takes (metrics by
            name, as ``{type: …}`` mappings, or as Keras objects, known by their ``name``).
        outputs: The model's output names (``None``: not known before it is built).
    """
    from collections.abc import Mapping
    from types import SimpleNamespace

    if isinstance(training, Mapping):
        training = SimpleNamespace(
            metrics=_metric_refs(training.get("metrics")),
            weighted_metrics=_metric_refs(training.get("weighted_metrics")),
        )
    _, accepted = _logged(SimpleNamespace(training=training), tuple(outputs or ()))
    # A registered metric ("package>Name") without a `name` logs under its class's name, as Keras names it.
    accepted |= {n.rpartition(">")[2] for n in accepted if ">" in n}
    return frozenset(accepted), outputs is None


def require_training(spec: Any) -> None:
    """Refuse to train a spec without a ``training:`` section (a spec may leave it out to be built only).

    Call it before TensorFlow starts; :func:`spec_log_names` (which train uses) calls it too.

    Raises:
        SpecError: The spec has no ``training:`` section (or ``training: null``), saying how to add one.
    """
    from ..errors import SpecError

    if getattr(spec, "training", None) is not None:
        return
    message = (
        "the spec has no `training:` section, so there is nothing to train it with; add one with at least a "
        "loss, e.g. `training: {loss: mse, optimizer: adam, epochs: 10}` (or pass "
        "'training={loss: mse, epochs: 10}' after the spec's name)"
    )
    smap = getattr(spec, "_smap", None)
    raise SpecError([smap.diagnostic(message, ())] if smap is not None else message)


def spec_log_names(spec: Any) -> tuple[frozenset[str], bool]:
    """:func:`logged_names` of a spec's training (the output names from its graph; a subclass model's are not known).

    Raises:
        SpecError: The spec has no ``training:`` section (:func:`require_training`).
    """
    from ._load import graph_of

    require_training(spec)
    return logged_names(spec.training, _outputs(spec, graph_of(spec)))


def _metric_refs(value: Any) -> Any:
    """The metrics of a training mapping as the spec holds them: names and :class:`TypedObject` references."""
    from collections.abc import Mapping

    if value is None:
        return None
    if isinstance(value, Mapping) and not isinstance(value.get("type"), str):  # one list per output
        return {str(k): _metric_refs(v) or () for k, v in value.items()}
    items = value if isinstance(value, (list, tuple)) else [value]
    refs: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):  # Keras's one list per output, in order: each may be any output's
            refs.extend(_metric_refs(item))
        elif isinstance(item, str):
            refs.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("type"), str):
            refs.append(TypedObject.model_validate(dict(item)))
        else:  # a Keras metric object or function: logged under its name
            name = getattr(item, "name", None) or getattr(item, "__name__", None)
            if isinstance(name, str):
                refs.append(name)
    return tuple(refs)


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
    if training.loss is None:
        diags.append(
            smap.diagnostic(
                "there is no loss: Keras then trains only on the layers' regularization losses, and `netform "
                "train` fails ('No loss to compute') on a model without any; write one, e.g. `loss: mse`",
                ("training",),
            )
        )
    if outputs:
        diags += _activation_warnings(spec, graph, smap, outputs)
    has_validation = training.validation_split > 0
    shown, logged = _logged(spec, outputs) if outputs else (set(), None)
    patience: dict[str, tuple[int, Any, str]] = {}
    for i, kind, args in _callbacks(spec):
        path: tuple[str | int, ...] = ("training", "callbacks", i)
        filepath = args.get("filepath")
        if kind == "ModelCheckpoint" and isinstance(filepath, str) and not has_validation:
            named = [f for f, _ in template_fields(filepath) if f.startswith("val_")]
            if named and not _is_int(args.get("save_freq")):
                diags.append(
                    smap.diagnostic(
                        f"ModelCheckpoint.filepath names {{{named[0]}}}, which is logged only with validation data, "
                        "and validation_split is 0: training starts only with validation data given (netform train "
                        "--val-data FILE); set training.validation_split (e.g. 0.2), or name "
                        f"{{{named[0][4:]}}}",
                        path + ("filepath",),
                    )
                )
        uses_monitor = kind in ("EarlyStopping", "ReduceLROnPlateau") or (
            kind == "ModelCheckpoint" and args.get("save_best_only") is True
        )
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
            diags.append(
                smap.diagnostic(
                    f"{kind} watches '{monitor}', but training holds out no validation data (validation_split is "
                    f"0), so '{monitor}' is never logged and {kind} does nothing; set training.validation_split "
                    f"(e.g. 0.2), or watch '{monitor[4:]}'",
                    where,
                )
            )
        elif logged is not None and monitor.removeprefix("val_") not in logged:
            known = sorted(shown | {"val_" + n for n in shown} if has_validation else shown)
            diags.append(
                smap.diagnostic(
                    f"{kind} watches '{monitor}', which training never logs{did_you_mean(monitor, known)}, so "
                    f"{kind} does nothing; training logs: {', '.join(known)}",
                    where,
                )
            )
        if kind == "EarlyStopping" and args.get("restore_best_weights") is True and not has_validation:
            diags.append(
                smap.diagnostic(
                    "EarlyStopping restores its best weights, but training holds out no validation data "
                    "(validation_split is 0): the weights kept are judged on the data they were fitted to; set "
                    "training.validation_split (e.g. 0.2)",
                    path + ("restore_best_weights",),
                )
            )
    if "EarlyStopping" in patience and "ReduceLROnPlateau" in patience:
        (stop, stop_path, stop_on), (reduce, _, reduce_on) = patience["EarlyStopping"], patience["ReduceLROnPlateau"]
        if stop <= reduce and stop_on == reduce_on:
            diags.append(
                smap.diagnostic(
                    f"EarlyStopping's patience ({stop}) is not longer than ReduceLROnPlateau's ({reduce}): training "
                    "stops before the learning rate is ever lowered; make EarlyStopping's patience longer "
                    f"(e.g. {reduce + max(2, reduce // 2)})",
                    stop_path,
                )
            )
    return sorted(diags, key=lambda d: (d.line or 0, d.column or 0))
