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
import math
import os
import re
import time
import warnings
from typing import Any, Iterator

from netform.errors import FormatError

from ._atomic import write_bytes
from ._h5 import model_weights_group, verify_checksums
from ._h5_source import H5Source, keras_refusal, open_h5
from ._meta import metadata, reading, writing
from ._safety import check_h5

__all__ = [
    "MAX_INDEX_ENTRIES",
    "MAX_INDEX_REFERENCES",
    "MAX_INDEX_SHARDS",
    "check_sharded_index",
    "is_sharded_index",
    "read_sharded_index_bounded",
    "load_legacy_weights",
    "load_weights_h5",
    "mismatch_error",
    "save_weights_h5",
]


@contextlib.contextmanager
def _open_verified(source: Any, where: str) -> Iterator[tuple[H5Source, dict[str, tuple[int, ...]]]]:
    """Open an HDF5 weights file once, refuse what is unsafe and check its checksums on the bytes read.

    Yields:
        The open file, and ``{dataset path: shape}`` of the weights it holds
        (optimizer state left out), read during the safety walk.
    """
    with open_h5(source) as opened:
        datasets: dict[str, Any] = {}
        check_h5(opened.file, where, file_size=opened.size, datasets=datasets, raw=opened.raw)
        verify_checksums(opened.file, where, datasets=datasets, source=opened.raw)
        # The safety walk opened every dataset; one that recorded none (a file without weights) is walked here.
        shapes = (
            {name: tuple(dsid.shape or ()) for name, dsid in datasets.items()}
            if datasets
            else _file_shapes(opened.file)
        )
        yield opened, _weights_only(shapes)


def _file_shapes(f: Any) -> dict[str, tuple[int, ...]]:
    """``{dataset path: shape}`` of every dataset in an open HDF5 file."""
    import h5py

    out: dict[str, tuple[int, ...]] = {}
    f.visititems(lambda name, obj: out.__setitem__(name, tuple(obj.shape)) if isinstance(obj, h5py.Dataset) else None)
    return out


