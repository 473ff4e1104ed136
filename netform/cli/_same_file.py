"""An output path may not name one of the command's own inputs.

``netform predict m.keras --data d.npz -o d.npz`` would replace the data with
the predictions, ``export-spec m.keras -o m.keras`` the model with YAML: the
atomic writer makes the replacement clean, but the input is still gone. So
every output (``-o``, ``DST``) is compared with every input of the command (its
positional file, ``--data``, ``--val-data``, each ``--plugin``) as the system
sees them (the same device and inode, so also through a link or another
spelling of the path), and an output inside an input folder (a SavedModel's
``saved_model.pb``) is refused too; both are usage errors (exit 2), checked
before anything is read. ``convert m.keras m.keras`` is left alone: it loads
the whole model first and saves it back in place with the same checks as any
save.
"""

from __future__ import annotations

import argparse
import os

from ._args import UsageError

__all__ = ["check_output_is_no_input"]

#: Positional inputs and input options, as ``argparse`` names them.
_INPUTS = (
    ("path", "PATH"),
    ("source", "SPEC_OR_FILE"),
    ("spec", "SPEC"),
    ("model", "MODEL_FILE"),
    ("src", "SRC"),
    ("data", "--data"),
    ("val_data", "--val-data"),
)
_OUTPUTS = (("output", "-o"), ("dst", "DST"))


def _inputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    found = [(option, value) for attr, option in _INPUTS if isinstance(value := getattr(args, attr, None), str)]
    found += [("--plugin", p) for p in getattr(args, "plugin", None) or [] if isinstance(p, str)]
    found += [("PATH", p) for p in getattr(args, "paths", None) or [] if isinstance(p, str)]
    return found


def _inside(path: str, folder: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real != top and os.path.commonpath([real, top]) == top


def check_output_is_no_input(args: argparse.Namespace) -> None:
    """Refuse an output that is one of the command's inputs (or lies inside an input folder).

    Raises:
        UsageError: ``-o`` or ``DST`` names an input file or folder of the command (exit 2).
    """
    outputs = [(option, value) for attr, option in _OUTPUTS if isinstance(value := getattr(args, attr, None), str)]
    convert = getattr(args, "command", None) == "convert"
    for option, output in outputs:
        for source, given in _inputs(args):
            try:
                same = os.path.exists(output) and os.path.samefile(output, given)
            except OSError:
                same = False
            if same and not (convert and source == "SRC"):  # convert loads the model whole, then saves it back
                raise UsageError(
                    f"{option} {output}: is the command's own input ({source} {given}); writing there would "
                    "replace it. Name another file for the output"
                )
            if os.path.isdir(given) and _inside(output, given):
                raise UsageError(
                    f"{option} {output}: lies inside the command's own input ({source} {given}); writing there "
                    "would change it. Name a file outside it for the output"
                )
