"""What a spec may reach outside the model: files of callbacks and layers, the network.

A spec is untrusted input. Its callbacks write only under the output
directory the user chooses (``netform train --out-dir``, ``out_dir=``), with
relative paths that do not climb out with ``..``; a callback that talks to
the network (``RemoteMonitor``, or a path on a remote file system such as
``gs://…``) is refused. The user lifts these rules per call, never globally:
``--allow-paths`` / ``--allow-network`` on the command line, or
:func:`spec_access` around :func:`~netform.load_spec` in Python.

Everything here is plain Python (no TensorFlow), so ``validate`` reports the
same problems the engine refuses, at their place in the file.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import string
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "PATH_ARGUMENTS",
    "NETWORK_CALLBACKS",
    "DEFAULT_PATHS",
    "FILE_ARGUMENTS",
    "SpecAccess",
    "spec_access",
    "current_access",
    "path_problem",
    "callback_problems",
    "NETWORK_STRATEGIES",
    "network_strategy_message",
    "callback_message",
    "file_argument_problems",
    "activation_function_problem",
    "UNBUILDABLE_LAYERS",
    "CALLBACK_ARGUMENT_TYPES",
    "FUNCTION_CALLBACKS",
    "template_name_problem",
]

# Path-valued arguments of Keras's public callbacks, from their signatures
# (tests/security/test_spec_untrusted.py checks this table against them).
PATH_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "BackupAndRestore": ("backup_dir",),
    "CSVLogger": ("filename",),
    "ModelCheckpoint": ("filepath",),
    "OrbaxCheckpoint": ("directory",),
    "TensorBoard": ("log_dir", "embeddings_metadata"),
    # netform's own callback (netform.engine.TrainingBackup; `backup_dir` is its `directory`).
    "TrainingBackup": ("backup_dir",),
}
# Keras's defaults of those arguments (a path used even when the spec writes none).
DEFAULT_PATHS: dict[str, dict[str, str]] = {"TensorBoard": {"log_dir": "logs"}}
# Callbacks whose whole job is to send data over the network.
NETWORK_CALLBACKS: tuple[str, ...] = ("RemoteMonitor",)
# Layer config arguments that Keras reads as a file path when given a string.
FILE_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "StringLookup": ("vocabulary",),
    "IntegerLookup": ("vocabulary",),
    "TextVectorization": ("vocabulary",),
    "IndexLookup": ("vocabulary",),  # their base class, which a config may name by its private module
}

#: The Keras modules a function in a config may come from: those of the modelling functions (activations, ops,
#: losses, metrics, random draws). Keras itself writes a function as ``{module: builtins, config: name}``; a
#: ``{module: keras.X, config: name}`` is resolved by Keras as ``keras.X.name``, and its safe mode refuses only
#: a short list of non-modelling APIs: ``keras.datasets.mnist.load_data`` (downloads),
#: ``keras.config.set_epsilon`` (process-wide state) and ``keras.utils.set_random_seed`` pass it.
MODELLING_FUNCTION_MODULES = frozenset(
    {
        "keras.activations",
        "keras.losses",
        "keras.metrics",
        "keras.ops",
        "keras.ops.image",
        "keras.ops.linalg",
        "keras.ops.math",
        "keras.ops.nn",
        "keras.ops.numpy",
        "keras.random",
    }
)


#: Keras modules whose names make whole models or fetch data (``keras.applications.MobileNet``,
#: ``keras.datasets.mnist``): never an object a layer's argument holds.
_WHOLE_MODEL_MODULES = ("keras.applications", "keras.src.applications", "keras.datasets", "keras.src.datasets")


#: The namespaces where Keras looks up a function a config names with ``module: builtins`` (its
#: ``BUILTIN_MODULES``), as ``keras.<namespace>.<name>``.
BUILTIN_NAMESPACES = ("activations", "constraints", "initializers", "losses", "metrics", "optimizers", "regularizers")


def function_problem(node: Mapping[str, Any]) -> str | None:
    """Why a serialized object in a config runs what no model should (None: it does not): Python bytecode
    (``__lambda__``), a function of a Keras module that is not one of :data:`MODELLING_FUNCTION_MODULES`, or a
    function of a module outside Keras (``numpy.loadtxt``, ``tensorflow.io.read_file``) that no plugin
    registered with Keras (a registered name holds ``>``, as ``package>name``)."""
    class_name, module = node.get("class_name"), node.get("module")
    if class_name == "__lambda__":
        return "Python bytecode (a lambda), which runs code"
    keras_module = isinstance(module, str) and (module == "keras" or module.startswith("keras."))
    if (
        isinstance(class_name, str)
        and class_name[:1].islower()
        and class_name != "function"
        and keras_module
        and module not in MODELLING_FUNCTION_MODULES
    ):
        # Keras's classes are CamelCase: a lower-case name of a Keras module is one of its functions
        return (
            f"{module}.{class_name[:100]} as a class; it is a function of a module that is not one of Keras's "
            f"modelling modules ({', '.join(sorted(MODELLING_FUNCTION_MODULES))}), and Keras refuses it"
        )
    if (
        isinstance(class_name, str)
        and class_name != "function"
        and isinstance(module, str)
        and module.startswith(_WHOLE_MODEL_MODULES)
    ):
        # keras.applications' constructors (MobileNet, ResNet50) make whole models and may download weights
        return (
            f"{module}.{class_name[:100]} as a class; it makes a whole model (and may download its weights), "
            "which no layer argument is: Keras refuses it when the layer is built"
        )
    if class_name == "function" and not isinstance(module, str):
        registered = node.get("registered_name")
        named = registered if isinstance(registered, str) and ">" in registered else str(node.get("config"))
        package = named.partition(">")[0] if ">" in named else None
        if package is None or package == "keras" or package.startswith("keras."):
            return (
                f"the function {named[:100]!r} without its module: Keras then finds only functions a plugin "
                "registered under its own 'package>name', which this is not; write module: with a Keras "
                "modelling module (keras.activations, keras.ops)"
            )
        return None
    if class_name != "function" or not isinstance(module, str):
        return None
    name = str(node.get("config"))[:100]
    allowed = f"{', '.join(sorted(MODELLING_FUNCTION_MODULES))} only"
    if (module == "keras" or module.startswith("keras.")) and module not in MODELLING_FUNCTION_MODULES:
        return f"the function {module}.{name}, which is not a modelling function of Keras (a config may name functions of {allowed})"
    if not (module == "keras" or module.startswith("keras.")) and module != "builtins" and ">" not in name:
        return (
            f"the function {module}.{name}, which is not a function of Keras (a config may name Keras's own "
            f"functions, of builtins or {', '.join(sorted(MODELLING_FUNCTION_MODULES))}, or one a plugin "
            "registered with Keras under a 'package>name')"
        )
    return None


@functools.lru_cache(maxsize=1)
def _keras_version() -> str | None:
    """The installed Keras's version, read from its package metadata (no import); None without Keras."""
    from importlib import metadata

    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return None


