"""Private Keras and TensorFlow APIs are used only inside ``netform/_compat/`` (ARCHITECTURE.md).

Every module under netform/ is read with ``ast``: imports at any depth
(function-level ones included), ``from keras import src``-style imports,
``importlib.import_module("keras.src...")`` / ``__import__`` calls with a
constant name, and reads or writes of the Keras / TensorFlow underscore
attributes netform is known to need (``obj._nodes_by_depth``,
``getattr(obj, "_call_flat")``). ``netform/_compat/`` wraps each of them with a
comment naming the public alternative or why there is none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "netform"
COMPAT = PACKAGE / "_compat"

PRIVATE_MODULES = ("keras.src", "tensorflow.python")

# Underscore attributes of Keras / TensorFlow objects (not netform's own).
# Extend this list when a new one is wrapped in netform/_compat/.
PRIVATE_ATTRIBUTES = frozenset({
    # Functional graph internals
    "_nodes_by_depth", "_inbound_nodes", "_outbound_nodes", "_keras_history", "_operations", "_functional",
    # Trainer / Layer internals
    "_symbolic_build", "_get_metrics_result_or_logs", "_flatten_metrics_in_order", "_initial_epoch",
    "_should_eval", "_call_has_training_arg", "_compute_loss", "_loss_tracker", "_distribute_strategy",
    "_compile_config", "_trainable_variables", "_non_trainable_variables", "_flatten_layers", "_maybe_rebuild",
    # Callbacks, optimizers, tf.distribute, tf.function, tracking
    "_supports_tf_logs", "_batches_seen_since_last_saving", "_distribution_strategy",
    "_in_multi_worker_mode", "_call_flat", "_trackable_children",
})

# Files allowed a private name outside netform/_compat/ (none: every private access is behind it). The
# test fails on a listed file that has become clean, so an entry added here cannot go stale.
ALLOWED: dict[str, set[str]] = {}


def _is_private_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in PRIVATE_MODULES)


def _constant_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def private_uses(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """``(line, what)`` for every private Keras/TensorFlow module or attribute ``source`` uses."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(source, filename)
    # a method the module defines itself (e.g. a spec checker's `_functional`) is netform's own name
    own = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if _is_private_module(alias.name)]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if _is_private_module(node.module):
                found.append((node.lineno, node.module))
            else:  # `from keras import src`, `from tensorflow import python`
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                          if _is_private_module(f"{node.module}.{alias.name}")]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = _constant_str(node.args[0]) if node.args else None
            if name in ("import_module", "__import__") and first and _is_private_module(first):
                found.append((node.lineno, first))
            if name in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1:
                attr = _constant_str(node.args[1])
                if attr in PRIVATE_ATTRIBUTES:
                    found.append((node.lineno, attr))
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES and node.attr not in own:
            found.append((node.lineno, node.attr))
    return found


def _modules_outside_compat() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if COMPAT not in p.parents]


def test_checker_finds_every_form_of_private_use() -> None:
    source = '''
import keras.src.models
import tensorflow.python as tfp
from keras.src.trainers import data_adapters
from keras import src
from tensorflow import python
import importlib

def lazy(model, concrete):
    from tensorflow.python.distribute import distribute_lib
    importlib.import_module("keras.src.utils.rng_utils")
    __import__("tensorflow.python.eager")
    model._symbolic_build(data_batch=None)
    return getattr(concrete, "_call_flat", None)
'''
    uses = private_uses(source)
    assert len(uses) == 10  # `tensorflow.python` twice
    assert {what for _, what in uses} == {
        "keras.src.models", "tensorflow.python", "keras.src.trainers", "keras.src",
        "tensorflow.python.distribute", "keras.src.utils.rng_utils", "tensorflow.python.eager",
        "_symbolic_build", "_call_flat",
    }


def test_checker_leaves_public_and_netform_names_alone() -> None:
    source = '''
import keras
import tensorflow as tf
from keras import layers
from .._compat import _keras_engine as ki
name = "keras.src.models.functional.Functional"   # a string, not an import

class Checker:
    def _functional(self):
        return self._functional()

def f(model, self):
    self._cache = {}
    return model.distribute_strategy, getattr(model, "_netform_spec", None), ki.call_flat
'''
    assert private_uses(source) == []


@pytest.mark.parametrize("path", _modules_outside_compat(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_private_keras_or_tensorflow_api_outside_compat(path: Path) -> None:
    rel = str(path.relative_to(PACKAGE.parent))
    uses = private_uses(path.read_text(encoding="utf-8"), rel)
    allowed = ALLOWED.get(rel, set())
    bad = [f"{rel}:{line} uses {what}" for line, what in uses if what not in allowed]
    assert not bad, (
        "private Keras/TensorFlow API outside netform/_compat/; wrap it in a netform/_compat/ module "
        "with a comment naming the public alternative (or why there is none):\n" + "\n".join(bad)
    )
    if allowed:
        stale = allowed - {what for _, what in uses}
        assert not stale, f"{rel} no longer uses {sorted(stale)}: remove them from ALLOWED in {__file__}"


def test_compat_modules_comment_each_private_use() -> None:
    """Each netform/_compat/ module that uses a private name says why no public API does the job."""
    missing = []
    for path in sorted(COMPAT.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if private_uses(text) and "private" not in text.lower() and "no public" not in text.lower():
            missing.append(str(path.relative_to(PACKAGE.parent)))
    assert not missing, f"netform/_compat/ modules without a note on their private uses: {missing}"
