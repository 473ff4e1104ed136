"""Run Keras's own model, trainer, callback and saving tests on plain Keras and on netform.

Usage (from the repository root)::

    python tests/keras_suite/run_suite.py            # both runs, compare (make keras-suite)
    python tests/keras_suite/run_suite.py --update   # ... and rewrite expected_pass.txt
    python tests/keras_suite/run_suite.py --netform-only --expected   # what CI runs
    python tests/keras_suite/run_suite.py --files trainers/trainer_test.py   # one file, both runs

The test files are copied from the installed Keras into a temporary folder
(never into the repository) with ``suite_conftest.py`` as their
``conftest.py``; see README.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected_pass.txt"

#: Keras's test files the suite runs, relative to ``keras/src``.
TEST_FILES = (
    "trainers/trainer_test.py",
    "callbacks/*_test.py",
    "models/model_test.py",
    "models/sequential_test.py",
    "models/functional_test.py",
    "saving/saving_api_test.py",
    "saving/saving_lib_test.py",
)

#: Files whose listed tests CI (``make test``, ``--expected``) leaves out: their netform side costs
#: minutes of CPU (trainer_test.py: about 200 s). ``make keras-suite`` still runs and checks them.
SLOW_FILES = ("trainers/trainer_test.py",)


def ci_tests(expected: list[str]) -> list[str]:
    """The listed tests CI runs: all but those of :data:`SLOW_FILES`."""
    return [test_id for test_id in expected if test_id.split("::")[0] not in SLOW_FILES]


def versions() -> dict[str, str]:
    """The installed Keras and TensorFlow versions, read without importing them."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    found = {"keras": version("keras"), "tensorflow": "not installed"}
    for name in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tf-nightly-cpu"):
        try:
            found["tensorflow"] = version(name)
            break
        except PackageNotFoundError:
            continue
    return found


def version_header() -> str:
    found = versions()
    return f"# keras {found['keras']}, tensorflow {found['tensorflow']}"


