"""Objects a model reaches under more than one path in Keras's saving walk.

A model may reach one layer under two attribute names (``self.a_dense`` and a
property ``dense`` returning it). Keras's save writes it under the first name
its walk meets; Keras's load tries every name, so a file written by a model
that called the layer ``dense`` loads into one that calls it ``a_dense`` too.
netform checks a file against the model before loading anything, so it needs
the other names as well.

Private: ``keras.src.saving.saving_lib._walk_saveable`` and
``_get_unique_name`` and ``keras.src.utils.naming.to_snake_case`` are the walk
and the naming Keras's ``save_weights``/``load_weights`` use; no public API
exposes them, and the paths must be exactly Keras's.
"""

from __future__ import annotations

from typing import Any

from keras.src.saving import saving_lib as _saving_lib
from keras.src.saving.keras_saveable import KerasSaveable as _KerasSaveable
from keras.src.utils import naming as _naming

from ._weights_store import OpenH5Store

__all__ = ["alias_paths", "AliasedH5Store"]


def alias_paths(model: Any) -> dict[str, str]:
    """``{other path: the path Keras writes the object under}`` for every object Keras's walk meets again.

    Paths are Keras's weights-file paths (``dense``, ``layers/dense_1``, …).
    """
    first: dict[int, str] = {}
    aliases: dict[str, str] = {}

    def join(parent: str, name: str) -> str:
        return f"{parent}/{name}" if parent else name

    def visit(saveable: Any, path: str) -> None:
        seen = first.get(id(saveable))
        if seen is not None:
            if seen != path:
                aliases.setdefault(path, seen)
            return
        first[id(saveable)] = path
        for attr, child in _saving_lib._walk_saveable(saveable):
            if isinstance(child, _KerasSaveable):
                visit(child, join(path, attr))
            elif isinstance(child, (list, dict, tuple)):
                container(child, join(path, attr), set())

    def container(items: Any, path: str, visited: set[int]) -> None:
        if id(items) in visited:
            return
        visited.add(id(items))
        used: dict[str, int] = {}
        for item in list(items.values()) if isinstance(items, dict) else items:
            if isinstance(item, _KerasSaveable):
                name = _saving_lib._get_unique_name(_naming.to_snake_case(item.__class__.__name__), used)
                visit(item, join(path, name))
            elif isinstance(item, (list, dict, tuple)):
                container(item, join(path, _saving_lib._get_unique_name("container", used)), visited)

    visit(model, "")
    return aliases


class AliasedH5Store(OpenH5Store):
    """Keras's reading store that reads an object's weights from the path the file holds them under.

    ``renames`` maps a path Keras's load asks for (the model's first name of
    an object) to the path the file has for it (another name of the object).
    """

    def __init__(self, h5_file: Any, renames: dict[str, str]) -> None:
        super().__init__(h5_file)
        self._renames = sorted(renames.items(), key=lambda item: -len(item[0]))

    def get(self, path: str) -> Any:
        """Keras's ``get``, at the file's path for this object."""
        for asked, held in self._renames:
            if path == asked or path.startswith(asked + "/"):
                path = held + path[len(asked) :]
                break
        return super().get(path)
