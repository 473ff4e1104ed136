"""``keras.ops`` calls whose cost is not their output's size are held to the bounds of their layers.

A plain Keras file of 11-13 KB without weights, its tensors made by ``ops.tile`` from one input value, ran for a
minute and more a sample: ``ops.max_pool`` of 512 x 512 over 1,024 x 1,024 (killed past 60 s, as the
``MaxPooling2D`` netform refuses), ``ops.conv`` of a 768 x 768 kernel over 1,536 x 1,536 (62 s),
``ops.depthwise_conv`` (killed past 120 s), ``ops.correlate`` of two signals of 2**19 (91 s); a spec's
``op: average_pool`` of 65,536 'same'-padded (40 s) passed ``validate``. Each now meets the rule of its layer:
windows and kernels (positions x cells), 'same'-padded pooling edges, products and score matrices; a partition's
and a short-time Fourier transform's hidden tensors as any tensor.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Callable

import keras
import pytest
from keras import ops

import netform as nf
from netform.errors import FormatError, SpecError


def _image(x: Any, n: int) -> Any:
    return ops.reshape(ops.tile(x, (1, n * n)), (1, n, n, 1))


def _kernel(x: Any, k: int) -> Any:
    return ops.reshape(ops.tile(x, (1, k * k)), (k, k, 1, 1))


def _signal(x: Any, n: int) -> Any:
    return ops.reshape(ops.tile(x, (1, n)), (n,))


BOMBS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "max_pool": (lambda x: ops.max_pool(_image(x, 1024), pool_size=512, strides=1), r"reads [\d,]+ values"),
    "average_pool_same": (
        lambda x: ops.average_pool(ops.reshape(ops.tile(x, (1, 65536)), (1, 65536, 1)), 65536, 1, "same"),
        r"padded edge",
    ),
    "conv": (lambda x: ops.conv(_image(x, 1536), _kernel(x, 768)), r"slides its kernel"),
    "depthwise_conv": (lambda x: ops.depthwise_conv(_image(x, 1024), _kernel(x, 512)), r"slides its kernel"),
    "conv_transpose": (lambda x: ops.conv_transpose(_image(x, 512), _kernel(x, 512), strides=1), r"slides its"),
    "correlate": (lambda x: ops.correlate(_signal(x, 2**19), _signal(x, 2**19), mode="full"), r"slides its"),
    "dot_product_attention": (
        lambda x: ops.dot_product_attention(*[ops.reshape(ops.tile(x, (1, 2**17)), (1, 2**17, 1, 1))] * 3),
        r"score matrix of [\d,]+ values",
    ),
    "argpartition": (lambda x: ops.argpartition(_signal(x, 2**18), 2**17), r"one-hot of [\d,]+ values"),
    "stft": (lambda x: ops.stft(ops.tile(x, (1, 2**17)), 2**16, 1, 2**16)[0], r"frames its signal|makes a tensor of"),
}


def _saved(tmp_path: Path, name: str, make: Callable[[Any], Any]) -> Path:
    x = keras.Input(batch_shape=(1, 1))
    y = ops.reshape(ops.sum(ops.cast(make(x), "float32"), keepdims=True), (1, 1))
    path = tmp_path / f"{name}.keras"
    keras.Model(x, y).save(path)  # plain Keras writes it: nothing runs but the graph's shapes
    return path


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_costly_op_in_a_plain_keras_file_is_refused_at_load(tmp_path: Path, name: str) -> None:
    make, why = BOMBS[name]
    path = _saved(tmp_path, name, make)
    assert path.stat().st_size < 20_000
    with pytest.raises(FormatError, match=why):
        nf.load(path)


def test_the_same_ops_of_ordinary_sizes_load(tmp_path: Path) -> None:
    ordinary = {
        "conv": lambda x: ops.conv(_image(x, 224), _kernel(x, 3), padding="same"),
        "depthwise_conv": lambda x: ops.depthwise_conv(_image(x, 224), _kernel(x, 5)),
        "conv_transpose": lambda x: ops.conv_transpose(_image(x, 32), _kernel(x, 3), strides=2),
        "max_pool": lambda x: ops.max_pool(_image(x, 224), 3, 2, padding="same"),
        "correlate": lambda x: ops.correlate(_signal(x, 1000), _signal(x, 100), mode="full"),
        "dot_product_attention": lambda x: ops.dot_product_attention(
            *[ops.reshape(ops.tile(x, (1, 128 * 64)), (1, 128, 4, 16))] * 3
        ),
        "argpartition": lambda x: ops.argpartition(_signal(x, 1000), 3),
        "stft": lambda x: ops.stft(ops.tile(x, (1, 16000)), 256, 128, 256)[0],
    }
    for name, make in ordinary.items():
        nf.load(_saved(tmp_path, name, make))


@pytest.mark.parametrize(
    ("pool", "why"),
    [
        ("{op: average_pool, in: img, pool_size: 65536, strides: 1, padding: same}", "padded edge"),
        ("{op: max_pool, in: img, pool_size: 131072, strides: 1}", "reads"),
    ],
)
def test_a_spec_pooling_op_meets_the_pooling_layers_bounds(tmp_path: Path, pool: str, why: str) -> None:
    spec = tmp_path / "pool.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
            netform: 1
            kind: functional
            inputs: {{x: {{shape: [1]}}}}
            nodes:
              t: {{op: tile, in: x, repeats: [1, 262144]}}
              img: {{op: reshape, in: t, newshape: [-1, 262144, 1]}}
              p: {pool}
              s: {{op: sum, in: p, axis: [1, 2]}}
            outputs: [s]
            """)
    )
    with pytest.raises(SpecError, match=why):
        nf.load_spec(spec)