def unresolved_function(module: str, name: str) -> str | None:
    """Why Keras's deserializer cannot resolve the function ``{class_name: function, module: module, config:
    name}`` (None: it can, or netform cannot tell). Keras resolves a function of a ``keras.…`` module by its
    public API name only (``keras.ops.relu``, not ``keras.ops.numpy.relu``), and one of ``builtins`` among its
    built-in namespaces; the table (:mod:`._keras_functions`) lists what the installed Keras resolves, and is
    read only when it was made from that Keras."""
    from ._keras_functions import KERAS_FUNCTIONS, KERAS_VERSION

    if ">" in name or _keras_version() != KERAS_VERSION:
        return None  # a registered custom function, or another Keras than the table's: the build decides
    names = KERAS_FUNCTIONS.get(module)
    if names is None or name in names:
        return None
    shown = f"{module}.{name[:100]}" if module != "builtins" else f"{name[:100]!r} (module: builtins)"
    # where Keras does resolve the name, the module the same family would name first (keras.ops for an op)
    elsewhere = sorted(
        (other for other, listed in KERAS_FUNCTIONS.items() if name in listed),
        key=lambda other: (other == "builtins", not module.startswith(other + "."), other),
    )
    fix = (
        f"write module: {elsewhere[0]}"
        if elsewhere
        else "name a function of keras.activations, keras.ops or another Keras modelling module"
    )
    return f"Keras cannot resolve the function {shown}, and the build would fail; {fix}"


def activation_function_problem(node: Mapping[str, Any]) -> str | None:
    """Why a function mapping given as a layer's ``activation`` is not an activation (None: it is one, or
    netform cannot tell): netform reads an activation back by its name, so ``keras.ops.tanh`` is one and
    ``keras.activations.deserialize`` or ``keras.ops.fori_loop`` is not (the build would write a model file
    netform's own readers refuse, and Keras fails when the layer runs)."""
    from ._keras_functions import KERAS_ACTIVATIONS, KERAS_VERSION

    name = node.get("config")
    if node.get("class_name") != "function" or not isinstance(name, str) or ">" in name:
        return None
    if _keras_version() != KERAS_VERSION or name in KERAS_ACTIVATIONS:
        return None
    return (
        f"the function {node.get('module')}.{name[:100]} is not an activation (a layer's activation is one of "
        f"Keras's activations, by name or as a function of that name); write one of {', '.join(KERAS_ACTIVATIONS)}"
    )


