"""conftest.py for Keras's own test files, copied beside them into a temporary folder.

Used by both runs (plain Keras and netform). It stands in for what Keras's
source tree provides and its wheel does not, identically for both runs:

* ``skip_if_backend`` and the ``requires_trainable_backend`` marker, which
  Keras's repository ``conftest.py`` defines (``remote_monitor_test.py``
  imports it by name);
* a placeholder for an optional Keras backend that is not installed (JAX,
  PyTorch, OpenVINO, Orbax) while a test file is being imported: Keras's
  ``trainer_test.py`` runs ``import jax`` at the top although only its JAX-only
  tests use it. The placeholder exists only during that import; any test that
  really uses the backend fails (on both runs) with ``ModuleNotFoundError``.

When ``NETFORM_KERAS_SUITE_SIDE=netform`` it also loads :mod:`netform_shim`,
which puts netform's model classes and saving functions in place of Keras's.
Every test's outcome is written as JSON to ``NETFORM_KERAS_SUITE_REPORT``.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

OPTIONAL_BACKENDS = ("jax", "torch", "openvino", "orbax")
_HERE = Path(__file__).resolve().parent


def _backend() -> str:
    from keras.src.backend import backend  # noqa: PLC0415

    return backend()


def skip_if_backend(given_backend: str, reason: str) -> Any:
    """Skip a test on one backend (as in Keras's repository ``conftest.py``)."""
    return pytest.mark.skipif(_backend() == given_backend, reason=reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires_trainable_backend: needs a backend that trains")
    if os.environ.get("NETFORM_KERAS_SUITE_SIDE") == "netform":
        sys.path.insert(0, str(_HERE))
        import netform_shim  # noqa: PLC0415

        netform_shim.install(_HERE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = os.environ.get("NETFORM_KERAS_SUITE_ONLY")
    if only:  # run just the tests listed in this file (one test id a line)
        wanted = {line.strip() for line in Path(only).read_text().splitlines() if line.strip()}
        items[:] = [item for item in items if item.nodeid in wanted]
    if _backend() in ("numpy", "openvino"):
        skip = pytest.mark.skipif(True, reason="Trainer not implemented for this backend.")
        for item in items:
            if "requires_trainable_backend" in item.keywords:
                item.add_marker(skip)


class _MissingBackend(types.ModuleType):
    """Stands for an optional backend that is not installed; any use fails."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ModuleNotFoundError(f"No module named '{self.__name__}' (optional Keras backend, not installed)")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    added = []
    if isinstance(collector, pytest.Module):
        import importlib.util  # noqa: PLC0415

        for name in OPTIONAL_BACKENDS:
            if name not in sys.modules and importlib.util.find_spec(name) is None:
                sys.modules[name] = _MissingBackend(name)
                added.append(name)
    try:
        yield
    finally:
        for name in added:
            if isinstance(sys.modules.get(name), _MissingBackend):
                del sys.modules[name]


# Outcome recording: one entry per test id, plus files that failed to import.
_OUTCOMES: dict[str, dict[str, Any]] = {}
_COLLECT_ERRORS: dict[str, str] = {}


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        text = crash.message
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr)
    return text[:2000]


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    shim = sys.modules.get("netform_shim")
    if shim is not None:
        shim.take_used()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _OUTCOMES.setdefault(report.nodeid, {"outcome": "passed", "message": "", "seconds": 0.0})
    entry["seconds"] = round(entry["seconds"] + report.duration, 3)
    if report.when == "call" and hasattr(report, "wasxfail"):
        entry["outcome"] = "xfailed" if report.skipped else "xpassed"
    elif report.failed and entry["outcome"] == "passed":
        entry["outcome"] = "failed" if report.when == "call" else "error"
        entry["message"] = _message(report)
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        entry["message"] = _message(report)
    if ("netform_used", True) in report.user_properties:
        entry["netform_used"] = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    shim = sys.modules.get("netform_shim")
    if shim is not None and call.when == "teardown" and shim.take_used():
        outcome.get_result().user_properties.append(("netform_used", True))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _COLLECT_ERRORS[report.nodeid] = _message(report)


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("NETFORM_KERAS_SUITE_REPORT")
    if target and not hasattr(session.config, "workerinput"):  # pytest-xdist: the controller writes
        Path(target).write_text(json.dumps({"tests": _OUTCOMES, "collect_errors": _COLLECT_ERRORS}, indent=1))
