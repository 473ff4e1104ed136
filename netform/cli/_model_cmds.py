"""``netform build``, ``export-spec``, ``inspect`` and ``convert``."""

from __future__ import annotations

import argparse
import json
import os

from ..errors import printable

__all__ = ["cmd_build", "cmd_export_spec", "cmd_inspect", "cmd_convert", "refuse_deployment_file"]


def load_plugins(modules: list[str]) -> None:
    """``--plugin`` modules, imported (through :func:`._spec_cmds.load_plugins`) only when there are any.

    The spec commands' module imports the spec layer, which ``inspect`` and
    ``export-spec`` of a saved file do not otherwise need.
    """
    if modules:
        from ._spec_cmds import load_plugins as load

        load(modules)


def cmd_build(args: argparse.Namespace) -> int:
    """Build a spec and save the untrained model."""
    load_plugins(args.plugin)
    from ..builder import build
    from ..saving import save
    from ._spec_cmds import callbacks_not_run

    with callbacks_not_run():
        model = build(args.spec, api=args.api)
    fmt = save(model, args.output, format=args.format)
    # names and paths are printed with their control characters escaped (a file name may hold an escape sequence)
    print(
        f"built {type(model).__name__} '{printable(model.name)}' ({model.count_params():,} params) "
        f"→ {printable(args.output)} [{fmt}]"
    )
    return 0


def cmd_export_spec(args: argparse.Namespace) -> int:
    """Write the spec of a saved model."""
    load_plugins(args.plugin)
    # a LiteRT or ONNX file, or weights only: refused before the spec layer or TensorFlow is imported
    refuse_deployment_file(args.model)
    from ..saving._config_walk import spec_from_file
    from ..saving._detect import detect_format
    from ..saving._static_reader import refuse_graph_only

    if detect_format(args.model) == "savedmodel":  # another tool's graph: no layers to export, said before loading
        refuse_graph_only(args.model, "it has no spec")

    # A .keras / .h5 file's config is walked without TensorFlow (after load's safety checks); what only
    # a live model tells (ops, custom layers, call arguments) is loaded with Keras as before.
    spec = spec_from_file(args.model) if os.environ.get("NETFORM_EXPORT_WITH_KERAS") != "1" else None
    if spec is None:
        from ..builder import from_keras  # also registers netform's model classes for loading
        from ..saving import load

        spec = from_keras(load(args.model))
    text = spec.to_yaml()
    if args.output:
        from ._spec_cmds import write_output

        write_output(args.output, text.encode("utf-8"), "the spec")
        print(f"wrote the spec of '{printable(spec.name)}' to {printable(args.output)}")
    else:
        print(text, end="")
    return 0


def refuse_deployment_file(path: str) -> None:
    """Refuse a file that holds no model as :func:`netform.load` refuses it, before TensorFlow is imported.

    A LiteRT or ONNX file holds no Keras config, and a weights-only file
    (``.weights.h5``, legacy HDF5 weights, a TF checkpoint) no architecture,
    so nothing would come of loading it; the refusal is ``load``'s own (same
    words, exit 5), raised by its format check, which runs before it imports
    anything of Keras (``summary`` refuses such a file as fast).

    Raises:
        FormatError: ``path`` is a deployment format (``"tflite"``, ``"onnx"``) or weights only.
    """
    from ..saving._detect import FULL_MODEL_FORMATS, detect_format  # no TensorFlow

    if detect_format(path) not in FULL_MODEL_FORMATS:
        from ..saving import load  # its format check comes before any import of Keras

        load(path, compile=False)
        raise AssertionError(f"netform.load did not refuse {path}, which holds no model")  # pragma: no cover


def cmd_inspect(args: argparse.Namespace) -> int:
    """Describe a saved model or weights file."""
    load_plugins(args.plugin)
    from ..saving import inspect  # loads with Keras (and registers netform's classes) only when it must

    info = inspect(args.path, with_keras=os.environ.get("NETFORM_INSPECT_WITH_KERAS") == "1")
    if args.format == "json":
        print(json.dumps(info, indent=2, default=str))
        return 0
    # Every value comes from the file: its control characters are escaped, so a name cannot move the
    # cursor, retitle the terminal or forge a line of this report (the JSON form is escaped by json.dumps).
    for key, value in info.items():
        if key == "layers" and isinstance(value, list):
            print(f"layers: {len(value)}")
            for layer in value:
                print(f"  - {printable(str(layer))}")
        else:
            print(f"{key}: {printable(str(value))}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a saved model to another full-model format, or export it to ONNX or TFLite."""
    load_plugins(args.plugin)
    from .. import builder  # noqa: F401  (registers netform's model classes for loading)
    from ..saving import convert
    from ..saving._api import format_from_path, save
    from ..saving._detect import DEPLOY_FORMATS, FORMATS, FULL_MODEL_FORMATS, WEIGHTS_FORMATS
    from ..errors import SaveError

    quantize, opset = getattr(args, "quantize", None), getattr(args, "opset", None)
    writes = FULL_MODEL_FORMATS + DEPLOY_FORMATS
    fmt = format_from_path(args.dst, args.format, allowed=FORMATS + DEPLOY_FORMATS, offered=writes)
    if fmt in WEIGHTS_FORMATS:
        raise SaveError(
            f"{args.dst}: convert writes whole models (keras, h5, savedmodel) or exports them (onnx, tflite), "
            f"not {fmt}; save weights only from Python with save_weights."
        )
    if fmt in DEPLOY_FORMATS or quantize is not None or opset is not None:
        # The deployment exports: the whole model is loaded, then exported by nf.save.
        from ..saving import load

        result = save(load(args.src), args.dst, format=fmt, opset=opset, quantize=quantize)
    else:
        result = convert(args.src, args.dst, format=args.format)
    done = f"converted {args.src} → {args.dst}" + (f" [{result}]" if isinstance(result, str) else "")
    print(printable(done))
    return 0
