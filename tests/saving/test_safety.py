"""Hostile files are refused with UnsafeFileError and nothing in them runs."""

from __future__ import annotations

import pytest

import netform.saving as nfs
from netform.errors import UnsafeFileError

from . import hostile


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    marker = out / "MARKER"
    built = hostile.build_all(out, marker)
    assert not marker.exists()
    return built, marker


EXPECTED = {
    "lambda_keras": r"Python bytecode|Lambda layer",
    "lambda_h5": r"Lambda layer",
    "os_system_layer": r"'os\.system' is neither a Keras built-in nor registered",
    "eval_activation": r"function '__import__\(.*' is neither a Keras built-in nor registered|bytecode",
    "popen_initializer": r"'subprocess\.Popen' is neither a Keras built-in nor registered",
    "os_system_h5": r"'os\.system' is neither a Keras built-in nor registered",
    "h5_external_link": r"external link '/model_weights/leak' -> '/etc/passwd:/'",
    "h5_soft_link": r"soft link '/model_weights/dense/alias'",
    "h5_shape_bomb": r"declares shape \(1000000, 1000000\).*bomb",
    "zip_dotdot": r"entry '\.\./\.\./evil\.txt' points outside",
    "zip_absolute": r"entry '/tmp/evil\.txt' points outside",
    "zip_bomb": r"'assets/bomb\.bin' would inflate .* zip bomb",
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_hostile_file_refused(files, kind):
    built, marker = files
    with pytest.raises(UnsafeFileError, match=EXPECTED[kind]):
        nfs.load(str(built[kind]))
    assert not marker.exists(), f"{kind}: code from the file ran"


@pytest.mark.parametrize("kind", ["h5_external_link", "h5_soft_link", "h5_shape_bomb"])
def test_hostile_weights_refused_by_load_weights(files, kind):
    built, _ = files
    model = hostile._plain_model()
    with pytest.raises(UnsafeFileError):
        nfs.load_weights(model, str(built[kind]))


def test_structural_checks_stay_on_without_safe_mode(files):
    built, _ = files
    with pytest.raises(UnsafeFileError, match="points outside"):
        nfs.load(str(built["zip_dotdot"]), safe_mode=False)


def test_lambda_runs_only_with_safe_mode_off(files):
    """Proves the marker test can fail: with safe_mode=False the bytecode does run."""
    built, marker = files
    model = nfs.load(str(built["lambda_keras"]), safe_mode=False)
    model.predict(__import__("numpy").zeros((1, 3), "float32"), verbose=0)
    assert marker.exists()
    marker.unlink()