def unknown_activation(name: str) -> str | None:
    """Why ``keras.activations.get(name)`` fails for a layer's ``activation: NAME`` (None: it takes the name, or
    netform cannot tell): Keras looks a string up among its activations' names only (``relu``, not
    ``keras.activations.relu`` nor ``keras.utils.get_file``)."""
    from ._keras_functions import KERAS_ACTIVATIONS, KERAS_VERSION

    if _keras_version() != KERAS_VERSION or name in KERAS_ACTIVATIONS:
        return None
    return (
        f"Keras has no activation named {name[:100]!r} (it takes an activation's name, e.g. 'relu', or a "
        f"mapping of a function), and the build would fail; write one of {', '.join(KERAS_ACTIVATIONS)}"
    )


#: Lookup layers' arguments Keras takes as a list of numbers: a string is no file, and fails the build.
NUMBER_LIST_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "StringLookup": ("idf_weights",),
    "IntegerLookup": ("idf_weights",),
    "TextVectorization": ("idf_weights",),
    "IndexLookup": ("idf_weights",),
}


# Keras layer classes a spec cannot make, and why.
UNBUILDABLE_LAYERS: dict[str, str] = {
    "TorchModuleWrapper": "wraps a live PyTorch module (it needs the torch backend and a torch.nn.Module object)",
    "JaxLayer": "wraps live JAX functions (it needs the jax backend and Python callables)",
    "FlaxLayer": "wraps a live Flax module (it needs the jax backend, flax and a flax.linen.Module object)",
}

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class SpecAccess:
    """What specs loaded in the current context may reach.

    Attributes:
        allow_paths: Callback paths may be absolute or climb out with ``..``.
        allow_network: Network callbacks and remote file systems are allowed.
        check_callbacks: Whether the callbacks' arguments are checked at all;
            False for commands that never create the callbacks (``summary``,
            ``render``, ``build``).
    """

    allow_paths: bool = False
    allow_network: bool = False
    check_callbacks: bool = True


_ACCESS: ContextVar[SpecAccess] = ContextVar("netform_spec_access", default=SpecAccess())


@contextlib.contextmanager
def spec_access(
    *, allow_paths: bool = False, allow_network: bool = False, check_callbacks: bool = True
) -> Iterator[SpecAccess]:
    """Let specs loaded inside this block write anywhere and/or use the network.

    The setting lasts for the ``with`` block only, in this thread or task.

    Args:
        allow_paths: Accept absolute and ``..``-climbing callback paths.
        allow_network: Accept ``RemoteMonitor`` and remote file systems.
        check_callbacks: False to accept every callback argument as written,
            for code that never creates the callbacks (a spec loaded this way
            is refused by ``fit_from_training_config`` like any other).

    Example::

        with netform.spec.spec_access(allow_paths=True):
            spec = netform.load_spec("train_to_shared_disk.yaml")
    """
    token = _ACCESS.set(
        SpecAccess(allow_paths=allow_paths, allow_network=allow_network, check_callbacks=check_callbacks)
    )
    try:
        yield _ACCESS.get()
    finally:
        _ACCESS.reset(token)


def current_access() -> SpecAccess:
    """The :class:`SpecAccess` in force for specs loaded now."""
    return _ACCESS.get()


def path_problem(value: str) -> tuple[str, str] | None:
    """Why a path written in a spec may not be used as it stands.

    Returns:
        ``None`` for a relative path that stays under the output directory,
        else ``(reason, what)`` where ``what`` is ``"paths"`` (absolute, home
        or ``..``-climbing), ``"network"`` (a remote file system URL) or ``""``
        (nothing allows it: a ``file://`` URL, the local disk by another name).
    """
    if _URL.match(value) and value.split("://", 1)[0].lower() == "file":
        # TensorFlow's file:// is the local disk: no remote file system for --allow-network to allow, and a path
        # the checks under the output directory cannot follow (--allow-network let one overwrite a file anywhere)
        return (
            "names a local file through file://; write the path itself (with --allow-paths for one outside the output directory)",
            "",
        )
    if _URL.match(value):
        return f"names a remote file system ({value.split('://', 1)[0]}://)", "network"
    if value.startswith("~"):
        return "starts with '~' (a home directory)", "paths"
    if value.startswith(("/", "\\")) or _DRIVE.match(value):
        return "is an absolute path", "paths"
    depth = 0
    for part in re.split(r"[\\/]+", value):
        if part == "..":
            depth -= 1
            if depth < 0:
                return "climbs out of the output directory with '..'", "paths"
        elif part not in ("", "."):
            depth += 1
    return None


