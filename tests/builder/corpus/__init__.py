"""Model-building code of the official Keras examples (keras-io ``examples/``), rewritten small.

Each function follows the model-construction part of one example (named in
its docstring by its path in keras-team/keras-io), at a smaller size so the
whole corpus runs on a CPU in seconds, and returns the model and a batch of
inputs to compare predictions on. :data:`EXAMPLES` maps ``domain/example`` to
the function; :data:`RANDOM_OUTPUTS` lists the outputs that draw random
numbers at inference (compared by shape only).
"""

from __future__ import annotations

from typing import Any, Callable

from . import generative, other, structured, text, timeseries, vision

EXAMPLES: dict[str, Callable[[], tuple[Any, Any]]] = {}
for _module in (vision, text, timeseries, structured, generative, other):
    _domain = _module.__name__.rsplit(".", 1)[-1]
    for _name, _fn in vars(_module).items():
        if _name.startswith("ex_") and callable(_fn):
            EXAMPLES[f"{_domain}/{_name[3:]}"] = _fn

#: example → indices of outputs that are random at inference (e.g. a VAE's sampled z)
RANDOM_OUTPUTS: dict[str, tuple[int, ...]] = {"generative/vae_encoder": (2,)}
