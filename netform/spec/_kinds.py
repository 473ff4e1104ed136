"""What a tensor holds, as far as validation knows it, without building any layer schema.

:func:`~netform.spec._shapes.infer_shapes` follows it through the graph from
the inputs' dtypes; the op rules (:mod:`netform.spec.layers.ops`) say what each
op gives.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Kind", "dtype_kind"]

#: A tensor's kind, as far as validation knows it: "float" (complex included), "int", "bool" or "string";
#: None where only the build can tell.
Kind = Literal["float", "int", "bool", "string"]


def dtype_kind(dtype: str | None) -> Kind | None:
    """The kind of a dtype's values (``float32`` → "float", ``uint8`` → "int"); None for no dtype."""
    if dtype is None:
        return None
    if dtype == "bool":
        return "bool"
    if dtype == "string":
        return "string"
    if dtype == "int" or dtype.startswith(("int", "uint")):
        return "int"
    return "float"
