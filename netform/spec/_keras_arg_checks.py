"""The argument checks Keras's own layer constructors make, for a generic ``KerasLayer``'s config.

A ``{type: KerasLayer, class_name: Dense, config: {units: -5}}`` is refused by
Keras when the layer is made; validate runs without TensorFlow, so it makes the
same checks itself, for the arguments Keras checks in its constructors (sizes,
kernel and pool sizes, strides, dropout rates, attention heads). Each rule is
the constructor's, neither stricter nor looser: a value Keras takes passes, a
value its constructor refuses (``ValueError``, or a ``TypeError`` comparing a
string with a number) is refused here with where and why
(``tests/spec/test_keras_layer_arguments_run23.py`` checks each against Keras).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from ._keras_layer_args import KERAS_LAYER_ARGS

__all__ = ["argument_problem"]

#: A rule: the problem with a value (None when Keras takes it); ``rank`` is the layer's spatial rank.
_Rule = Callable[[Any, int], "str | None"]


def _number(value: Any) -> bool:
    """A value Python compares with a number (``bool`` is an ``int``, as Keras sees it)."""
    return isinstance(value, (int, float))


def _whole(value: Any) -> bool:
    """A list item ``standardize_tuple`` takes: a number ``int()`` converts (not NaN nor infinite)."""
    return _number(value) and math.isfinite(value)


def _positive_int(value: Any, _rank: int) -> str | None:
    # Dense, Embedding, MultiHeadAttention: `not isinstance(x, int) or x <= 0`
    return None if isinstance(value, int) and value > 0 else "a positive whole number"


def _positive_int_not_bool(value: Any, _rank: int) -> str | None:
    # Embedding: `not isinstance(x, int) or isinstance(x, bool) or x <= 0`
    return None if isinstance(value, int) and not isinstance(value, bool) and value > 0 else "a positive whole number"


def _optional(rule: _Rule) -> _Rule:
    def check(value: Any, rank: int) -> str | None:
        return None if value is None else rule(value, rank)

    return check


def _positive(value: Any, _rank: int) -> str | None:
    # the recurrent layers' units, filters, depth_multiplier: `x <= 0` (a string fails the comparison)
    return None if _number(value) and not value <= 0 else "a positive number"


def _rate(value: Any, _rank: int) -> str | None:
    # the dropout layers: `not 0 <= rate <= 1` (NaN fails it)
    return None if _number(value) and 0 <= value <= 1 else "a number from 0 to 1"


def _sizes(*, allow_zero: bool) -> _Rule:
    """Keras's ``standardize_tuple``: a whole number, or a list of ``rank`` numbers, each above 0 (or at least 0)."""
    want = "at least 0" if allow_zero else "above 0"

    def check(value: Any, rank: int) -> str | None:
        what = f"a whole number or a list of {rank} numbers, each {want}"
        if isinstance(value, int):
            items: list[Any] = [value]
        elif isinstance(value, (list, tuple)) and len(value) == rank and all(_whole(v) for v in value):
            items = list(value)
        else:
            return what
        bad = [v for v in items if (v < 0 if allow_zero else v <= 0)]
        return what if bad else None

    return check


def _padding(*, allow_causal: bool) -> _Rule:
    """Keras's ``standardize_padding``: a list (taken as it is) or one of its names, in any case."""
    names = ("valid", "same", "causal") if allow_causal else ("valid", "same")

    def check(value: Any, _rank: int) -> str | None:
        if isinstance(value, (list, tuple)) or (isinstance(value, str) and value.lower() in names):
            return None
        return "one of " + ", ".join(repr(n) for n in names)

    return check


def _noise_shape(value: Any, _rank: int) -> str | None:
    # Dropout's `_validate_noise_shape`: None, or an iterable (not a string) of None or whole numbers above 0
    what = "a list of whole numbers above 0 or nulls"
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple, dict)):
        return what
    items = list(value)
    return None if all(v is None or (isinstance(v, int) and v > 0) for v in items) else what


def _data_format(value: Any, _rank: int) -> str | None:
    # `standardize_data_format`: None (Keras's setting), or either name in any case (str() of the value)
    return (
        None
        if value is None or str(value).lower() in ("channels_first", "channels_last")
        else ("'channels_last' or 'channels_first'")
    )


_KERNEL = _sizes(allow_zero=False)
_STRIDES_ZERO_OK = _sizes(allow_zero=True)