def _weights_only(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The model's variables among ``{path: shape}``: the optimizer's state is loaded, never compared."""
    return {name: shape for name, shape in shapes.items() if not name.startswith("optimizer/")}


def save_weights_h5(model: Any, path: str) -> None:
    """Save a model's weights as a Keras 3 ``.weights.h5`` file, atomically.

    The HDF5 image is built in memory and written with plain writes, so a
    full disk is a clean :class:`SaveError` (HDF5 never sees the I/O error).
    """
    import h5py

    from netform._compat._h5_image import weights_h5_image

    from ._h5 import image_reader, _write_checksums

    with writing(path, "weights_h5"):
        image = weights_h5_image(model)
        with h5py.File(image, "a") as f:
            f.attrs["netform_format"] = "weights_h5"
            f.attrs["netform_metadata"] = json.dumps(metadata(model, "weights_h5"))
            _write_checksums(f, image_reader(image))
        with image.getbuffer() as data:
            write_bytes(path, data)


def mismatch_error(where: str, model: Any, problems: list[str]) -> FormatError:
    """A FormatError listing every difference between a file and a model."""
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    return FormatError(
        f"{where}: the weights do not fit model '{model.name}' ({len(problems)} difference(s)); the "
        "saved weights and the model's must match:\n  "
        + "\n  ".join(shown)
        + "\nBuild the same architecture, or pass skip_mismatch=True to load what fits."
    )


def _diff(saved: dict[str, tuple[int, ...]], wanted: dict[str, tuple[int, ...]]) -> list[str]:
    problems = []
    # An object whose variables are all missing from the file is one line, in Keras's words.
    owners: dict[str, list[str]] = {}
    for name in wanted:
        owners.setdefault(name.rpartition("/vars/")[0] or name, []).append(name)
    saved_owners = {name.rpartition("/vars/")[0] for name in saved}
    absent = {owner for owner, names in owners.items() if "/vars/" in names[0] and owner not in saved_owners}
    for owner in sorted(absent):
        problems.append(
            f"{owner}: expected {len(owners[owner])} variables, but received 0 variables (the file has none for it)"
        )
    for name, shape in wanted.items():
        if name not in saved:
            if (name.rpartition("/vars/")[0] or name) not in absent:
                problems.append(f"{name}: model has shape {shape}, file has no such variable")
        elif saved[name] != shape:
            problems.append(f"{name}: model has shape {shape}, file has {saved[name]}")
    problems += [
        f"{name}: file has shape {shape}, model has no such variable"
        for name, shape in saved.items()
        if name not in wanted
    ]
    return problems


def _under(names: Any, prefix: str) -> bool:
    return any(name == prefix or name.startswith(prefix + "/") for name in names)


def _alias_renames(model: Any, saved: dict[str, tuple[int, ...]]) -> dict[str, str]:
    """``{model path: file path}`` for objects the file holds only under another of the model's names for them.

    As in Keras, whose load tries each name a model reaches an object under
    (``self.a_dense`` and a property ``dense`` returning it).
    """
    from netform._compat._saveable_aliases import alias_paths

    return {
        first: other
        for other, first in alias_paths(model).items()
        if first and _under(saved, other) and not _under(saved, first)
    }


def _renamed(saved: dict[str, tuple[int, ...]], renames: dict[str, str]) -> dict[str, tuple[int, ...]]:
    """``saved`` with each file path under a renamed object written as the model's path."""
    out = {}
    for name, shape in saved.items():
        for first, other in sorted(renames.items(), key=lambda item: -len(item[1])):
            if name.startswith(other + "/"):
                name = first + name[len(other) :]
                break
        out[name] = shape
    return out


def _model_shapes(model: Any, skip: set[int]) -> dict[str, tuple[int, ...]]:
    """``{path: shape}`` of what Keras would write for ``model`` (leaving out the ids in ``skip``).

    Keras's own walk names the paths; the shapes are read from the variables, nothing is written. The
    optimizer is not walked: its state is loaded, never compared (half the walk for a small model).
    """
    from netform._compat._weights_store import weight_shapes

    optimizer = getattr(model, "optimizer", None)
    return _weights_only(weight_shapes(model, skip | ({id(optimizer)} if optimizer is not None else set())))


def load_weights_h5(
    model: Any, source: str | io.BytesIO, where: str, *, skip_mismatch: bool = False, objects_to_skip: Any = None
) -> list[str]:
    """Load Keras 3 weights (a ``.weights.h5`` file or a ``.keras`` archive's weights).

    Args:
        objects_to_skip: Layers (or other saveables) left as they are, as in
            Keras's ``load_weights(..., objects_to_skip=...)``.

    Returns:
        The differences skipped (empty when everything fit).
    """
    import h5py

    from netform._compat import _keras_saving as ks
    from netform._compat._saveable_aliases import AliasedH5Store
    from netform._compat._weights_store import OpenH5Store, walk_cache

    skipped = {id(obj) for obj in (objects_to_skip or ())}
    with reading(where, "weights_h5"), _open_verified(source, where) as (opened, saved), walk_cache():
        wanted = _model_shapes(model, skipped)
        if skipped:  # what only the skipped objects hold is compared with nothing
            left_out = set(_model_shapes(model, set())) - set(wanted)
            saved = {name: shape for name, shape in saved.items() if name not in left_out}
        problems = _diff(saved, wanted)
        renames: dict[str, str] = {}
        if problems:  # the file may hold an object under another of the model's names for it, as Keras loads
            renames = _alias_renames(model, saved)
            if renames:
                saved = _renamed(saved, renames)
                problems = _diff(saved, wanted)
        if problems and not skip_mismatch:
            raise mismatch_error(where, model, problems)
        # Keras reads the bytes just checked: held in memory, through HDF5's own in-memory driver (faster
        # than reading through Python's BytesIO); a large file through the same open handle.
        memory = contextlib.ExitStack()
        keras_file = opened.file
        if opened.image is not None and hasattr(h5py.File, "in_memory"):  # h5py >= 3.11
            keras_file = memory.enter_context(h5py.File.in_memory(opened.image.getbuffer()))
        store = AliasedH5Store(keras_file, renames) if renames else OpenH5Store(keras_file)
        optimizer = getattr(model, "optimizer", None)
        # An unbuilt optimizer has no slots to fill: load the model's weights only.
        skip = set(skipped)
        if optimizer is not None and not getattr(optimizer, "built", False):
            skip.add(id(optimizer))
        with memory:
            _, errors = ks.load_state(model, store, skip_mismatch=skip_mismatch, skip=skip)
        refusal = keras_refusal(where, [str(e[1]) for e in errors.values()])
        if refusal is not None:
            raise refusal
        if errors and not skip_mismatch:
            raise mismatch_error(where, model, [str(e[1]) for e in errors.values()])
    if problems:
        warnings.warn(
            f"{where}: skipped {len(problems)} variable(s) that do not fit: " + "; ".join(problems[:10]),
            UserWarning,
            stacklevel=3,
        )
    return problems


def _legacy_layers(group: Any) -> dict[str, list[tuple[str, Any]]]:
    from netform._compat import _keras_saving as ks

    out: dict[str, list[tuple[str, Any]]] = {}
    for name in ks.load_attributes_from_hdf5_group(group, "layer_names"):
        g = group[name]
        weight_names = ks.load_attributes_from_hdf5_group(g, "weight_names")
        out[name] = [(w, g[w]) for w in weight_names]
    return out


def load_legacy_weights(
    model: Any, path: str, where: str, *, by_name: bool = False, skip_mismatch: bool = False
) -> list[str]:
    """Load weights from a legacy HDF5 file (weights only, or a full-model ``.h5``).

    Args:
        by_name: Match layers by name instead of by order.
        skip_mismatch: Skip layers whose weights do not fit, with a warning.

    Returns:
        The layers skipped.
    """
    from netform._compat import _keras_saving as ks

    with reading(where, "HDF5 weights"), _open_verified(path, where) as (opened, _):
        f = opened.file
        group = model_weights_group(f)
        saved = _legacy_layers(group)
        layers = [layer for layer in model.layers if ks.legacy_weights(layer)]
        if by_name:
            pairs = [(layer, saved[layer.name]) for layer in layers if layer.name in saved]
            problems = []
        else:
            files = [(n, ws) for n, ws in saved.items() if ws]
            problems = (
                []
                if len(files) == len(layers)
                else [
                    f"file has {len(files)} layers with weights {[n for n, _ in files]}, model has "
                    f"{len(layers)} {[layer.name for layer in layers]}"
                ]
            )
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
        warnings.warn(f"{where}: skipped what does not fit: " + "; ".join(problems[:10]), UserWarning, stacklevel=3)
    return problems


def save_legacy_weights(model: Any, path: str) -> None:
    """Save weights in the legacy (Keras 2 ``save_weights('x.h5')``) layout, atomically.

    Built in memory and written with plain writes, like :func:`save_weights_h5`.
    """
    import h5py

    from netform._compat import _keras_saving as ks

    from ._h5 import _write_checksums, check_legacy_dtypes

    with writing(path, "legacy_h5_weights"):
        check_legacy_dtypes(model, include_optimizer=False)
        image = io.BytesIO()
        with h5py.File(image, "w") as f:
            ks.save_weights_to_hdf5_group(f, model)
            f.attrs["netform_metadata"] = json.dumps(metadata(model, "legacy_h5_weights"))
            _write_checksums(f)
        with image.getbuffer() as data:
            write_bytes(path, data)


#: The index Keras writes beside sharded weights names at most this many bytes of JSON.
_MAX_INDEX_BYTES = 16 * 2**20
#: The most variable groups (``weight_map`` entries) an index may map: one per layer and other object with
#: variables, so five times the 20,000 layers a model config may list. Checked before anything walks the map.
MAX_INDEX_ENTRIES = 100_000
#: The most shard files an index may name (Keras writes one per ``max_shard_size``: a terabyte in 1 GB shards
#: is a thousand).
MAX_INDEX_SHARDS = 10_000
#: The most shard names an index may list in all (a group whose variables span shards lists each).
MAX_INDEX_REFERENCES = 2 * MAX_INDEX_ENTRIES


def check_sharded_index(path: str, index: dict[str, Any]) -> None:
    """Refuse an index whose ``weight_map`` is larger than any model's, before the shards are walked.

    Every reader of the index (netform's shard checks, Keras's loader, which scans the whole map once per
    layer) walks each entry, so a hostile index of millions of entries would cost seconds to minutes.

    Raises:
        FormatError: More than :data:`MAX_INDEX_ENTRIES` entries, :data:`MAX_INDEX_SHARDS` distinct
            shard names or :data:`MAX_INDEX_REFERENCES` shard names in all.
    """
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        return
    refused = "so the index is refused as corrupt or hostile (Keras writes one entry per layer with variables)"
    if len(weight_map) > MAX_INDEX_ENTRIES:
        raise FormatError(
            f"{path}: the sharded weights index maps {len(weight_map):,} variable groups to shards; netform "
            f"reads at most {MAX_INDEX_ENTRIES:,} (five for each of the 20,000 layers a model may have), {refused}."
        )
    names: set[str] = set()
    references = 0
    for found in weight_map.values():
        listed = found if isinstance(found, list) else [found]
        references += len(listed)
        if references > MAX_INDEX_REFERENCES:
            raise FormatError(
                f"{path}: the sharded weights index names shards {_total_references(weight_map):,} times in all; "
                f"netform reads at most {MAX_INDEX_REFERENCES:,} shard names, {refused}."
            )
        names.update(name for name in listed if isinstance(name, str))
    if len(names) > MAX_INDEX_SHARDS:
        raise FormatError(
            f"{path}: the sharded weights index names {len(names):,} shard files; netform reads at most "
            f"{MAX_INDEX_SHARDS:,} (a terabyte of weights in Keras's 1 GB shards is a thousand), {refused}."
        )


def _total_references(weight_map: dict[str, Any]) -> int:
    return sum(len(found) if isinstance(found, list) else 1 for found in weight_map.values())


def _index_json(raw: bytes, path: str) -> Any:
    """The JSON value of a file that may be an index (None when it is no JSON).

    Raises:
        FormatError: It holds more lists and objects than netform parses, or is nested deeper than
            Python's parser follows (either would be refused or crash any reader of it).
    """
    from ._config_bounds import check_json_containers

    check_json_containers(raw, path, "the sharded weights index")
    try:
        return json.loads(raw)
    except RecursionError as err:
        raise FormatError(
            f"{path}: the JSON is nested too deeply to be a sharded weights index (or any file netform "
            "reads); the file is corrupt or hostile."
        ) from err
    except ValueError:  # UnicodeDecodeError included
        return None


#: The staging folder of a sharded save, beside its index: ``.nf-shards-<pid>-<host>-<token>``, so a later save
#: of the same index tells a killed save's folder (its process has ended) from a running one's, and finds the
#: per-save shard names (:func:`_staged_name`) it left. An earlier netform's had 8 random characters instead.
_STAGING = re.compile(r"\.nf-shards-(\d{1,10})-([0-9a-f]{8})-([0-9a-f]{16})")
_STAGING_BEFORE = re.compile(r"\.nf-shards-[a-z0-9_]{8}")
#: The prefix of the index naming a save's own shard names, in the staging folder until it is moved into place.
_INTERIM = ".interim-"
#: The prefix of the copy of the index a save replaces, in its staging folder (for the save after a killed one).
_PREVIOUS = ".previous-"
#: The first file of a staging folder, holding the folder's token: a shard a kill cut short there is the save's
#: (Keras writes the index last, so a one-shard save killed as it writes has nothing else to show it).
_MARK = ".staging-"


def _host_tag() -> str:
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _shard_stem(base: str) -> str:
    """The prefix of Keras's shard names for an index named ``base`` (as ``ShardedH5IOStore`` derives it)."""
    import pathlib

    return pathlib.Path(base).stem.replace(".weights", "")


def _staged_name(name: str, token: str) -> str:
    """A shard's name for one save: ``m_00000.<16 hex>.weights.h5``.

    No Keras save of any index writes such a name (Keras's end in ``_<digits>.weights.h5``), and no
    netform save but this one uses the token.
    """
    return f"{name[: -len('.weights.h5')]}.{token}.weights.h5"


def _keras_name(staged: str) -> str:
    """Keras's name of the shard a per-save name (:func:`_staged_name`) stands for."""
    return f"{staged[: -len('.0123456789abcdef.weights.h5')]}.weights.h5"


def _shard_patterns(stem: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Keras's shard names for ``stem`` and netform's per-save ones (:func:`_staged_name`)."""
    return (
        re.compile(rf"{re.escape(stem)}_\d{{5,}}\.weights\.h5"),
        re.compile(rf"{re.escape(stem)}_\d{{5,}}\.[0-9a-f]{{16}}\.weights\.h5"),
    )


def _named_shards(index: dict[str, Any] | None) -> set[str]:
    weight_map = (index or {}).get("weight_map")
    names: set[str] = set()
    for found in (weight_map if isinstance(weight_map, dict) else {}).values():
        names.update(name for name in (found if isinstance(found, list) else [found]) if isinstance(name, str))
    return names


_PER_SAVE = re.compile(r".+_\d{5,}\.[0-9a-f]{16}\.weights\.h5")
#: The most HDF5 objects looked at in a file at a shard's name before it is taken as not a shard of ours.
_MAX_SHARD_OBJECTS = 100_000


def _held_vars(full: str) -> set[str] | None:
    """The variable groups (``layers/dense/vars``...) holding values in an HDF5 file, or None when it is not a regular
    HDF5 file netform can read (or holds more objects than a shard of a model would)."""
    import stat

    try:
        if not stat.S_ISREG(os.lstat(full).st_mode):
            return None
        import h5py

        held: set[str] = set()
        seen = [0]

        def visit(name: str, obj: Any) -> bool | None:
            seen[0] += 1
            if seen[0] > _MAX_SHARD_OBJECTS:
                return True
            if (
                isinstance(obj, h5py.Group) and name.rpartition("/")[2] == "vars" and len(obj)
            ):  # Keras leaves empty ones
                held.add(name)
            return None

        with h5py.File(full, "r") as fh:  # the default locking, as every other open of it in this process
            if fh.visititems(visit):
                return None
        return held
    except Exception:  # not HDF5, unreadable, damaged: not a shard netform wrote
        return None


def _is_earlier_shard(full: str, name: str, indexes: list[dict[str, Any] | None]) -> bool:
    """Whether the file ``full``, at the shard name ``name``, is the shard of a save one of ``indexes`` describes.

    It is when an index names it (by Keras's name, or by the per-save name of a save killed before it
    renamed its shards) and it is a regular HDF5 file whose variable groups are all ones that index maps to
    that shard. A user's file put at the name since (notes, another model's weights, another shard) is not.
    The indexes are the one in place and those a killed save found (its staging folder keeps a copy).
    """
    from netform._files import user_attributes

    if user_attributes(full):  # a user's notes on it (extended attributes): theirs, whatever it holds
        return False
    return any(_is_shard_of(full, name, index) for index in indexes)


def _is_shard_of(full: str, name: str, index: dict[str, Any] | None) -> bool:
    weight_map = (index or {}).get("weight_map")
    if not isinstance(weight_map, dict):
        return False
    keys: set[str] = set()
    for key, found in weight_map.items():
        names = [n for n in (found if isinstance(found, list) else [found]) if isinstance(n, str)]
        if isinstance(key, str) and any(
            n == name or (_PER_SAVE.fullmatch(n) and _keras_name(n) == name) for n in names
        ):
            keys.add(key.strip("/"))
    named = _named_shards(index)
    # Keras writes the first shard whatever the model holds, and an index lists only the shards holding a
    # variable: a model without weights leaves a first shard of empty groups no index names
    first = not weight_map and name.endswith("_00000.weights.h5")
    if not first and name not in named and not any(_PER_SAVE.fullmatch(n) and _keras_name(n) == name for n in named):
        return False
    held = _held_vars(full)
    if held is None or not held <= keys:
        return False
    from ._target import _not_keras_hdf5

    # and nothing else: data a user added to the shard since (a dataset, an attribute) keeps it, as a save
    # replacing it refuses to (an old shard holding a user's dataset was deleted when a save needed fewer)
    return _not_keras_hdf5(full) is None


def _check_adds_up(parent: str, path: str, index: dict[str, Any] | None) -> None:
    """Refuse a save over shards holding more values than their index records (Keras's ``total_size``).

    A dataset a user added where Keras puts variables (``layers/dense_3/vars/2`` beside a Dense's two)
    looks like a variable in the shard alone; only the total tells it. Counted as Keras counts it: the
    values' bits over 8 (a bool is one bit). A shard the index does not describe (holding what Keras never
    writes, or variables the index puts elsewhere) is left out: it is someone's already, and stays; an index without a total, or a shard it names that is not there, is
    left to the checks of each shard.

    Raises:
        SaveError: The shards hold more than the index records.
    """
    import h5py

    from netform.errors import SaveError

    metadata = (index or {}).get("metadata")
    total = metadata.get("total_size") if isinstance(metadata, dict) else None
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total):
        return
    bits = 0
    for name in sorted(_named_shards(index)):
        full = os.path.join(parent, name)
        if not _is_regular(full) or _held_vars(full) is None:
            return
        if not _is_shard_of(full, name, index):
            continue
        sizes: list[int] = []
        try:
            with h5py.File(full, "r") as fh:
                fh.visititems(
                    lambda _n, obj: (
                        sizes.append(obj.size * (1 if obj.dtype.kind == "b" else obj.dtype.itemsize * 8))
                        if isinstance(obj, h5py.Dataset)
                        else None
                    )
                )
        except Exception:  # unreadable: the check of each shard keeps it
            return
        bits += sum(sizes)
    if bits > round(total * 8):
        raise SaveError(
            f"{path}: the shards it names hold {_bytes_text(bits / 8)} bytes of values where it records "
            f"{_bytes_text(total)}: "
            "data was added to them since they were written, and netform does not replace or remove them. "
            "Move them with the index, or save under another name; nothing was written."
        )


def _bytes_text(count: float) -> str:
    """A byte count as Keras's index records it: whole, or to the bit (Keras counts a bool as one bit)."""
    return f"{count:,.0f}" if count == int(count) else f"{count:,.3f}"


def _remove_shard(parent: str, name: str) -> None:
    """Delete a shard file of an earlier save: a regular file only (a link or anything else is left)."""
    import stat

    full = os.path.join(parent, name)
    try:
        if stat.S_ISREG(os.lstat(full).st_mode):
            os.unlink(full)
    except OSError:
        pass


def _has_ended(pid: int) -> bool:
    """Whether process ``pid`` of this machine has ended (anything unsure counts as running)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _clean_killed_saves(parent: str, base: str, index: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Remove what killed sharded saves of ``base`` left beside it; return the indexes those saves replaced.

    A killed save may have given some of Keras's shard names its new shards and not yet removed the earlier
    save's others: the earlier index, which its staging folder keeps, says which files those are.

    A staging folder (not a link) is removed when its name says a process of this machine that has ended
    wrote it, and it holds nothing but files named as this index and its shards, with the per-save shards its token names
    that ``index`` (the current one) does not name. A folder of an earlier netform (no process in its name)
    is removed when it holds this index and nothing but its shards.
    """
    import stat

    from netform._files import OwnMount

    stem = _shard_stem(base)
    keras_names, staged_names = _shard_patterns(stem)
    named = _named_shards(index)
    from netform.errors import SaveError

    replaced: list[dict[str, Any]] = []
    try:
        entries = os.listdir(parent)
    except OSError:
        return replaced
    host = _host_tag()
    for entry in entries:
        ours = _STAGING.fullmatch(entry)
        if ours is None and not _STAGING_BEFORE.fullmatch(entry):
            continue
        if ours is not None and (ours.group(2) != host or not _has_ended(int(ours.group(1)))):
            continue
        folder = os.path.join(parent, entry)
        try:
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                continue
            inside = os.listdir(folder)
        except OSError:
            continue
        if any(
            n not in (base, _INTERIM + base, _PREVIOUS + base, _MARK + base) and not keras_names.fullmatch(n)
            for n in inside
        ):
            continue  # another index's, or not netform's
        if not all(_is_regular(os.path.join(folder, n)) for n in inside):
            continue
        if ours is None and base not in inside:
            continue
        token = ours.group(3) if ours is not None else None
        written = {
            n: _marked(os.path.join(folder, n), token)
            if n == _MARK + base
            else _as_written(os.path.join(folder, n), index=not keras_names.fullmatch(n))
            for n in inside
        }
        cut = [
            n
            for n, ok in written.items()
            if not ok and keras_names.fullmatch(n) and _cut_short(os.path.join(folder, n))
        ]
        indexed = any(
            ok and not keras_names.fullmatch(n) and os.path.getsize(os.path.join(folder, n))
            for n, ok in written.items()
        )
        if not all(ok or (n in cut and indexed) for n, ok in written.items()):
            continue  # a user's text under a save's name: the folder stays as it is
        if token is not None:
            if _PREVIOUS + base in inside:
                with contextlib.suppress(FormatError, SaveError, OSError):
                    replaced.append(_sharded_index(os.path.join(folder, _PREVIOUS + base)))
            # Keras's first shard name, linked to the killed save's first shard when nothing was there
            # (Keras's reader opens it first), goes with it unless the index names it
            first = f"{stem}_00000.weights.h5"
            twin = os.path.join(parent, _staged_name(first, token))
            if first not in named and _is_regular(twin) and _as_written(twin, index=False):
                with contextlib.suppress(OSError):
                    if os.path.samefile(twin, os.path.join(parent, first)):
                        _remove_shard(parent, first)
            for name in entries:
                if (
                    staged_names.fullmatch(name)
                    and name.endswith(f".{token}.weights.h5")
                    and name not in named
                    and _as_written(os.path.join(parent, name), index=False)
                ):
                    _remove_shard(parent, name)
        with contextlib.suppress(OSError), OwnMount(folder) as own:  # checked folder handles: never on a mount
            for name in inside:
                own.unlink(name, missing_ok=True)
            own.remove_root()
    return replaced


def _marked(path: str, token: str | None) -> bool:
    """Whether ``path`` is a staging folder's mark: the folder's token and a line break, or the start of them
    (a save killed as it wrote its mark leaves it empty or cut)."""
    if token is None:
        return False
    try:
        with open(path, "rb") as fh:
            return f"{token}\n".encode().startswith(fh.read(64))
    except OSError:
        return False


def _as_written(path: str, *, index: bool) -> bool:
    """Whether ``path`` holds what a sharded save writes under its name: a shard an HDF5 file (or nothing yet,
    a save killed as it made it), an index a sharded index. A user's notes under such a name (beside the index,
    with a killed save's token, or in its staging folder) were deleted with the leftovers; now they stay."""
    from ._detect import HDF5_SIGNATURE

    try:
        if os.lstat(path).st_size == 0:
            return True
        if index:
            _sharded_index(path)  # raises unless it holds only what a sharded save writes
            return True
        with open(path, "rb") as fh:
            if fh.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
                return False
        # a weights shard: Keras's object groups at its top and variables in them (a user's HDF5 data is not one)
        import h5py

        with h5py.File(path, "r") as fh:
            top = set(fh.keys())
        if not (top and top <= _SHARD_GROUPS and _held_vars(path)):
            return False
        from ._target import _not_keras_hdf5

        return _not_keras_hdf5(path) is None
    except Exception:  # unreadable, damaged, not ours: it stays
        return False


def _shard_names(value: Any) -> bool:
    """Whether an index's ``weight_map`` entry names shard files (one name, or a list of them)."""
    names = value if isinstance(value, list) else [value]
    return bool(names) and all(
        isinstance(n, str) and n.endswith(".weights.h5") and os.sep not in n and "/" not in n for n in names
    )


def _cut_short(path: str) -> bool:
    """Whether ``path`` is an HDF5 file cut short as it was written (HDF5's signature, and no file h5py opens):
    a shard of a save killed while it wrote it. Taken with the staging folder only beside an index the save
    wrote there (4 of 9 kills in a loop left such folders for good)."""
    from ._detect import HDF5_SIGNATURE

    try:
        with open(path, "rb") as fh:
            if fh.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
                return False
    except OSError:
        return False
    import h5py

    try:
        with h5py.File(path, "r"):
            return False  # a whole HDF5 file: judged by its content (it is no weights shard)
    except OSError:  # h5py's word for a file it cannot read as HDF5
        return True
    except Exception:
        return False


#: The groups at the top of a weights shard Keras writes (a model's layers, its own variables, its optimizer's)
_SHARD_GROUPS = frozenset({"layers", "vars", "optimizer"})


def _is_regular(path: str) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _remove_staging(folder: str) -> None:
    """Remove a save's staging folder (files only; left as it is when something is in the way)."""
    try:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    except OSError:
        pass


def _link_or_copy(source: str, target: str) -> None:
    """Give the file ``source`` a second name ``target`` (a copy where the file system has no hard links)."""
    import shutil

    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        shutil.copyfile(source, target)
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())


#: What an HDF5 shard adds to its weights' bytes, at most (superblock, groups, attributes), and per weight.
_SHARD_OVERHEAD = 1 << 14
_WEIGHT_OVERHEAD = 4096
#: What a layer adds with no weight of its own (its group and metadata in the shard and the index: ~2 KB).
_LAYER_OVERHEAD = 4096


def _layer_count(model: Any) -> int:
    """The layers of ``model``, nested models' layers included (each is a group of the weights file)."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        stack.extend(getattr(layer, "layers", None) or ())
    return len(seen)


def weights_bytes(model: Any) -> int:
    """The bytes of ``model``'s weights' values (their elements times their dtype's size)."""
    import numpy as np

    total = 0
    for weight in getattr(model, "weights", []):
        count = 1
        for dim in weight.shape:
            count *= int(dim)
        try:
            size = np.dtype(str(weight.dtype)).itemsize
        except TypeError:
            size = 8
        total += count * size
    return total


def _check_file_size_limit(model: Any, data: int, max_shard_size: float, path: str) -> None:
    """Refuse a sharded save whose largest shard may pass the process's file-size limit (``ulimit -f``).

    HDF5 meeting that limit (``EFBIG``, SIGXFSZ ignored) while Keras's writer writes a shard crashes the
    process as a full disk does. The largest shard is taken at its most: a shard's weights, what HDF5 adds
    for every weight and layer, and a shard's own bytes.
    """
    from netform.errors import SaveError

    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        unlimited = resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):  # not POSIX
        return
    if limit == unlimited or limit < 0:
        return
    largest = (
        min(data, int(max_shard_size * 1024**3))
        + _WEIGHT_OVERHEAD * len(getattr(model, "weights", []))
        + _LAYER_OVERHEAD * _layer_count(model)
        + _SHARD_OVERHEAD
    )
    if largest > limit:
        raise SaveError(
            f"{path}: a shard of these weights may take up to {largest:,} bytes, over this process's file-size "
            f"limit of {limit:,} bytes (ulimit -f); raise the limit, or save with a smaller max_shard_size; "
            "nothing was written"
        )


def _check_room(folder: str, model: Any, max_shard_size: float, path: str) -> None:
    """Refuse a sharded save the folder's file system has no room for, before anything is written.

    Keras's sharded writer opens its HDF5 shards on disk, and HDF5 meeting a full disk while it writes
    one can crash the process (h5py frees the file while its write is failing); a single-file save is
    written in memory first and fails cleanly. The room asked for is the weights' bytes, what HDF5 adds
    per weight and per layer (a layer without weights still has its group) and a shard's own bytes (the
    staged shards are linked beside the index, not copied, where the file system links). A disk filled by
    another program while the save writes is not foreseen.

    Raises:
        SaveError: The file system has less room than that.
    """
    from netform.errors import SaveError

    data = weights_bytes(model)
    _check_file_size_limit(model, data, max_shard_size, path)
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (not POSIX), or a folder it cannot read: HDF5's errors decide
        return
    free = st.f_bavail * st.f_frsize
    shards = max(1, int(data // max(max_shard_size * 1024**3, 1)) + 1)
    needed = (
        data
        + _WEIGHT_OVERHEAD * len(getattr(model, "weights", []))
        + _LAYER_OVERHEAD * _layer_count(model)
        + _SHARD_OVERHEAD * shards
    )
    if free < needed:
        raise SaveError(
            f"{path}: the sharded weights need about {needed:,} bytes of free space while they are written "
            f"({data:,} bytes of weights), and {folder} has {free:,}: free some "
            "space or save elsewhere; nothing was written"
        )


def save_weights_sharded(model: Any, path: str, max_shard_size: float) -> list[str]:
    """Keras's sharded weights (``x.weights.json`` and ``x_00000.weights.h5``...), as ``save_weights`` writes them.

    Killed at any point, the index names either the earlier save's shards or this one's, all of them: Keras
    writes into a fresh folder beside ``path``; the new shards get a name of their own beside the index
    (``x_00000.<token>.weights.h5``) and an index naming those replaces the old one; only then are Keras's
    names (``x_00000.weights.h5``...) replaced and Keras's own index moved into place; the per-save names,
    and the earlier save's shards this one does not replace, are removed last. Keras's reader opens
    ``x_00000.weights.h5`` whatever the index names, so it is put in place before any index names the new
    shards. What a killed save left is removed by the next save of the same index.

    Returns:
        The file names written, index first.

    Raises:
        SaveError: Something else is at one of the names, or writing failed
            (nothing was replaced).
    """
    import secrets

    from netform._compat import _keras_saving as ks
    from netform._files import swap_turn
    from netform.errors import SaveError

    from ._atomic import folders_made_for, fsync_dir
    from ._target import check_target

    parent = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    stem = _shard_stem(base)
    keras_names, staged_names = _shard_patterns(stem)
    with writing(path, "weights_h5"), folders_made_for(path):
        os.makedirs(parent, exist_ok=True)  # missing folders are made, as Keras makes them (removed on failure)
        old_index = _sharded_index(path) if os.path.lexists(path) else None  # raises unless an index is there
        replaced = _clean_killed_saves(parent, base, old_index)
        _check_room(parent, model, max_shard_size, path)
        token = secrets.token_hex(8)
        tmp = os.path.join(parent, f".nf-shards-{os.getpid()}-{_host_tag()}-{token}")
        os.mkdir(tmp, 0o700)
        turn = contextlib.ExitStack()
        try:
            with open(os.path.join(tmp, _MARK + base), "x", encoding="utf-8") as fh:
                fh.write(f"{token}\n")
            if old_index is not None:  # what this save replaces, for the save after it should it be killed
                with open(os.path.join(tmp, _PREVIOUS + base), "w", encoding="utf-8") as fh:
                    json.dump(old_index, fh)
            store = ks.ShardedH5IOStore(os.path.join(tmp, base), max_shard_size, mode="w")
            try:
                ks.save_state(model, store)
            finally:
                store.close()
            shards = sorted(n for n in os.listdir(tmp) if n not in (base, _PREVIOUS + base, _MARK + base))
            # From here to the last removal, saves of this index take turns (milliseconds): two of them with
            # different shard counts would each remove what only its own earlier index named, and leave the
            # other's shards at names no index lists, which every later save would then refuse.
            turn.enter_context(swap_turn(path))
            if os.path.lexists(path):
                old_index = _sharded_index(path)
            _check_adds_up(parent, path, old_index)
            from netform._files import user_attributes

            noted = user_attributes(path) if os.path.lexists(path) else []
            if noted:
                raise SaveError(
                    f"{path}: carries extended attributes of a user's ({', '.join(noted)}), which a sharded save, "
                    "renaming its new index over it, would drop; nothing was written. Move them, or save under "
                    "another name."
                )
            for name in shards:
                full = os.path.join(parent, name)
                check_target(full, "weights_h5")
                if os.path.lexists(full) and not _is_earlier_shard(full, name, [old_index, *replaced]):
                    raise SaveError(
                        f"{full}: is a weights file that is not a shard of an earlier save of {path} (no index "
                        "of that name lists it, or it holds other weights), and netform does not replace it. "
                        "Move it, or save the index under another name; nothing was written."
                    )
            with open(os.path.join(tmp, base), "rb") as fh:
                index = json.loads(fh.read())
            staged = {name: _staged_name(name, token) for name in shards}
            interim = dict(index)
            interim["weight_map"] = {
                key: [staged.get(n, n) for n in found] if isinstance(found, list) else staged.get(found, found)
                for key, found in index["weight_map"].items()
            }
            interim_path = os.path.join(tmp, _INTERIM + base)
            with open(interim_path, "w", encoding="utf-8") as fh:
                json.dump(interim, fh, indent=4)
                fh.flush()
                os.fsync(fh.fileno())
            for name in [*shards, base]:  # Keras's writer does not flush them to disk
                with open(os.path.join(tmp, name), "rb+") as fh:
                    os.fsync(fh.fileno())
            # 1. The new shards beside the index under this save's names; nothing an index names changes.
            placed: list[str] = []
            try:
                for name in shards:
                    _link_or_copy(os.path.join(tmp, name), os.path.join(parent, staged[name]))
                    placed.append(staged[name])
                first = f"{stem}_00000.weights.h5"
                if shards and not os.path.lexists(os.path.join(parent, first)):  # Keras's reader opens it first
                    _link_or_copy(os.path.join(tmp, shards[0]), os.path.join(parent, first))
                    placed.append(first)
                fsync_dir(parent)
                # 2. An index naming them: the switch from the old weights to the new, in one rename.
                os.replace(interim_path, path)
            except Exception:
                for name in placed:  # no index names them
                    _remove_shard(parent, name)
                raise
            fsync_dir(parent)
            # 3. Keras's names get the new shards (the index names the per-save names meanwhile), then Keras's index.
            for name in shards:
                os.replace(os.path.join(tmp, name), os.path.join(parent, name))
            fsync_dir(parent)
            os.replace(os.path.join(tmp, base), path)
            fsync_dir(parent)
            # 4. The per-save names, and what only the earlier index named, are removed.
            for name in shards:
                _remove_shard(parent, staged[name])
            earlier = _named_shards(old_index).union(*(_named_shards(r) for r in replaced))
            # An index naming per-save names is a killed save's, which may have given Keras's names its shards.
            earlier |= {_keras_name(n) for n in earlier if staged_names.fullmatch(n)}
            for name in sorted(earlier - set(shards)):
                full = os.path.join(parent, name)
                if (keras_names.fullmatch(name) or staged_names.fullmatch(name)) and _is_earlier_shard(
                    full, name, [old_index, *replaced]
                ):
                    _remove_shard(parent, name)  # a file put at the name since is not the earlier shard: it stays
        finally:
            turn.close()
            _remove_staging(tmp)
    return [base, *shards]


def _sharded_index(path: str, *, replacing: bool = True) -> dict[str, Any]:
    """The index of sharded weights, refused unless it is one (a JSON object with a ``weight_map``); to be
    ``replacing`` it, unless it holds only what Keras writes there (each key once, shard names, a total size)."""
    from netform.errors import SaveError

    from ._meta import json_object, read_bounded

    if os.path.islink(path):  # as every other save refuses one: replacing it would remove the user's link
        raise SaveError(
            f"{path}: is a symbolic link to {os.readlink(path)}, not an index of sharded weights netform would "
            "replace (netform replaces only what an earlier save wrote there). Save to the link's target, or "
            "remove the link yourself."
        )
    from ._target import as_written

    try:
        raw = read_bounded(path, _MAX_INDEX_BYTES, "the sharded weights index")
        index = json_object(raw, path, "the sharded weights index")
    except FormatError as err:
        raise SaveError(
            f"{path}: is not an index of sharded weights netform would replace ({err}). Choose "
            "another path, or move or delete what is there yourself."
        ) from err
    if not isinstance(index.get("weight_map"), dict):
        raise SaveError(
            f"{path}: is a JSON file without a 'weight_map', not an index of sharded weights "
            "netform would replace. Choose another path, or move or delete what is there yourself."
        )
    if not replacing:
        return index
    try:
        as_written(raw)
        twice = ""
    except ValueError as err:
        twice = "a key written twice" if "twice" in str(err) else "its JSON text in another form than Keras writes"
    metadata = index.get("metadata", {})
    extra = sorted(set(index) - {"metadata", "weight_map"})
    names = all(_shard_names(value) for value in index["weight_map"].values())
    total = metadata.get("total_size") if isinstance(metadata, dict) else None
    # Keras and netform record the values' bytes as a number; without one, the shards' sum cannot be checked
    counted = isinstance(total, (int, float)) and not isinstance(total, bool) and math.isfinite(total) and total >= 0
    if twice or extra or not names or not isinstance(metadata, dict) or set(metadata) - {"total_size"} or not counted:
        what = twice or (
            f"the keys {', '.join(map(repr, extra))[:200]}"
            if extra
            else "other metadata"
            if isinstance(metadata, dict) and set(metadata) - {"total_size"}
            else f"a total_size of {str(total)[:60]!r} where Keras records its values' bytes as a number"
            if not counted and names
            else "a weight_map entry that names no shard file"
        )
        raise SaveError(
            f"{path}: is a sharded weights index holding {what}, which Keras and netform never write "
            "(someone's notes, which replacing it would delete); netform does not replace it. Choose another "
            "path, or move or delete what is there yourself; nothing was written."
        )
    return index


def is_sharded_index(path: str) -> bool:
    """Whether ``path`` is a regular file named ``*.json`` holding a sharded weights index.

    Raises:
        FormatError: As :func:`read_sharded_index_bounded`.
    """
    if not path.endswith(".json") or os.path.isdir(path):
        return False
    return read_sharded_index_bounded(path) is not None


def read_sharded_index_bounded(path: str) -> dict[str, Any] | None:
    """The sharded weights index at ``path``, its size checked (:func:`check_sharded_index`); None when the
    file is no index (not JSON, no ``weight_map``, not a regular file, or larger than an index may be: the
    format detection says what it is).

    Raises:
        FormatError: It is JSON that no reader should walk (nested too deeply, more lists and objects than
            netform parses), or an index past :func:`check_sharded_index`'s limits.
    """
    from ._meta import read_bounded

    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None  # a FIFO would block the open below: the format detection refuses it
        with open(path, "rb") as fh:
            if not fh.read(64).lstrip().startswith(b"{"):
                return None
        raw = read_bounded(path, _MAX_INDEX_BYTES, "the sharded weights index")
    except (OSError, FormatError):
        return None
    index = _index_json(raw, path)
    if not (isinstance(index, dict) and isinstance(index.get("weight_map"), dict)):
        return None
    check_sharded_index(path, index)
    return index


#: How many times a sharded load is tried while saves of its index replace the index under it.
_SHARDED_LOAD_TRIES = 5


def _index_identity(path: str) -> tuple[int, int, int, int] | None:
    """What changes when a save moves another index into place (each is a new file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def load_weights_sharded(
    model: Any, path: str, *, skip_mismatch: bool = False, objects_to_skip: Any = None
) -> list[str]:
    """Load sharded weights (Keras's ``.weights.json`` index and its ``.weights.h5`` shards).

    Every shard the index names must be a plain file name in the index's
    folder, not a link out of it, and passes netform's HDF5 checks (links,
    bombs) before Keras reads it. A save of the same index that runs
    meanwhile moves another index into place before it changes any shard an
    index names: when the index is another file after the load, the load is
    done again (the weights read may mix two saves).

    Returns:
        The differences skipped (empty when everything fit).

    Raises:
        FormatError: A shard is missing, named with a path, or the weights do not fit; or saves kept
            replacing the index during every try.
        UnsafeFileError: A shard is hostile, or a link out of the index's folder.
    """
    for attempt in range(_SHARDED_LOAD_TRIES):
        if attempt:
            time.sleep(0.01 * 2**attempt)  # let the save that moved the index finish
        before = _index_identity(path)
        try:
            problems = _load_sharded_once(model, path, skip_mismatch=skip_mismatch, objects_to_skip=objects_to_skip)
        except (FormatError, OSError):
            if before is None or _index_identity(path) == before:
                raise
            continue
        if _index_identity(path) == before:
            return problems
    raise FormatError(
        f"{path}: the sharded weights index was replaced during each of {_SHARDED_LOAD_TRIES} loads (saves of "
        "it are running), so the weights read may mix two saves; the model's weights are not to be used. "
        "Load again once the saves have finished."
    )


def _load_sharded_once(model: Any, path: str, *, skip_mismatch: bool, objects_to_skip: Any) -> list[str]:
    """One try of :func:`load_weights_sharded`."""
    from netform._compat import _keras_saving as ks

    from ._detect import shard_paths

    index = _sharded_index(path, replacing=False)
    check_sharded_index(path, index)
    saved: dict[str, tuple[int, ...]] = {}
    for shard in shard_paths(path, index):  # plain names in the index's folder, regular files, no link out
        with reading(shard, "weights_h5"), _open_verified(shard, shard) as (_, shapes):
            saved.update(shapes)
    skipped = {id(obj) for obj in (objects_to_skip or ())}
    wanted = _model_shapes(model, skipped)
    if skipped:
        left_out = set(_model_shapes(model, set())) - set(wanted)
        saved = {name: shape for name, shape in saved.items() if name not in left_out}
    problems = _diff(saved, wanted)
    if problems and not skip_mismatch:
        raise mismatch_error(path, model, problems)
    optimizer = getattr(model, "optimizer", None)
    skip = set(skipped)
    if optimizer is not None and not getattr(optimizer, "built", False):
        skip.add(id(optimizer))
    with reading(path, "weights_h5"):
        store = ks.ShardedH5IOStore(path, mode="r")
        try:
            _, errors = ks.load_state(model, store, skip_mismatch=skip_mismatch, skip=skip)
        finally:
            store.close()
        refusal = keras_refusal(path, [str(e[1]) for e in errors.values()])
        if refusal is not None:
            raise refusal
        if errors and not skip_mismatch:
            raise mismatch_error(path, model, [str(e[1]) for e in errors.values()])
    if problems:
        warnings.warn(
            f"{path}: skipped {len(problems)} variable(s) that do not fit: " + "; ".join(problems[:10]),
            UserWarning,
            stacklevel=4,
        )
    return problems