def keras_source_dir() -> Path:
    """``keras/src`` of the installed Keras, found without importing Keras."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("keras is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "src"


def copy_suite(target: Path, patterns: tuple[str, ...] | list[str] = TEST_FILES) -> list[str]:
    """Copy the test files (``patterns``, relative to ``keras/src``) and the conftest into ``target``.

    Returns the copied files, relative to ``target``.
    """
    source = keras_source_dir()
    copied = []
    for pattern in patterns:
        for path in sorted(source.glob(pattern)):
            relative = path.relative_to(source)
            (target / relative.parent).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
            copied.append(str(relative))
    shutil.copyfile(HERE / "suite_conftest.py", target / "conftest.py")
    shutil.copyfile(HERE / "netform_shim.py", target / "netform_shim.py")
    (target / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return copied


def _children_cpu() -> float:
    import resource  # noqa: PLC0415

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_side(side: str, suite: Path, files: list[str], *, only: list[str] | None = None,
             workers: int = 0, timeout: float = 3600) -> dict[str, Any]:
    """Run the copied tests on ``side`` ("keras" or "netform"); return the outcome report."""
    report = suite / f"report-{side}.json"
    env = dict(os.environ, NETFORM_KERAS_SUITE_SIDE=side, NETFORM_KERAS_SUITE_REPORT=str(report),
               KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    for name in ("NETFORM_KERAS_SUITE_ONLY", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
                 "PYTEST_CURRENT_TEST", "PYTEST_PLUGINS"):
        env.pop(name, None)  # when run from a test of the project's own suite
    if only is not None:
        listed = suite / f"only-{side}.txt"
        listed.write_text("\n".join(only) + "\n")
        env["NETFORM_KERAS_SUITE_ONLY"] = str(listed)
        files = sorted({test_id.split("::")[0] for test_id in only})
    command = [sys.executable, "-m", "pytest", "-q", "--no-header", "-rN", "--tb=line",
               "-c", str(suite / "pytest.ini"), "--rootdir", str(suite), "-o", "console_output_style=classic",
               *([f"-n{workers}"] if workers else []), *files]
    started = time.monotonic()
    cpu_before = _children_cpu()
    print(f"[{side}] running {len(files)} files{' (' + str(len(only)) + ' listed tests)' if only else ''} ...",
          flush=True)
    log = suite / f"log-{side}.txt"  # pytest's own output, for watching a long run
    with log.open("w") as out:
        result = subprocess.run(command, cwd=suite, env=env, timeout=timeout, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    cpu = _children_cpu() - cpu_before
    if not report.exists():
        print(log.read_text()[-5000:])
        raise SystemExit(f"[{side}] pytest wrote no report (exit code {result.returncode})")
    data = json.loads(report.read_text())
    data["seconds"], data["cpu_seconds"] = elapsed, cpu
    print(f"[{side}] {len(data['tests'])} tests in {elapsed:.0f} s ({cpu:.0f} s of CPU)", flush=True)
    return data


# --- causes ------------------------------------------------------------------

#: (cause, pattern searched in the failure message), first match wins.
CAUSES: tuple[tuple[str, str], ...] = (
    ("telemetry keys in logs", r"step_time_ms|samples_per_sec|checkpoint_time_s"),
    ("missing save option", r"netform shim: nf\.\w+ has no option"),
    ("Keras-internal class inside a netform model", r"<class 'keras\.src\.[\w.]+'> != <class 'netform\."),
    ("save/load argument types (file objects, paths)", r"expected str, bytes or os\.PathLike|BytesIO|IOBase"),
    ("safe mode / registered functions", r"safe_mode|safe mode|[Uu]nsafe|arbitrary code|not registered|"
                                         r"register_keras_serializable|could not be deserialized"),
    ("step counting (steps_per_execution, steps_per_epoch)", r"steps_per_execution|steps_per_epoch|iterations"),
    ("callback order / calls", r"on_(train|test|predict|epoch)_(batch_)?(begin|end)|[Cc]allback"),
    ("error message differs from Keras's", r"Regex pattern did not match|does not match"),
    ("error class differs (or no error)", r"DID NOT RAISE|not raised|netform\.errors\.|\b(SaveError|FormatError|"
                                          r"EngineError|DataError|BuildError|UnsafeFileError|NetformError)\b"),
    ("warning or log message not emitted", r"Expected '(warning|warn|info|error)' to (be called|have been called)"),
    ("file format or name (paths, extensions, archive contents)", r"\.keras\b|\.h5\b|\.weights\.h5|zip|"
                                                                 r"cannot tell the format|extension"),
    ("logs or history values", r"history|logs|[Nn]ot equal|Arrays are not"),
)


def classify(message: str) -> str:
    """A short cause for a failure message (the first of :data:`CAUSES` that matches)."""
    for cause, pattern in CAUSES:
        if re.search(pattern, message):
            return cause
    return "other"


def first_line(message: str, width: int = 240) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = lines[0] if lines else "(no message)"
    for line in lines:  # prefer the exception line when the crash line is just a location
        if re.match(r"^(E\s+)?\w+(Error|Exception)\b", line):
            text = line
            break
    return text if len(text) <= width else text[: width - 1] + "…"


# --- comparison --------------------------------------------------------------


def compare(keras_run: dict[str, Any], netform_run: dict[str, Any]) -> dict[str, Any]:
    """Split the tests Keras passes into: netform passes, netform fails, netform not involved."""
    baseline = sorted(t for t, e in keras_run["tests"].items() if e["outcome"] == "passed")
    passing, failing, untouched = [], [], []
    for test_id in baseline:
        entry = netform_run["tests"].get(test_id)
        if entry is None:
            module = test_id.split("::")[0]
            message = netform_run["collect_errors"].get(module, "not collected on netform")
            failing.append((test_id, "test file does not import on netform", message))
        elif entry["outcome"] == "passed":
            (passing if entry.get("netform_used") else untouched).append(test_id)
        else:
            failing.append((test_id, classify(entry["message"]), entry["message"]))
    return {"baseline": baseline, "passing": passing, "failing": failing, "untouched": untouched}


def print_comparison(result: dict[str, Any], keras_run: dict[str, Any]) -> None:
    m = len(result["passing"]) + len(result["failing"])
    print()
    print(f"netform passes {len(result['passing'])} of the {m} tests that Keras passes")
    counts = defaultdict(int)
    for entry in keras_run["tests"].values():
        counts[entry["outcome"]] += 1
    print(f"  (plain Keras: {dict(sorted(counts.items()))} over {len(keras_run['tests'])} tests; "
          f"{len(result['untouched'])} of its passing tests never make a netform model or call netform's "
          "saving and are not counted)")
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for test_id, cause, message in result["failing"]:
        groups[cause].append((test_id, message))
    print()
    for cause, tests in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        print(f"{cause}: {len(tests)}")
        for test_id, message in tests:
            print(f"  {test_id}\n      {first_line(message)}")
    print()


def baseline_reason(entry: dict[str, Any]) -> str:
    """Why a test does not pass on plain Keras (its outcome and a short reason)."""
    message = entry["message"]
    for pattern, reason in ((r"jax", "needs JAX"), (r"torch", "needs PyTorch"), (r"orbax", "needs Orbax"),
                            (r"openvino", "needs OpenVINO")):
        if re.search(rf"No module named '{pattern}|{pattern}.*not installed", message, re.IGNORECASE):
            return f"{entry['outcome']}: {reason}"
    reason = re.sub(r"^Skipped: ", "", first_line(message, 160))
    return f"{entry['outcome']}: {reason}"


def excluded_markdown(keras_run: dict[str, Any], result: dict[str, Any]) -> str:
    """Markdown listing every test left out of the comparison, with its reason."""
    lines = ["| test | reason |", "|---|---|"]
    rows = []
    for test_id, entry in sorted(keras_run["tests"].items()):
        if entry["outcome"] != "passed":
            rows.append((test_id, f"on plain Keras: {baseline_reason(entry)}"))
    for module, message in sorted(keras_run["collect_errors"].items()):
        rows.append((module + " (whole file)", f"does not import on plain Keras: {first_line(message, 160)}"))
    for test_id in result["untouched"]:
        rows.append((test_id, "uses only Keras-internal classes (no netform model, no saving call)"))
    lines += [f"| `{test_id}` | {reason.replace('|', '/')} |" for test_id, reason in rows]
    return "\n".join(lines) + "\n"


# --- expected list -------------------------------------------------------------


def read_expected(path: Path = EXPECTED) -> tuple[str, list[str]]:
    """The version header line and the test ids of the expected-pass list."""
    header, tests = "", []
    for line in path.read_text().splitlines():
        if line.startswith("# keras "):
            header = line.strip()
        elif line.strip() and not line.startswith("#"):
            tests.append(line.strip())
    return header, tests


def write_expected(tests: list[str], m: int, path: Path = EXPECTED) -> None:
    path.write_text(
        f"{version_header()}\n"
        "# Keras's own tests (copied from the installed wheel) that pass with netform's model classes\n"
        f"# and saving functions: {len(tests)} of the {m} that pass on plain Keras and use netform.\n"
        "# Rewritten by `make keras-suite-update`; checked by tests/keras_suite/test_keras_suite.py.\n"
        + "".join(f"{test_id}\n" for test_id in sorted(tests))
    )


def check_expected(netform_run: dict[str, Any], expected: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Expected tests that no longer pass (with messages), and passing tests not on the list."""
    broken = []
    for test_id in expected:
        entry = netform_run["tests"].get(test_id)
        if entry is None or entry["outcome"] != "passed":
            message = entry["message"] if entry else netform_run["collect_errors"].get(
                test_id.split("::")[0], "not collected")
            broken.append((test_id, message))
    listed = set(expected)
    new = sorted(t for t, e in netform_run["tests"].items()
                 if e["outcome"] == "passed" and e.get("netform_used") and t not in listed)
    return broken, new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite expected_pass.txt from this run")
    parser.add_argument("--netform-only", action="store_true", help="skip the plain-Keras run")
    parser.add_argument("--expected", action="store_true", help="run only the tests on expected_pass.txt")
    parser.add_argument("--workers", type=int, default=0, help="pytest-xdist workers per run (default: none)")
    parser.add_argument("--keep", type=Path, help="copy the runs' JSON reports into this folder")
    parser.add_argument("--reports", type=Path, help="compare the JSON reports kept in this folder, run nothing")
    parser.add_argument("--excluded-md", type=Path, help="write the excluded tests as a Markdown table here")
    parser.add_argument("--files", nargs="+", metavar="PATTERN",
                        help="run only these of Keras's test files (relative to keras/src, e.g. "
                             "trainers/trainer_test.py); the comparison then covers those files only")
    args = parser.parse_args(argv)
    if args.update and (args.netform_only or args.expected or args.files):
        parser.error("--update needs the full comparison (no --netform-only, --expected or --files)")
    header, expected = read_expected() if EXPECTED.exists() else ("", [])
    if args.expected and header != version_header():
        print(f"skipped: expected_pass.txt was recorded with '{header[2:] or 'no versions'}', this is "
              f"'{version_header()[2:]}', so Keras's test files differ; run `make keras-suite-update`.")
        return 0
    if args.reports:
        keras_run, netform_run = (json.loads((args.reports / f"report-{side}.json").read_text())
                                  for side in ("keras", "netform"))
        return _finish(args, keras_run, netform_run, header, expected)
    with tempfile.TemporaryDirectory(prefix="netform-keras-suite-") as tmp:
        suite = Path(tmp)
        files = copy_suite(suite, args.files or TEST_FILES)
        if not files:
            parser.error(f"--files {' '.join(args.files)}: no such test file in {keras_source_dir()}")
        if args.files:  # compare and check only the tests of those files
            expected = [test_id for test_id in expected if test_id.split("::")[0] in files]
        elif args.expected:  # as CI: the slow files' tests are `make keras-suite`'s
            expected = ci_tests(expected)
        if args.expected and not expected:
            print("no listed tests to run")
            return 0
        only = expected if args.expected else None
        keras_run = None if args.netform_only else run_side("keras", suite, files, workers=args.workers)
        netform_run = run_side("netform", suite, files, only=only, workers=args.workers)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for side in ("keras", "netform"):
                if (suite / f"report-{side}.json").exists():
                    shutil.copyfile(suite / f"report-{side}.json", args.keep / f"report-{side}.json")
    return _finish(args, keras_run, netform_run, header, expected)


def _finish(args: argparse.Namespace, keras_run: dict[str, Any] | None, netform_run: dict[str, Any],
            header: str, expected: list[str]) -> int:
    status = 0
    if keras_run is not None:
        result = compare(keras_run, netform_run)
        print_comparison(result, keras_run)
        if args.excluded_md:
            args.excluded_md.write_text(excluded_markdown(keras_run, result))
        if args.update:
            write_expected(result["passing"], len(result["passing"]) + len(result["failing"]))
            print(f"wrote {EXPECTED.relative_to(HERE.parents[1])}")
            return 0
    if expected and header == version_header():
        broken, new = check_expected(netform_run, expected)
        for test_id, message in broken:
            print(f"NO LONGER PASSES: {test_id}\n      {first_line(message)}")
        if new:
            print(f"newly passing, not yet on expected_pass.txt ({len(new)}; `make keras-suite-update`):")
            for test_id in new:
                print(f"  {test_id}")
        print(f"expected_pass.txt: {len(expected) - len(broken)} of {len(expected)} still pass")
        status = 1 if broken else 0
    return status


if __name__ == "__main__":
    sys.exit(main())