_PADDING = _padding(allow_causal=False)
_CONV = {
    "kernel_size": _KERNEL,
    "strides": _KERNEL,
    "dilation_rate": _KERNEL,
    "filters": _optional(_positive),
    "padding": _PADDING,
}
#: Keras's layer classes (and their other names) and the rules for the arguments their constructors check.
_RULES: dict[str, dict[str, _Rule]] = {
    "Dense": {"units": _positive_int},
    "Embedding": {"input_dim": _positive_int_not_bool, "output_dim": _positive_int_not_bool},
    # the cells check `units <= 0`; the GRU and SimpleRNN layers also need a whole state size
    **{name: {"units": _positive} for name in ("LSTM", "LSTMCell", "GRUCell", "SimpleRNNCell")},
    **{name: {"units": _positive_int} for name in ("GRU", "SimpleRNN")},
    **{name: {"rate": _rate} for name in ("Dropout", "GaussianDropout", "AlphaDropout")},
    **{f"SpatialDropout{n}D": {"rate": _rate} for n in (1, 2, 3)},
    "MultiHeadAttention": {
        "num_heads": _positive_int,
        "key_dim": _positive_int,
        "value_dim": _optional(_positive_int),
    },
    **{f"Conv{n}D": {**_CONV, "groups": _positive, "padding": _padding(allow_causal=n == 1)} for n in (1, 2, 3)},
    **{f"Conv{n}DTranspose": {**_CONV, "output_padding": _optional(_STRIDES_ZERO_OK)} for n in (1, 2, 3)},
    **{f"SeparableConv{n}D": {**_CONV, "depth_multiplier": _optional(_positive)} for n in (1, 2)},
    **{
        f"DepthwiseConv{n}D": {
            "kernel_size": _KERNEL,
            "strides": _KERNEL,
            "dilation_rate": _KERNEL,
            "depth_multiplier": _optional(_positive),
            "padding": _PADDING,
        }
        for n in (1, 2)
    },
    **{
        f"ConvLSTM{n}D": {
            "kernel_size": _KERNEL,
            "strides": _STRIDES_ZERO_OK,
            "dilation_rate": _KERNEL,
            "padding": _PADDING,
        }
        for n in (1, 2, 3)
    },
    **{
        f"{kind}Pooling{n}D": {"pool_size": _KERNEL, "strides": _optional(_STRIDES_ZERO_OK)}
        for kind in ("Max", "Average")
        for n in (1, 2, 3)
    },
}


#: Arguments the generated table lists because a base class's constructor takes them, which each of these
#: classes passes on itself (a pooling layer's ``pool_mode``, a convolution's ``rank``, an RNN's ``cell``):
#: given again in a config, Keras refuses them ("got multiple values").
_SET_BY_THE_CLASS = frozenset({"rank", "pool_dimensions", "pool_mode", "cell"})
#: The arguments each class takes from a config (``cls.from_config``); compared with Keras by
#: ``tests/spec/test_keras_layer_arguments_run23.py``.
_ARGUMENTS: dict[str, frozenset[str]] = {
    name: frozenset(KERAS_LAYER_ARGS[name]) - _SET_BY_THE_CLASS for name in _RULES if name in KERAS_LAYER_ARGS
}

for _name, _rules in _RULES.items():
    if "data_format" in _ARGUMENTS.get(_name, ()):
        _rules["data_format"] = _data_format
for _name in ("Dropout",):  # AlphaDropout takes its noise_shape unchecked
    _RULES[_name]["noise_shape"] = _noise_shape

#: The arguments each class's constructor has no default for (Keras fails to make the layer without them).
_REQUIRED: dict[str, tuple[str, ...]] = {
    name: tuple(k for k in ("units", "input_dim", "output_dim", "rate", "num_heads", "key_dim") if k in rules)
    for name, rules in _RULES.items()
}
_REQUIRED.update({name: ("filters", "kernel_size") for name in _RULES if "Conv" in name and "Depthwise" not in name})
_REQUIRED.update({f"DepthwiseConv{n}D": ("kernel_size",) for n in (1, 2)})
_REQUIRED.update({f"AveragePooling{n}D": ("pool_size",) for n in (1, 2, 3)})


def _as_tuple(value: Any, rank: int, default: Any) -> tuple[Any, ...] | None:
    """A size argument as Keras standardizes it (None when it is None)."""
    value = default if value is None else value
    if value is None:
        return None
    return (value,) * rank if isinstance(value, int) else tuple(value)


