"""The main job: validate and summarise every spec of the model zoo.

Run with ``make run`` (or ``python -m netform.demo``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .errors import SpecError
from .spec import load_spec, summary


def main(zoo: str = "models") -> int:
    """Validate and summarise each spec under ``zoo``; return the exit code."""
    paths = sorted(Path(zoo).glob("*.yaml"))
    failed = 0
    start = time.perf_counter()
    for path in paths:
        try:
            spec = load_spec(path)
        except SpecError as err:
            failed += 1
            print(err, file=sys.stderr)
            continue
        info = summary(spec)
        total = "?" if info.total_params is None else f"{info.total_params:,}"
        print(f"{path}: {spec.kind:<10} {spec.name:<28} {len(info.rows):>4} nodes  {total:>12} params")
    print(f"{len(paths) - failed} of {len(paths)} zoo specs valid in {time.perf_counter() - start:.2f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
