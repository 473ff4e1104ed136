"""Keras's own tests that netform passed when expected_pass.txt was recorded still pass.

Runs the netform side of the Keras test-suite harness (see README.md here) on
the tests listed in ``expected_pass.txt`` only, except those of
``run_suite.SLOW_FILES`` (trainer_test.py, minutes of CPU); the comparison with
plain Keras, finding newly passing tests and checking the slow files' listed
tests are ``make keras-suite``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from . import run_suite


def _listed() -> tuple[str, list[str]]:
    if not run_suite.EXPECTED.exists():
        pytest.skip("tests/keras_suite/expected_pass.txt is missing; run `make keras-suite-update`")
    return run_suite.read_expected()


def test_expected_pass_list_is_recorded_with_versions() -> None:
    header, tests = _listed()
    assert header.startswith("# keras "), "expected_pass.txt must start with '# keras X, tensorflow Y'"
    assert tests == sorted(set(tests)) and tests, "expected_pass.txt: sorted, unique, not empty"
    assert all("::" in test_id and test_id.split("::")[0].endswith("_test.py") for test_id in tests)


#: The listed tests run in parts, one for each folder of Keras's tests, so that the suite's workers share them.
PARTS = ("callbacks/", "models/", "saving/")


def test_the_parts_cover_every_listed_test() -> None:
    _, expected = _listed()
    assert all(test_id.startswith(PARTS) for test_id in run_suite.ci_tests(expected))


@pytest.mark.slow
@pytest.mark.parametrize("part", PARTS)
def test_keras_tests_on_the_expected_list_pass_on_netform(part: str) -> None:
    header, expected = _listed()
    if header != run_suite.version_header():
        pytest.skip(f"expected_pass.txt was recorded with '{header[2:]}' but '{run_suite.version_header()[2:]}' "
                    "is installed, so Keras's test files differ; re-record with `make keras-suite-update`")
    # the slow files' tests are `make keras-suite`'s
    expected = [test_id for test_id in run_suite.ci_tests(expected) if test_id.startswith(part)]
    with tempfile.TemporaryDirectory(prefix="netform-keras-suite-") as tmp:
        suite = Path(tmp)
        files = run_suite.copy_suite(suite, [pattern for pattern in run_suite.TEST_FILES if pattern.startswith(part)])
        netform_run = run_suite.run_side("netform", suite, files, only=expected, timeout=1800)
    broken, _ = run_suite.check_expected(netform_run, expected)
    assert not broken, (
        f"{len(broken)} of Keras's own tests on tests/keras_suite/expected_pass.txt no longer pass on netform:\n"
        + "\n".join(f"  {test_id}\n      {run_suite.first_line(message)}" for test_id, message in broken)
    )