def _is_out_dir(value: str) -> bool:
    """A relative path that names the output directory itself (``.``, ``a/..``)."""
    depth = 0
    for part in re.split(r"[\\/]+", value):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
    return depth == 0 and path_problem(value) is None


# Python's format mini-language, restricted to numbers written with digits:
# no `c` (a number as a character: `{epoch:c}` is '.' at epoch 46), no `s`.
_FORMAT_SPEC = re.compile(
    r"(?:(?P<fill>[^{}/\\])?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?[bdeEfFgGnoxX%]?"
)


def _format_problem(template: str) -> str | None:
    """Why a ModelCheckpoint template is not plain numeric ``{name:spec}`` fields in its file name."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        return f"is not a valid format template ({err})"
    for field, spec, _ in fields:
        if spec and re.search(r"[\\/]", spec):
            return (
                f"has the format field {{{field}:{spec}}} with '/' or '\\' in its format: as a fill character it "
                "would write path separators into the name (`..{epoch:/>2}` names a folder above); use another fill"
            )
    try:
        folder = re.split(r"[\\/]", template)[:-1]
        in_folder = [f for part in folder for _, f, _, _ in string.Formatter().parse(part) if f is not None]
    except ValueError as err:
        return f"is not a valid format template ({err})"
    for field, spec, conv in fields:
        match = _FORMAT_SPEC.fullmatch(spec or "")
        if not field.isidentifier() or conv or match is None:
            return (
                f"has the format field {{{field}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}, "
                "which is not a plain number format (attribute or item access, a conversion, or the `c` or `s` "
                "type)"
            )
        fill = match.group("fill")
        if fill is not None and _unprintable(fill):
            return f"has the format field {{{field}:{spec}}} with an unprintable fill character"
        width, precision = int(match.group("width") or 0), int(match.group("precision") or 0)
        if max(width, precision) >= 1000:  # (a zero flag before the width is no digit of it: 0250 is 250)
            what = "width" if width >= precision else "precision"
            return (
                f"has the format field {{{field}:{spec}}} with a {what} of {max(width, precision):,}; file names "
                "take at most 255 bytes: give a width or precision under 1,000"
            )
    if in_folder:
        return (
            f"has the format field {{{in_folder[0]}}} in a folder name; fields may only be in the file name "
            "(the folders are checked before training, the file name as it is written)"
        )
    # A field writes at least its width: a name longer than 255 bytes at its widths alone is too long whatever
    # the values. How long the values can make it is measured exactly, with what the training logs (the spec's
    # epochs, float32 or float64 values), by `template_name_problem`, never less than this.
    name = re.split(r"[\\/]", template)[-1]
    least = 0
    for literal, field_name, field_spec, _ in string.Formatter().parse(name):
        least += len(literal.encode("utf-8", "surrogateescape"))
        if field_name is not None:
            match = _FORMAT_SPEC.fullmatch(field_spec or "")
            least += int(match.group("width") or 0) if match else 0
    if least > _MAX_NAME:
        return (
            f"makes a file name of at least {least} bytes (its fields at their widths); file systems take at "
            f"most {_MAX_NAME}"
        )
    return None


#: The longest file name (one path component, in bytes) common file systems take.
_MAX_NAME = 255
#: The largest magnitude of a float32 value (what Keras's metrics and loss tracker log under floatx float32),
#: and of a Python float (float64: a metric or loss of dtype float64, or floatx float64); their smallest.
_FLOAT32_LARGEST, _FLOAT64_LARGEST = 3.4028234663852886e38, 1.7976931348623157e308
_FLOAT32_SMALLEST, _FLOAT64_SMALLEST = 1.401298464324817e-45, 5e-324
#: The largest batch number Keras may give a per-batch checkpoint (steps of one epoch): a 64-bit count.
_BATCH_LARGEST = 2**63 - 1


def _int_samples(largest: int) -> list[int]:
    """Whole numbers from 1 to ``largest`` whose formats are the longest of their digit counts."""
    return sorted(
        {largest} | {10**k - 1 for k in range(1, len(str(largest)))} | {10**k for k in range(len(str(largest)))}
    )


def _float_samples(spec: str, largest: float, smallest: float) -> list[float]:
    """Negative floats up to ``largest`` in magnitude whose formats with ``spec`` are the longest it writes.

    Fixed notation is longest at the largest magnitude (``f``, ``%``) or at the largest exponent below the
    precision, or just above 1e-4 (``g`` and no type); exponent notation at the exponent of most digits.
    """
    match = re.search(r"\.(\d+)", spec)
    precision = int(match.group(1)) if match else 17
    top = math.floor(math.log10(largest))
    exponents = set(range(-6, 20)) | {precision - 2, precision - 1, precision, top - 1, top}
    exponents |= {math.floor(math.log10(smallest)) + 1}
    values = [-largest, -smallest, math.nan, -math.inf]
    for k in sorted(exponents):
        for digits in (1.2345678901234567, 9.999999999999998):
            value = digits * 10.0**k if -320 < k <= top else None
            if value is not None and smallest <= value <= largest:
                values.append(-value)
    return values


def _longest_format(spec: str, samples: tuple[int | float, ...]) -> tuple[int, str]:
    """The most bytes ``format(value, spec)`` writes for the samples, and that text."""
    longest = (0, "")
    for value in samples:
        try:
            text = format(value, spec)
        except (ValueError, TypeError, OverflowError):
            continue
        size = len(text.encode("utf-8", "surrogateescape"))
        if size > longest[0]:
            longest = (size, text)
    return longest


_FORMAT_CACHE: dict[tuple[str, tuple[int | float, ...]], tuple[int, str]] = {}


def _longest_format_cached(spec: str, samples: tuple[int | float, ...]) -> tuple[int, str]:
    """:func:`_longest_format`, remembered per format and samples (a template repeats its fields)."""
    key = (spec, samples)
    found = _FORMAT_CACHE.get(key)
    if found is None:
        if len(_FORMAT_CACHE) > 4096:
            _FORMAT_CACHE.clear()
        found = _FORMAT_CACHE[key] = _longest_format(spec, samples)
    return found


def template_name_problem(template: str, *, largest_epoch: int | None = None, float64: bool = False) -> str | None:
    """Why the file names a ModelCheckpoint template can make may pass 255 bytes (None: they never do).

    The one measure of a template's names (the spec's checks and the engine's): each field is formatted at
    its longest value with its own format spec. ``epoch`` runs up to ``largest_epoch`` (``None``: a 64-bit
    count), ``batch`` up to a 64-bit count, every other field is a logged float up to float32's largest
    magnitude (3.4e38: 39 digits before the point with ``f``), or float64's (1.8e308: 309 digits) with
    ``float64``. A name the check passes can be written whatever the values; Keras formats it only when it
    saves, after the epoch's training, and a name too long then loses that checkpoint.

    Args:
        template: The ``filepath`` as written (only its file name, after the last separator, is measured).
        largest_epoch: The last epoch training runs (``training.epochs``).
        float64: Whether a logged value may be a float64.

    Returns:
        The problem (``"can make a file name of N bytes, ..."``) with the fix, or ``None``; ``None`` too
        for a template of another form (refused by the form check).
    """
    name = re.split(r"[\\/]", template)[-1]
    try:
        parts = list(string.Formatter().parse(name))
    except ValueError:
        return None  # refused by the template's form check
    total = 0
    worst: tuple[int, str, str, str] | None = None  # (bytes, field, spec, text)
    for literal, field, fmt, conversion in parts:
        total += len(literal.encode("utf-8", "surrogateescape"))
        if field is None:
            continue
        if conversion or not field.isidentifier():
            return None  # refused by the template's form check
        fmt = fmt or ""
        if field in ("epoch", "batch"):
            largest = largest_epoch if field == "epoch" and largest_epoch is not None else _BATCH_LARGEST
            samples: tuple[int | float, ...] = tuple(_int_samples(max(largest, 1)))
        else:
            big, small = (_FLOAT64_LARGEST, _FLOAT64_SMALLEST) if float64 else (_FLOAT32_LARGEST, _FLOAT32_SMALLEST)
            samples = tuple(_float_samples(fmt, big, small))
        size, text = _longest_format_cached(fmt, samples)
        if size == 0:
            return None  # a format the value does not take: refused by the field checks
        total += size
        if worst is None or size > worst[0]:
            worst = (size, field, fmt, text)
    if total <= _MAX_NAME or worst is None:
        return None
    size, field, fmt, text = worst
    shown = f"{{{field}:{fmt}}}" if fmt else f"{{{field}}}"
    why = f"{shown} alone can be {size} characters"
    if field not in ("epoch", "batch") and re.search(r"[fF%]$", fmt):
        scale = "float64's 1.8e308: 309" if float64 else "float32's 3.4e38: 39"
        why += f" ({text[:16]}…): fixed-point notation writes every digit of a value up to {scale} digits"
        precision = re.search(r"\.(\d+)", fmt)
        fix = f"write {{{field}:.{precision.group(1) if precision else 4}e}} (exponent notation, a bounded length)"
        fix += " or fewer fields"
    else:
        fix = "use fewer fields, smaller widths or precisions, or a shorter name"
    return (
        f"can make a file name of {total} bytes, and file systems take at most {_MAX_NAME} ({why}); Keras "
        f"names the file only when it saves, after training the epoch, and that checkpoint would be lost: {fix}"
    )


#: The most bytes of a whole path the system takes (PATH_MAX on Linux, with its final NUL).
_MAX_PATH = 4096


def _length_problem(value: str, template: bool = False) -> str | None:
    """Why a callback's path is too long to be made: a folder name over 255 bytes, or the path over 4,096.

    The file name of a ModelCheckpoint template (``template``) is measured with its fields at their longest
    (:func:`template_name_problem`); its folders, and every other path (a CSVLogger file or a backup folder
    is named as written, braces and all), as written. The output directory (``--out-dir``) adds to the path.
    """
    parts = re.split(r"[\\/]+", value)
    for part in parts[:-1] if template and "{" in parts[-1] else parts:
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > _MAX_NAME:
            return (
                f"has the name {part[:20]!r}... of {size:,} bytes; file systems take names of at most {_MAX_NAME} "
                "bytes: give shorter names"
            )
    size = len(value.encode("utf-8", "surrogateescape"))
    if size >= _MAX_PATH:
        return (
            f"is {size:,} bytes long; the system takes paths of at most {_MAX_PATH - 1:,} bytes (with the output "
            "directory): give a shorter path"
        )
    return None


def _separator_problem(separator: str) -> str | None:
    """Why a CSVLogger separator would make a log that cannot be read back (netform reads it to resume)."""
    if len(separator) != 1:
        return "is not one character; Keras's CSV writer takes a one-character separator such as ',' or ';'"
    if separator in '"\r\n' or (separator != "\t" and _unprintable(separator)):
        return (
            "is a quote, a line break or a control or formatting character, which makes the log's rows "
            "ambiguous (netform could not read it back on the next run); use ',', ';', a tab or '|'"
        )
    return None


def _unprintable(text: str) -> bool:
    """Control, format (bidirectional overrides, zero-width) and line/paragraph separator characters."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in text)


