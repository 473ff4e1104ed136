"""Weights only: Keras 3 ``.weights.h5`` and legacy (Keras 2 style) HDF5 weights.

Before loading, the file's variables are compared with the model's, so a
mismatch is reported as a list of the layers and shapes that differ instead
of Keras's first failure. ``skip_mismatch=True`` loads what fits, warns and
returns what it skipped.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from typing import Any, Iterator

from netform.errors import FormatError

from ._atomic import write_bytes
from ._h5 import model_weights_group, verify_checksums
from ._h5_source import H5Source, check_unchanged, keras_refusal, open_h5
from ._meta import metadata, reading, writing
from ._safety import check_h5

__all__ = ["save_weights_h5", "load_weights_h5", "load_legacy_weights", "mismatch_error"]


@contextlib.contextmanager
def _open_verified(source: Any, where: str) -> Iterator[H5Source]:
    """Open an HDF5 weights file once, refuse what is unsafe and check its checksums on the bytes read."""
    with open_h5(source) as opened:
        datasets: dict[str, Any] = {}
        check_h5(opened.file, where, file_size=opened.size, datasets=datasets, raw=opened.raw)
        verify_checksums(opened.file, where, datasets=datasets, source=opened.raw)
        yield opened


def save_weights_h5(model: Any, path: str) -> None:
    """Save a model's weights as a Keras 3 ``.weights.h5`` file, atomically.

    The HDF5 image is built in memory and written with plain writes, so a
    full disk is a clean :class:`SaveError` (HDF5 never sees the I/O error).
    """
    import h5py  # noqa: PLC0415

    from netform._compat._h5_image import weights_h5_image  # noqa: PLC0415

    from ._h5 import image_reader, _write_checksums  # noqa: PLC0415

    with writing(path, "weights_h5"):
        image = weights_h5_image(model)
        with h5py.File(image, "a") as f:
            f.attrs["netform_format"] = "weights_h5"
            f.attrs["netform_metadata"] = json.dumps(metadata(model, "weights_h5"))
            _write_checksums(f, image_reader(image))
        with image.getbuffer() as data:
            write_bytes(path, data)


def _shapes(f: Any, skip_optimizer: bool = True) -> dict[str, tuple[int, ...]]:
    import h5py  # noqa: PLC0415

    out: dict[str, tuple[int, ...]] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and not (skip_optimizer and name.startswith("optimizer/")):
            out[name] = tuple(obj.shape)

    f.visititems(visit)
    return out


def mismatch_error(where: str, model: Any, problems: list[str]) -> FormatError:
    """A FormatError listing every difference between a file and a model."""
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    return FormatError(
        f"{where}: the weights do not fit model '{model.name}' ({len(problems)} difference(s)):\n  "
        + "\n  ".join(shown)
        + "\nBuild the same architecture, or pass skip_mismatch=True to load what fits."
    )


def _diff(saved: dict[str, tuple[int, ...]], wanted: dict[str, tuple[int, ...]]) -> list[str]:
    problems = []
    for name, shape in wanted.items():
        if name not in saved:
            problems.append(f"{name}: model has shape {shape}, file has no such variable")
        elif saved[name] != shape:
            problems.append(f"{name}: model has shape {shape}, file has {saved[name]}")
    problems += [f"{name}: file has shape {shape}, model has no such variable"
                 for name, shape in saved.items() if name not in wanted]
    return problems


def _model_shapes(model: Any, skip: set[int]) -> dict[str, tuple[int, ...]]:
    """``{path: shape}`` of what Keras would write for ``model`` (leaving out the ids in ``skip``)."""
    import h5py  # noqa: PLC0415

    from netform._compat import _keras_saving as ks  # noqa: PLC0415

    probe = io.BytesIO()
    store = ks.H5IOStore(probe, mode="w")
    try:
        ks.save_state(model, store, skip=skip)
    finally:
        store.close()
    with h5py.File(probe, "r") as f:
        return _shapes(f)


def load_weights_h5(model: Any, source: str | io.BytesIO, where: str, *,
                    skip_mismatch: bool = False, objects_to_skip: Any = None) -> list[str]:
    """Load Keras 3 weights (a ``.weights.h5`` file or a ``.keras`` archive's weights).

    Args:
        objects_to_skip: Layers (or other saveables) left as they are, as in
            Keras's ``load_weights(..., objects_to_skip=...)``.

    Returns:
        The differences skipped (empty when everything fit).
    """
    from netform._compat import _keras_saving as ks  # noqa: PLC0415

    skipped = {id(obj) for obj in (objects_to_skip or ())}
    with reading(where, "weights_h5"), _open_verified(source, where) as opened:
        f = opened.file
        saved = _shapes(f)
        wanted = _model_shapes(model, skipped)
        if skipped:  # what only the skipped objects hold is compared with nothing
            left_out = set(_model_shapes(model, set())) - set(wanted)
            saved = {name: shape for name, shape in saved.items() if name not in left_out}
        problems = _diff(saved, wanted)
        if problems and not skip_mismatch:
            raise mismatch_error(where, model, problems)
        # Keras reads the bytes just verified (a large file: the same file, checked below).
        image = opened.image
        if image is not None:
            image.seek(0)
        store = ks.H5IOStore(image if image is not None else source, mode="r")
        optimizer = getattr(model, "optimizer", None)
        # An unbuilt optimizer has no slots to fill: load the model's weights only.
        skip = set(skipped)
        if optimizer is not None and not getattr(optimizer, "built", False):
            skip.add(id(optimizer))
        try:
            _, errors = ks.load_state(model, store, skip_mismatch=skip_mismatch, skip=skip)
        finally:
            store.close()
        if image is None:
            check_unchanged(opened.raw, source)  # type: ignore[arg-type]
        refusal = keras_refusal(where, [str(e[1]) for e in errors.values()])
        if refusal is not None:
            raise refusal
        if errors and not skip_mismatch:
            raise mismatch_error(where, model, [str(e[1]) for e in errors.values()])
    if problems:
        warnings.warn(f"{where}: skipped {len(problems)} variable(s) that do not fit: "
                      + "; ".join(problems[:10]), UserWarning, stacklevel=3)
    return problems


def _legacy_layers(group: Any) -> dict[str, list[tuple[str, Any]]]:
    from netform._compat import _keras_saving as ks  # noqa: PLC0415

    out: dict[str, list[tuple[str, Any]]] = {}
    for name in ks.load_attributes_from_hdf5_group(group, "layer_names"):
        g = group[name]
        weight_names = ks.load_attributes_from_hdf5_group(g, "weight_names")
        out[name] = [(w, g[w]) for w in weight_names]
    return out


def load_legacy_weights(model: Any, path: str, where: str, *, by_name: bool = False,
                        skip_mismatch: bool = False) -> list[str]:
    """Load weights from a legacy HDF5 file (weights only, or a full-model ``.h5``).

    Args:
        by_name: Match layers by name instead of by order.
        skip_mismatch: Skip layers whose weights do not fit, with a warning.

    Returns:
        The layers skipped.
    """
    from netform._compat import _keras_saving as ks  # noqa: PLC0415

    with reading(where, "HDF5 weights"), _open_verified(path, where) as opened:
        f = opened.file
        group = model_weights_group(f)
        saved = _legacy_layers(group)
        layers = [layer for layer in model.layers if ks.legacy_weights(layer)]
        if by_name:
            pairs = [(layer, saved[layer.name]) for layer in layers if layer.name in saved]
            problems = []
        else:
            files = [(n, ws) for n, ws in saved.items() if ws]
            problems = [] if len(files) == len(layers) else [
                f"file has {len(files)} layers with weights {[n for n, _ in files]}, model has "
                f"{len(layers)} {[layer.name for layer in layers]}"]
            pairs = list(zip(layers, [ws for _, ws in files]))
        fits = []
        for layer, ws in pairs:
            want = [tuple(v.shape) for v in ks.legacy_weights(layer)]
            have = [tuple(d.shape) for _, d in ws]
            if want == have:
                fits.append((layer, ws))
            else:
                problems.append(f"layer '{layer.name}': model has shapes {want}, file has {have}")
        if problems and not skip_mismatch:
            raise mismatch_error(where, model, problems)
        for layer, ws in fits:
            for var, (_, data) in zip(ks.legacy_weights(layer), ws):
                var.assign(data[()])
    if problems:
        warnings.warn(f"{where}: skipped what does not fit: " + "; ".join(problems[:10]),
                      UserWarning, stacklevel=3)
    return problems


def save_legacy_weights(model: Any, path: str) -> None:
    """Save weights in the legacy (Keras 2 ``save_weights('x.h5')``) layout, atomically.

    Built in memory and written with plain writes, like :func:`save_weights_h5`.
    """
    import h5py  # noqa: PLC0415

    from netform._compat import _keras_saving as ks  # noqa: PLC0415

    from ._h5 import _write_checksums  # noqa: PLC0415

    with writing(path, "legacy_h5_weights"):
        image = io.BytesIO()
        with h5py.File(image, "w") as f:
            ks.save_weights_to_hdf5_group(f, model)
            f.attrs["netform_metadata"] = json.dumps(metadata(model, "legacy_h5_weights"))
            _write_checksums(f)
        with image.getbuffer() as data:
            write_bytes(path, data)