#: the classes each check between two arguments applies to, and where a class name gives its rank
_GROUPED = re.compile(r"Conv[123]D")
_STRIDED = re.compile(r"(Conv|ConvLSTM)[123]D(Transpose)?")
_TRANSPOSE = re.compile(r"Conv[123]DTranspose")
_RANK = re.compile(r"([123])D")


def _across(class_name: str, config: dict[str, Any], rank: int) -> tuple[str, str] | None:
    """The checks Keras's constructor makes between two arguments (each already passed its own rule)."""
    if _GROUPED.fullmatch(class_name):
        filters, groups = config.get("filters"), config.get("groups", 1)
        if filters is not None and not filters % groups == 0:
            return "filters", (
                f"{class_name}'s filters ({filters!r}) must be divisible by its groups ({groups!r}) "
                "(Keras refuses it when the layer is made)"
            )
    if _STRIDED.fullmatch(class_name):
        strides = _as_tuple(config.get("strides", 1), rank, 1)
        dilation = _as_tuple(config.get("dilation_rate", 1), rank, 1)
        if strides and dilation and max(strides) > 1 and max(dilation) > 1:
            return "strides", (
                f"{class_name} takes strides above 1 or a dilation_rate above 1, not both (Keras refuses it when "
                f"the layer is made); received strides={config.get('strides')!r}, "
                f"dilation_rate={config.get('dilation_rate')!r}"
            )
    if _TRANSPOSE.fullmatch(class_name) and config.get("output_padding") is not None:
        strides = _as_tuple(config.get("strides", 1), rank, 1) or ()
        padding = _as_tuple(config["output_padding"], rank, None) or ()
        if any(p >= s for p, s in zip(padding, strides)):
            return "output_padding", (
                f"{class_name}'s output_padding must be less than its strides in every dimension (Keras refuses "
                f"it when the layer is made); received output_padding={config['output_padding']!r}, "
                f"strides={config.get('strides', 1)!r}"
            )
    return None


def argument_problem(class_name: str, config: dict[str, Any]) -> tuple[str, str] | None:
    """The first argument of ``config`` that the constructor of Keras's ``class_name`` refuses, and why.

    Args:
        class_name: A Keras layer class name (canonical, e.g. ``Conv2D`` rather than ``Convolution2D``).
        config: The layer's config, as a spec gives it.

    Returns:
        ``(key, message)``, or None when every checked argument is one Keras takes (or the class has no rules).
    """
    rules = _RULES.get(class_name)
    if not rules:
        return None
    digits = _RANK.search(class_name)
    rank = int(digits.group(1)) if digits else 1
    for key in _REQUIRED.get(class_name, ()):
        if key not in config:
            return key, f"{class_name} needs its {key} (Keras cannot make the layer without it)"
    takes = _ARGUMENTS.get(class_name)
    if takes is not None:
        for key in config:
            if key not in takes:
                return key, (
                    f"Keras's {class_name} takes no argument {key!r} (Keras refuses it when the layer is made); "
                    f"it takes {', '.join(sorted(takes))}"
                )
    for key, rule in rules.items():
        if key not in config:
            continue
        value = config[key]
        want = rule(value, rank)
        if want is not None:
            shown = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)
            return (
                key,
                f"{class_name}'s {key} must be {want} (Keras refuses it when the layer is made); received {shown:.60}",
            )
    return _across(class_name, config, rank)


#: The most out-of-vocabulary indices a lookup layer may have: Keras makes a Python list of that many tokens
#: when it makes the layer (900,000,000 in a 22 KB file cost 7.5 GB before any weight was read)
MAX_OOV_INDICES = 1_000_000
#: The largest n-gram a TextVectorization may make: Keras makes ``range(1, ngrams + 1)`` when it makes the layer,
#: and each n its call (10,000,000 in an 18 KB file took nf.load 30 s)
MAX_NGRAMS = 1_000
#: The longest sequence a TextVectorization may pad each text to: Keras makes batch x that many tokens at each
#: call, whatever the text (300,000,000 in an 18 KB file cost ``predict`` 7.8 GB for 2 rows, and a crash for 4)
MAX_SEQUENCE_LENGTH = 1_000_000


