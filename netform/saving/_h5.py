"""Full models in HDF5 (``.h5``), compatible with Keras 2 and Keras 3 readers.

The file is Keras's legacy layout (``model_config``, ``training_config``,
``model_weights``, ``optimizer_weights``) so plain ``keras.models.load_model``
and tf_keras read it. netform adds, as root attributes and one group:

* ``netform_model_config``: the Keras 3 config (round-trips every registered
  class, where the legacy config may not);
* ``netform_compile_config``: the Keras 3 compile config;
* ``netform_checksums``: CRC-32 of every dataset, so a flipped bit in the
  weights is caught (HDF5 itself checksums only metadata);
* ``netform_attr_checksums``: CRC-32 of every config attribute (the two
  configs above, Keras's ``model_config`` and ``training_config``, netform's
  metadata), so a changed bit that leaves the JSON valid is caught too
  (files written before it are read without this check);
* ``netform_metadata``: versions and time saved.

The optimizer state is restored from Keras's own ``optimizer_weights``
(every ``optimizer.variables``, in order, named by path); the second copy
netform before 0.1.1 wrote (``netform_optimizer/``) is no longer read: such
a file loads with the copy in ``optimizer_weights``, as Keras reads it.
Checksums are computed from the bytes HDF5 wrote
(found by each dataset's offset), not by reading every dataset back.

Keras writes losses by alias (``"mse"``), which its own reader then fails to
resolve; netform writes canonical names in ``training_config``.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
import zlib
from typing import Any, BinaryIO, Callable, Final, Mapping

from absl import logging as absl_logging

from netform.errors import FormatError

from ._atomic import write_bytes
from ._config_bounds import check_declared_weights, check_graph_bounds, check_metric_sizes, check_text
from ._h5_source import keras_refusals, open_h5
from ._meta import crc32, metadata, reading, register_netform_classes, writing
from ._safety import check_config, check_h5, file_size

__all__ = [
    "save_h5",
    "load_h5",
    "verify_checksums",
    "read_h5_info",
    "model_weights_group",
    "attr_json",
    "model_config",
    "check_same_model",
    "MODEL_CONFIG_ATTRIBUTES",
    "CONFIG_ATTRIBUTES",
    "ATTR_CHECKSUMS",
]

#: The root attributes holding JSON that the file's reader trusts: each has a CRC-32 in :data:`ATTR_CHECKSUMS`.
CONFIG_ATTRIBUTES = (
    "model_config",
    "training_config",
    "netform_model_config",
    "netform_compile_config",
    "netform_metadata",
)
#: The root attribute with ``{attribute: CRC-32}`` of :data:`CONFIG_ATTRIBUTES` (absent in older files).
ATTR_CHECKSUMS = "netform_attr_checksums"


def _attr_bytes(raw: Any) -> bytes:
    """An attribute's value as the bytes its CRC-32 is taken of (text as UTF-8)."""
    import numpy as np

    if isinstance(raw, np.void):
        return raw.tobytes()
    if isinstance(raw, bytes):
        return bytes(raw)
    return str(raw).encode("utf-8")


def _write_attr_checksums(f: Any) -> None:
    f.attrs[ATTR_CHECKSUMS] = json.dumps(
        {key: crc32(_attr_bytes(f.attrs[key])) for key in CONFIG_ATTRIBUTES if key in f.attrs}
    )


def verify_attr_checksums(f: Any, where: str) -> None:
    """Compare the config attributes with the CRC-32 netform stored, if any (older files have none).

    Raises:
        FormatError: An attribute changed since netform wrote it, or the checksums are unreadable.
    """
    raw = f.attrs.get(ATTR_CHECKSUMS)
    if raw is None:
        return
    try:
        sums = json.loads(_attr_bytes(raw))
    except ValueError:
        sums = None
    if not isinstance(sums, dict):
        raise FormatError(
            f"{where}: attribute '{ATTR_CHECKSUMS}' is not a JSON object of checksums; the file is "
            "corrupt. Restore it from a good copy."
        )
    for key in CONFIG_ATTRIBUTES:
        present = key in f.attrs
        if present != (key in sums) or (present and crc32(_attr_bytes(f.attrs[key])) != sums[key]):
            change = (
                "fails its checksum"
                if present and key in sums
                else ("is missing" if key in sums else "was added after netform wrote the file")
            )
            raise FormatError(
                f"{where}: attribute '{key}' {change}; the file is corrupt (a changed bit) or "
                "was edited. Restore it from a good copy."
            )


def _json(value: Any) -> str:
    from netform._compat._keras_saving import json_default

    return json.dumps(value, default=json_default)


def _keras_class_names(config: Any) -> Any:
    """netform's ``Functional``/``Sequential`` named as Keras's in a legacy ``model_config``, in place.

    The legacy config names a class only (``"class_name": "Sequential"``); a
    nested netform model is written ``"netform>Sequential"``, which plain Keras
    cannot resolve. netform itself reads ``netform_model_config``, which keeps
    its own classes.
    """
    if isinstance(config, dict):
        if config.get("class_name") in ("netform>Functional", "netform>Sequential"):
            config["class_name"] = config["class_name"].split(">", 1)[1]
        for value in config.values():
            _keras_class_names(value)
    elif isinstance(config, list):
        for value in config:
            _keras_class_names(value)
    return config


