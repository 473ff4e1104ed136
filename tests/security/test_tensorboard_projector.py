"""TensorBoard with ``embeddings_freq`` writes ``log_dir/projector_config.pbtxt``: a user's file there is kept.

A user's notes at that name passed ``validate`` and ``train`` and were overwritten by Keras's TensorBoard
(links and hard links there were already refused). The file is replaced only when it is a projector config
TensorBoard wrote: the text form of a ``ProjectorConfig``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netform.cli._main import main

SPEC = """\
netform: 1
name: emb
kind: sequential
inputs: {x: {shape: [5], dtype: int32}}
layers:
  - {type: Embedding, input_dim: 50, output_dim: 4, name: emb}
  - {type: GlobalAveragePooling1D}
  - {type: Dense, units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  callbacks:
    - {type: TensorBoard, log_dir: tb, embeddings_freq: FREQ, embeddings_metadata: {emb: meta.tsv}}
"""

KERAS_WROTE = (
    'embeddings {\n  tensor_name: "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"\n'
    '  metadata_path: "meta.tsv"\n}\n'
)


def _setup(tmp_path: Path, content: str, freq: int = 1) -> tuple[Path, Path]:
    spec = tmp_path / "emb.yaml"
    spec.write_text(SPEC.replace("FREQ", str(freq)))
    (tmp_path / "out" / "tb").mkdir(parents=True)
    projector = tmp_path / "out" / "tb" / "projector_config.pbtxt"
    projector.write_text(content)
    return spec, projector


@pytest.mark.parametrize("content", ["my precious notes\n", KERAS_WROTE + "# my notes\n", KERAS_WROTE * 2 + "x"])
def test_a_user_s_file_at_the_projector_config_is_refused(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, projector = _setup(tmp_path, content)
    assert main(["validate", "--out-dir", str(tmp_path / "out"), str(spec)]) == 1
    assert "not a projector config TensorBoard wrote" in capsys.readouterr().err
    assert projector.read_text() == content


@pytest.mark.parametrize("content", [KERAS_WROTE, "", KERAS_WROTE.replace('  metadata_path: "meta.tsv"\n', "")])
def test_the_config_tensorboard_wrote_is_replaced(tmp_path: Path, content: str) -> None:
    spec, _ = _setup(tmp_path, content)
    assert main(["validate", "--out-dir", str(tmp_path / "out"), str(spec)]) == 0


def test_without_embeddings_the_file_is_not_tensorboard_s(tmp_path: Path) -> None:
    spec, _ = _setup(tmp_path, "my precious notes\n", freq=0)
    assert main(["validate", "--out-dir", str(tmp_path / "out"), str(spec)]) == 0
