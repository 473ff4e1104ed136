"""Numbers Keras loops over while it traces a call are bounded, in specs and in model files.

Keras writes one copy of a step into the graph of every call for each Muon ``ns_steps``, each
``SpectralNormalization`` power iteration, each ``RandAugment`` op, each ``AugMix`` chain step and each time
step of a recurrent layer with ``unroll: true``. A 300-byte spec with ``ns_steps: 1000000`` passed validate and
kept ``train`` tracing (1.7 GB and growing after 90 s); the others the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import pytest

import netform as nf
from netform.errors import FormatError

from ._helpers import json_member, rezip

HEAD = "netform: 1\nname: m\nkind: sequential\ninputs: {x: {shape: SHAPE}}\nlayers:\n"
TRAIN = "training: {loss: mse, epochs: 1, batch_size: 8, optimizer: {type: Muon, ns_steps: STEPS}}\n"


def _spec(shape: str, *layers: str, training: str = "") -> str:
    return HEAD.replace("SHAPE", shape) + "".join(f"  - {layer}\n" for layer in layers) + training


@pytest.mark.parametrize(("steps", "ok"), [(5, True), (0, True), (100, True), (101, False), (10**6, False),
                                          (1.5, False)])
def test_muon_newton_schulz_steps(steps: object, ok: bool) -> None:
    text = _spec("[4]", "{type: Dense, units: 3}", "{type: Dense, units: 1}",
                 training=TRAIN.replace("STEPS", str(steps)))
    if ok:
        nf.load_spec(text)
        return
    with pytest.raises(nf.SpecError, match=r"training\.optimizer.*ns_steps is .*write a whole number from 0 to 100"):
        nf.load_spec(text)


SN = ("{type: KerasLayer, class_name: SpectralNormalization, config: {power_iterations: ITER, "
      "layer: {module: keras.layers, class_name: Dense, config: {units: 3}}}}")


@pytest.mark.parametrize(
    ("shape", "layer", "message"),
    [
        ("[4]", SN.replace("ITER", "1000000000"), r"config\.power_iterations: 1000000000: netform takes at most 100"),
        ("[8, 8, 3]", "{type: KerasLayer, class_name: RandAugment, config: {num_ops: 1000000000}}",
         r"config\.num_ops: 1000000000: netform takes at most 16"),
        ("[8, 8, 3]", "{type: KerasLayer, class_name: AugMix, config: {num_chains: 100000, chain_depth: 100000}}",
         r"num_chains x chain_depth = 10,000,000,000 augmentation steps; netform takes at most 100"),
        ("[8, 8, 3]", "{type: KerasLayer, class_name: AugMix, config: {chain_depth: [1, 3]}}",
         r"config\.chain_depth: \[1, 3\]: Keras's AugMix takes a whole number"),
        ("[8, 8, 3]", "{type: KerasLayer, class_name: Pipeline, config: {layers: [{module: keras.layers, "
                      "class_name: RandAugment, config: {num_ops: 100}}]}}",
         r"config\.layers\.0\.config\.num_ops: 100: netform takes at most 16"),
    ],
)
def test_layers_that_loop_at_each_call_are_bounded_at_validate(shape: str, layer: str, message: str) -> None:
    with pytest.raises(nf.SpecError, match=message):
        nf.load_spec(_spec(shape, layer))


@pytest.mark.parametrize(
    ("shape", "layer"),
    [
        ("[4]", SN.replace("ITER", "100")),
        ("[8, 8, 3]", "{type: KerasLayer, class_name: RandAugment, config: {num_ops: 2}}"),
        ("[8, 8, 3]", "{type: KerasLayer, class_name: AugMix, config: {num_chains: 10, chain_depth: 10}}"),
        ("[8, 8, 3]", "{type: KerasLayer, class_name: AugMix, config: {}}"),
    ],
)
def test_the_values_people_use_pass(shape: str, layer: str) -> None:
    nf.load_spec(_spec(shape, layer))


@pytest.mark.parametrize(
    "layer",
    [
        "{type: LSTM, units: 2, unroll: true}",
        "{type: ConvLSTM1D, filters: 2, kernel_size: 1, unroll: true}",
        "{type: KerasLayer, class_name: GRU, config: {units: 2, unroll: true}}",
        "{type: Bidirectional, layer: {type: SimpleRNN, units: 2, unroll: true}}",
        "{type: KerasLayer, class_name: RNN, config: {unroll: true, cell: {module: keras.layers, "
        "class_name: LSTMCell, config: {units: 2}}}}",
    ],
)
def test_unrolling_long_sequences_is_refused(layer: str) -> None:
    shape = "[100000, 3, 1]" if "ConvLSTM" in layer else "[100000, 3]"
    with pytest.raises(nf.SpecError, match=r"with unroll: true over 100,000 time steps.*netform unrolls at most 256"):
        nf.load_spec(_spec(shape, layer))
    nf.load_spec(_spec(shape.replace("100000", "256"), layer))
    nf.load_spec(_spec(shape, layer.replace("unroll: true", "unroll: false")))


def _edited(source: Path, target: Path, edit: Any) -> Path:
    return Path(rezip(str(source), str(target), json_member("config.json", edit)))


def _layer_config(config: dict[str, Any], class_name: str) -> dict[str, Any]:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == class_name)


def test_model_files_with_such_numbers_are_refused(tmp_path: Path) -> None:
    inputs = keras.Input((10, 3))
    hidden = keras.layers.LSTM(4, unroll=True)(inputs)
    out = keras.layers.SpectralNormalization(keras.layers.Dense(2))(hidden)
    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.Muon(), loss="mse")
    source = tmp_path / "m.keras"
    model.save(source)
    nf.load(source)

    def power(config: dict[str, Any]) -> None:
        _layer_config(config, "SpectralNormalization")["config"]["power_iterations"] = 10**9

    def muon(config: dict[str, Any]) -> None:
        config["compile_config"]["optimizer"]["config"]["ns_steps"] = 10**9

    def steps(config: dict[str, Any]) -> None:
        _layer_config(config, "LSTM")["build_config"]["input_shape"] = [None, 100_000, 3]

    for edit, message in ((power, r"has power_iterations 1000000000; netform takes at most 100"),
                          (muon, r"Muon optimizer at compile_config\.optimizer in the config has ns_steps 1000000000"),
                          (steps, r"unrolls 100,000 fixed time steps \(nested ones multiplied\); netform takes at most 256")):
        with pytest.raises(FormatError, match=message):
            nf.load(_edited(source, tmp_path / f"{edit.__name__}.keras", edit))


def _schedule(n: int) -> str:
    boundaries = ", ".join(str(i) for i in range(1, n + 1))
    values = ", ".join("0.001" for _ in range(n + 1))
    return (f"training: {{loss: mse, epochs: 1, optimizer: {{type: Adam, learning_rate: {{type: PiecewiseConstantDecay, "
            f"boundaries: [{boundaries}], values: [{values}]}}}}}}\n")


def test_a_piecewise_schedule_s_boundaries_are_bounded() -> None:
    """4,000 boundaries (a 43 KB spec) took ``train`` 73 s of CPU and 2.2 GB tracing one step."""
    layers = ("{type: Dense, units: 1}",)
    with pytest.raises(nf.SpecError, match=r"PiecewiseConstantDecay has 4,000 boundaries.*at most 100"):
        nf.load_spec(_spec("[4]", *layers, training=_schedule(4000)))
    nf.load_spec(_spec("[4]", *layers, training=_schedule(100)))


@pytest.mark.parametrize(("n", "refused"), [(10, False), (5000, True)])
def test_a_model_file_s_piecewise_schedule_is_bounded(tmp_path: Path, n: int, refused: bool) -> None:
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(list(range(1, n + 1)), [0.001] * (n + 1))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    path = tmp_path / "m.keras"
    model.save(path)
    if not refused:
        nf.load(path)
        return
    with pytest.raises(FormatError, match=r"PiecewiseConstantDecay at compile_config\.optimizer\.config\."
                                          r"learning_rate in the config has 5,000 boundaries"):
        nf.load(path)


@pytest.mark.parametrize(
    "layer",
    ["{type: TimeDistributed, layer: {type: Dense, units: 1}}",
     "{type: KerasLayer, class_name: TimeDistributed, config: {layer: {module: keras.layers, class_name: Dense, "
     "config: {units: 1}}}}"],
)
def test_time_distributed_over_many_fixed_steps_is_refused(layer: str) -> None:
    """Keras calls the wrapped layer once per fixed time step in a Python loop: a 261-byte spec over 20,000 steps
    kept ``train`` tracing past 120 s (3,000 steps: 78 s and 2.1 GB)."""
    with pytest.raises(nf.SpecError, match=r"TimeDistributed over 20,000 fixed time steps.*shorten the sequences, or apply the layer without "
                                           r"TimeDistributed"):
        nf.load_spec(_spec("[20000, 1]", layer))
    nf.load_spec(_spec("[256, 1]", layer))
    nf.load_spec(_spec("[null, 1]", layer))


def test_a_model_file_s_time_distributed_steps_are_bounded(tmp_path: Path) -> None:
    inputs = keras.Input((10, 3))
    model = keras.Model(inputs, keras.layers.TimeDistributed(keras.layers.Dense(2))(inputs))
    source = tmp_path / "td.keras"
    model.save(source)
    nf.load(source)

    def steps(config: dict[str, Any]) -> None:
        _layer_config(config, "TimeDistributed")["build_config"]["input_shape"] = [None, 20_000, 3]

    with pytest.raises(FormatError, match=r"runs its layer over 20,000 fixed time steps \(nested ones multiplied\); netform takes at most 256"):
        nf.load(_edited(source, tmp_path / "steps.keras", steps))


RET = "{type: KerasLayer, class_name: RandomElasticTransform, config: {factor: 1.0}}"


def test_an_elastic_transform_over_many_channels_is_refused() -> None:
    """Keras resamples each channel (and each sample) in a Python loop: a 300-byte spec over 2,000 channels kept
    ``train`` tracing past 5 minutes at 2.9 GB."""
    with pytest.raises(nf.SpecError, match=r"RandomElasticTransform over 2,000 channels.*at most 64 channels"):
        nf.load_spec(_spec("[4, 4, 2000]", RET))
    nf.load_spec(_spec("[4, 4, 3]", RET))
    first = RET.replace("factor: 1.0", "factor: 1.0, data_format: channels_first")
    with pytest.raises(nf.SpecError, match=r"over 2,000 channels"):
        nf.load_spec(_spec("[2000, 4, 4]", first))
    nf.load_spec(_spec("[3, 4, 2000]", first))


def test_a_model_file_s_elastic_transform_channels_are_bounded(tmp_path: Path) -> None:
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.RandomElasticTransform(factor=1.0)(inputs))
    source = tmp_path / "et.keras"
    model.save(source)
    nf.load(source)

    def channels(config: dict[str, Any]) -> None:
        _layer_config(config, "RandomElasticTransform")["build_config"]["input_shape"] = [None, 8, 8, 2000]

    with pytest.raises(FormatError, match=r"RandomElasticTransform over 2,000 channels"):
        nf.load(_edited(source, tmp_path / "channels.keras", channels))


@pytest.mark.parametrize(
    ("shape", "layer"),
    [
        ("[100, 100, 1]", "{type: TimeDistributed, layer: {type: TimeDistributed, layer: {type: Dense, units: 1}}}"),
        ("[100, 100, 1]", "{type: TimeDistributed, layer: {type: SimpleRNN, units: 1, unroll: true}}"),
        ("[10, 10, 10, 1]", "{type: TimeDistributed, layer: {type: TimeDistributed, layer: {type: TimeDistributed, "
                            "layer: {type: Dense, units: 1}}}}"),
        ("[100, 100, 1]", "{type: KerasLayer, class_name: TimeDistributed, config: {layer: {module: keras.layers, "
                          "class_name: TimeDistributed, config: {layer: {module: keras.layers, class_name: Dense, "
                          "config: {units: 1}}}}}}"),
    ],
)
def test_nested_repeats_multiply(shape: str, layer: str) -> None:
    """A TimeDistributed over 1,000 fixed steps of another over 1,000 (a 2-parameter spec) kept ``train`` tracing
    past 120 s: each wrapper alone was under the limit."""
    with pytest.raises(nf.SpecError, match=r"copies of the innermost layer.*netform takes at most 256"):
        nf.load_spec(_spec(shape, layer))
    nf.load_spec(_spec(shape.replace("100, 100", "10, 10").replace("[10, 10, 10", "[5, 5, 5"), layer))
    nf.load_spec(_spec(shape.replace("[100, 100", "[null, 2").replace("[10, 10, 10", "[null, 2, 2"), layer))


def test_a_model_file_s_nested_time_distributed_is_bounded(tmp_path: Path) -> None:
    inputs = keras.Input((5, 5, 3))
    inner = keras.layers.TimeDistributed(keras.layers.Dense(2))
    model = keras.Model(inputs, keras.layers.TimeDistributed(inner)(inputs))
    source = tmp_path / "td2.keras"
    model.save(source)
    nf.load(source)

    def steps(config: dict[str, Any]) -> None:
        _layer_config(config, "TimeDistributed")["build_config"]["input_shape"] = [None, 100, 100, 3]

    with pytest.raises(FormatError, match=r"runs its layer over 10,000 fixed time steps \(nested ones multiplied\)"):
        nf.load(_edited(source, tmp_path / "steps.keras", steps))


MEL = "{type: KerasLayer, class_name: MelSpectrogram, config: {CONFIG}}"


@pytest.mark.parametrize(
    ("shape", "config", "message"),
    [
        ("[4096]", "fft_length: 8190, sequence_length: 8190, sequence_stride: 4096, num_mel_bins: 1000000",
         r"config\.num_mel_bins: 1000000: num_mel_bins x \(fft_length / 2 \+ 1\) = 4,096,000,000 values in the mel "
         r"matrix Keras makes at the first call; netform takes at most 16,777,216"),
        ("[100000]", "fft_length: 1000000, sequence_stride: 1, num_mel_bins: 1",
         r"MelSpectrogram frames each sample into 100,002 windows of 1,000,000 values"),
    ],
)
def test_a_mel_spectrogram_s_hidden_sizes_are_bounded(shape: str, config: str, message: str) -> None:
    """The mel matrix is no weight and no output: num_mel_bins 1,000,000 in a 350-byte spec asked ``train`` for
    16 GB."""
    with pytest.raises(nf.SpecError, match=message):
        nf.load_spec(_spec(shape, MEL.replace("CONFIG", config)))


def test_an_ordinary_mel_spectrogram_passes() -> None:
    nf.load_spec(_spec("[16000]", MEL.replace("CONFIG", "num_mel_bins: 128")))
    nf.load_spec(_spec("[16000]", MEL.replace("CONFIG", "")))


def test_a_model_file_s_mel_matrix_is_bounded(tmp_path: Path) -> None:
    inputs = keras.Input((4096,))
    model = keras.Model(inputs, keras.layers.MelSpectrogram(num_mel_bins=16, fft_length=512)(inputs))
    source = tmp_path / "mel.keras"
    model.save(source)
    nf.load(source)

    def bins(config: dict[str, Any]) -> None:
        _layer_config(config, "MelSpectrogram")["config"]["num_mel_bins"] = 1_000_000

    with pytest.raises(FormatError, match=r"num_mel_bins x \(fft_length / 2 \+ 1\) = 257,000,000 values"):
        nf.load(_edited(source, tmp_path / "bins.keras", bins))


def test_unrolled_stacked_cells_multiply() -> None:
    """Each unrolled step runs every stacked cell: 256 steps of 100 cells are 25,600 copies in the graph."""
    cells = ", ".join(["{module: keras.layers, class_name: SimpleRNNCell, config: {units: 1}}"] * 100)
    layer = (f"{{type: KerasLayer, class_name: RNN, config: {{unroll: true, cell: {{module: keras.layers, "
             f"class_name: StackedRNNCells, config: {{cells: [{cells}]}}}}}}}}")
    with pytest.raises(nf.SpecError, match=r"over 256 time steps of 100 stacked cells: 25,600 cell steps"):
        nf.load_spec(_spec("[256, 3]", layer))
    nf.load_spec(_spec("[2, 3]", layer))
    nf.load_spec(_spec("[256, 3]", layer.replace("unroll: true", "unroll: false")))


def test_a_gaussian_blur_s_window_copies_are_bounded() -> None:
    """kernel_size 2,001 on 32 x 32 x 3 images (a 339-byte spec) cost ``train`` 10.9 GB; 4,001 killed it."""
    blur = "{type: KerasLayer, class_name: RandomGaussianBlur, config: {kernel_size: KSIZE, factor: 1.0}}"
    with pytest.raises(nf.SpecError, match=r"RandomGaussianBlur with kernel_size 2001 on 32 x 32 x 3 images.*"
                                           r"12,300,291,072 values a sample"):
        nf.load_spec(_spec("[32, 32, 3]", blur.replace("KSIZE", "2001")))
    nf.load_spec(_spec("[32, 32, 3]", blur.replace("KSIZE", "31")))
    nf.load_spec(_spec("[224, 224, 3]", blur.replace("KSIZE", "[5, 7]")))


def test_a_dilation_far_past_the_input_is_refused() -> None:
    """TensorFlow pads each sample to a multiple of the dilation: 30,000 on 32 x 32 x 3 is 2.7 x 10**9 values."""
    conv = "{type: Conv2D, filters: 4, kernel_size: 3, padding: same, dilation_rate: DIL}"
    with pytest.raises(nf.SpecError, match=r"Conv2D with dilation_rate 30000 pads each sample to 90,000 x 90,000"):
        nf.load_spec(_spec("[32, 32, 3]", conv.replace("DIL", "30000")))
    nf.load_spec(_spec("[32, 32, 3]", conv.replace("DIL", "4")))
    nf.load_spec(_spec("[224, 224, 3]", conv.replace("DIL", "[2, 8]")))


def test_a_model_file_s_looping_op_nodes_are_bounded(tmp_path: Path) -> None:
    """A Diff op edited to n 100,000 in a 14 KB ``.keras`` kept ``predict`` tracing past 90 s; an
    elastic_transform op over 1,000 channels in a plain Keras save (22 KB), minutes."""
    inputs = keras.Input((8,))
    source = tmp_path / "diff.keras"
    keras.Model(inputs, keras.ops.diff(keras.layers.Dense(8)(inputs), n=1, axis=-1)).save(source)
    nf.load(source)

    def order(config: dict[str, Any]) -> None:
        next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Diff")["config"]["n"] = 100_000

    with pytest.raises(FormatError, match=r"the Diff op .* has n 100000; netform takes 0 to 32"):
        nf.load(_edited(source, tmp_path / "order.keras", order))
    images = keras.Input((8, 8, 1))
    elastic = tmp_path / "elastic.keras"
    keras.Model(images, keras.ops.image.elastic_transform(keras.layers.Conv2D(4, 1)(images))).save(elastic)
    with pytest.raises(FormatError, match=r"the ElasticTransform op .* resamples each channel"):
        nf.load(elastic)
    with pytest.raises(FormatError, match=r"the ElasticTransform op"):
        nf.inspect(elastic)


def test_a_model_file_s_ctc_decode_paths_are_bounded(tmp_path: Path) -> None:
    """top_paths and beam_width 20,000 in a 1.3 KB ``.keras`` kept ``predict`` tracing past 120 s (1.8 GB)."""
    inputs = keras.Input((16, 8))
    decoded = keras.ops.nn.ctc_decode(keras.ops.softmax(inputs), keras.ops.ones((1,), "int32") * 16,
                                      strategy="beam_search", beam_width=10, top_paths=2)[0]
    source = tmp_path / "ctc.keras"
    keras.Model(inputs, decoded).save(source)
    nf.load(source)

    def paths(config: dict[str, Any]) -> None:
        op = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "CTCDecode")
        op["config"].update(top_paths=20_000, beam_width=20_000)

    with pytest.raises(FormatError, match=r"the CTCDecode op .* has top_paths 20000; netform takes 1 to 100"):
        nf.load(_edited(source, tmp_path / "paths.keras", paths))


CHAIN = """\
netform: 1
name: unr
kind: functional
inputs:
  x: {shape: [255, 2]}