def _canonical_losses(config: Any) -> Any:
    """Replace loss aliases (``"mse"``) by full names Keras's reader resolves."""
    import keras

    if isinstance(config, str):
        try:
            fn = keras.losses.get(config)
        except (ValueError, TypeError):
            return config
        name = getattr(fn, "__name__", None)
        return name if isinstance(name, str) and hasattr(keras.losses, name) else config
    if isinstance(config, dict) and "class_name" not in config:
        return {k: _canonical_losses(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_canonical_losses(v) for v in config]
    return config


def _dataset_ids(f: Any) -> dict[str, Any]:
    """``{name: DatasetID}`` of every dataset, via the cheap low-level API."""
    import h5py

    out: dict[str, Any] = {}

    def visit(raw: bytes, info: Any) -> None:
        if info.type == h5py.h5o.TYPE_DATASET:
            out[raw.decode("utf-8")] = h5py.h5o.open(f.id, raw)

    h5py.h5o.visit(f.id, visit, info=True)
    return out


def _raw_reader(source: Any) -> Callable[[int, int], Any] | None:
    """``read(offset, size)`` on the file's bytes: a path, an open file or a BytesIO."""
    if isinstance(source, io.BytesIO):
        view = source.getbuffer()
        return lambda offset, size: view[offset : offset + size]
    if isinstance(source, int):
        return lambda offset, size: os.pread(source, size, offset)
    return None


def image_reader(image: io.BytesIO) -> Callable[[int, int], bytes]:
    """``read(offset, size)`` on an HDF5 image still being written (holds no buffer export)."""

    def read(offset: int, size: int) -> bytes:
        with image.getbuffer() as view:
            return bytes(view[offset : offset + size])

    return read


def _dataset_crc(dsid: Any, read: Callable[[int, int], Any] | None) -> int:
    """CRC-32 of a dataset's values, from its stored bytes when they are the values.

    A contiguous dataset of a plain numeric type in native byte order is
    stored exactly as ``np.ascontiguousarray(values).tobytes()``, so its CRC
    is taken from the file's bytes; any other dataset is read.
    """
    return _dataset_value(dsid, read)[0]


def _dataset_value(dsid: Any, read: Callable[[int, int], Any] | None) -> tuple[int, Any]:
    """``(crc, values)`` of a dataset, both from one read of its bytes.

    ``values`` is a NumPy array viewing the bytes that were checksummed (a
    stored contiguous native array) or the array HDF5 read.
    """
    import h5py
    import numpy as np

    dtype = dsid.dtype
    if read is not None and dtype.kind in "biufc?" and dtype.isnative:
        offset = dsid.get_offset()
        shape = dsid.shape
        size = dtype.itemsize
        for dim in shape:
            size *= int(dim)
        if offset is not None and size and dsid.get_storage_size() == size:
            chunk = read(offset, size)
            if len(chunk) == size:  # a truncated file falls through to HDF5's own read
                return zlib.crc32(chunk) & 0xFFFFFFFF, np.frombuffer(chunk, dtype).reshape(shape)
    values = h5py.Dataset(dsid)[()]
    return crc32(values), values


def _write_checksums(f: Any, read: Callable[[int, int], Any] | None = None) -> None:
    """Store the CRC-32 of every dataset in ``netform_checksums``.

    Args:
        f: The open, writable file; flushed first when ``read`` is given.
        read: Reads the file's bytes (see :func:`_raw_reader`); without it
            every dataset is read back.
    """
    if read is not None:
        f.flush()
    sums = {name: _dataset_crc(dsid, read) for name, dsid in _dataset_ids(f).items()}
    f.attrs["netform_checksums"] = json.dumps(sums)


def verify_checksums(
    f: Any,
    where: str,
    *,
    datasets: dict[str, Any] | None = None,
    source: Any = None,
    values: dict[str, Any] | None = None,
) -> None:
    """Compare every dataset with the CRC-32 netform stored, if any.

    Args:
        f: The open file.
        where: The file name, for messages.
        datasets: ``{name: DatasetID}`` from :func:`check_h5`, to skip a walk.
        source: The file's path, open descriptor or BytesIO, to checksum
            stored bytes directly instead of reading every dataset.
        values: When given, filled with ``{name: array}`` of the values just
            verified (up to :data:`_KEEP_BYTES` in all), so that loading the
            weights reads nothing a second time and loads exactly the bytes
            that were checksummed.

    Raises:
        FormatError: A dataset's bytes changed since netform wrote them.
    """
    import h5py

    verify_attr_checksums(f, where)
    raw = f.attrs.get("netform_checksums")
    if raw is None:
        return
    sums = json.loads(raw)
    read, close = _source_reader(source, keep=values is not None)
    kept = 0
    try:
        for name, expected in sums.items():
            dsid = (datasets or {}).get(name)
            if dsid is None:
                try:
                    dsid = h5py.h5o.open(f.id, name.encode())
                except KeyError:
                    dsid = None
                if not isinstance(dsid, h5py.h5d.DatasetID):
                    raise FormatError(f"{where}: dataset '/{name}' is missing; the file is corrupt.")
            crc, value = _dataset_value(dsid, read)
            if crc != expected:
                raise FormatError(
                    f"{where}: dataset '/{name}' fails its checksum; the file is corrupt "
                    "(a changed bit). Restore it from a good copy."
                )
            if values is not None and kept + value.nbytes <= _KEEP_BYTES:
                values[name] = value
                kept += value.nbytes
    finally:
        close()


#: At most this many bytes of a file are read whole and kept for loading (larger files: read twice).
_KEEP_BYTES = 256 * 2**20


def _no_op() -> None:
    return None


def _source_reader(source: Any, *, keep: bool) -> tuple[Callable[[int, int], Any] | None, Callable[[], None]]:
    """``(read, close)`` on a file's bytes; a path small enough to keep is read whole, once."""
    if not isinstance(source, str):
        return _raw_reader(source), _no_op
    if keep and file_size(source) <= _KEEP_BYTES:
        with open(source, "rb") as fh:
            view = memoryview(fh.read(_KEEP_BYTES + 1))  # a file grown since: short slices, HDF5 reads
        return (lambda offset, size: view[offset : offset + size]), _no_op
    fd = os.open(source, os.O_RDONLY)
    return _raw_reader(fd), lambda: os.close(fd)


def _to_numpy(variable: Any) -> Any:
    """A variable's value as a NumPy array (one eager read under TensorFlow)."""
    value = getattr(variable, "value", None)
    numpy = getattr(value, "numpy", None)
    if callable(numpy):
        out = numpy()
        if hasattr(out, "dtype") and hasattr(out, "shape"):
            return out
    import keras

    return keras.ops.convert_to_numpy(variable)


def _write_values(group: Any, path: str, variables: list[Any], sums: dict[str, int]) -> None:
    """Keras's ``save_subset_weights_to_hdf5_group`` layout, checksumming each array as written.

    The CRC of a plain native array is the CRC of the bytes HDF5 stores for it
    (see :func:`_dataset_crc`), so it is taken from the array in memory; any
    other dataset is read back.
    """
    import numpy as np

    from netform._compat import _keras_saving as ks

    values = [_to_numpy(v) for v in variables]
    names = [str(v.path).encode("utf8") for v in variables]
    ks.save_attributes_to_hdf5_group(group, "weight_names", names)
    for name, value in zip(names, values):
        value = np.asarray(value)
        dset = group.create_dataset(name, data=value)
        key = f"{path}/{name.decode('utf8')}" if path else name.decode("utf8")
        dtype = value.dtype
        if dtype.kind in "biufc?" and dtype.isnative and dset.dtype == dtype:
            sums[key] = zlib.crc32(np.ascontiguousarray(value).data) & 0xFFFFFFFF
        else:
            sums[key] = crc32(dset[()])


def check_legacy_dtypes(model: Any, include_optimizer: bool = True) -> None:
    """Refuse a model whose variables Keras's legacy HDF5 layout cannot give back (``bfloat16``, ``float8``).

    Keras's legacy writer (``save_weights_to_hdf5_group``) stores such values as raw bytes with no mark of
    their type, and its reader (and netform's) then fails with "No cast function available": the save
    would succeed and leave a file no one can load. Keras 3's own layouts (``.keras``, ``.weights.h5``)
    mark them and keep them.

    Raises:
        ValueError: A variable's type is not one of NumPy's numbers (the caller names the file).
    """
    import numpy as np

    variables = list(getattr(model, "weights", []))
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    variables += list(getattr(optimizer, "variables", []) or [])
    odd: dict[str, list[str]] = {}
    for variable in variables:
        dtype = str(getattr(variable, "dtype", "float32"))
        try:
            kind = np.dtype(dtype).kind  # ml_dtypes' bfloat16 and float8 types are NumPy "void" types
        except TypeError:
            kind = "V"
        if kind not in "biufc":
            odd.setdefault(dtype, []).append(str(getattr(variable, "path", getattr(variable, "name", "?"))))
    if odd:
        found = "; ".join(
            f"{dtype}: {', '.join(names[:3])}{' …' if len(names) > 3 else ''}" for dtype, names in odd.items()
        )
        raise ValueError(
            f"save as .keras or .weights.h5, which keep {' and '.join(odd)} variables: Keras's legacy HDF5 layout "
            f"stores them as raw bytes that neither Keras nor netform can read back ({found[:160]})"
        )


def check_legacy_order(model: Any) -> None:
    """Refuse a model whose float8-quantized layer holds its variables in another order than Keras builds it in.

    Keras's legacy HDF5 layout stores each layer's variables in the order of ``layer.weights`` and gives them
    back by position to the layer it builds from the config. A layer quantized to float8 in memory
    (``model.quantize("float8")``) added its scales after its kernel, where a layer built from its config makes
    them in another order: the save succeeded and neither Keras nor netform could load the file ("Shape
    mismatch ... inputs_scale"). The same model loaded from a ``.keras`` file has Keras's order, and is saved.

    Raises:
        ValueError: Such a layer (the caller names the file).
    """
    from netform._compat._keras_engine import sublayers

    for layer in getattr(model, "layers", None) or []:
        inner = [layer, *sublayers(layer)]
        if not any(getattr(getattr(one, "dtype_policy", None), "quantization_mode", None) == "float8" for one in inner):
            continue
        try:
            fresh = type(layer).from_config(layer.get_config())
            fresh.build_from_config(layer.get_build_config())
        except Exception:  # a layer Keras cannot rebuild alone: its order cannot be compared
            continue
        if [w.name for w in fresh.weights] != [w.name for w in layer.weights]:
            raise ValueError(
                f"save as .keras or .weights.h5: the float8-quantized layer '{layer.name}' holds its variables in "
                "another order than Keras builds it from a file (quantize() added its scales after its kernel), "
                "and Keras's legacy HDF5 layout gives them back by position, so the file would not load (a model "
                "loaded from a .keras file of it can be saved as .h5)"
            )


def write_h5(model: Any, fh: BinaryIO, include_optimizer: bool = True) -> None:
    """Write a full-model HDF5 file into ``fh``, a BytesIO or an open file (no atomicity).

    The layout is exactly Keras's ``save_model_to_hdf5`` (``model_config``,
    ``training_config``, ``model_weights``, ``optimizer_weights``), written in
    one pass with netform's attributes and checksums: the training config is
    fixed before it is encoded, the optimizer's arrays are checksummed as
    they are written, and the layer weights (written by Keras's own
    ``save_weights_to_hdf5_group``) from the bytes HDF5 stored. Without
    ``include_optimizer`` (as Keras's ``include_optimizer=False``) there is
    no training config, no compile config and no optimizer state.
    """
    import h5py
    import keras

    from netform._compat import _keras_saving as ks

    check_legacy_dtypes(model, include_optimizer)
    check_legacy_order(model)
    compiled = getattr(model, "compiled", False) and include_optimizer
    compile_config = model.get_compile_config() if compiled else None
    if isinstance(compile_config, dict) and compile_config.get("optimizer") is None and model.optimizer is not None:
        # Keras's own legacy .h5 save (model.save("m.h5")) pops the optimizer out of the model's live compile
        # config: a netform save after it wrote a compile config without one, beside Keras's training_config
        # with it, and netform's loader refused its own file as edited
        compile_config = {**compile_config, "optimizer": model.optimizer}
    if compile_config:
        compile_config = keras.saving.serialize_keras_object(compile_config)
    native = _json(keras.saving.serialize_keras_object(model))
    # Keras's metadata pops "optimizer" out of the model's live compile config;
    # hand it a shallow copy so the model (and later saves) stay intact.
    live = ks.live_compile_config(model)
    kept = getattr(live, "config", None)
    if live is not None and isinstance(kept, dict):
        live.config = dict(kept)
    try:
        with ks.legacy_config_scope():
            meta = ks.legacy_model_metadata(model, include_optimizer)
    finally:
        if live is not None and isinstance(kept, dict):
            live.config = kept
    if isinstance(meta.get("model_config"), dict):
        _keras_class_names(meta["model_config"])
    training = meta.get("training_config")
    if isinstance(training, dict) and "loss" in training:
        training["loss"] = _canonical_losses(training["loss"])
    sums: dict[str, int] = {}
    # No warnings filter here: Keras's only warnings while writing are DeprecationWarnings
    # raised inside Keras, which Python's default filters already hide; changing the
    # filters (warnings.catch_warnings) would be process-wide and not thread-safe.
    # A BytesIO is written by h5py itself; an open file's name is reopened by
    # HDF5 with O_TRUNC (the same file, inode, as ``fh``).
    with h5py.File(fh if isinstance(fh, io.BytesIO) else fh.name, "w") as f:
        for key, value in meta.items():
            if isinstance(value, (dict, list, tuple)):
                f.attrs[key] = json.dumps(value, default=ks.json_default).encode("utf8")
            else:
                f.attrs[key] = value
        weights = f.create_group("model_weights")
        ks.save_weights_to_hdf5_group(weights, model)
        if include_optimizer and getattr(model, "optimizer", None) is not None:
            _write_optimizer_weights(f, model.optimizer, sums)
        f.flush()  # the layer weights' checksums are taken from the bytes HDF5 wrote
        read = image_reader(fh) if isinstance(fh, io.BytesIO) else _raw_reader(fh.fileno())
        sums.update({f"model_weights/{name}": _dataset_crc(dsid, read) for name, dsid in _dataset_ids(weights).items()})
        f.attrs["netform_model_config"] = native
        if compile_config:
            f.attrs["netform_compile_config"] = _json(compile_config)
        f.attrs["netform_metadata"] = json.dumps(metadata(model, "h5"))
        f.attrs["netform_checksums"] = json.dumps(sums)
        _write_attr_checksums(f)


def _write_optimizer_weights(f: Any, optimizer: Any, sums: dict[str, int]) -> None:
    """Keras's ``save_optimizer_weights_to_hdf5_group``, with checksums."""
    import keras

    if isinstance(optimizer, keras.optimizers.Optimizer):
        variables = optimizer.variables
    else:
        variables = getattr(optimizer, "weights")
    if variables:
        _write_values(f.create_group("optimizer_weights"), "optimizer_weights", list(variables), sums)


#: Keras's own warning on saving a model as HDF5 (word for word: code and tests match it).
LEGACY_H5_WARNING = (
    "You are saving your model as an HDF5 file via "
    "`model.save()` or `keras.saving.save_model(model)`. "
    "This file format is considered legacy. "
    "We recommend using instead the native Keras format, "
    "e.g. `model.save('my_model.keras')` or "
    "`keras.saving.save_model(model, 'my_model.keras')`. "
)


def save_h5(model: Any, path: str, include_optimizer: bool = True) -> None:
    """Save ``model`` as a full-model HDF5 file, atomically.

    The HDF5 image is built in memory and written with plain writes: HDF5
    never meets a full disk (where it can crash), so that is a clean error.

    Logs Keras's warning that HDF5 is a legacy format (the same text, through
    absl logging as ``keras.saving.save_model`` does) when ``path`` ends in
    ``.h5`` or ``.hdf5``. ``include_optimizer`` as for :func:`write_h5`.

    Raises:
        SaveError: The model could not be written (the old file is kept).
    """
    if str(path).endswith((".h5", ".hdf5")):
        absl_logging.warning(LEGACY_H5_WARNING)
    with writing(path, "h5"):
        image = io.BytesIO()
        write_h5(model, image, include_optimizer)
        with image.getbuffer() as data:
            write_bytes(path, data)


def model_weights_group(f: Any) -> Any:
    """The group holding layer weights: ``model_weights`` or the root."""
    return f["model_weights"] if "model_weights" in f else f


#: The root attributes holding a model's config: netform's (the one netform loads) and Keras's legacy one.
MODEL_CONFIG_ATTRIBUTES = ("netform_model_config", "model_config")


def attr_json(f: Any, key: str, where: str | None = None) -> Any:
    """A root attribute holding JSON, parsed (None when absent).

    Args:
        f: The open file.
        key: The attribute.
        where: The file's name: when given, an attribute other than a model
            config (checked with the config, naming the place in the model) is
            refused if it holds a string that is not text (a lone surrogate).

    Raises:
        FormatError: (with ``where``) A string in the attribute is not text.
    """
    raw = f.attrs.get(key)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    value = json.loads(raw)
    if where is not None and key not in MODEL_CONFIG_ATTRIBUTES:
        check_text(value, where, f"HDF5 attribute '{key}'")
    return value


def model_config(f: Any) -> tuple[Any, bool]:
    """``(config, native)``: the config netform loads from a full-model HDF5 file, and whether it is netform's.

    netform's ``netform_model_config`` when the file has one, else Keras's
    ``model_config``: the one place every reader (``load``, ``inspect``,
    ``export-spec``, ``render``) takes the model from. A file with both is
    checked with :func:`check_same_model` once its config passed the checks.
    """
    native = attr_json(f, "netform_model_config")
    if native is not None:
        return native, True
    return attr_json(f, "model_config"), False


#: What Keras's legacy ``model_config`` leaves out of an object, or writes otherwise, beside the native config.
_SERIALIZATION_KEYS = frozenset({"module", "registered_name", "build_config", "compile_config", "shared_object_id"})


def _class(name: Any) -> Any:
    """A class name as both configs can spell it: ``netform>Sequential`` and ``Sequential`` are one class, and
    so are ``GroupQueryAttention`` and ``GroupedQueryAttention`` (the class Keras exports under that name)."""
    from netform._keras_names import KERAS_EXPORT_OF_CLASS

    if not isinstance(name, str):
        return name
    name = name.rsplit(">", 1)[-1]
    return KERAS_EXPORT_OF_CLASS.get(name, name)


def _first_difference(native: Any, legacy: Any, at: str = "") -> str | None:
    """Where two configs of one model first describe different models (None: nowhere)."""
    if isinstance(native, dict) and isinstance(legacy, dict):
        keys = [k for k in native if k not in _SERIALIZATION_KEYS]
        keys += [k for k in legacy if k not in _SERIALIZATION_KEYS and k not in native]
        for key in keys:
            here = f"{at}.{key}" if at else str(key)
            if key not in native or key not in legacy:
                return here
            if key == "class_name":
                if _class(native[key]) != _class(legacy[key]):
                    return here
                continue
            found = _first_difference(native[key], legacy[key], here)
            if found is not None:
                return found
        return None
    if isinstance(native, list) and isinstance(legacy, list):
        if len(native) != len(legacy):
            return at or "/"
        for i, (a, b) in enumerate(zip(native, legacy)):
            found = _first_difference(a, b, f"{at}[{i}]")
            if found is not None:
                return found
        return None
    return None if type(native) is type(legacy) and native == legacy else (at or "/")


def check_same_model(f: Any, native: Any, where: str) -> None:
    """Refuse a file whose Keras ``model_config`` describes another model than its ``netform_model_config``.

    netform writes both from one model (Keras's legacy config for plain Keras
    and tf_keras, which read only it); they differ in how objects are named
    (``module``, ``registered_name``, ``build_config``), never in the model.
    netform loads its own; a file whose two copies disagree would show one
    model to Keras's loader and another to netform, so it is refused. Call it
    once ``native`` passed the bound and safety checks.

    Raises:
        FormatError: The two configs differ (a changed bit is named as one
            first), or ``model_config`` is refused by the bound check.
    """
    legacy = attr_json(f, "model_config")
    if legacy is None:
        return
    check_graph_bounds(legacy, where)  # bounds the comparison's walk, as for the config loaded
    at = _first_difference(native, legacy)
    if at is None:
        return
    verify_attr_checksums(f, where)  # a changed bit is named as one
    raise FormatError(
        f"{where}: the HDF5 attributes 'netform_model_config' (the model netform loads) and 'model_config' "
        f"(the model Keras's own loader builds) describe different models (they differ at '{at[:120]}'); "
        "netform writes both from one model, so the file was edited or is corrupt and is refused. Restore it "
        "from a good copy, or save the model again with netform.save."
    )


#: Loss names Keras resolves to another function's name (``keras.losses.get``), for the readers without Keras.
LOSS_ALIASES: Final = {
    alias: full
    for full, aliases in (
        ("binary_crossentropy", ("bce", "BCE")),
        ("kl_divergence", ("kld", "KLD")),
        ("mean_absolute_error", ("mae", "MAE")),
        ("mean_absolute_percentage_error", ("mape", "MAPE")),
        ("mean_squared_error", ("mse", "MSE")),
        ("mean_squared_logarithmic_error", ("msle", "MSLE")),
    )
    for alias in aliases
}


def static_losses(config: Any) -> Any:
    """:func:`_canonical_losses` without Keras, by :data:`LOSS_ALIASES` (a name it does not list is kept)."""
    if isinstance(config, str):
        return LOSS_ALIASES.get(config, config)
    if isinstance(config, dict) and "class_name" not in config:
        return {k: static_losses(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [static_losses(v) for v in config]
    return config


def _plain_functions(value: Any) -> Any:
    """A config with each serialized function (``{"class_name": "function", "config": NAME}``) as its name,
    as Keras's legacy metadata writes it."""
    if isinstance(value, dict):
        if value.get("class_name") == "function" and isinstance(value.get("config"), str):
            return value["config"]
        return {k: _plain_functions(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_functions(v) for v in value]
    return value


def compile_difference(native: Any, training: Any, losses: Any) -> str | None:
    """Where ``netform_compile_config`` and Keras's ``training_config`` first compile differently (None: nowhere).

    netform writes both from one compiled model: the training config holds the optimizer as
    ``optimizer_config`` and the losses by their full names (``losses`` maps a config's loss names so;
    :func:`_canonical_losses` with Keras, :func:`static_losses` without), and neither config names its
    objects' modules. Anything else that differs would compile one model for netform and another for Keras.
    """
    if not (isinstance(native, dict) and isinstance(training, dict)):
        return None if native == training else "/"
    ours, theirs = _plain_functions(dict(native)), _plain_functions(dict(training))
    found = _first_difference(ours.pop("optimizer", None), theirs.pop("optimizer_config", None), "optimizer")
    if found is not None:
        return found
    found = _first_difference(losses(ours.pop("loss", None)), losses(theirs.pop("loss", None)), "loss")
    if found is not None:
        return found
    # what Keras's legacy loader compiles with besides those (compile_args_from_training_config); the settings
    # only netform's config holds (steps_per_execution, jit_compile, ...) are netform's alone
    for key in _KERAS_COMPILE_KEYS:
        found = _first_difference(ours.get(key), theirs.get(key), key)
        if found is not None:
            return found
    return None


#: The ``training_config`` entries Keras's legacy HDF5 loader compiles with, beside the optimizer and the loss.
_KERAS_COMPILE_KEYS = ("metrics", "weighted_metrics", "loss_weights")


def check_same_compile(f: Any, where: str) -> None:
    """Refuse a file whose ``training_config`` compiles otherwise than its ``netform_compile_config``.

    netform compiles a loaded model from its own config, Keras's loader (``keras.saving.load_model``) from
    the training config: a file holding both that differ (a loss edited in one) trains differently under
    each, so it is refused, as :func:`check_same_model` refuses two model configs that differ.

    Raises:
        FormatError: Both configs are present and differ (:func:`compile_difference`).
    """
    at = stored_compile_difference(f, where, _canonical_losses)
    if at is not None:
        refuse_compile_difference(f, where, at)


def stored_compile_difference(f: Any, where: str, losses: Any) -> str | None:
    """:func:`compile_difference` of the file's two compile configs (None where either is missing)."""
    native, training = attr_json(f, "netform_compile_config", where), attr_json(f, "training_config", where)
    if native is None or training is None:
        return None
    return compile_difference(native, training, losses)


def refuse_compile_difference(f: Any, where: str, at: str) -> None:
    """Raise the refusal of :func:`check_same_compile` for two compile configs that differ at ``at``."""
    verify_attr_checksums(f, where)  # a changed bit is named as one
    raise FormatError(
        f"{where}: the HDF5 attributes 'netform_compile_config' (what netform compiles the model with) and "
        f"'training_config' (what Keras's own loader compiles it with) describe different compile settings "
        f"(they differ at '{at[:120]}'); netform writes both from one model, so the file was edited or is "
        "corrupt and is refused. Restore it from a good copy, or save the model again with netform.save."
    )


def load_h5(
    path: str | io.BytesIO,
    *,
    where: str | None = None,
    compile: bool = True,
    safe_mode: bool = True,
    custom_objects: Mapping[str, Any] | None = None,
) -> Any:
    """Load a full model from HDF5, with its compile config and optimizer state.

    The file is walked once (links, bombs, datasets) and its bytes read once:
    the values that pass their checksums are the values loaded.

    Args:
        path: The file, or its bytes in a BytesIO.
        where: Name used in messages (defaults to ``path``).

    Raises:
        FormatError: The file is corrupt or holds no model config.
        UnsafeFileError: The file holds code, links or a bomb.
    """
    import keras

    from netform._compat import _keras_saving as ks
    from netform._compat._safe_mode import safe_mode_scope

    register_netform_classes()
    custom = dict(custom_objects or {})
    source = path
    path = where if where is not None else os.fspath(path)  # type: ignore[arg-type]
    with reading(path, "h5"), open_h5(source) as opened:
        f = opened.file
        datasets: dict[str, Any] = {}
        check_h5(f, path, file_size=opened.size, datasets=datasets, raw=opened.raw)
        config, is_native = model_config(f)
        if config is None:
            raise FormatError(f"{path}: HDF5 file has no model config; load it with load_weights().")
        try:
            check_graph_bounds(config, path)  # first: bounds the safety walk
        except FormatError:
            verify_attr_checksums(f, path)  # a changed bit is named as one, not as a corrupt graph
            raise
        check_config(config, where=path, safe_mode=safe_mode, custom_objects=custom)
        # Keras allocates every variable the config declares before it reads a weight.
        check_declared_weights(config, ((name, d.shape) for name, d in datasets.items()), path, loading=True)
        values: dict[str, Any] = {}
        verify_checksums(f, path, datasets=datasets, source=opened.raw, values=values)
        if is_native:
            check_same_model(f, config, path)
        check_same_compile(f, path)
        from ._static_reader import h5_meta

        h5_meta(f, path, config)  # metadata naming another model than the config: refused, as inspect does
        with safe_mode_scope(safe_mode), keras.saving.custom_object_scope(custom):
            if is_native:
                native = {k: v for k, v in config.items() if k != "compile_config"}
                model = keras.saving.deserialize_keras_object(native, custom, safe_mode=safe_mode)
            else:
                with ks.legacy_config_scope():
                    model = ks.legacy_model_from_config(config, custom)  # Keras's legacy config
            with keras_refusals(path):
                _load_model_weights(f, model, values)
        if compile:
            with keras_refusals(path):
                _compile(model, f, path, custom, values, safe_mode=safe_mode)
    return model


def _saved_values(group: Any, path: str, values: dict[str, Any]) -> list[Any]:
    """The arrays named by ``group``'s ``weight_names``: verified ones first, else read."""
    import numpy as np

    from netform._compat import _keras_saving as ks

    out = []
    for name in ks.load_attributes_from_hdf5_group(group, "weight_names"):
        value = values.pop(f"{path}/{name}" if path else name, None)
        out.append(value if value is not None else np.asarray(ks.safe_get_h5_dataset(group, name)))
    return out


def _load_model_weights(f: Any, model: Any, values: dict[str, Any]) -> None:
    """Keras's ``load_weights_from_hdf5_group`` (topological), from verified values."""
    from netform._compat import _keras_saving as ks

    group = model_weights_group(f)
    base = "model_weights" if group is not f else ""
    filtered_layers = [layer for layer in model.layers if ks.legacy_weights(layer)]
    saved = []
    for name in ks.load_attributes_from_hdf5_group(group, "layer_names"):
        layer_group = ks.safe_get_h5_group(group, name)
        if ks.load_attributes_from_hdf5_group(layer_group, "weight_names"):
            saved.append((name, layer_group))
    if len(saved) != len(filtered_layers):
        raise ValueError(
            "Layer count mismatch when loading weights from file. "
            f"Model expected {len(filtered_layers)} layers, found {len(saved)} saved layers."
        )
    for k, ((name, layer_group), layer) in enumerate(zip(saved, filtered_layers)):
        symbolic = ks.legacy_weights(layer)
        weight_values = _saved_values(layer_group, f"{base}/{name}" if base else name, values)
        if len(weight_values) != len(symbolic):
            raise ValueError(
                f"Weight count mismatch for layer #{k} (named {layer.name} in the current model, "
                f"{name} in the save file). Layer expects {len(symbolic)} weight(s). Received "
                f"{len(weight_values)} saved weight(s)"
            )
        ks.set_legacy_weights(layer, symbolic, weight_values, name=f"layer #{k} (named {layer.name})")
    if "top_level_model_weights" in group:
        weights = model.weights
        symbolic = [v for v in ks.own_variables(model) if v in weights]
        top = f"{base}/top_level_model_weights" if base else "top_level_model_weights"
        weight_values = _saved_values(ks.safe_get_h5_group(group, "top_level_model_weights"), top, values)
        if len(weight_values) != len(symbolic):
            raise ValueError(
                "Weight count mismatch for top-level weights when loading weights from file. "
                f"Model expects {len(symbolic)} top-level weight(s). "
                f"Received {len(weight_values)} saved top-level weight(s)"
            )
        ks.set_legacy_weights(model, symbolic, weight_values, name="top-level model")


def _compile(
    model: Any,
    f: Any,
    path: str,
    custom: dict[str, Any],
    values: dict[str, Any] | None = None,
    *,
    safe_mode: bool = True,
) -> None:
    import keras

    from netform._compat import _keras_saving as ks

    from ..spec._patterns import check_patterns

    native = attr_json(f, "netform_compile_config", path)
    stored = sum(math.prod(v.shape) for v in model.weights)  # (compiling allocates the metrics: bounded by it)
    # an optimizer's patterns (MultiOptimizer, Muon) meet the built model's variable paths, not the config's names
    variables = (len(model.weights), max((len(str(v.path)) for v in model.weights), default=0))
    check_patterns(native if native is not None else attr_json(f, "training_config", path), path, met=variables)
    if native is not None:
        check_config(native, where=path, safe_mode=safe_mode, custom_objects=custom)
        check_metric_sizes(native, stored, path, "netform_compile_config")
        with keras.saving.custom_object_scope(custom):
            model.compile(**keras.saving.deserialize_keras_object(native))
    else:
        training = attr_json(f, "training_config", path)
        if training is None:
            return
        check_config(training, where=path, safe_mode=safe_mode, custom_objects=custom)
        check_metric_sizes(training, stored, path, "training_config")
        if "loss" in training:
            training["loss"] = _canonical_losses(training["loss"])
        model.compile(**ks.compile_args_from_training_config(training, custom))
    optimizer = model.optimizer
    if "optimizer_weights" in f:
        saved = _saved_values(
            ks.safe_get_h5_group(f, "optimizer_weights"), "optimizer_weights", values if values is not None else {}
        )
    else:
        return
    if not optimizer.built:
        # Build now, as Keras's compile_from_config does for a .keras file: the
        # state is in the optimizer's own variables from here on, so any later
        # save (netform's, Keras's model.save, a checkpoint) keeps it.
        optimizer.build(model.trainable_variables)
    _restore_optimizer(optimizer, saved, path)


def _restore_optimizer(optimizer: Any, saved: list[Any], path: str) -> None:
    import tensorflow as tf

    variables = optimizer.variables
    shapes = [tuple(v.shape) for v in variables]
    if len(saved) != len(shapes) or any(tuple(a.shape) != s for a, s in zip(saved, shapes)):
        warnings.warn(
            f"{path}: the saved optimizer state ({len(saved)} variables) does not fit "
            f"{type(optimizer).__name__} ({len(shapes)} variables); training resumes with a fresh "
            "optimizer state.",
            stacklevel=4,
        )
        return
    with tf.init_scope():  # eager, whatever graph the caller is tracing
        for var, value in zip(variables, saved):
            var.assign(value)


def read_h5_info(path: str) -> dict[str, Any]:
    """Configs and metadata of a full-model HDF5 file, without building it."""
    with reading(path, "h5"), open_h5(path) as opened:
        f = opened.file
        check_h5(f, path, file_size=opened.size, raw=opened.raw)
        kv = f.attrs.get("keras_version")
        info = {
            "config": model_config(f)[0],  # the config load builds: netform's whenever the file has one
            "training_config": attr_json(f, "training_config", path),
            "netform": attr_json(f, "netform_metadata", path) or {},
            "keras_version": kv.decode() if isinstance(kv, bytes) else kv,
        }
        return info