# What a spec may pass to each callback argument (checked before Keras sees it:
# `CSVLogger(filename=5)` would write to file descriptor 5). "number" is an int or a float.
_STR, _INT, _NUM, _BOOL, _NONE, _LIST, _DICT = (
    "string",
    "whole number",
    "number",
    "true/false",
    "null",
    "list",
    "mapping",
)
CALLBACK_ARGUMENT_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "BackupAndRestore": {
        "backup_dir": (_STR,),
        "save_freq": (_STR, _INT),
        "double_checkpoint": (_BOOL,),
        "delete_checkpoint": (_BOOL,),
    },
    "CSVLogger": {"filename": (_STR,), "separator": (_STR,), "append": (_BOOL,)},
    "EarlyStopping": {
        "monitor": (_STR,),
        "min_delta": (_NUM,),
        "patience": (_INT,),
        "verbose": (_INT,),
        "mode": (_STR,),
        "baseline": (_NUM, _NONE),
        "restore_best_weights": (_BOOL,),
        "start_from_epoch": (_INT,),
    },
    "ModelCheckpoint": {
        "filepath": (_STR,),
        "monitor": (_STR,),
        "verbose": (_INT,),
        "save_best_only": (_BOOL,),
        "save_weights_only": (_BOOL,),
        "mode": (_STR,),
        "save_freq": (_STR, _INT),
        "initial_value_threshold": (_NUM, _NONE),
    },
    "ReduceLROnPlateau": {
        "monitor": (_STR,),
        "factor": (_NUM,),
        "patience": (_INT,),
        "verbose": (_INT,),
        "mode": (_STR,),
        "min_delta": (_NUM,),
        "cooldown": (_INT,),
        "min_lr": (_NUM,),
    },
    "RemoteMonitor": {
        "root": (_STR,),
        "path": (_STR,),
        "field": (_STR,),
        "headers": (_DICT, _NONE),
        "send_as_json": (_BOOL,),
    },
    "TensorBoard": {
        "log_dir": (_STR,),
        "histogram_freq": (_INT,),
        "write_graph": (_BOOL,),
        "write_images": (_BOOL,),
        "write_steps_per_second": (_BOOL,),
        "update_freq": (_STR, _INT),
        "profile_batch": (_INT, _LIST, _STR),
        "embeddings_freq": (_INT,),
        "embeddings_metadata": (_STR, _DICT, _NONE),
    },
    "TerminateOnNaN": {"raise_error": (_BOOL,)},
    "SwapEMAWeights": {"swap_on_epoch": (_BOOL,)},
    "TrainingBackup": {
        "backup_dir": (_STR,),
        "save_every_steps": (_INT, _NONE),
        "save_every_epoch": (_BOOL,),
        "delete_on_finish": (_BOOL,),
    },
}
# Callbacks whose required argument is a Python function, which a spec cannot hold.
FUNCTION_CALLBACKS: dict[str, str] = {
    "LearningRateScheduler": "its `schedule` is a Python function, which a spec cannot hold; use ReduceLROnPlateau, "
    "or an optimizer learning-rate schedule, or add the callback from Python",
    "LambdaCallback": "its hooks are Python functions, which a spec cannot hold; add the callback from Python",
}


