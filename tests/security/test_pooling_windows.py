"""Pooling windows and convolution kernels are held to bounds on the steps they take, in specs and model files.

``MaxPooling1D(pool_size=N, strides=1, padding="same")`` over N steps has no weights and an output no larger
than its input, so no bound saw it; TensorFlow's cost grows with the windows that reach into the padding times
the steps each covers (N x N here), not with the input: an 18 KB ``.keras`` and a 473-byte ``.npz`` cost
``predict`` 1.6 GB at N = 4,096, 4.7 GB at 8,192, and the process died by SIGSEGV at 16,384.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

import netform as nf
from netform.errors import FormatError
from netform.saving._config_walk import spec_from_file


def _spec(layer: str, shape: str) -> str:
    return f"netform: 1\nkind: sequential\ninputs: {{x: {{shape: {shape}}}}}\nlayers:\n  - {layer}\n"


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        ("{type: MaxPooling1D, pool_size: 4096, strides: 1, padding: same}", "[4096, 1]", r"4,096 windows of 4,096"),
        (
            "{type: AveragePooling1D, pool_size: 8192, strides: 2, padding: same}",
            "[8192, 3]",
            r"4,096 windows of 8,192",
        ),
        ("{type: MaxPooling1D, pool_size: 4096, strides: 1, padding: same}", "[null, 1]", r"4,096 windows of 4,096"),
        (
            "{type: MaxPooling2D, pool_size: [1, 4096], strides: 1, padding: same}",
            "[2, 4096, 1]",
            r"4,096 windows of 4,096",
        ),
        (
            "{type: AveragePooling3D, pool_size: [1, 1, 3000], strides: 1, padding: same}",
            "[2, 2, 3000, 1]",
            r"3,000 windows of 3,000",
        ),
    ],
)
def test_a_window_past_the_bound_is_refused_at_validate(layer: str, shape: str, message: str) -> None:
    with pytest.raises(
        nf.SpecError, match=rf"layers\[0\]: .*{message} steps over the padded edge.*the limit is 4,194,304"
    ) as caught:
        nf.load_spec(_spec(layer, shape))
    assert all(d.limit for d in caught.value.diagnostics)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("{type: MaxPooling1D, pool_size: 2048, strides: 1, padding: same}", "[2048, 1]"),  # at the bound
        ("{type: MaxPooling1D, pool_size: 4096, strides: 1, padding: valid}", "[16384, 1]"),  # no padded edge
        ("{type: MaxPooling1D, pool_size: 16384, strides: 1, padding: same}", "[16, 1]"),  # 16 windows of 16 steps
        ("{type: MaxPooling2D, pool_size: 3, strides: 1, padding: same}", "[35, 35, 288]"),  # Inception's
        ("{type: AveragePooling2D, pool_size: 32, strides: 1, padding: same}", "[256, 256, 3]"),
        ("{type: AveragePooling1D, pool_size: 400, strides: 160, padding: same}", "[null, 1]"),
    ],
)
def test_windows_within_the_bound_are_kept(layer: str, shape: str) -> None:
    nf.load_spec(_spec(layer, shape))


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        ("{type: MaxPooling2D, pool_size: 512, strides: 1}", "[1024, 1024, 1]", r"68,988,174,336 values a sample"),
        ("{type: AveragePooling1D, pool_size: 32768, strides: 1}", "[65536, 4]", r"4,295,098,368 values a sample"),
        ("{type: MaxPooling3D, pool_size: 64, strides: 1}", "[128, 128, 128, 1]", r"values a sample"),
    ],
)
def test_a_window_reading_past_the_bound_is_refused(layer: str, shape: str, message: str) -> None:
    """Valid windows too: TensorFlow visits each window whole, so a MaxPooling2D of 512 with strides 1 over
    1,024 x 1,024 (a 12.8 KB .keras, no weights) took 47 s of CPU a sample."""
    with pytest.raises(
        nf.SpecError, match=rf"{message} \(.* output positions x a window of .*the limit is 2,147,483,647"
    ):
        nf.load_spec(_spec(layer, shape))


def test_real_architectures_pool_within_the_bounds() -> None:
    for build in (
        lambda: keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3)),
        lambda: keras.applications.InceptionV3(weights=None, input_shape=(299, 299, 3)),
        lambda: keras.applications.DenseNet121(weights=None, input_shape=(224, 224, 3)),
    ):
        nf.from_keras(build())


def _wide() -> keras.Model:
    return keras.Sequential([keras.Input((4096, 1)), keras.layers.MaxPooling1D(4096, strides=1, padding="same")])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_plain_keras_file_with_such_a_window_is_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"m{suffix}"
    _wide().save(path)
    with pytest.raises(FormatError, match=r"4,096 windows of 4,096 steps over the padded edge"):
        nf.load(path)


def test_describing_such_a_file_names_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    _wide().save(path)
    with pytest.raises(FormatError, match=r"is past netform's limits for a model .*4,096 windows of 4,096"):
        spec_from_file(path)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_netform_does_not_save_a_sequential_its_loaders_refuse(tmp_path: Path, suffix: str) -> None:
    """The save's own check read a Sequential's shapes as Keras's serializer leaves them (tuples, which the
    file holds as lists) and let it through; the file was then refused by every loader."""
    path = tmp_path / f"m{suffix}"
    with pytest.raises(
        nf.SaveError, match=r"past netform's limits for a model file.*4,096 windows.*Nothing was written"
    ):
        nf.save(_wide(), path)
    assert not path.exists()
    nf.save(keras.Sequential([keras.Input((4096, 1)), keras.layers.MaxPooling1D(4096, strides=1)]), path)
    nf.load(path)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("{type: DepthwiseConv2D, kernel_size: 256, padding: same}", "[1024, 1024, 1]"),
        ("{type: SeparableConv2D, filters: 1, kernel_size: 256, padding: same}", "[1024, 1024, 1]"),
        ("{type: Conv3D, filters: 1, kernel_size: 48, padding: same}", "[96, 96, 96, 1]"),
        ("{type: Conv2DTranspose, filters: 1, kernel_size: 256, padding: same}", "[1024, 1024, 1]"),
        ("{type: Conv1D, filters: 1, kernel_size: 65536, padding: same}", "[65536, 1]"),
    ],
)
def test_a_kernel_slid_past_the_bound_is_refused(layer: str, shape: str) -> None:
    """A convolution's cost is positions x kernel cells x channels; the channels grow with its weights, the
    rest with neither: a DepthwiseConv2D of kernel 256 over 1,024 x 1,024 (65,537 weights, 274 KB) took 34 s
    of CPU a sample, a Conv3D of kernel 48 over 96**3 29 s."""
    with pytest.raises(nf.SpecError, match=r"kernel steps a sample; .*the limit is 2,147,483,647") as caught:
        nf.load_spec(_spec(layer, shape))
    assert all(d.limit for d in caught.value.diagnostics)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("{type: Conv2D, filters: 64, kernel_size: 3, padding: same}", "[2048, 2048, 64]"),  # high-res segmentation
        ("{type: Conv3D, filters: 64, kernel_size: 3, padding: same}", "[128, 128, 128, 64]"),  # a 3-D U-Net's
        ("{type: DepthwiseConv2D, kernel_size: 31, padding: same}", "[512, 512, 128]"),  # large-kernel designs
        ("{type: Conv1D, filters: 8, kernel_size: 1024, padding: same}", "[1000000, 1]"),  # audio front ends
        ("{type: Conv2DTranspose, filters: 64, kernel_size: 4, strides: 2, padding: same}", "[512, 512, 64]"),
    ],
)
def test_real_kernels_are_kept(layer: str, shape: str) -> None:
    nf.load_spec(_spec(layer, shape))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_keras_file_with_such_a_kernel_is_refused_and_not_saved(tmp_path: Path, suffix: str) -> None:
    model = keras.Sequential([keras.Input((1024, 1024, 1)), keras.layers.DepthwiseConv2D(256, padding="same")])
    path = tmp_path / f"m{suffix}"
    model.save(path)
    with pytest.raises(FormatError, match=r"68,719,476,736 kernel steps a sample"):
        nf.load(path)
    with pytest.raises(nf.SaveError, match=r"past netform's limits for a model file.*kernel steps"):
        nf.save(model, tmp_path / f"again{suffix}")
    assert not (tmp_path / f"again{suffix}").exists()


def _product(node: str, n: int) -> str:
    return (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [{n}]}}}}\nnodes:\n"
        f"  r: {{type: RepeatVector, n: {n}, in: x}}\n  m: {node}\noutputs: [m]\n"
    )


@pytest.mark.parametrize(
    ("node", "n"),
    [
        ("{op: matmul, in: [r, r]}", 16384),
        ("{op: einsum, subscripts: 'bij,bjk->bik', in: [r, r]}", 16384),
        ("{type: Dot, axes: 2, in: [r, r]}", 8192),
        ("{type: Attention, in: [r, r]}", 16384),
    ],
)
def test_a_product_without_weights_past_the_bound_is_refused(node: str, n: int) -> None:
    """Two 16,384 x 16,384 matrices made from 64 KB by a RepeatVector, multiplied: every tensor within the
    per-sample bound, no weights, a 13 KB .keras; the product took 98 s of CPU a sample (2.77 GB)."""
    with pytest.raises(nf.SpecError, match=r"multiply-adds a sample.*the limit is 68,719,476,736") as caught:
        nf.load_spec(_product(node, n))
    assert all(d.limit for d in caught.value.diagnostics)


@pytest.mark.parametrize(
    "node",
    [
        "{op: matmul, in: [r, r]}",  # 4,096**3: a 4,096-step attention's products of 4,096 features
        "{op: einsum, subscripts: 'bij,bij->bi', in: [r, r]}",  # sums once over each pair
        "{type: Attention, in: [r, r]}",
    ],
)
def test_products_within_the_bound_are_kept(node: str) -> None:
    nf.load_spec(_product(node, 4096))


def test_a_netform_file_with_such_a_product_is_refused(tmp_path: Path) -> None:
    inputs = keras.Input((8192,))
    repeated = keras.layers.RepeatVector(8192)(inputs)
    model = keras.Model(inputs, keras.layers.Dot(axes=2)([repeated, repeated]))
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(FormatError, match=r"549,755,813,888 multiply-adds a sample"):
        nf.load(path)
    with pytest.raises(nf.SaveError, match=r"multiply-adds a sample"):
        nf.save(model, tmp_path / "again.keras")


@pytest.mark.parametrize("kind", ["matmul", "einsum"])
def test_a_plain_keras_file_calling_such_a_product_is_refused(tmp_path: Path, kind: str) -> None:
    """A Functional model of plain Keras calling keras.ops on its tensors: the product is read from the shapes
    Keras gives each call once the model is built (nothing runs), and the load and the save are refused."""
    inputs = keras.Input((8192,))
    repeated = keras.layers.RepeatVector(8192)(inputs)
    if kind == "matmul":
        outputs = keras.ops.matmul(repeated, keras.ops.transpose(repeated, (0, 2, 1)))
    else:
        outputs = keras.ops.einsum("bij,bkj->bik", repeated, repeated)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(FormatError, match=rf"keras.ops.{kind}\) makes 67,108,864 values a sample"):
        nf.load(path)
    with pytest.raises(nf.SaveError, match=r"549,755,813,888 multiply-adds a sample"):
        nf.save(model, tmp_path / "again.keras")
    small = keras.Input((64,))
    kept = keras.layers.RepeatVector(64)(small)
    nf.save(keras.Model(small, keras.ops.einsum("bij,bkj->bik", kept, kept)), tmp_path / "small.keras")
    nf.load(tmp_path / "small.keras")


_PLAIN_OPS = {
    "dot": lambda m: keras.ops.dot(m, m),
    "tensordot": lambda m: keras.ops.tensordot(m, m, axes=[[2], [1]]),
    "svd": lambda m: keras.ops.svd(m, compute_uv=False),
    "inv": keras.ops.inv,
    "norm ord 2": lambda m: keras.ops.norm(m, ord=2, axis=(1, 2)),
}


def _square(n: int, op: str) -> keras.Model:
    """An n x n matrix made from n values (no weights), then ``op``."""
    x = keras.Input((n,))
    m = keras.ops.sin(keras.ops.expand_dims(x, 2) * keras.ops.expand_dims(x, 1))
    return keras.Model(x, _PLAIN_OPS[op](m))


@pytest.mark.parametrize("op", sorted(_PLAIN_OPS))
def test_other_products_and_factorizations_in_a_plain_keras_file_are_refused(tmp_path: Path, op: str) -> None:
    """keras.ops.dot/tensordot of the same product as matmul, and a factorization of an 8,192 x 8,192 matrix made
    from 8,192 values (svd: 82 s of CPU a sample, inv 22 s, a 12.7 KB .keras): refused; a 256 x 256 one is kept."""
    with pytest.raises(nf.SaveError, match=r"549,755,813,888 multiply-adds a sample"):
        nf.save(_square(8192, op), tmp_path / "big.keras")
    nf.save(_square(256, op), tmp_path / "small.keras")
    nf.load(tmp_path / "small.keras")


def test_a_frobenius_norm_is_no_factorization(tmp_path: Path) -> None:
    x = keras.Input((8192,))
    m = keras.ops.sin(keras.ops.expand_dims(x, 2) * keras.ops.expand_dims(x, 1))
    nf.save(keras.Model(x, keras.ops.norm(m, axis=(1, 2))), tmp_path / "norm.keras")