blocks:
  r:
    inputs: [x]
    nodes:
      l: {type: LSTM, units: 2, return_sequences: true, unroll: true, in: x}
    outputs: [l]
nodes:
  body: {block: r, repeat: REPEAT, in: x}
  pool: {type: GlobalAveragePooling1D, in: body}
  head: {type: Dense, units: 1, in: pool}
outputs: [head]
"""


def test_a_model_s_repeated_steps_add_up() -> None:
    """Each layer was under its limit: 40 unrolled LSTMs over 255 steps (a 405-byte spec) kept ``train`` tracing
    past 300 s at 3.4 GB, 10 of them past 200 s at 5.2 GB, and 8 TimeDistributed over 256 steps took 68 s."""
    with pytest.raises(nf.SpecError, match=r"unrolled and TimeDistributed steps add up to 1,275 copies.*at most 1,024"):
        nf.load_spec(CHAIN.replace("REPEAT", "40"))
    nf.load_spec(CHAIN.replace("REPEAT", "4"))
    td = "{type: TimeDistributed, layer: {type: Dense, units: 2}}"
    with pytest.raises(nf.SpecError, match=r"add up to 1,280 copies"):
        nf.load_spec(_spec("[256, 2]", *[td] * 8))
    nf.load_spec(_spec("[256, 2]", *[td] * 4))
    nf.load_spec(_spec("[null, 2]", *[td] * 8))
    bidirectional = "{type: Bidirectional, layer: {type: LSTM, units: 2, unroll: true, return_sequences: true}}"
    with pytest.raises(nf.SpecError, match=r"add up to 1,200 copies"):
        nf.load_spec(_spec("[200, 2]", *[bidirectional] * 3))
    nf.load_spec(_spec("[200, 2]", bidirectional, bidirectional))
