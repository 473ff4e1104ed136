"""netform's training engine.

Public surface (re-exported by :mod:`netform`): :class:`Model`,
:class:`Functional`, :class:`Sequential`, :class:`TrainingBackup`, :class:`Telemetry`, :func:`strategy_from_name` and
:func:`fit_from_training_config`. Importing this package imports TensorFlow.
"""

from __future__ import annotations

from ._backup import TrainingBackup as TrainingBackup
from ._config import fit_from_training_config as fit_from_training_config
from ._distribute import strategy_from_name as strategy_from_name
from ._models import Functional as Functional
from ._models import Model as Model
from ._models import Sequential as Sequential
from ._telemetry import EpochTelemetry as EpochTelemetry
from ._telemetry import Telemetry as Telemetry
from ._telemetry import TelemetryReport as TelemetryReport

__all__ = [
    "Model",
    "Functional",
    "Sequential",
    "TrainingBackup",
    "strategy_from_name",
    "fit_from_training_config",
    "Telemetry",
    "TelemetryReport",
    "EpochTelemetry",
]
