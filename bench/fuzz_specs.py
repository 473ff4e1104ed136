"""Fuzz ``load_spec`` with mutated zoo specs (the long run of tests/hardening).

Each case mutates one of ``models/*.yaml`` at the text or data level (see
``tests/hardening/mutate.py``) and must end valid (with a working summary and
``to_yaml`` round trip) or in a :class:`netform.SpecError` whose every
diagnostic is located, within 2 s. Prints the figures and every failure;
exits 1 when there is one.

    python bench/fuzz_specs.py [--cases 10000] [--seed 0] [--show 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hardening.mutate import RandomChooser, check, make_case  # noqa: E402

MARKER = "NETFORM_FUZZ_MARKER"  # what the `!!python/object/apply:os.system` tags would create


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="how many cases to run")
    parser.add_argument("--seed", type=int, default=0, help="the first case's seed (case i uses seed + i)")
    parser.add_argument("--show", type=int, default=5, help="how many failures to print in full")
    args = parser.parse_args(argv)

    workdir = tempfile.TemporaryDirectory(prefix="netform-fuzz-")
    os.chdir(workdir.name)  # a `touch` that a tag ran would land here, and is checked below
    counts: Counter[str] = Counter()
    slowest = (0.0, "")
    failures: list[tuple[int, str, list[str], str]] = []
    start = time.perf_counter()
    for i in range(args.cases):
        seed = args.seed + i
        case = make_case(RandomChooser(seed))
        outcome = check(case.text)
        counts[outcome.kind] += 1
        if outcome.seconds > slowest[0]:
            slowest = (outcome.seconds, f"seed {seed}: {case.describe()}")
        if outcome.kind == "failure":
            failures.append((seed, case.describe(), outcome.problems, case.text))
    total = time.perf_counter() - start
    if os.path.exists(MARKER):
        failures.append((-1, "a YAML tag ran a command", [f"{MARKER} exists in {workdir.name}"], ""))
        counts["failure"] += 1
    os.chdir(ROOT)
    workdir.cleanup()

    print(f"{'cases:':<11}{args.cases} (seeds {args.seed}..{args.seed + args.cases - 1}) in {total:.1f} s")
    print(f"{'valid:':<11}{counts['valid']}")
    print(f"{'SpecError:':<11}{counts['error']}")
    print(f"{'failures:':<11}{counts['failure']}")
    print(f"{'slowest:':<11}{slowest[0] * 1000:.0f} ms ({slowest[1]})")
    for seed, what, problems, text in failures[: args.show]:
        print(f"\n--- failure, seed {seed}: {what}")
        print("\n".join(problems)[-3000:])
        print("--- text (first 1500 chars):")
        print(text[:1500])
    if len(failures) > args.show:
        print(f"\n... and {len(failures) - args.show} more failures (seeds "
              f"{', '.join(str(s) for s, *_ in failures[args.show:args.show + 30])}...)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
