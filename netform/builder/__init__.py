"""The builder: spec → Keras model (three APIs), and Keras model → spec."""

from __future__ import annotations

from ._build import build as build
from ._from_keras import from_keras as from_keras
from ._subclass import SpecModel as SpecModel
from ._weights import copy_weights as copy_weights
from . import _zoo_models  # noqa: F401  (registers netform's own model classes)

__all__ = ["build", "from_keras", "SpecModel", "copy_weights"]