#: The most power iterations a SpectralNormalization may run: Keras writes each one into the graph of every call
#: (1,000 took 17 s to trace one call; 10**9 never ended); Keras's default is 1
MAX_POWER_ITERATIONS = 100
#: The most augmentations a RandAugment may chain: each one, all its candidate transforms, goes into the graph of
#: every call (100 took 31 s to trace one call; 10**9 never ended); Keras's default is 2
MAX_AUGMENT_OPS = 16
#: The most augmentation steps an AugMix may take (num_chains x chain_depth), each in the graph of every call (a
#: step costs about 40 ms to trace; 100,000 x 100,000 never ended); Keras's default is 3 x 3
MAX_AUGMIX_STEPS = 100


#: The most values a MelSpectrogram's mel matrix may hold (num_mel_bins x (fft_length / 2 + 1)): Keras makes it at
#: the first call, whatever the data (1,000,000 bins on a 8,190-point FFT, a 350-byte spec, asked ``train`` for 16 GB);
#: Keras's default is 128 x 1,025
MAX_MEL_VALUES = 1 << 24


def _over(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > limit


#: The most characters of an EinsumDense's ``equation`` or ``bias_axes``, as of an einsum op node's equation
MAX_EINSUM_CHARS = 1_024


def construction_problem(class_name: str, config: dict[str, Any]) -> tuple[str, str] | None:
    """``(argument, what is wrong)`` for a size netform bounds that Keras makes a list or range of when it makes
    the layer, before any weight (None where there is none). These are netform's limits, not Keras's: Keras takes
    the values, and spends the memory or time."""
    if class_name == "EinsumDense":
        for key in ("equation", "bias_axes"):
            value = config.get(key)
            if isinstance(value, str) and len(value) > MAX_EINSUM_CHARS:
                return key, (
                    f"{len(value):,} characters; netform takes at most {MAX_EINSUM_CHARS:,} (an equation names each "
                    "axis once; Keras reads it in time growing with the square of its length: eight of 520,000 "
                    "characters, a 14 KB file, cost load 40 s)"
                )
    if class_name in ("IntegerLookup", "StringLookup") and _over(config.get("num_oov_indices"), MAX_OOV_INDICES):
        return "num_oov_indices", (
            f"netform takes at most {MAX_OOV_INDICES:,} (Keras lists that many out-of-vocabulary tokens when it "
            "makes the layer)"
        )
    if class_name == "TextVectorization":
        ngrams = config.get("ngrams")
        sizes = ngrams if isinstance(ngrams, (list, tuple)) else [ngrams]
        if any(_over(n, MAX_NGRAMS) for n in sizes):
            return "ngrams", f"netform takes n-grams up to {MAX_NGRAMS:,} (Keras makes range(1, ngrams + 1))"
        if _over(config.get("output_sequence_length"), MAX_SEQUENCE_LENGTH):
            return "output_sequence_length", (
                f"netform takes at most {MAX_SEQUENCE_LENGTH:,} (Keras pads every text to that many tokens at each "
                "call)"
            )
    if class_name == "MelSpectrogram":
        bins, fft = config.get("num_mel_bins", 128), config.get("fft_length", 2048)
        if _over(bins, 0) and _over(fft, 0) and bins * (fft // 2 + 1) > MAX_MEL_VALUES:
            return "num_mel_bins", (
                f"num_mel_bins x (fft_length / 2 + 1) = {bins * (fft // 2 + 1):,} values in the mel matrix Keras makes "
                f"at the first call; netform takes at most {MAX_MEL_VALUES:,}"
            )
    if class_name == "SpectralNormalization" and _over(config.get("power_iterations"), MAX_POWER_ITERATIONS):
        return "power_iterations", (
            f"netform takes at most {MAX_POWER_ITERATIONS:,} (Keras writes each iteration into the graph of every "
            "call, so tracing the model costs time in proportion)"
        )
    if class_name == "RandAugment" and _over(config.get("num_ops"), MAX_AUGMENT_OPS):
        return "num_ops", (
            f"netform takes at most {MAX_AUGMENT_OPS:,} (Keras writes each augmentation, with all the transforms it "
            "picks from, into the graph of every call)"
        )
    if class_name == "AugMix":
        for key in ("num_chains", "chain_depth"):
            value = config.get(key, 3)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return (
                    key,
                    f"Keras's AugMix takes a whole number of at least 0 here (it runs range({key}) at every call)",
                )
        steps = config.get("num_chains", 3) * config.get("chain_depth", 3)
        if steps > MAX_AUGMIX_STEPS:
            return "num_chains", (
                f"num_chains x chain_depth = {steps:,} augmentation steps; netform takes at most "
                f"{MAX_AUGMIX_STEPS:,} (Keras writes each step into the graph of every call)"
            )
    return None
