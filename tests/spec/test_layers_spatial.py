"""Static rules of the spatial layer families (conv, pooling, reshaping, preprocessing, regularization) vs Keras."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from netform.spec._layer_base import ShapeError, get_layer_spec

from ._parity import check_parity

Case = tuple[dict[str, Any], tuple]
DATA_FORMATS = st.sampled_from([None, "channels_last", "channels_first"])
ACTIVATIONS = st.sampled_from([None, "relu", "tanh"])
SEEDS = st.none() | st.integers(0, 1000)
RATES = st.floats(0, 0.9, allow_nan=False)


def _expand(value: int | list[int], n: int) -> list[int]:
    return [value] * n if isinstance(value, int) else list(value)


@st.composite
def int_or_list(draw: Any, n: int, lo: int, hi: int) -> int | list[int]:
    """An int, or a list of ``n`` ints, as a user would write them."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))


def _with_format(config: dict[str, Any], data_format: str | None) -> dict[str, Any]:
    if data_format is not None:
        config["data_format"] = data_format
    return config


def _shape(draw: Any, spatial: list[int | None], channels: int | None, data_format: str | None) -> tuple:
    """A full input shape: batch (usually None), spatial dims (sometimes None), channels."""
    batch = draw(st.sampled_from([None, None, None, 2]))
    spatial = [None if draw(st.integers(0, 5)) == 0 else d for d in spatial]
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _sizes(draw: Any, minima: list[int], padding: str) -> list[int]:
    """Spatial sizes that fit windows of ``minima`` (any size >= 1 with padding 'same')."""
    return [draw(st.integers(m if padding == "valid" else 1, m + 7)) for m in minima]


# --- conv -------------------------------------------------------------------------------


@st.composite
def conv_case(draw: Any, n: int, kind: str, padding_choices: tuple[str, ...] = ("valid", "same")) -> Case:
    data_format = draw(DATA_FORMATS)
    kernel = draw(int_or_list(n, 1, 4))
    if draw(st.booleans()):
        strides, dilation = draw(int_or_list(n, 1, 3)), 1
    else:
        strides, dilation = 1, draw(int_or_list(n, 1, 3))
    padding = draw(st.sampled_from(padding_choices))
    config: dict[str, Any] = {
        "kernel_size": kernel, "strides": strides, "dilation_rate": dilation, "padding": padding,
        "activation": draw(ACTIVATIONS), "use_bias": draw(st.booleans()),
    }
    channels = draw(st.integers(1, 6))
    if kind == "conv":
        groups = draw(st.sampled_from([1, 1, 2, 3]))
        config["groups"] = groups
        config["filters"] = groups * draw(st.integers(1, 4))
        channels = groups * draw(st.integers(1, 3))
        if draw(st.integers(0, 3)) == 0:
            config["lora_rank"] = draw(st.integers(1, 3))
            if draw(st.booleans()):
                config["lora_alpha"] = draw(st.sampled_from([0.5, 4.0, 16.0]))
    elif kind == "transpose":
        config["filters"] = draw(st.integers(1, 8))
        stride_t = _expand(strides, n)
        if draw(st.booleans()):
            if draw(st.booleans()):
                config["output_padding"] = draw(st.integers(0, min(stride_t) - 1))
            else:
                config["output_padding"] = [draw(st.integers(0, s - 1)) for s in stride_t]
    else:
        config["depth_multiplier"] = draw(st.integers(1, 3))
        if kind == "separable":
            config["filters"] = draw(st.integers(1, 8))
    if draw(st.integers(0, 4)) == 0:
        config["trainable"] = False
    effective = [(k - 1) * d + 1 for k, d in zip(_expand(kernel, n), _expand(dilation, n))]
    minima = [max(e, 2) for e in effective] if kind == "transpose" else effective
    spatial = _sizes(draw, minima, "valid" if kind == "transpose" else padding)
    shape = _shape(draw, spatial, channels, data_format)
    return _with_format(config, data_format), shape


