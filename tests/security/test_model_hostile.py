"""The hostile model-file corpus: each file is refused and nothing in it runs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

import netform as nf
from netform.errors import UnsafeFileError

from . import make_model_corpus

from tests.saving.test_safety import EXPECTED as SAVING_EXPECTED  # noqa: E402  (the 12 files of tests/saving/hostile.py)
from .test_model_untrusted import ATTACKS as SAVEDMODEL_ATTACKS  # noqa: E402  (5 foreign SavedModels doing file I/O)
from .test_file_bombs import FILE_BOMBS  # noqa: E402  (HDF5 virtual datasets, vlen and zip bombs)

EXPECTED = {
    **SAVING_EXPECTED,
    **SAVEDMODEL_ATTACKS,
    **FILE_BOMBS,
    "savedmodel_writes_file": r"graph operations that touch files or run Python when called: WriteFile",
    "savedmodel_reads_file": r"graph operations that touch files or run Python when called: ReadFile",
    "h5_external_dataset": r"dataset '/model_weights/dense/leak' keeps its data in an external file",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    out = tmp_path_factory.mktemp("models")
    marker = out / "MARKER"
    files = make_model_corpus.build_all(out, marker)
    assert not marker.exists()
    return files, marker


def test_corpus_is_complete(corpus) -> None:  # type: ignore[no-untyped-def]
    assert sorted(corpus[0]) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_model_file_is_refused(corpus, name: str) -> None:  # type: ignore[no-untyped-def]
    files, marker = corpus
    with pytest.raises(UnsafeFileError, match=EXPECTED[name]):
        nf.load(files[name])
    assert not marker.exists(), f"{name}: something in the file ran"


def test_foreign_savedmodel_with_file_ops_loads_only_when_trusted(corpus) -> None:  # type: ignore[no-untyped-def]
    files, marker = corpus
    with pytest.warns(UserWarning, match="inference-only"):
        model = nf.load(files["savedmodel_writes_file"], safe_mode=False)
    assert not marker.exists()
    model.predict(np.ones((1, 3), "float32"))
    assert marker.exists(), "control: with safe_mode=False the graph really runs its WriteFile"
    marker.unlink()


def test_benign_foreign_savedmodel_loads_in_safe_mode(tmp_path: Path) -> None:
    path = make_model_corpus.benign_savedmodel(tmp_path)
    with pytest.warns(UserWarning, match="inference-only"):
        model = nf.load(path)
    np.testing.assert_allclose(np.asarray(model.predict(np.ones((2, 3), "float32"))), 2.0)