def _kind_of(value: Any) -> str:
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    if isinstance(value, float):
        return _NUM
    if isinstance(value, str):
        return _STR
    if isinstance(value, Mapping):
        return _DICT
    if isinstance(value, (list, tuple)):
        return _LIST
    return type(value).__name__


def _type_problems(name: str, arguments: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for arg, kinds in CALLBACK_ARGUMENT_TYPES.get(name, {}).items():
        if arg not in arguments:
            continue
        kind = _kind_of(arguments[arg])
        if kind in kinds or (kind == _INT and _NUM in kinds):
            continue
        shown = repr(arguments[arg])
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        out.append((arg, f"{name}.{arg} must be a {' or '.join(kinds)}; received the {kind} {shown}", ""))
    return out


def callback_problems(name: str, arguments: Mapping[str, Any], access: SpecAccess) -> list[tuple[str, str, str]]:
    """The paths and network use of one callback that ``access`` does not allow.

    Args:
        name: The Keras callback class name.
        arguments: Its constructor arguments as written.
        access: What is allowed.

    Returns:
        ``(argument, problem, flag)`` triples; ``flag`` is ``"paths"`` or
        ``"network"`` (the option that would allow it), or ``""`` when
        nothing allows it. Empty when the callback is fine.
    """
    out: list[tuple[str, str, str]] = []
    if not access.check_callbacks:
        return out
    if name in FUNCTION_CALLBACKS:
        return [("", f"{name} cannot be used in a spec: {FUNCTION_CALLBACKS[name]}", "")]
    out += _type_problems(name, arguments)
    if name in NETWORK_CALLBACKS and not access.allow_network:
        where = arguments.get("root", "http://localhost:9000")
        out.append(("", f"{name} sends the training logs over the network (to {where})", "network"))
    for arg in PATH_ARGUMENTS.get(name, ()):
        value = arguments.get(arg, DEFAULT_PATHS.get(name, {}).get(arg))
        values = list(value.values()) if isinstance(value, Mapping) else [value]
        for v in values:
            if not isinstance(v, str):
                continue
            if _unprintable(v):  # NUL, controls, bidirectional overrides: no file name is meant so
                out.append(
                    (
                        arg,
                        f"{name}.{arg} {v!r} contains a control or formatting character (NUL, newline, "
                        "tab, DEL, a bidirectional override…); write a plain file name",
                        "",
                    )
                )
                continue
            problem = path_problem(v)
            if problem is not None and (
                not problem[1] or not (access.allow_network if problem[1] == "network" else access.allow_paths)
            ):
                out.append((arg, f"{name}.{arg} {v!r} {problem[0]}", problem[1]))
    for arg in PATH_ARGUMENTS.get(name, ()):
        value = arguments.get(arg)
        for v in list(value.values()) if isinstance(value, Mapping) else [value]:
            if isinstance(v, str) and not _unprintable(v):
                long = _length_problem(v, template=name == "ModelCheckpoint" and arg == "filepath")
                if long:
                    out.append((arg, f"{name}.{arg} {v[:40]!r}... {long}", ""))
    separator = arguments.get("separator")
    if name == "CSVLogger" and isinstance(separator, str) and _separator_problem(separator):
        out.append(("separator", f"CSVLogger.separator {separator!r} {_separator_problem(separator)}", ""))
    if name == "ModelCheckpoint" and isinstance(arguments.get("filepath"), str):
        bad = _format_problem(arguments["filepath"])
        if bad:
            out.append(
                (
                    "filepath",
                    f"ModelCheckpoint.filepath {arguments['filepath']!r} {bad}; Keras formats it "
                    "with the epoch and the logs: use plain fields such as {epoch:02d} or {val_loss:.2f} in the "
                    "file name",
                    "",
                )
            )
    if name == "BackupAndRestore" and arguments.get("delete_checkpoint", True):
        value = arguments.get("backup_dir")
        if isinstance(value, str) and _is_out_dir(value):
            out.append(
                (
                    "backup_dir",
                    f"BackupAndRestore.backup_dir {value!r} is the output directory itself, "
                    "which Keras deletes at the end of training; name a folder of its own, e.g. 'backup'",
                    "",
                )
            )
    return out


#: The distribution strategies that use the network: MultiWorkerMirroredStrategy starts a gRPC server on every
#: interface and joins the cluster ``TF_CONFIG`` names (with ``TF_CONFIG`` unset it trains on this machine only).
NETWORK_STRATEGIES = frozenset({"multi_worker_mirrored"})


def network_strategy_message(name: str, *, cli: bool = True) -> str:
    """Why a spec's ``distribution.strategy`` that uses the network is refused, and how to allow it."""
    return callback_message(
        (
            "",
            f"distribution strategy {name!r} joins the cluster the environment's TF_CONFIG names over the network "
            "(a server listening on every interface)",
            "network",
        ),
        cli=cli,
    )


def callback_message(problem: tuple[str, str, str], *, cli: bool = True) -> str:
    """The full message for one of :func:`callback_problems`' triples (what, why, how to fix)."""
    _, what, flag = problem
    if flag == "network":
        fix = (
            "--allow-network (in Python: load the spec inside netform.spec.spec_access(allow_network=True))"
            if cli
            else "allow_network=True (netform train --allow-network)"
        )
        return f"{what}; a spec may not use the network unless you pass {fix}"
    if flag == "paths":
        fix = (
            "--allow-paths (in Python: load the spec inside netform.spec.spec_access(allow_paths=True))"
            if cli
            else "allow_paths=True (netform train --allow-paths)"
        )
        return (
            f"{what}: callback files are written under the output directory (netform train --out-dir, "
            f"default the working directory); write a relative path such as 'logs/train.csv', "
            f"or pass {fix} to let this spec write anywhere"
        )
    return what


def file_argument_problems(
    class_name: str, config: Any, path: tuple[str | int, ...] = (), *, nested: bool = True
) -> list[tuple[tuple[str | int, ...], str]]:
    """Strings in a layer config (nested layers included) that Keras would open as a file.

    Args:
        class_name: The Keras layer class the config is for.
        config: Its ``get_config()``-style dict.
        path: Where ``config`` sits, for the messages.
        nested: Also look in the layers the config holds (False: a caller that walks them itself).

    Returns:
        ``(path, message)`` pairs; empty when the config names no file.
    """
    out: list[tuple[tuple[str | int, ...], str]] = []
    if not isinstance(config, Mapping):
        return out
    for arg in FILE_ARGUMENTS.get(class_name, ()):
        value = config.get(arg)
        if isinstance(value, str):
            out.append(
                (
                    path + (arg,),
                    f"{class_name}.{arg} is the string {value!r}, which Keras would open as a "
                    f"file; a spec may not read local files: write the {arg} inline as a list",
                )
            )
    for arg in NUMBER_LIST_ARGUMENTS.get(class_name, ()):
        value = config.get(arg)
        if isinstance(value, str):
            out.append(
                (
                    path + (arg,),
                    f"{class_name}.{arg} is the string {value[:100]!r}; Keras takes a list of numbers here (one "
                    "per vocabulary entry), never a file name: netform reads no file for it, and the build would "
                    f"fail: write the {arg} inline as a list",
                )
            )
    if not nested:
        return out
    for key, value in config.items():
        if isinstance(value, Mapping) and isinstance(value.get("class_name"), str):
            out += file_argument_problems(value["class_name"], value.get("config"), path + (key, "config"))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, Mapping) and isinstance(item.get("class_name"), str):
                    out += file_argument_problems(item["class_name"], item.get("config"), path + (key, i, "config"))
    return out