# --- pooling ----------------------------------------------------------------------------


@st.composite
def pooling_case(draw: Any, n: int) -> Case:
    data_format = draw(DATA_FORMATS)
    pool = draw(int_or_list(n, 1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    config: dict[str, Any] = {"pool_size": pool, "padding": padding}
    if draw(st.booleans()):
        config["strides"] = draw(int_or_list(n, 1, 3))
    spatial = _sizes(draw, _expand(pool, n), padding)
    return _with_format(config, data_format), _shape(draw, spatial, draw(st.integers(1, 8)), data_format)


@st.composite
def global_pooling_case(draw: Any, n: int) -> Case:
    data_format = draw(DATA_FORMATS)
    config = {"keepdims": draw(st.booleans())}
    spatial = [draw(st.integers(1, 9)) for _ in range(n)]
    return _with_format(config, data_format), _shape(draw, spatial, draw(st.integers(1, 16)), data_format)


# --- reshaping --------------------------------------------------------------------------


def _dims(draw: Any, rank: int, lo: int = 1, hi: int = 6) -> list[int]:
    return [draw(st.integers(lo, hi)) for _ in range(rank)]


@st.composite
def flatten_case(draw: Any) -> Case:
    rank = draw(st.integers(0, 4))
    dims = [None if draw(st.integers(0, 6)) == 0 else d for d in _dims(draw, rank)]
    return _with_format({}, draw(DATA_FORMATS)), (draw(st.sampled_from([None, 3])), *dims)


def _prime_factors(n: int) -> list[int]:
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


@st.composite
def reshape_case(draw: Any) -> Case:
    dims = _dims(draw, draw(st.integers(1, 4)))
    bins = draw(st.integers(1, 4))
    target = [1] * bins
    for p in _prime_factors(math.prod(dims)):
        target[draw(st.integers(0, bins - 1))] *= p
    if draw(st.booleans()):
        target[draw(st.integers(0, bins - 1))] = -1
    if draw(st.integers(0, 5)) == 0:
        dims[draw(st.integers(0, len(dims) - 1))] = None
    return {"target_shape": target}, (None, *dims)


@st.composite
def permute_case(draw: Any) -> Case:
    rank = draw(st.integers(1, 4))
    dims = draw(st.permutations(list(range(1, rank + 1))))
    sizes = [None if draw(st.integers(0, 5)) == 0 else d for d in _dims(draw, rank, 1, 9)]
    return {"dims": dims}, (None, *sizes)


@st.composite
def repeat_vector_case(draw: Any) -> Case:
    return {"n": draw(st.integers(1, 12))}, (draw(st.sampled_from([None, 4])), draw(st.none() | st.integers(1, 32)))


@st.composite
def amount(draw: Any, n: int, hi: int) -> Any:
    """A padding/cropping amount in every form Keras accepts for ``n`` spatial axes."""
    pair = st.lists(st.integers(0, hi), min_size=2, max_size=2)
    if n == 1:
        return draw(st.integers(0, hi) | pair)
    form = draw(st.sampled_from(["int", "ints", "pairs", "mixed"]))
    if form == "int":
        return draw(st.integers(0, hi))
    if form == "ints":
        return draw(st.lists(st.integers(0, hi), min_size=n, max_size=n))
    if form == "pairs":
        return draw(st.lists(pair, min_size=n, max_size=n))
    return draw(st.lists(st.integers(0, hi) | pair, min_size=n, max_size=n))


def _per_axis_total(value: Any, n: int) -> list[int]:
    if isinstance(value, int):
        return [2 * value] * n
    if n == 1:
        return [sum(value)]
    return [2 * v if isinstance(v, int) else sum(v) for v in value]


@st.composite
def padding_case(draw: Any, n: int) -> Case:
    data_format = draw(DATA_FORMATS)
    config = {"padding": draw(amount(n, 3))}
    spatial = _dims(draw, n, 1, 8)
    return _with_format(config, data_format), _shape(draw, spatial, draw(st.integers(1, 5)), data_format)


@st.composite
def cropping_case(draw: Any, n: int) -> Case:
    data_format = draw(DATA_FORMATS) if n > 1 else None
    cropping = draw(amount(n, 3))
    spatial = [t + draw(st.integers(1, 6)) for t in _per_axis_total(cropping, n)]
    shape = _shape(draw, spatial, draw(st.integers(1, 5)), data_format)
    return _with_format({"cropping": cropping}, data_format), shape


@st.composite
def upsampling_case(draw: Any, n: int) -> Case:
    data_format = draw(DATA_FORMATS) if n > 1 else None
    config: dict[str, Any] = {"size": draw(st.integers(1, 4)) if n == 1 else draw(int_or_list(n, 1, 4))}
    if n == 2:
        config["interpolation"] = draw(st.sampled_from(["nearest", "bilinear", "bicubic", "area", "lanczos3"]))
    spatial = _dims(draw, n, 1, 9)
    return _with_format(config, data_format), _shape(draw, spatial, draw(st.integers(1, 5)), data_format)


# --- preprocessing ----------------------------------------------------------------------


@st.composite
def rescaling_case(draw: Any) -> Case:
    dims = _dims(draw, draw(st.integers(1, 3)), 1, 6)
    per_channel = st.lists(st.floats(-2, 2, allow_nan=False), min_size=dims[-1], max_size=dims[-1])
    scale_st = st.floats(-2, 2, allow_nan=False) | per_channel
    config = {"scale": draw(scale_st), "offset": draw(scale_st)}
    return config, (None, *dims)


@st.composite
def normalization_case(draw: Any) -> Case:
    rank = draw(st.integers(1, 3))
    dims = _dims(draw, rank, 1, 5)
    shape = (None, *dims)
    axes = draw(st.sets(st.integers(1, rank), max_size=rank))
    form = draw(st.sampled_from(["int", "tuple", "none", "negative"]))
    if form == "none" or not axes:
        axis: Any = None
        kept: list[int] = []
    elif form == "int":
        axis = min(axes)
        kept = [axis]
    elif form == "negative":
        axis = min(axes) - (rank + 1)
        kept = [min(axes)]
    else:
        axis = sorted(axes)
        kept = sorted(axes)
    config: dict[str, Any] = {"axis": axis, "invert": draw(st.booleans())}
    if draw(st.booleans()):
        kept_dims = [shape[a] for a in kept]
        mean_rank = draw(st.integers(0, len(kept_dims)))
        mean_shape = [d if draw(st.booleans()) else 1 for d in kept_dims[len(kept_dims) - mean_rank:]]

        def array(shape_: list[int], lo: float) -> Any:
            if not shape_:
                return draw(st.floats(lo, 5, allow_nan=False))
            return [array(shape_[1:], lo) for _ in range(shape_[0])]

        config["mean"], config["variance"] = array(mean_shape, -5), array(mean_shape, 0.1)
    if draw(st.integers(0, 4)) == 0:
        config["trainable"] = False
    return config, shape


@st.composite
def image_size_case(draw: Any, resizing: bool) -> Case:
    data_format = draw(DATA_FORMATS)
    config: dict[str, Any] = {"height": draw(st.integers(1, 40)), "width": draw(st.integers(1, 40))}
    if resizing:
        config["interpolation"] = draw(st.sampled_from(["bilinear", "nearest", "bicubic", "area", "lanczos5"]))
        aspect = draw(st.sampled_from(["crop_to_aspect_ratio", "pad_to_aspect_ratio", None]))
        if aspect:
            config[aspect] = True
        config["antialias"] = draw(st.booleans())
    spatial = _dims(draw, 2, 1, 48)
    return _with_format(config, data_format), _shape(draw, spatial, draw(st.integers(1, 4)), data_format)


# --- regularization ---------------------------------------------------------------------


@st.composite
def noise_case(draw: Any, field: str, values: st.SearchStrategy, noise_shape: bool = False) -> Case:
    dims = _dims(draw, draw(st.integers(1, 3)), 1, 8)
    shape = (draw(st.sampled_from([None, 4])), *dims)
    config: dict[str, Any] = {field: draw(values)}
    if field != "l1":
        config["seed"] = draw(SEEDS)
    if noise_shape and draw(st.booleans()):
        config["noise_shape"] = [draw(st.sampled_from([None, 1, d] if d else [None, 1])) for d in shape]
    if field == "l1":
        config["l2"] = draw(st.floats(0, 0.1, allow_nan=False))
    return config, shape


@st.composite
def spatial_dropout_case(draw: Any, n: int) -> Case:
    data_format = draw(DATA_FORMATS) if n > 1 else None
    config: dict[str, Any] = {"rate": draw(RATES), "seed": draw(SEEDS)}
    if draw(st.integers(0, 3)) == 0:
        config["trainable"] = False  # Keras's constructor has no `trainable`; the schema drops it
    spatial = _dims(draw, n, 1, 8)
    return _with_format(config, data_format), _shape(draw, spatial, draw(st.integers(1, 8)), data_format)


CASES: dict[str, Callable[[], st.SearchStrategy]] = {
    "Conv1D": lambda: conv_case(1, "conv", ("valid", "same", "causal")),
    "Conv2D": lambda: conv_case(2, "conv"),
    "Conv3D": lambda: conv_case(3, "conv"),
    "Conv1DTranspose": lambda: conv_case(1, "transpose"),
    "Conv2DTranspose": lambda: conv_case(2, "transpose"),
    "Conv3DTranspose": lambda: conv_case(3, "transpose"),
    "SeparableConv1D": lambda: conv_case(1, "separable"),
    "SeparableConv2D": lambda: conv_case(2, "separable"),
    "DepthwiseConv1D": lambda: conv_case(1, "depthwise"),
    "DepthwiseConv2D": lambda: conv_case(2, "depthwise"),
    **{f"{kind}Pooling{n}D": (lambda n=n: pooling_case(n)) for kind in ("Max", "Average") for n in (1, 2, 3)},
    **{f"Global{kind}Pooling{n}D": (lambda n=n: global_pooling_case(n)) for kind in ("Max", "Average") for n in (1, 2, 3)},
    "Flatten": flatten_case,
    "Reshape": reshape_case,
    "Permute": permute_case,
    "RepeatVector": repeat_vector_case,
    **{f"ZeroPadding{n}D": (lambda n=n: padding_case(n)) for n in (1, 2, 3)},
    **{f"Cropping{n}D": (lambda n=n: cropping_case(n)) for n in (1, 2, 3)},
    **{f"UpSampling{n}D": (lambda n=n: upsampling_case(n)) for n in (1, 2, 3)},
    "Rescaling": rescaling_case,
    "Normalization": normalization_case,
    "Resizing": lambda: image_size_case(True),
    "CenterCrop": lambda: image_size_case(False),
    "Dropout": lambda: noise_case("rate", RATES, noise_shape=True),
    **{f"SpatialDropout{n}D": (lambda n=n: spatial_dropout_case(n)) for n in (1, 2, 3)},
    "GaussianNoise": lambda: noise_case("stddev", st.floats(0, 1, allow_nan=False)),
    "GaussianDropout": lambda: noise_case("rate", RATES),
    "AlphaDropout": lambda: noise_case("rate", RATES, noise_shape=True),
    "ActivityRegularization": lambda: noise_case("l1", st.floats(0, 0.1, allow_nan=False)),
}


def test_every_layer_of_these_families_has_a_strategy() -> None:
    from netform.spec._layer_base import layer_specs

    families = {"conv", "pooling", "reshaping", "regularization"}
    registered = {
        name for name, cls in layer_specs().items()
        if (cls.family in families or cls.__module__.endswith(".preprocessing"))
        # keras.applications' own layers are checked against Keras in tests/builder/test_from_keras_gaps.py
        and not cls.__module__.endswith(".applications")
    }
    assert registered == set(CASES)


@pytest.mark.parametrize("layer_type", sorted(CASES))
def test_static_rule_matches_keras(layer_type: str) -> None:
    seen: set[str] = set()

    @settings(
        max_examples=20, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=CASES[layer_type]())
    def run(case: Case) -> None:
        config, shape = case
        key = repr(case)
        assume(key not in seen)  # a repeat is not a new example: draw another
        check_parity(layer_type, config, shape)
        seen.add(key)  # only after passing, so that Hypothesis can replay a failure

    run()
    assert len(seen) >= 20, f"only {len(seen)} distinct examples for {layer_type}; widen its strategy"


# --- errors users will read ---------------------------------------------------------------


def _spec(layer_type: str, **config: Any) -> Any:
    return get_layer_spec(layer_type).model_validate({"type": layer_type, **config})


@pytest.mark.parametrize(
    ("layer_type", "config", "shape", "message"),
    [
        ("Conv2D", {"filters": 4, "kernel_size": 3}, (None, 28, 3),
         r"^Conv2D expects an input of rank 4 \(batch included\), received shape \(None, 28, 3\)$"),
        ("Conv2D", {"filters": 4, "kernel_size": [5, 1]}, (None, 3, 9, 1),
         r"^Conv2D cannot slide its window along spatial axis 1 of input shape \(None, 3, 9, 1\): "
         r"the window \(5\) is larger than the input \(3\) with padding 'valid'; use padding: same"),
        ("Conv1D", {"filters": 4, "kernel_size": 3, "dilation_rate": 4}, (None, 8, 2),
         r"window \(9\) is larger than the input \(8\)"),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2}, (None, 9, 9, 3),
         r"^Conv2D with groups=2 needs a number of input channels divisible by 2, "
         r"received shape \(None, 9, 9, 3\) with 3 channels$"),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "data_format": "channels_first"}, (None, None, 9, 9),
         r"^Conv2D needs a known number of channels \(axis 1 for data_format channels_first\)"),
        ("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "padding": "same", "output_padding": 0}, (None, 1, 1, 3),
         r"^Conv2DTranspose would produce an empty output \(None, 0, 0, 4\) from input shape \(None, 1, 1, 3\)"),
        ("MaxPooling2D", {"pool_size": 4}, (None, 3, 8, 1),
         r"^MaxPooling2D cannot slide its window along spatial axis 1 .* the window \(4\) is larger than the input \(3\)"),
        ("GlobalAveragePooling1D", {}, (None, 4, 4, 3), r"^GlobalAveragePooling1D expects an input of rank 3"),
        ("Reshape", {"target_shape": [3, 7]}, (None, 4, 5),
         r"^Reshape cannot turn input shape \(None, 4, 5\) \(20 values per sample\) into target_shape \[3, 7\] "
         r"\(21 values\); the sizes must match$"),
        ("Reshape", {"target_shape": [3, -1]}, (None, 4, 5), r"20 is not divisible by 3$"),
        ("Permute", {"dims": [2, 1]}, (None, 4, 5, 6), r"^Permute expects an input of rank 3"),
        ("Cropping2D", {"cropping": [[2, 2], 0]}, (None, 4, 9, 1),
         r"^Cropping2D crops 4 from spatial axis 1 of input shape \(None, 4, 9, 1\), which has only 4"),
        ("Normalization", {"axis": 3}, (None, 4, 5), r"^Normalization axis 3 is out of range .* expected an axis in \[-3, 3\)$"),
        ("Normalization", {"axis": 1}, (None, None, 5), r"^Normalization keeps axis 1 .* whose size is unknown"),
        ("Normalization", {"mean": [1.0, 2.0], "variance": [1.0, 1.0]}, (None, 3),
         r"^Normalization `mean` of shape \[2\] does not broadcast to the kept axes \[3\]"),
        ("Resizing", {"height": 8, "width": 8}, (None, 32, 3), r"^Resizing expects a batch of images of rank 4"),
        ("Dropout", {"rate": 0.5, "noise_shape": [None, 2]}, (None, 3),
         r"^Dropout `noise_shape` \(None, 2\) does not broadcast to input shape \(None, 3\)"),
        ("SpatialDropout2D", {"rate": 0.5}, (None, 8, 3), r"^SpatialDropout2D expects an input of rank 4"),
    ],
)
def test_shape_errors(layer_type: str, config: dict[str, Any], shape: tuple, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        _spec(layer_type, **config).output_shape(shape)


@pytest.mark.parametrize(
    ("layer_type", "config", "loc", "message"),
    [
        ("Conv2D", {"filters": 4, "kernel_size": [3, 3, 3]}, ("kernel_size",),
         "`kernel_size` must be an int or a list of 2 ints (one per spatial axis), received [3, 3, 3] with 3 entries"),
        ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "full"}, ("padding",),
         "Input should be 'valid', 'same' or 'causal'"),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, ("padding",),
         "Input should be 'valid' or 'same'"),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": [1, 2]}, (),
         "Conv2D does not support strides > 1 together with dilation_rate > 1, received strides=2 and "
         "dilation_rate=(1, 2); set one of them to 1"),
        ("Conv2D", {"filters": 5, "kernel_size": 3, "groups": 2}, (),
         "`filters` must be divisible by `groups`, received filters=5 and groups=2"),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "lora_rank": 2, "kernel_constraint": "max_norm"}, (),
         "LoRA (`lora_rank`) is incompatible with `kernel_constraint` in Keras; remove one of them"),
        ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": [2, 1], "output_padding": 1}, (),
         "`output_padding` must be smaller than `strides` on every axis, received output_padding=1 and "
         "strides=(2, 1) (axis 2: 1 >= 1)"),
        ("MaxPooling3D", {"pool_size": [2, 2]}, ("pool_size",),
         "`pool_size` must be an int or a list of 3 ints (one per spatial axis), received [2, 2] with 2 entries"),
        ("AveragePooling2D", {"padding": "SAME", "pool_size": 2}, ("padding",), "Input should be 'valid' or 'same'"),
        ("Reshape", {"target_shape": [-1, 4, -1]}, ("target_shape",),
         "`target_shape` may contain at most one -1 (inferred size), received [-1, 4, -1]"),
        ("Reshape", {"target_shape": [0, 4]}, ("target_shape",),
         "`target_shape` entries must be positive ints or -1, received [0, 4]"),
        ("Permute", {"dims": [1, 3]}, ("dims",),
         "`dims` must be a permutation of 1..2 (axis 0 is the batch), received [1, 3]"),
        ("ZeroPadding3D", {"padding": [1, 2]}, ("padding",),
         "`padding` must be an int, or a list of 3 entries (one per spatial axis, each an int or [before, after]), "
         "received 2 entries"),
        ("UpSampling2D", {"interpolation": "linear"}, ("interpolation",), "Input should be 'bilinear', 'nearest'"),
        ("Normalization", {"mean": [0.0]}, (),
         "give both `mean` and `variance`, or neither (to compute them with adapt()); "
         "received mean=(0.0,) and variance=None"),
        ("Normalization", {"axis": None, "mean": [0.0], "variance": [1.0]}, (),
         "`mean` has rank 1 but only 0 axes are kept (axis=None); give a mean of rank <= 0"),
        ("Resizing", {"height": 4, "width": 4, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, (),
         "only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be true"),
        ("Dropout", {"rate": 1.0}, ("rate",), "Input should be less than 1"),
        ("GaussianNoise", {"stddev": -0.1}, ("stddev",), "Input should be greater than or equal to 0"),
        ("SpatialDropout1D", {"rate": 0.1, "data_format": "channels_first"}, ("data_format",),
         "Extra inputs are not permitted"),
    ],
)
def test_schema_errors(layer_type: str, config: dict[str, Any], loc: tuple, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _spec(layer_type, **config)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == loc
    assert errors[0]["msg"].removeprefix("Value error, ").startswith(message), errors[0]["msg"]