def _ids(x: Any, value: float) -> Any:
    return ops.cast(ops.add(ops.multiply(x, 0.0), value), "int32")


DATA_SIZED: dict[str, Callable[[Any], Any]] = {
    "bincount": lambda x: ops.bincount(_ids(x, 2.0e9)),
    "segment_max": lambda x: ops.segment_max(x[0], _ids(x[0], 2.0e8)),
    "segment_sum_sorted": lambda x: ops.segment_sum(x[0], _ids(x[0], 2.0e8), sorted=True),
}


@pytest.mark.parametrize("name", sorted(DATA_SIZED))
def test_an_op_sized_by_its_data_is_refused_at_load(tmp_path: Path, name: str) -> None:
    """TensorFlow sizes these outputs by the largest value they meet: a bincount of 2e9 asked one sample for 24 GB."""
    with pytest.raises(FormatError, match=r"only the data decide its size"):
        nf.load(_saved(tmp_path, name, DATA_SIZED[name]))


def test_map_coordinates_over_many_axes_is_refused_at_load(tmp_path: Path) -> None:
    """Keras's TensorFlow backend gathers 2**axes corners of each point: 14 axes of size 1 traced for minutes."""
    for rank, refused in ((10, True), (3, False)):
        image = keras.Input((1,) * (rank - 1))
        points = keras.Input((rank,))
        path = tmp_path / f"map{rank}.keras"
        keras.Model([image, points], ops.image.map_coordinates(image, ops.transpose(points), order=1)).save(path)
        if refused:
            with pytest.raises(FormatError, match=r"interpolates over 10 axes"):
                nf.load(path)
        else:
            nf.load(path)


def test_segment_ops_with_a_number_of_segments_load(tmp_path: Path) -> None:
    nf.load(_saved(tmp_path, "segments", lambda x: ops.segment_sum(x[0], _ids(x[0], 3.0), num_segments=8)))


OVERSIZED: dict[str, tuple[Callable[[Any], Any], tuple[int, ...]]] = {
    "tile": (lambda x: ops.tile(x, [1, 2**30]), (4,)),
    "outer": (lambda x: ops.outer(x[0], x[0]), (2**20,)),
    "resizing": (lambda x: keras.layers.Resizing(131072, 131072)(x), (2, 2, 1)),
    "center_crop": (lambda x: keras.layers.CenterCrop(131072, 131072)(x), (2, 2, 1)),
    "repeat_vector": (lambda x: keras.layers.RepeatVector(2**31)(x), (1,)),
    "einsum": (lambda x: ops.einsum("bi,bj->bij", x, x), (2**16,)),
}


@pytest.mark.parametrize("name", sorted(OVERSIZED))
def test_any_operation_of_a_plain_keras_file_meets_the_per_tensor_limit(tmp_path: Path, name: str) -> None:
    """A 10-12 KB file whose op or layer makes 17 G values a sample loaded, and predict asked for 64 GB."""
    make, shape = OVERSIZED[name]
    x = keras.Input(shape)
    path = tmp_path / f"{name}.keras"
    keras.Model(x, make(x)).save(path)
    with pytest.raises(FormatError, match=r"makes a tensor of [\d,]+ values a sample"):
        nf.load(path)
